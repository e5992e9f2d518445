"""Mask label values: decoding 2D encodings (1-bit, 0/255, palette, grey levels, RGB colours) into
label maps, and refusing undeclared or stray values.
"""

from __future__ import annotations

from pathlib import Path
from typing import Sequence

import numpy as np

from curator.core.io.formats import nifti_nonfinite, open_pil
from curator.core.io.types import LOSSY_2D, Geometry, ImageData, MaskEncoding, ReadError


def read_labels(path) -> np.ndarray:
    """A label map saved by the project (an ``.npz`` with ``labels``: accepted, edited, draft masks)."""
    with np.load(path) as z:
        return z["labels"]


def stray_values(labels: np.ndarray, *, max_count: int = 16, ratio: float = 0.01) -> list[tuple[int, int]]:
    """``(label, pixels)`` of the labels that look like slips of the brush: at most ``max_count``
    pixels each and under ``ratio`` of the largest label."""
    values, counts = np.unique(labels, return_counts=True)
    fg = [(int(v), int(c)) for v, c in zip(values, counts) if v != 0]
    if len(fg) < 2:
        return []
    top = max(c for _, c in fg)
    return [(v, c) for v, c in fg if c <= max_count and c < ratio * top]


def check_label_values(mask: ImageData, *, declared: Sequence[int] | None = None) -> None:
    """Refuse a label map holding undeclared or stray values (see :func:`read_mask`)."""
    stored = dict(mask.encoding.stored) if mask.encoding is not None else {}

    def shown(v: int) -> str:
        s = stored.get(v, v)
        return str(s if not isinstance(s, tuple) else "RGB" + str(s))

    path = mask.source
    if declared is not None:
        present = [int(v) for v in np.unique(mask.array)]
        extra = sorted(set(present) - {int(d) for d in declared} - {0})
        if extra:
            decl = ", ".join(str(int(d)) for d in sorted(set(declared) | {0}))
            raise ReadError(f"{path}: mask holds label value(s) {', '.join(shown(v) for v in extra)} that the "
                            f"dataset does not declare (dataset.json labels: {decl}); fix the mask or declare "
                            "the label", "undeclared_label")
        return
    stray = stray_values(mask.array)
    if stray:
        values, counts = np.unique(mask.array, return_counts=True)
        main = max(((int(v), int(c)) for v, c in zip(values, counts) if v != 0), key=lambda vc: vc[1])
        desc = ", ".join(f"{shown(v)} ({c} px)" for v, c in stray)
        raise ReadError(f"{path}: mask holds stray value(s) {desc} beside {shown(main[0])} ({main[1]} px); "
                        "slips like these would become classes of their own: set them to the right label "
                        "(or to 0) in the mask", "stray_labels")


def label_dtype(max_label: int):
    return np.uint8 if max_label <= 255 else np.uint16


def volume_to_mask(img: ImageData, path: Path) -> ImageData:
    arr = img.array
    if arr.ndim != img.ndim:
        raise ReadError(f"{path}: mask has {arr.shape[-1]} components per voxel; expected a label map")
    if np.issubdtype(arr.dtype, np.floating):
        if not np.all(np.isfinite(arr)) or (img.format == "nifti" and nifti_nonfinite(path)):
            raise ReadError(f"{path}: mask holds NaN or infinite values; expected integer labels")
        if not np.array_equal(arr, np.round(arr)):
            frac = np.count_nonzero(arr != np.round(arr)) / arr.size
            raise ReadError(
                f"{path}: non-integer mask ({frac:.1%} of voxels are fractional; "
                "expected integer labels, e.g. a probability map was saved instead of a label map)"
            )
    if arr.size and arr.min() < 0:
        raise ReadError(f"{path}: mask holds negative values ({int(arr.min())}); expected labels >= 0")
    max_label = int(arr.max()) if arr.size else 0
    if max_label > 65535:
        raise ReadError(f"{path}: mask label {max_label} is out of range (max 65535)")
    labels = arr.astype(label_dtype(max_label), copy=False)
    enc = MaskEncoding(tuple((int(v), int(v)) for v in np.unique(labels)), "volume", None, str(arr.dtype))
    return ImageData(np.ascontiguousarray(labels), img.geometry, img.format, path, enc, dict(img.meta))


def read_2d_mask(path: Path, fmt: str) -> ImageData:
    im = open_pil(path, fmt)
    mode = im.mode
    palette = None
    if mode == "1":
        labels = np.asarray(im, dtype=bool).astype(np.uint8)
        enc = MaskEncoding(((0, 0), (1, 1)), "1")
        return ImageData(labels, Geometry.identity(2), fmt, path, enc)
    if mode in ("P", "PA"):
        idx = np.asarray(im.convert("P") if mode == "PA" else im)
        pal = im.getpalette()
        palette = tuple(pal) if pal else None
        values = np.unique(idx)
        enc = MaskEncoding(tuple((int(v), int(v)) for v in values), "P", palette)
        return ImageData(idx.astype(np.uint8), Geometry.identity(2), fmt, path, enc)
    if mode in ("RGBA", "LA"):
        im = im.convert("RGB" if mode == "RGBA" else "L")
        mode = im.mode
    if mode in ("RGB", "YCbCr", "CMYK"):
        rgb = np.asarray(im.convert("RGB"))
        if np.array_equal(rgb[..., 0], rgb[..., 1]) and np.array_equal(rgb[..., 0], rgb[..., 2]):
            labels, stored, note = mask_from_values(rgb[..., 0], lossy=fmt in LOSSY_2D)
            enc = MaskEncoding(tuple((lab, (v, v, v)) for lab, v in stored), "RGB", None, note)
            return ImageData(labels, Geometry.identity(2), fmt, path, enc)
        return _rgb_colour_mask(rgb, path, fmt)
    arr = np.asarray(im)
    if arr.ndim != 2:
        raise ReadError(f"{path}: mask has an unsupported pixel layout (mode {mode})")
    if np.issubdtype(arr.dtype, np.floating) and not np.array_equal(arr, np.round(arr)):
        raise ReadError(f"{path}: non-integer mask (floating-point TIFF with fractional values)")
    labels, stored, note = mask_from_values(arr, lossy=fmt in LOSSY_2D)
    enc = MaskEncoding(stored, mode, None, note)
    return ImageData(labels, Geometry.identity(2), fmt, path, enc)


MAX_GREY_LABELS = 16  # a lossless grey mask with more distinct values is read as anti-aliased


def mask_from_values(values: np.ndarray, *, lossy: bool = False):
    """Turn stored grey values into labels.

    Returns ``(labels, stored, note)`` where ``stored`` is ``((label, stored_value), ...)``.
    One non-zero value (0/255, 0/1, 0/128) → binary 0/1. Several values that are already small
    integers (< 64) → kept as labels. A lossless mask with a few other values (0/128/255,
    0/1/1000; at most :data:`MAX_GREY_LABELS`) → one label per value in increasing order, noted
    (``grey values ... read as labels ...``), so nothing collapses and writing it back stores the
    same values. A lossy file (JPEG) or a grey map of many values → thresholded at half of the
    maximum, noted.
    """
    vals = np.unique(values)
    vals_i = [int(v) for v in vals]
    if len(vals_i) == 1:
        v = vals_i[0]
        if v == 0:
            return np.zeros(values.shape, np.uint8), ((0, 0), (1, 255 if values.dtype == np.uint8 else 1)), ""
        return np.ones(values.shape, np.uint8), ((0, 0), (1, v)), "mask covers the whole image"
    if len(vals_i) == 2 and vals_i[0] == 0:
        return (values != 0).astype(np.uint8), ((0, 0), (1, vals_i[1])), ""
    if not lossy and vals_i[0] >= 0 and vals_i[-1] < 64 and len(vals_i) <= 32:
        max_label = vals_i[-1]
        return values.astype(label_dtype(max_label)), tuple((v, v) for v in vals_i), ""
    if not lossy and vals_i[0] == 0 and len(vals_i) <= MAX_GREY_LABELS:
        labels = np.searchsorted(vals, values).astype(label_dtype(len(vals_i) - 1))
        stored = tuple((i, v) for i, v in enumerate(vals_i))
        note = (f"grey values {', '.join(map(str, vals_i))} read as labels "
                f"{', '.join(str(i) for i in range(len(vals_i)))} (one class per value; if the middle values "
                "are anti-aliased edges rather than classes, save the mask with only 0 and one value)")
        return labels, stored, note
    top = vals_i[-1]
    labels = (values > top / 2).astype(np.uint8)
    note = f"{len(vals_i)} grey levels thresholded at {top / 2:g} (lossy or anti-aliased mask)"
    return labels, ((0, 0), (1, top)), note


def label_colours(colours: np.ndarray, counts: np.ndarray, *, max_labels: int = 64, tolerance: float = 12.0,
                  min_count: int = 10) -> np.ndarray | None:
    """The pure label colours of an anti-aliased colour mask, or None when it does not look like one.

    Edge pixels of an anti-aliased mask are blends of two label colours (liver blue over black
    background, tumour red over liver blue): they lie on the segment between two pure colours in
    RGB. Colours are taken in order of frequency; one that lies within ``tolerance`` of a segment
    between colours already taken is a blend, any other becomes a label colour. None when more than
    ``max_labels`` colours are needed, or colours that are neither (rarer than ``min_count`` pixels
    each) cover more than 0.5 % of the image: a photograph or an overlay, not a mask.
    """
    c = np.asarray(colours, float)
    order = np.argsort(-np.asarray(counts), kind="stable")
    pure: list[int] = []
    unexplained = 0
    for i in order:
        p = c[i]
        blend = False
        for a in range(len(pure)):
            for b in range(a + 1, len(pure)):
                u, v = c[pure[a]], c[pure[b]]
                seg = v - u
                t = np.clip(np.dot(p - u, seg) / max(np.dot(seg, seg), 1e-9), 0.0, 1.0)
                if np.linalg.norm(p - (u + t * seg)) <= tolerance:
                    blend = True
                    break
            if blend:
                break
        if blend:
            continue
        if counts[i] < min_count and pure:
            unexplained += int(counts[i])
            continue
        pure.append(int(i))
        if len(pure) > max_labels:
            return None
    if unexplained > 0.005 * float(np.sum(counts)):
        return None
    # a small object may hold no pixel of its pure colour: shades of one colour over the background
    # (on one ray from it) are one label, whose colour is the shade farthest from the background
    bg = c[pure[0]]
    rays: list[int] = []
    for i in pure[1:]:
        d = c[i] - bg
        for k, j in enumerate(rays):
            e = c[j] - bg
            cos = np.dot(d, e) / max(np.linalg.norm(d) * np.linalg.norm(e), 1e-9)
            if cos > 0.995:
                rays[k] = i if np.linalg.norm(d) > np.linalg.norm(e) else j
                break
        else:
            rays.append(i)
    return c[[pure[0]] + rays].astype(np.int64)


def _rgb_colour_mask(rgb: np.ndarray, path: Path, fmt: str) -> ImageData:
    flat = rgb.reshape(-1, 3)
    colours, inverse, counts = np.unique(flat, axis=0, return_inverse=True, return_counts=True)
    note = ""
    if len(colours) > 64:
        pure = label_colours(colours, counts)
        if pure is not None:  # anti-aliasing blurs edges only: most pixels keep a pure label colour
            exact = (colours[:, None, :].astype(np.int64) == pure[None]).all(-1).any(1)
            if counts[exact].sum() < 0.9 * counts.sum():
                pure = None
        if pure is None:
            raise ReadError(
                f"{path}: colour mask with {len(colours)} distinct colours; expected a label map "
                "(a photograph or an overlay may have been given as the mask)"
            )
        # every colour to its nearest label colour (a blend goes to the nearer of its two ends)
        d = ((colours[:, None, :].astype(np.int64) - pure[None]) ** 2).sum(-1)
        nearest = d.argmin(1)
        note = (f"{len(colours) - len(pure)} anti-aliased colours mapped to the nearest of {len(pure)} label colours "
                "(lossy or anti-aliased mask)")
        colours, inverse = pure, nearest[inverse.ravel()]
    # labels in order of the colours' sums, ties by the colour itself: the same colour gets the same
    # label in every file that holds the same set of colours
    order = np.lexsort((colours[:, 2], colours[:, 1], colours[:, 0], colours.sum(axis=1)))
    if colours[order[0]].sum() != 0:
        order = np.concatenate([[len(colours)], order])  # no black: background label unused
        colours = np.vstack([colours, [0, 0, 0]])
    rank = np.empty(len(colours), np.int64)
    rank[order] = np.arange(len(order))
    labels = rank[inverse.ravel()].reshape(rgb.shape[:2]).astype(np.uint8)
    stored = tuple((int(rank[i]), tuple(int(c) for c in colours[i])) for i in order)
    return ImageData(labels, Geometry.identity(2), fmt, path, MaskEncoding(stored, "RGB", None, note))


# ----------------------------------------------------------------------------------------------
# Writing
