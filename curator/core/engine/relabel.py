"""Relabelling rules: where should a mask's labels change, given model probabilities and uncertainty?

Shared by relabel-while-training (:mod:`curator.core.engine.training`) and by the review proposals. All
functions work on class-index maps ``(Y, X)`` / ``(Z, Y, X)`` and probability maps ``(C, *S)``,
numpy in, numpy out.

Rules (:func:`flip_candidates`):

* ``uncertainty``: the poster's rule (Redekop & Chernyavskiy 2021): flip every pixel whose
  uncertainty exceeds ``delta`` (binary: to the other class; multi-class: to the most probable
  other class).
* ``confident``: confident learning: flip where the mean probability of another class exceeds
  ``tau`` (the models agree the given label is wrong).
* ``both``: uncertainty above ``delta`` *and* another class more probable than the given one.

* ``trimap``: pixels the models are sure of (mean probability of one class above ``tau``) keep
  that class; the uncertain rest is relabelled from the image itself by a random walker seeded with
  the sure pixels (Grady 2006), so boundaries follow image edges inside the uncertain zone rather
  than the models' blur. Needs the image.

``band`` restricts flips to pixels within that distance (in pixels, or as a fraction of the
object's equivalent radius when < 1) of the current mask's boundaries, where annotation errors
live; label noise far from any boundary (a missed object) is left to the other rules.
"""

from __future__ import annotations

import numpy as np

from curator.core.engine.evidence import boundary
from curator.core.metrics import equivalent_radius

__all__ = ["RULES", "flip_candidates", "boundary_band", "apply_flips", "resolve_uncertain", "suspect_cases"]

RULES = ("confident", "uncertainty", "both", "trimap")


def boundary_band(index: np.ndarray, width: float, *, spacing=None) -> np.ndarray:
    """Pixels within ``width`` of a boundary between classes of ``index``.

    ``width`` < 1 is read as a fraction of the equivalent radius of the foreground (so the band
    scales with the object); ``width`` >= 1 is in pixels (voxels of the finest axis).
    """
    from scipy import ndimage

    fg = index > 0
    if not fg.any():
        return np.zeros(index.shape, bool)
    if width < 1:
        width = max(2.0, width * equivalent_radius(fg))
    sampling = None
    if spacing is not None:
        s = np.asarray(spacing, float)
        sampling = tuple(s / s.min())
    # distance to the nearest pixel of a different class, for both sides of every boundary
    edge = boundary(index)
    if not edge.any():
        return np.zeros(index.shape, bool)
    dist = ndimage.distance_transform_edt(~edge, sampling=sampling)
    return dist <= width


def resolve_uncertain(image: np.ndarray, mean_prob: np.ndarray, *, certainty: float = 0.9, beta: float = 1000.0,
                      spacing=None) -> np.ndarray:
    """Class-index map: sure pixels (a class's mean probability above ``certainty``) keep their
    class; the others are labelled by a random walker on ``image`` seeded with the sure ones.

    ``image``: ``(C, *S)`` channels first (the network's input); ``mean_prob``: ``(K, *S)``.
    """
    from skimage.segmentation import random_walker

    p = np.asarray(mean_prob, np.float32)
    seeds = np.zeros(p.shape[1:], np.int32)
    sure = p.max(0) > certainty
    seeds[sure] = p.argmax(0)[sure] + 1
    present = np.unique(seeds[sure])
    if len(present) < 2 or sure.all():
        return p.argmax(0)
    data = np.moveaxis(np.asarray(image, np.float32), 0, -1)
    sampling = None
    if spacing is not None:
        s = np.asarray(spacing, float)
        sampling = tuple(s / s.min())
    import warnings

    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        lab = random_walker(data, seeds, beta=beta, mode="cg_j", tol=1e-2, channel_axis=-1,
                            spacing=sampling)
    out = lab.astype(np.int64) - 1
    out[out < 0] = p.argmax(0)[out < 0]
    return out


def flip_candidates(index: np.ndarray, mean_prob: np.ndarray, uncertainty: np.ndarray | None = None, *,
                    rule: str = "confident", tau: float = 0.8, delta: float = 0.2, band=None,
                    spacing=None, image: np.ndarray | None = None) -> np.ndarray:
    """New class for every pixel the rule flips, ``-1`` elsewhere.

    ``index``: current class-index map ``S``; ``mean_prob``: ``(C, *S)``; ``uncertainty``: ``S``
    (needed by the ``uncertainty`` and ``both`` rules); ``image``: ``(C, *S)`` for ``trimap``.
    """
    if rule not in RULES:
        raise ValueError(f"unknown relabel rule '{rule}'; choose from {', '.join(RULES)}")
    index = np.asarray(index, np.int64)
    p = np.asarray(mean_prob, np.float32)
    if rule == "trimap":
        if image is None:
            raise ValueError("the 'trimap' rule needs the image")
        new = resolve_uncertain(image, p, certainty=tau, spacing=spacing)
        flip = new != index
        if band is not None and band > 0:
            flip &= boundary_band(index, band, spacing=spacing)
        out = np.full(index.shape, -1, np.int64)
        out[flip] = new[flip]
        return out
    if p.shape[0] == 2:  # two classes (most masks): the other class is the other one
        best_other = 1 - index
        p_given = np.where(index == 0, p[0], p[1])
        p_other = np.where(index == 0, p[1], p[0])
    else:
        p_given = np.take_along_axis(p, index[None], axis=0)[0]
        other = p.copy()
        np.put_along_axis(other, index[None], -1.0, axis=0)
        best_other = other.argmax(0)
        p_other = other.max(0)
    if rule == "confident":
        flip = p_other > tau
    else:
        if uncertainty is None:
            raise ValueError(f"the '{rule}' rule needs an uncertainty map")
        flip = np.asarray(uncertainty) > delta
        if rule == "both":
            flip &= p_other > p_given
    if band is not None and band > 0:
        flip &= boundary_band(index, band, spacing=spacing)
    out = np.full(index.shape, -1, np.int64)
    out[flip] = best_other[flip]
    return out


def apply_flips(index: np.ndarray, flips: np.ndarray) -> np.ndarray:
    """``index`` with the flipped pixels set to their new class."""
    out = np.array(index, copy=True)
    m = flips >= 0
    out[m] = flips[m].astype(out.dtype)
    return out


def suspect_cases(agreement: dict[str, float], *, min_cases: int = 10) -> set[str]:
    """The cases whose mask should be relabelled: those the network contradicts unusually much.

    ``agreement``: per case, the Dice between its given mask and what relabelling would make of
    it. Correct masks agree with the network about as well as the network can draw an outline;
    wrong ones agree markedly less. As in DivideMix (Li et al. 2020, there on per-sample losses), a
    two-component Gaussian mixture is fitted to the agreements and a case is a suspect when the
    low-agreement component is the more likely one for it. Relabelling the other cases would only
    replace careful outlines by the network's own (training it on its own mistakes).

    Every case is a suspect (relabel them all) when the split is not supported: fewer than
    ``min_cases`` cases, one Gaussian explains the agreements as well as two (BIC), or the
    low-agreement component holds most cases - when most masks are wrong the "better" ones are
    not clean, and the usual assumption of learning with noisy labels (the majority is right)
    does not hold.
    """
    ids = list(agreement)
    if len(ids) < min_cases:
        return set(ids)
    from sklearn.mixture import GaussianMixture

    a = np.asarray([agreement[i] for i in ids], float)[:, None]
    if np.ptp(a) < 1e-6:
        return set(ids)
    one = GaussianMixture(1, reg_covar=1e-4, random_state=0).fit(a)
    two = GaussianMixture(2, reg_covar=1e-4, random_state=0, n_init=3).fit(a)
    low = int(np.argmin(two.means_.ravel()))
    if two.bic(a) >= one.bic(a) or two.weights_[low] > 0.5:
        return set(ids)
    p_low = two.predict_proba(a)[:, low]
    high_mean = float(two.means_.ravel()[1 - low])  # (a wide low component can claim the top tail too)
    return {i for i, p, v in zip(ids, p_low, a[:, 0]) if p > 0.5 and v < high_mean}
