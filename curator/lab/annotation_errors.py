"""Annotation errors people make, and the noise protocol of the noisy-label segmentation literature.

:mod:`curator.lab.noise` holds the poster's deteriorations (coarse polygons, smooth curves) and
plain morphology. This module adds what a development suite needs to judge a method on errors it
was not tuned to:

* ``li``: the protocol of Li et al. (MICCAI 2021), reused by T-Loss (Gonzalez-Jimenez et al.,
  MICCAI 2023): each chosen mask is dilated, eroded, or rotated and shifted (one of the three,
  drawn per case) until a share ``beta`` of its foreground changes (symmetric difference over
  the original foreground; ``beta`` in {0.3, 0.5, 0.7} in those papers). The share of masks
  touched, ``alpha``, is the corruption ``fraction``.
* realistic annotator errors (:data:`ANNOTATOR_KINDS`): part of the object missed
  (``miss_part``), a neighbouring structure included (``add_neighbour``: image superpixels next to
  the outline, so the error follows image edges as a real one would), a coarse low-resolution
  outline (``coarse``), a wobbly outline (``wobbly``), a box drawn instead of the outline
  (``box``), another case's mask (``other_case``), a second object missed or added
  (``object``), and classes swapped in multi-class masks (``swap_classes``).
  ``annotator`` draws one of those that apply to the case.

Every function takes a binary ``(Y, X)`` or ``(Z, Y, X)`` mask (label maps go through
:func:`curator.lab.noise.corrupt_mask`, which applies these per label) and a
``numpy.random.Generator``; results are deterministic under it.
"""

from __future__ import annotations

from typing import Sequence

import numpy as np

from curator.core.metrics import equivalent_radius

__all__ = ["ANNOTATOR_KINDS", "LI_OPS", "li_protocol", "miss_part", "add_neighbour", "coarse", "wobbly", "box",
           "second_object", "swap_classes", "applicable_annotator_kinds"]

ANNOTATOR_KINDS = ("miss_part", "add_neighbour", "coarse", "wobbly", "box", "other_case", "object", "swap_classes")
LI_OPS = ("dilate", "erode", "affine")


def _radius(binary: np.ndarray) -> float:
    return equivalent_radius(binary)


def _sampling(scale, ndim):
    if scale is None:
        return None
    s = np.asarray(scale, float)
    return tuple(s / s.min())


# ----------------------------------------------------------------------------------------------
# Li et al.: dilate, erode or rotate+shift until a share beta of the foreground changes


def _grow(binary: np.ndarray, share: float, scale=None) -> np.ndarray:
    """Dilate by the distance that adds ``share`` of the foreground's area (exactly, by quantile)."""
    from scipy import ndimage

    n = int(binary.sum())
    dist = ndimage.distance_transform_edt(~binary, sampling=_sampling(scale, binary.ndim))
    outside = np.sort(dist[~binary])
    k = int(round(share * n))
    if k <= 0 or outside.size == 0:
        return binary.copy()
    r = outside[min(k, outside.size) - 1]
    return binary | (dist <= r)


def _shrink(binary: np.ndarray, share: float, scale=None) -> np.ndarray:
    """Erode by the distance that removes ``share`` of the foreground (at most 90 %: an eroded
    object never vanishes)."""
    from scipy import ndimage

    n = int(binary.sum())
    dist = ndimage.distance_transform_edt(binary, sampling=_sampling(scale, binary.ndim))
    inside = np.sort(dist[binary])
    k = int(round(min(share, 0.9) * n))
    if k <= 0:
        return binary.copy()
    r = inside[k - 1]
    out = binary & (dist > r)
    return out if out.any() else binary & (dist >= inside[-1])


def _rigid(binary: np.ndarray, angle: float, offset: np.ndarray) -> np.ndarray:
    """Rotate (in the last two axes) about the centroid by ``angle`` radians, then shift."""
    from scipy import ndimage

    centre = np.argwhere(binary).mean(0)
    nd = binary.ndim
    rot = np.eye(nd)
    c, s = np.cos(angle), np.sin(angle)
    rot[-2:, -2:] = [[c, -s], [s, c]]
    # output coordinate o maps to input rot^T (o - centre - offset) + centre
    inv = rot.T
    off = centre - inv @ (centre + offset)
    return ndimage.affine_transform(binary.astype(np.uint8), inv, offset=off, order=0, mode="constant") > 0


def _changed_share(a: np.ndarray, b: np.ndarray) -> float:
    return float(np.count_nonzero(a != b)) / max(int(a.sum()), 1)


def li_protocol(binary: np.ndarray, beta: float, rng: np.random.Generator, *, op: str | None = None,
                scale: Sequence[float] | None = None) -> tuple[np.ndarray, str]:
    """Li et al.'s noise: dilate, erode or rotate+shift ``binary`` until a share ``beta`` of its
    foreground changes. Returns ``(noisy, op)``. ``op`` None draws one of :data:`LI_OPS`."""
    binary = np.asarray(binary, bool)
    op = op or str(rng.choice(LI_OPS))
    if not binary.any() or beta <= 0:
        return binary.copy(), op
    if op == "dilate":
        return _grow(binary, beta, scale), op
    if op == "erode":
        return _shrink(binary, beta, scale), op
    if op != "affine":
        raise ValueError(f"unknown Li et al. operation '{op}'")
    angle = np.radians(rng.uniform(5, 15)) * rng.choice([-1, 1])
    direction = rng.normal(size=binary.ndim)
    if binary.ndim == 3:
        direction[0] = 0.0  # in-plane shifts (slices keep their place)
    direction /= np.linalg.norm(direction) + 1e-12
    # the rotation alone may already change more than beta: scale it down with the shift
    lo, hi = 0.0, 2.0 * _radius(binary) + 2
    best = binary
    for _ in range(18):  # bisection on the shift (the changed share grows with it)
        mid = 0.5 * (lo + hi)
        cand = _rigid(binary, angle * min(1.0, mid / max(_radius(binary), 1.0)), direction * mid)
        share = _changed_share(binary, cand)
        best = cand
        if abs(share - beta) < 0.02:
            break
        lo, hi = (mid, hi) if share < beta else (lo, mid)
    return best, op


# ----------------------------------------------------------------------------------------------
# Realistic annotator errors


def miss_part(binary: np.ndarray, rng: np.random.Generator, share: tuple[float, float] = (0.15, 0.4)) -> np.ndarray:
    """Part of the object missed: everything beyond a random straight cut (in-plane for 3D)
    that removes a share of the foreground."""
    binary = np.asarray(binary, bool)
    pts = np.argwhere(binary)
    if len(pts) < 8:
        return binary.copy()
    d = rng.normal(size=binary.ndim)
    if binary.ndim == 3:
        d[0] = 0.0
    d /= np.linalg.norm(d) + 1e-12
    proj = pts @ d
    cut = np.quantile(proj, 1.0 - rng.uniform(*share))
    out = binary.copy()
    gone = pts[proj > cut]
    out[tuple(gone.T)] = False
    return out


def _blob(binary: np.ndarray, rng: np.random.Generator, area: float, *, touching: bool) -> np.ndarray:
    """An ellipse (ellipsoid) of about ``area`` pixels: touching the object's outline, or
    anywhere outside it. Empty when nothing fits."""
    from scipy import ndimage

    shape = binary.shape
    r = max(2.0, (area / np.pi) ** 0.5) if binary.ndim == 2 else max(2.0, (3 * area / (4 * np.pi)) ** (1 / 3))
    if touching:
        edge = binary & ~ndimage.binary_erosion(binary)
        cand = np.argwhere(edge)
    else:
        far = ndimage.distance_transform_edt(~binary) > r * 1.5
        inner = np.zeros(shape, bool)  # whole inside the image, as a structure an annotator saw
        inner[tuple(slice(int(np.ceil(r)), max(int(np.ceil(r)), s - int(np.ceil(r)))) for s in shape)] = True
        cand = np.argwhere(far & inner)
    if len(cand) == 0:
        return np.zeros(shape, bool)
    centre = cand[rng.integers(len(cand))].astype(float)
    axes = r * rng.uniform(0.7, 1.4, size=binary.ndim)
    grids = np.ogrid[tuple(slice(0, s) for s in shape)]
    return sum(((g - c) / a) ** 2 for g, c, a in zip(grids, centre, axes)) <= 1.0


def add_neighbour(binary: np.ndarray, rng: np.random.Generator, image: np.ndarray | None = None,
                  share: tuple[float, float] = (0.15, 0.5)) -> np.ndarray:
    """A neighbouring structure included: image regions next to the outline (SLIC superpixels of
    the image, grown outwards from a random touching one) until they add a share of the area.
    Without an image (or in 3D), an ellipse attached to the outline."""
    from scipy import ndimage

    binary = np.asarray(binary, bool)
    n = int(binary.sum())
    if n < 8:
        return binary.copy()
    target = rng.uniform(*share) * n
    if image is None or binary.ndim != 2:
        return binary | _blob(binary, rng, target, touching=True)
    from skimage.segmentation import slic

    img = np.asarray(image, np.float32)
    seg = slic(img, n_segments=150, compactness=10 if img.ndim == 3 else 0.1, start_label=1,
               channel_axis=-1 if img.ndim == 3 else None, enforce_connectivity=True)
    outside = np.bincount(seg[~binary].ravel(), minlength=seg.max() + 1)  # each superpixel's area outside

    def fits(s, added):  # a superpixel that would overshoot the target by half is left out
        return s > 0 and outside[s] > 0 and added + outside[s] <= 1.5 * target

    ring = ndimage.binary_dilation(binary, iterations=2) & ~binary
    touching = [s for s in np.unique(seg[ring]) if fits(s, 0)]
    if not touching:
        return binary | _blob(binary, rng, target, touching=True)
    # grow a connected set of superpixels outside the object, starting from a touching one
    first = int(rng.choice(touching))
    chosen = {first}
    out = binary | (seg == first)
    for _ in range(50):
        added = int(out.sum()) - n
        if added >= target:
            break
        border = ndimage.binary_dilation(out & ~binary, iterations=2) & ~out
        nxt = [s for s in np.unique(seg[border]) if s not in chosen and fits(s, added)]
        if not nxt:
            break
        s = int(rng.choice(nxt))
        chosen.add(s)
        out |= seg == s
    return out


def coarse(binary: np.ndarray, rng: np.random.Generator) -> np.ndarray:
    """A coarse outline, as drawn on a low-resolution view: the mask on a grid of blocks of a
    quarter to a half of the object's radius, then blown back up (stair-step outline)."""
    binary = np.asarray(binary, bool)
    r = _radius(binary)
    b = max(2, int(round(r * rng.uniform(0.25, 0.5))))
    if binary.ndim == 3:
        return np.stack([_coarse_2d(s, b, rng) for s in binary])
    return _coarse_2d(binary, b, rng)


def _coarse_2d(binary: np.ndarray, block: int, rng: np.random.Generator) -> np.ndarray:
    if not binary.any():
        return binary.copy()
    oy, ox = (int(rng.integers(block)) for _ in range(2))  # the grid does not start at the corner
    padded = np.pad(binary, ((oy, block), (ox, block)))
    h, w = (padded.shape[0] // block) * block, (padded.shape[1] // block) * block
    cells = padded[:h, :w].reshape(h // block, block, w // block, block).mean((1, 3)) >= 0.5
    up = np.repeat(np.repeat(cells, block, 0), block, 1)
    out = np.zeros_like(padded)
    out[:h, :w] = up
    return out[oy:oy + binary.shape[0], ox:ox + binary.shape[1]]


def wobbly(binary: np.ndarray, rng: np.random.Generator, amplitude: tuple[float, float] = (0.15, 0.35)) -> np.ndarray:
    """A wobbly outline: the mask warped by a smooth random displacement field (in-plane for 3D)
    of 15-35 % of the object's radius."""
    from scipy import ndimage

    binary = np.asarray(binary, bool)
    r = _radius(binary)
    if r < 2:
        return binary.copy()
    amp = r * rng.uniform(*amplitude)
    sigma = max(2.0, 0.3 * r)
    plane = binary.shape[-2:]
    fields = []
    for _ in range(2):
        f = ndimage.gaussian_filter(rng.normal(size=plane), sigma)
        f *= amp / (np.abs(f).max() + 1e-12)
        fields.append(f)
    yy, xx = np.meshgrid(np.arange(plane[0]), np.arange(plane[1]), indexing="ij")
    coords = [yy + fields[0], xx + fields[1]]

    def warp(s):
        return ndimage.map_coordinates(s.astype(np.uint8), coords, order=0, mode="constant") > 0

    out = np.stack([warp(s) for s in binary]) if binary.ndim == 3 else warp(binary)
    return out if out.any() else binary.copy()


def box(binary: np.ndarray) -> np.ndarray:
    """A box drawn instead of the outline: each component's bounding box (per slice in 3D)."""
    from scipy import ndimage

    binary = np.asarray(binary, bool)
    if binary.ndim == 3:
        return np.stack([box(s) for s in binary])
    out = np.zeros_like(binary)
    lab, _ = ndimage.label(binary)
    for sl in ndimage.find_objects(lab):
        if sl is not None:
            out[sl] = True
    return out


def second_object(binary: np.ndarray, rng: np.random.Generator) -> np.ndarray:
    """A second object missed or added: with several sizeable components, one of them (not the
    largest) is dropped; otherwise a copy-sized blob is added elsewhere in the image."""
    from scipy import ndimage

    binary = np.asarray(binary, bool)
    if not binary.any():
        return binary.copy()
    lab, n = ndimage.label(binary)
    if n >= 2:
        sizes = np.bincount(lab.ravel())[1:]
        order = np.argsort(sizes)[::-1]
        sizeable = [i + 1 for i in order[1:] if sizes[i] >= 0.05 * sizes[order[0]]]
        if sizeable:
            return binary & (lab != int(rng.choice(sizeable)))
    area = int(binary.sum()) * rng.uniform(0.3, 0.8)
    for _ in range(4):  # smaller when a blob that size does not fit beside the object
        blob = _blob(binary, rng, area, touching=False)
        if blob.any():
            return binary | blob
        area /= 2
    return binary.copy()


def swap_classes(labels: np.ndarray, rng: np.random.Generator) -> np.ndarray:
    """Classes swapped in a multi-class mask: one connected component of a label takes another
    label's value (a tumour labelled as liver, or the reverse). Unchanged with fewer than two labels."""
    from scipy import ndimage

    labels = np.asarray(labels)
    present = [int(v) for v in np.unique(labels) if v != 0]
    if len(present) < 2:
        return labels.copy()
    src = int(rng.choice(present))
    dst = int(rng.choice([v for v in present if v != src]))
    lab, n = ndimage.label(labels == src)
    out = labels.copy()
    out[lab == int(rng.integers(1, n + 1))] = dst
    return out


def applicable_annotator_kinds(labels: np.ndarray, *, has_other: bool) -> list[str]:
    """The realistic kinds that can change this label map."""
    kinds = [k for k in ANNOTATOR_KINDS if k not in ("other_case", "swap_classes")]
    if has_other:
        kinds.append("other_case")
    if len([v for v in np.unique(labels) if v != 0]) >= 2:
        kinds.append("swap_classes")
    return kinds
