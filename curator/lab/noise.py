"""Simulated annotation errors: the mask deteriorations of Redekop & Chernyavskiy (ISBI 2021).

Kinds (:data:`NOISE_KINDS`):

* ``polygon3`` / ``polygon7``: each connected component replaced by a low-vertex polygon that
  approximates its outline (an annotator clicking 3 or 7 points around it): vertices on the
  outline, evenly spaced from a random start, with random jitter.
* ``smooth``: each component replaced by a smooth closed curve, a periodic spline through a few
  points of its outline (an annotator drawing a quick smooth contour).
* ``dilate`` / ``erode``: the outline grown or shrunk by a random fraction of the component's
  size (systematic over- and under-segmentation).
* ``shift``: the mask translated by a random fraction of the object size (misregistration).
* ``mixed``: one of the above, drawn per case.
* ``li`` (Li et al.'s protocol) and realistic annotator errors (``miss_part``, ``add_neighbour``,
  ``coarse``, ``wobbly``, ``box``, ``other_case``, ``object``, ``swap_classes``; ``annotator``
  draws one per case): see :mod:`curator.lab.annotation_errors`.

Masks are label maps ``(Y, X)`` or ``(Z, Y, X)``; every label is deteriorated on its own and
painted back in label order (a tumour, label 2, stays on top of the liver, label 1). 3D masks are
deteriorated slice by slice (``mode="slice"``, the default for polygons and smooth curves, along
the first array axis) or in 3D (``mode="3d"``: dilate, erode and shift by 3D structuring
elements, smooth by low-pass filtering the signed distance).

Every function takes a seed or a ``numpy.random.Generator`` and is deterministic under it.
"""

from __future__ import annotations

from typing import Sequence

import numpy as np

from curator.core.metrics import equivalent_radius
from curator.lab import annotation_errors as ae
from curator.lab.annotation_errors import ANNOTATOR_KINDS

__all__ = [
    "NOISE_KINDS",
    "corrupt_mask",
    "polygon_approximation",
    "smooth_approximation",
    "dilate",
    "erode",
    "shift",
]

_CONCRETE = ("polygon3", "polygon7", "smooth", "dilate", "erode", "shift")
NOISE_KINDS = _CONCRETE + ("mixed", "li") + ANNOTATOR_KINDS + ("annotator",)


def _rng(seed) -> np.random.Generator:
    return seed if isinstance(seed, np.random.Generator) else np.random.default_rng(seed)


# ----------------------------------------------------------------------------------------------
# Outline helpers (2D)


def _outline(component: np.ndarray, n_points: int = 256) -> np.ndarray | None:
    """Outer outline of a binary component as ``(n_points, 2)`` (row, col), evenly spaced."""
    from skimage import measure

    padded = np.pad(component.astype(np.float32), 1)
    contours = measure.find_contours(padded, 0.5)
    if not contours:
        return None
    c = max(contours, key=len) - 1.0  # outer boundary is the longest closed contour
    if len(c) < 4:
        return None
    if not np.allclose(c[0], c[-1]):
        c = np.vstack([c, c[:1]])
    seg = np.sqrt((np.diff(c, axis=0) ** 2).sum(axis=1))
    t = np.concatenate([[0.0], np.cumsum(seg)])
    if t[-1] <= 0:
        return None
    s = np.linspace(0.0, t[-1], n_points, endpoint=False)
    return np.stack([np.interp(s, t, c[:, 0]), np.interp(s, t, c[:, 1])], axis=1)


def _rasterize(points: np.ndarray, shape: Sequence[int]) -> np.ndarray:
    """Fill a closed polygon; keep its largest connected piece (acute tips can leave stray pixels)."""
    from scipy import ndimage
    from skimage.draw import polygon

    out = np.zeros(shape, bool)
    rr, cc = polygon(points[:, 0], points[:, 1], shape)
    out[rr, cc] = True
    lab, n = ndimage.label(out)
    if n > 1:
        sizes = np.bincount(lab.ravel())[1:]
        out = lab == 1 + int(np.argmax(sizes))
    return out


def _outline_points(outline: np.ndarray, k: int, rng: np.random.Generator | None, jitter: float) -> np.ndarray:
    """``k`` points on a closed outline, evenly spaced by arc length from a random start, each
    moved along the outline by up to ``jitter`` of the spacing (an annotator's clicks)."""
    n = len(outline)
    step = n / k
    if rng is None:
        start, moves = 0.0, np.zeros(k)
    else:
        start = rng.uniform(0, step)
        moves = rng.uniform(-jitter, jitter, k) * step
    idx = np.round(start + np.arange(k) * step + moves).astype(int) % n
    return outline[np.sort(idx)]


def _components(binary: np.ndarray):
    from scipy import ndimage

    lab, n = ndimage.label(binary)
    return lab, n


def polygon_approximation(binary: np.ndarray, n_vertices: int = 3, seed=None, *, jitter: float = 0.25,
                          min_area: int = 4) -> np.ndarray:
    """Replace each connected component of a 2D binary mask ``(Y, X)`` by an ``n_vertices``-gon.

    The vertices lie on the component's outline, evenly spaced by arc length from a random start
    and jittered by up to ``jitter`` of their spacing (``seed=None``: from the outline's first
    point, no jitter). Random placement matters: a deterministic rule (say, the largest inscribed
    triangle) is a systematic bias a network learns to reproduce, not the annotation noise of the
    paper. Components smaller than ``min_area`` pixels are kept as they are. Holes are not
    reproduced (an annotator's polygon has none).
    """
    rng = _rng(seed) if seed is not None else None
    k = max(3, int(n_vertices))
    return _replace_components(binary, lambda outline: _outline_points(outline, k, rng, jitter), min_area)


def smooth_approximation(binary: np.ndarray, n_points: int = 6, seed=None, *, min_area: int = 4) -> np.ndarray:
    """Replace each component of a 2D binary mask ``(Y, X)`` by a smooth closed curve: a periodic
    cubic spline through ``n_points`` points of its outline, spaced evenly by arc length from a
    random start (an annotator drawing a quick smooth contour). Keeps the number of components."""
    from scipy.interpolate import CubicSpline

    rng = _rng(seed)
    k = max(4, int(n_points))

    def curve(outline):
        pts = _outline_points(outline, k, rng, 0.15)
        spline = CubicSpline(np.arange(k + 1, dtype=float), np.vstack([pts, pts[:1]]), bc_type="periodic")
        return spline(np.linspace(0, k, 50 * k, endpoint=False))

    return _replace_components(binary, curve, min_area, exclusive=True)


def _replace_components(binary: np.ndarray, curve, min_area: int, *, exclusive: bool = False) -> np.ndarray:
    """Redraw every connected component of a 2D mask as the closed curve ``curve(outline)``
    (components smaller than ``min_area`` stay as they are; ``exclusive``: a new shape never
    merges into one already drawn)."""
    binary = np.asarray(binary, bool)
    if binary.ndim != 2:
        raise ValueError(f"expected a 2-D mask, got shape {binary.shape}")
    lab, n = _components(binary)
    out = np.zeros_like(binary)
    for i in range(1, n + 1):
        comp = lab == i
        outline = _outline(comp, 256) if comp.sum() >= min_area else None
        if outline is None:
            out |= comp
            continue
        shape = _rasterize(curve(outline), binary.shape)
        if exclusive:
            shape &= ~(out & ~comp)
        out |= shape if shape.any() else comp
    return out


# ----------------------------------------------------------------------------------------------
# Morphological deteriorations (2D or 3D)


def _ball(radius: float, ndim: int, scale: Sequence[float] | None = None) -> np.ndarray:
    """Boolean ball of ``radius`` voxels (anisotropic when ``scale`` gives voxel sizes)."""
    scale = np.asarray(scale if scale is not None else (1.0,) * ndim, float)
    scale = scale / scale.min()
    r = [max(0, int(np.floor(radius / s))) for s in scale]
    grids = np.ogrid[tuple(slice(-ri, ri + 1) for ri in r)]
    d2 = sum((g * s) ** 2 for g, s in zip(grids, scale))
    return d2 <= radius ** 2 + 1e-9


def dilate(binary: np.ndarray, radius: float, *, scale: Sequence[float] | None = None) -> np.ndarray:
    """Grow a binary mask by ``radius`` voxels (Euclidean, via the distance transform)."""
    from scipy import ndimage

    binary = np.asarray(binary, bool)
    if radius <= 0 or not binary.any():
        return binary.copy()
    dist = ndimage.distance_transform_edt(~binary, sampling=_rel_scale(scale, binary.ndim))
    return dist <= radius


def erode(binary: np.ndarray, radius: float, *, scale: Sequence[float] | None = None,
          keep_components: bool = True) -> np.ndarray:
    """Shrink a binary mask by ``radius`` voxels; a component that would vanish keeps its core
    (its pixels deepest inside) when ``keep_components``."""
    from scipy import ndimage

    binary = np.asarray(binary, bool)
    if radius <= 0 or not binary.any():
        return binary.copy()
    dist = ndimage.distance_transform_edt(binary, sampling=_rel_scale(scale, binary.ndim))
    out = dist > radius
    if keep_components:
        lab, n = _components(binary)
        for i in range(1, n + 1):
            comp = lab == i
            if not (out & comp).any():
                core = dist[comp].max()
                out |= comp & (dist >= core * 0.6)
    return out


def shift(binary: np.ndarray, offset: Sequence[int]) -> np.ndarray:
    """Translate a mask by an integer ``offset`` in array order; what leaves the grid is lost."""
    binary = np.asarray(binary, bool)
    out = np.zeros_like(binary)
    src, dst = [], []
    for o, n in zip(offset, binary.shape):
        o = int(o)
        if abs(o) >= n:
            return out
        src.append(slice(max(0, -o), n - max(0, o)))
        dst.append(slice(max(0, o), n - max(0, -o)))
    out[tuple(dst)] = binary[tuple(src)]
    return out


def _rel_scale(scale, ndim):
    if scale is None:
        return None
    s = np.asarray(scale, float)
    return tuple(s / s.min())


# ----------------------------------------------------------------------------------------------
# Public entry point


def corrupt_mask(
    labels: np.ndarray,
    kind: str,
    seed=None,
    *,
    mode: str = "auto",
    scale: Sequence[float] | None = None,
    strength: tuple[float, float] = (0.10, 0.30),
    beta: float = 0.5,
    image: np.ndarray | None = None,
    other: np.ndarray | None = None,
) -> tuple[np.ndarray, str]:
    """Deteriorate a label map; returns ``(noisy_labels, kind_applied)``.

    ``labels``: ``(Y, X)`` or ``(Z, Y, X)`` integer label map. ``kind``: one of
    :data:`NOISE_KINDS` (``mixed`` and ``annotator`` draw one of the others; the kind applied is
    returned, for ``li`` with its operation: ``li:dilate``, ``li:erode``, ``li:affine``).
    ``mode``: ``slice``, ``3d`` or ``auto`` (3D masks: slice-wise for polygons and smooth curves,
    3D for the morphological kinds). ``scale``: voxel size in array order for anisotropic
    volumes. ``strength``: range of the dilate / erode / shift magnitude as a fraction of the
    object's equivalent radius (dilate, erode) or diameter (shift). ``beta``: the share of the
    foreground ``li`` changes. ``image``: the case's image on the mask's grid (``add_neighbour``
    follows its edges); ``other``: another case's label map (``other_case``; resized to this grid).
    """
    if kind not in NOISE_KINDS:
        raise ValueError(f"unknown noise kind '{kind}'; choose from {', '.join(NOISE_KINDS)}")
    rng = _rng(seed)
    labels = np.asarray(labels)
    if labels.ndim not in (2, 3):
        raise ValueError(f"expected a 2-D or 3-D label map, got shape {labels.shape}")
    if kind == "mixed":
        kind = str(rng.choice(_CONCRETE))
    if kind == "annotator":
        kind = str(rng.choice(ae.applicable_annotator_kinds(labels, has_other=other is not None)))
    if kind == "other_case":
        if other is None:
            raise ValueError("'other_case' noise needs another case's mask")
        return _resize_labels(np.asarray(other), labels.shape).astype(labels.dtype), kind
    if kind == "swap_classes":
        return ae.swap_classes(labels, rng), kind
    if kind == "li":
        op = str(rng.choice(ae.LI_OPS))  # one operation per case, shared by its labels
        return _per_label(labels, lambda b: ae.li_protocol(b, beta, rng, op=op, scale=scale)[0]), f"li:{op}"
    if kind in ANNOTATOR_KINDS:
        fn = {"miss_part": lambda b: ae.miss_part(b, rng),
              "add_neighbour": lambda b: ae.add_neighbour(b, rng, image=image),
              "coarse": lambda b: ae.coarse(b, rng),
              "wobbly": lambda b: ae.wobbly(b, rng),
              "box": ae.box,
              "object": lambda b: ae.second_object(b, rng)}[kind]
        return _per_label(labels, fn), kind
    if mode not in ("auto", "slice", "3d"):
        raise ValueError("mode must be 'auto', 'slice' or '3d'")
    if labels.ndim == 3 and mode == "3d" and kind.startswith("polygon"):
        raise ValueError("polygon noise is defined per slice; use mode='slice' for 3-D masks")
    per_slice = labels.ndim == 3 and (mode == "slice" or (mode == "auto" and kind in ("polygon3", "polygon7", "smooth")))
    out = np.zeros_like(labels)
    present = [int(v) for v in np.unique(labels) if v != 0]
    # one set of random parameters per case, shared by its labels and slices (a consistent annotator)
    frac = float(rng.uniform(*strength))
    direction = rng.normal(size=labels.ndim if not per_slice else 2)
    direction /= np.linalg.norm(direction) + 1e-12
    for lab in present:
        binary = labels == lab
        if per_slice:
            noisy = np.zeros_like(binary)
            size_ref = equivalent_radius(binary.max(axis=0))  # in-plane size of the object
            for z in range(binary.shape[0]):
                if binary[z].any():
                    noisy[z] = _apply(binary[z], kind, frac, direction, size_ref, None, rng)
        else:
            size_ref = equivalent_radius(binary)
            noisy = _apply(binary, kind, frac, direction, size_ref, scale, rng)
        out[noisy] = lab
    return out, kind


def _per_label(labels: np.ndarray, fn) -> np.ndarray:
    """``fn`` applied to every label's binary mask, painted back in label order."""
    out = np.zeros_like(labels)
    for lab in [int(v) for v in np.unique(labels) if v != 0]:
        out[fn(labels == lab)] = lab
    return out


def _resize_labels(labels: np.ndarray, shape) -> np.ndarray:
    """Nearest-neighbour resize of a label map (no new values)."""
    if labels.shape == tuple(shape):
        return labels.copy()
    idx = np.ix_(*[np.minimum((np.arange(n) + 0.5) * s / n, s - 1).astype(int) for n, s in zip(shape, labels.shape)])
    return labels[idx]


def _apply(binary, kind, frac, direction, size_ref, scale, rng):
    if kind == "polygon3":
        return polygon_approximation(binary, 3, rng)
    if kind == "polygon7":
        return polygon_approximation(binary, 7, rng)
    if kind == "smooth":
        if binary.ndim == 3:
            return _smooth_3d(binary, scale)
        return smooth_approximation(binary, 6, rng)
    radius = max(1.0, frac * size_ref)
    if kind == "dilate":
        return dilate(binary, radius, scale=scale)
    if kind == "erode":
        return erode(binary, radius, scale=scale)
    if kind == "shift":
        rel = np.asarray(_rel_scale(scale, binary.ndim) or (1.0,) * binary.ndim)
        offset = np.round(direction * 2 * radius / rel).astype(int)
        if not offset.any():
            offset[int(np.argmax(np.abs(direction)))] = 1 if direction.max() >= 0 else -1
        return shift(binary, offset)
    raise ValueError(kind)


def _smooth_3d(binary: np.ndarray, scale) -> np.ndarray:
    """3D smooth-surface approximation: low-pass filter the signed distance and re-threshold."""
    from scipy import ndimage

    sampling = _rel_scale(scale, 3)
    inside = ndimage.distance_transform_edt(binary, sampling=sampling)
    outside = ndimage.distance_transform_edt(~binary, sampling=sampling)
    sdf = inside - outside
    r = equivalent_radius(binary)
    sigma = np.maximum(0.35 * r / np.asarray(sampling or (1, 1, 1)), 1.0)
    out = ndimage.gaussian_filter(sdf, sigma) > 0
    return out if out.any() else binary
