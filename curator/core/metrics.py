"""Overlap metrics between label maps (numpy in, numpy out; any number of dimensions)."""

from __future__ import annotations

import numpy as np

__all__ = ["dice", "dice_per_label", "foreground_dice", "changed_pixels", "equivalent_radius"]


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


def foreground_dice(a: np.ndarray, b: np.ndarray) -> float:
    """Dice of the two maps' foregrounds (any non-zero label), 1.0 when both are empty."""
    fa, fb = np.asarray(a) > 0, np.asarray(b) > 0
    s = int(np.count_nonzero(fa)) + int(np.count_nonzero(fb))
    return 1.0 if s == 0 else 2.0 * int(np.count_nonzero(fa & fb)) / s


def equivalent_radius(binary: np.ndarray) -> float:
    """Radius in pixels (voxels) of the disc (ball) with the mask's area (volume); 0 when empty."""
    n = int(np.count_nonzero(binary))
    if n == 0:
        return 0.0
    return float(np.sqrt(n / np.pi)) if np.ndim(binary) == 2 else float((3 * n / (4 * np.pi)) ** (1 / 3))


def changed_pixels(before: np.ndarray, after: np.ndarray) -> tuple[int, int]:
    """``(added, removed)``: pixels that became foreground / background (label-agnostic for
    added/removed; a label swap inside the foreground counts as both)."""
    before, after = np.asarray(before), np.asarray(after)
    diff = before != after
    added = int(np.count_nonzero(diff & (after != 0)))
    removed = int(np.count_nonzero(diff & (before != 0)))
    return added, removed


# -- detection of wrong masks (ranking quality) --------------------------------------------------


def detection_metrics(scores, is_wrong, *, ks=(10, 20)) -> dict:
    """How well ``scores`` (higher = more likely wrong) find the wrong masks ``is_wrong``.

    Returns AUROC, average precision, precision at ``k`` for each ``k`` and at ``k = number of
    wrong masks``, and the curve of the fraction of wrong masks found after reviewing each
    fraction of the cases in score order (``found_curve``: list of ``(reviewed, found)``).
    """
    from sklearn.metrics import average_precision_score, roc_auc_score

    s = np.asarray(scores, float)
    y = np.asarray(is_wrong, bool)
    out: dict = {"n": int(y.size), "wrong": int(y.sum())}
    if y.all() or not y.any():
        out.update({"auroc": float("nan"), "average_precision": float("nan")})
    else:
        out["auroc"] = float(roc_auc_score(y, s))
        out["average_precision"] = float(average_precision_score(y, s))
    order = np.argsort(-s, kind="stable")
    hits = np.cumsum(y[order])
    for k in list(ks) + [int(y.sum())]:
        if 0 < k <= y.size:
            out[f"precision_at_{k}"] = float(hits[k - 1] / k)
    total = max(int(y.sum()), 1)
    out["found_curve"] = [(float((i + 1) / y.size), float(hits[i] / total)) for i in range(y.size)]
    return out
