"""Overlap metrics between label maps (numpy in, numpy out; any number of dimensions)."""

from __future__ import annotations

import numpy as np

__all__ = ["dice", "dice_per_label", "changed_pixels"]


def dice_per_label(a: np.ndarray, b: np.ndarray, labels=None) -> dict[int, float]:
    """Dice per non-zero label; a label absent from both maps scores 1.0."""
    a, b = np.asarray(a), np.asarray(b)
    if a.shape != b.shape:
        raise ValueError(f"shapes differ: {a.shape} vs {b.shape}")
    if labels is None:
        labels = sorted({int(v) for v in np.unique(a)} | {int(v) for v in np.unique(b)} - {0})
        labels = [v for v in labels if v != 0]
    out = {}
    for lab in labels:
        x, y = a == lab, b == lab
        sx, sy = int(x.sum()), int(y.sum())
        out[int(lab)] = 1.0 if sx + sy == 0 else 2.0 * int(np.count_nonzero(x & y)) / (sx + sy)
    return out


def dice(a: np.ndarray, b: np.ndarray) -> float:
    """Dice of two label maps: for binary maps the usual foreground Dice, for several labels the
    mean of the per-label Dice over labels present in either. Two empty maps score 1.0."""
    per = dice_per_label(a, b)
    return float(np.mean(list(per.values()))) if per else 1.0


def changed_pixels(before: np.ndarray, after: np.ndarray) -> tuple[int, int]:
    """``(added, removed)``: pixels that became foreground / background (label-agnostic for
    added/removed; a label swap inside the foreground counts as both)."""
    before, after = np.asarray(before), np.asarray(after)
    diff = before != after
    added = int(np.count_nonzero(diff & (after != 0)))
    removed = int(np.count_nonzero(diff & (before != 0)))
    return added, removed
