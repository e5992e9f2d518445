"""Editing helpers clinicians know from 3D Slicer's Segment Editor, on label maps ``(Y, X)`` /
``(Z, Y, X)``: label maps in, label maps out (pure numpy / scipy).
"""

from __future__ import annotations

import numpy as np

from curator.core.curation.proposals import fill_holes_2d


def remove_islands(labels: np.ndarray, min_size: int = 50, *, label: int | None = None) -> np.ndarray:
    """Remove connected pieces smaller than ``min_size`` pixels (of ``label``, or of every label)."""
    from scipy import ndimage

    out = np.array(labels, copy=True)
    targets = [label] if label is not None else [int(v) for v in np.unique(out) if v != 0]
    for lab in targets:
        comp, n = ndimage.label(out == lab)
        if n == 0:
            continue
        sizes = np.bincount(comp.ravel())
        small = sizes < min_size
        small[0] = False
        out[small[comp]] = 0
    return out


def fill_holes(labels: np.ndarray, *, label: int | None = None) -> np.ndarray:
    """Fill holes inside each label (slice by slice in 3D)."""
    out = np.array(labels, copy=True)
    targets = [label] if label is not None else [int(v) for v in np.unique(out) if v != 0]
    for lab in targets:
        m = out == lab
        filled = np.stack([fill_holes_2d(s) for s in m]) if m.ndim == 3 else fill_holes_2d(m)
        out[filled & (out == 0)] = lab
    return out


def smooth(labels: np.ndarray, radius: float = 2.0, *, label: int | None = None) -> np.ndarray:
    """Smooth each label's outline: morphological opening then closing with a disc/ball."""
    from scipy import ndimage

    r = int(np.ceil(radius))
    grids = np.ogrid[tuple(slice(-r, r + 1) for _ in range(labels.ndim))]
    ball = sum(g * g for g in grids) <= radius * radius
    out = np.array(labels, copy=True)
    targets = [label] if label is not None else [int(v) for v in np.unique(labels) if v != 0]
    for lab in targets:
        m = labels == lab
        sm = ndimage.binary_closing(ndimage.binary_opening(m, ball), ball)
        out[m & ~sm] = 0
        out[sm & (out == 0)] = lab
    return out


def fill_between_slices(labels: np.ndarray, *, label: int = 1) -> np.ndarray:
    """Fill the slices between annotated ones by interpolating signed distances (3D, along Z)."""
    from scipy import ndimage

    if labels.ndim != 3:
        raise ValueError("fill between slices needs a 3-D mask")
    out = np.array(labels, copy=True)
    m = labels == label
    annotated = [z for z in range(m.shape[0]) if m[z].any()]
    for a, b in zip(annotated, annotated[1:]):
        if b - a < 2:
            continue
        da = ndimage.distance_transform_edt(m[a]) - ndimage.distance_transform_edt(~m[a])
        db = ndimage.distance_transform_edt(m[b]) - ndimage.distance_transform_edt(~m[b])
        for z in range(a + 1, b):
            t = (z - a) / (b - a)
            fill = (1 - t) * da + t * db > 0
            out[z][fill & (out[z] == 0)] = label
    return out
