"""Class checks per component: a connected piece of a multi-class mask that carries the wrong class.

In a mask with several labels (liver 1, tumour 2), a whole object can be drawn with the right
outline and the wrong label: a tumour labelled as liver, a liver labelled as tumour. The pixel-wise
rules (:mod:`curator.core.engine.relabel`) see such an object only as the pixels the models are
sure of one by one, and the clean-up then cuts those into fragments. :func:`class_changes` looks at
each connected component of each foreground label as a whole: where a majority of its pixels go
(by the out-of-fold models' most likely class) to one *other foreground* class, the component is
proposed as one class change that keeps its outline and changes only its class. Pixels inside it
whose most likely class is still the component's own (a tumour inside a liver that was labelled
tumour along with it) keep their class; pieces of them smaller than ``min_size`` do not (no specks
left behind).

A component the models call background is not a class question (the pixel-wise rules remove it);
a component with no majority keeps its class (the pixel-wise rules still see it pixel by pixel).

The change's confidence is the models' mean probability of the new class *among the foreground
classes* (``p(o) / (p(1) + ... + p(C-1))``) over the pixels it changes: the question is which
object it is, not where its edge lies (the models' blur into the background along the outline
would otherwise sink small components: a tumour of radius 5 whose interior is 0.96 sure averages
0.86). :func:`curator.core.curation.proposals.propose` gates it like every other region.
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np

__all__ = ["ClassChange", "class_changes"]


@dataclass
class ClassChange:
    """One component to relabel: ``pixels`` (bool, the shape of ``box``'s region) inside ``box``
    (slices of the mask), from class index ``from_index`` to ``to_index``; ``component``: the
    component's size in pixels; ``majority``: the share of it whose most likely class is the new one."""

    box: tuple[slice, ...]
    pixels: np.ndarray
    from_index: int
    to_index: int
    confidence: float
    component: int
    majority: float

    @property
    def size(self) -> int:
        return int(np.count_nonzero(self.pixels))


def class_changes(index: np.ndarray, mean_prob: np.ndarray, *, min_region: float = 1) -> list[ClassChange]:
    """The components of ``index`` (class indices ``S``) whose class the models contradict.

    ``mean_prob``: ``(C, *S)``, the models' mean class probabilities on the same grid. A component
    of class ``c`` (``c >= 1``) is proposed as class ``o`` when more than half of its pixels have
    ``o`` (another foreground class) as their most likely class and it has at least ``min_region``
    pixels: a fraction (``< 1``) of the smaller of the two classes' areas in the mask (a tumour
    class is small beside its liver: a share of the whole mask would never let a tumour through),
    or pixels (``>= 1``). Its pixels whose most likely class is ``c`` keep it unless they form
    pieces under that size. The confidence is the mean over the changed pixels of ``p(o)`` among
    the foreground classes.
    """
    from scipy import ndimage

    n_classes = mean_prob.shape[0]
    if n_classes < 3:  # one foreground class: nothing to swap it with
        return []
    areas = np.bincount(np.asarray(index).ravel(), minlength=n_classes)

    def least(c: int, o: int) -> float:
        ref = min(a for a in (areas[c], areas[o]) if a > 0)
        return max(1.0, min_region * ref if min_region < 1 else min_region)

    out: list[ClassChange] = []
    for c in range(1, n_classes):
        lab = ndimage.label(index == c)[0]
        for i, sl in enumerate(ndimage.find_objects(lab), start=1):
            if sl is None:
                continue
            comp = lab[sl] == i
            size = int(np.count_nonzero(comp))
            probs = mean_prob[(slice(None),) + sl]
            best = probs.argmax(0)
            votes = np.bincount(best[comp], minlength=n_classes)
            votes[0] = votes[c] = 0
            o = int(votes.argmax())
            min_size = least(c, o)
            if 2 * int(votes[o]) <= size or size < min_size:
                continue
            stays = comp & (best == c)
            if stays.any():
                sub = ndimage.label(stays)[0]
                small = np.flatnonzero(np.bincount(sub.ravel())[1:] < min_size) + 1
                stays &= ~np.isin(sub, small)
            pixels = comp & ~stays
            if not pixels.any():
                continue
            fg = np.maximum(probs[1:].sum(0)[pixels], 1e-6)
            confidence = float(np.mean(np.minimum(probs[o][pixels] / fg, 1.0)))
            out.append(ClassChange(sl, pixels, c, o, confidence, size, int(votes[o]) / size))
    return out
