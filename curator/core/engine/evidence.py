"""Is the network better than the masks it would replace? Evidence from the image itself.

A network's disagreement with a mask says that one of them is wrong, not which. Relabelling a
training mask with the network's consensus only helps where the network is the better of the two,
and the masks themselves cannot tell (when most masks are coarse, the network agrees with none of
them; when most are right, a weak network contradicts them all). The image can: a correct outline
follows the object's edges, an annotation error (a polygon cut through the object, a shifted or
dilated outline, a box, another case's mask) runs through uniform tissue for much of its length.

:func:`edge_preference` compares, on one image, the image gradient along the parts of two
outlines that differ: a positive log-ratio means the candidate's outline lies on stronger edges
than the given mask's. :func:`relabel_evidence` turns the preferences of held-out cases (cases
the network did not train on) into a decision with a sign test: relabelling may start only when
the network's outlines follow the image better than the masks on a clear majority of the held-out
cases where the two disagree. The same preference, per case, decides which training masks are
relabelled.

Arrays: images ``(C, *S)`` channels first (the network's input) or ``S`` single-channel; label
maps ``S`` (class indices). Numpy in, numpy out.
"""

from __future__ import annotations

from dataclasses import asdict, dataclass

import numpy as np

from curator.core.metrics import equivalent_radius

__all__ = ["gradient_magnitude", "boundary", "edge_preference", "EdgeEvidence", "relabel_evidence",
           "edge_alignment"]


def gradient_magnitude(image: np.ndarray, *, sigma: float = 1.0, channels_first: bool = True) -> np.ndarray:
    """Gaussian gradient magnitude of an image, summed in quadrature over its channels. ``image``:
    ``(C, *S)`` when ``channels_first``, else ``S``."""
    from scipy import ndimage

    img = np.asarray(image, np.float32)
    chans = img if channels_first else img[None]
    g2 = np.zeros(chans.shape[1:], np.float32)
    for c in chans:
        g2 += ndimage.gaussian_gradient_magnitude(c, sigma) ** 2
    return np.sqrt(g2)


def boundary(labels: np.ndarray) -> np.ndarray:
    """Pixels with a neighbour (along any axis) of another class: both sides of every outline."""
    lab = np.asarray(labels)
    out = np.zeros(lab.shape, bool)
    for axis in range(lab.ndim):
        a = np.moveaxis(lab, axis, 0)
        o = np.moveaxis(out, axis, 0)
        d = a[1:] != a[:-1]
        o[1:] |= d
        o[:-1] |= d
    return out


def _grow(mask: np.ndarray, r: int = 1) -> np.ndarray:
    from scipy import ndimage

    return ndimage.binary_dilation(mask, iterations=r) if mask.any() else mask


def edge_preference(grad: np.ndarray, given: np.ndarray, candidate: np.ndarray, *, min_pixels: int = 8
                    ) -> float | None:
    """Log-ratio of the mean gradient along the candidate's outline to that along the given mask's,
    over the parts of the two outlines that differ (more than one pixel apart). Positive: the
    candidate follows the image's edges better. None when the outlines (nearly) coincide.

    ``grad``: gradient magnitude ``S`` (:func:`gradient_magnitude`); ``given``, ``candidate``:
    label maps ``S``.
    """
    bg, bc = boundary(given), boundary(candidate)
    only_c = bc & ~_grow(bg)
    only_g = bg & ~_grow(bc)
    if only_c.sum() + only_g.sum() < min_pixels or not only_c.any() or not only_g.any():
        return None
    eps = 1e-3 * float(grad.mean() + 1e-6)
    return float(np.log(grad[only_c].mean() + eps) - np.log(grad[only_g].mean() + eps))


EDGE_SCALE = 0.05  # edge_alignment's gradient scale, as a share of the object's equivalent radius
EDGE_REACH = 4.0  # ... and how far (in scales) from the outline it looks for the strongest edge
WORK_SCALE = 2.0  # larger scales are measured on the image shrunk until the scale is this many pixels


def edge_alignment(image: np.ndarray, labels: np.ndarray, *, channels_first: bool = False) -> float:
    """How closely a mask's outline follows the strongest edge near it (model-free): the mean, over
    the outline's pixels, of the image gradient there over the largest gradient within reach
    (1 = the whole outline lies on the local edge maxima; near 0 = it runs through uniform tissue
    beside the edge). NaN without an outline.

    The scale follows the object, not the pixel grid: the gradient is taken at ``EDGE_SCALE`` of
    the mask's equivalent radius (at least one pixel) and the strongest edge is looked for within
    ``EDGE_REACH`` scales of each outline pixel, so a lesion's soft border at full resolution and a
    polyp's sharp one are judged alike, and a weak but correctly followed edge scores as well as a
    strong one (the mean gradient along the outline over the image's, this function's earlier
    form, held low-contrast objects against their masks). Large objects are measured on the image
    shrunk until the scale is ``WORK_SCALE`` pixels (same measure, a fraction of the work).
    Measured on the development suite: docs/results.md, "The outline's fit to the image's edges".

    ``image``: ``(C, *S)`` when ``channels_first``, else ``S`` or ``(*S, C)`` with ``C`` last for
    2D colour; ``labels``: label map ``S``.
    """
    from scipy import ndimage

    lab = np.asarray(labels)
    img = np.asarray(image, np.float32)
    if not channels_first:
        img = np.moveaxis(img, -1, 0) if img.ndim == lab.ndim + 1 else img[None]
    scale = max(1.0, EDGE_SCALE * equivalent_radius(lab > 0))
    if scale > WORK_SCALE:
        from skimage.transform import resize

        shape = tuple(max(2, int(round(n * WORK_SCALE / scale))) for n in lab.shape)
        img = np.stack([resize(c, shape, order=1, anti_aliasing=True, preserve_range=True) for c in img])
        lab = resize(lab, shape, order=0, anti_aliasing=False, preserve_range=True).astype(lab.dtype)
        scale = WORK_SCALE
    b = boundary(lab)
    if not b.any():
        return float("nan")
    grad = gradient_magnitude(img, sigma=scale)
    reach = max(2, int(round(EDGE_REACH * scale)))
    local_max = ndimage.maximum_filter(grad, size=2 * reach + 1)
    eps = 1e-6 * float(grad.max()) + 1e-12
    return float(np.mean(grad[b] / (local_max[b] + eps)))


@dataclass
class EdgeEvidence:
    """The held-out evidence for relabelling: ``holds`` when the network's outlines follow the
    image better than the masks on a clear majority of the held-out cases where they disagree."""

    cases: int  # held-out cases looked at
    disagreeing: int  # of which the network's candidate labels differ from the mask
    network_better: int  # of which the candidate's outline lies on stronger edges
    median_log_ratio: float
    p_value: float  # one-sided sign test against "no preference"
    holds: bool

    def to_json(self) -> dict:
        return {k: (round(v, 4) if isinstance(v, float) else v) for k, v in asdict(self).items()}

    def describe(self) -> str:
        if self.disagreeing == 0:
            return f"the network agrees with the masks on all {self.cases} held-out cases"
        return (f"the network's outlines follow the image's edges better than the masks on "
                f"{self.network_better} of {self.disagreeing} held-out cases where they disagree "
                f"(sign test p = {self.p_value:.3f})")


def relabel_evidence(preferences: list[float | None], *, alpha: float = 0.05, min_ratio: float = 0.1,
                     min_cases: int = 4) -> EdgeEvidence:
    """Decide from per-case edge preferences of held-out cases (None: no disagreement).

    Holds when at least ``min_cases`` cases disagree, the network's outline is on stronger edges in
    significantly more than half of them (one-sided sign test at ``alpha``) and the median
    log-ratio exceeds ``min_ratio`` (about 10 % stronger edges).
    """
    from scipy.stats import binomtest

    vals = np.array([p for p in preferences if p is not None], float)
    n = int(vals.size)
    wins = int(np.count_nonzero(vals > 0))
    p = float(binomtest(wins, n, 0.5, alternative="greater").pvalue) if n else 1.0
    med = float(np.median(vals)) if n else float("nan")
    holds = n >= min_cases and p < alpha and med > min_ratio
    return EdgeEvidence(len(preferences), n, wins, med, p, bool(holds))
