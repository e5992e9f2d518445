"""What training feeds on: the loss, K-fold splits, 2D batches and 3D patches, and the files a
member's training leaves (checkpoints to resume from, the labels relabelling changed).

Arrays: 2D items ``(C, Y, X)`` with labels ``(Y, X)``; 3D volumes ``(C, Z, Y, X)`` with labels
``(Z, Y, X)``; batches ``(B, C, *S)``.
"""

from __future__ import annotations

import json
import zlib
from pathlib import Path
from typing import Sequence

import numpy as np

from curator.core.engine.inference import forward_probs, iter_predict
from curator.core.engine.prepare import PreparedCase
from curator.core.errors import CuratorError
from curator.core.io.files import atomic_write
from curator.core.jobs import run
from curator.core.metrics import foreground_dice


class TrainError(CuratorError):
    """Training cannot start or go on (no usable cases, bad settings); the message says why."""


# ----------------------------------------------------------------------------------------------
# Loss


LOSSES = ("dicece", "ce", "dice", "gce", "sce")
_RCE_A = 9.2103  # -log(1e-4): the reverse cross-entropy's clamp of log 0 (Wang et al. 2019)


def seg_loss(logits, target, *, kind: str = "dicece", weights=None, q: float = 0.7):
    """Segmentation loss for ``logits`` ``(B, K, *S)`` and class indices ``target`` ``(B, *S)``.

    ``dicece``: cross-entropy + soft Dice (batch Dice over foreground classes); ``ce``; ``dice``;
    ``gce``: generalised cross-entropy ``(1 - p_y^q) / q`` (Zhang & Sabuncu 2018), robust to label
    noise; ``sce``: symmetric cross-entropy (Wang et al. 2019), cross-entropy plus the reverse
    cross-entropy ``-A (1 - p_y)`` with ``A = log 1e-4`` (the one-hot label's zeros clamped as in
    the authors' code), both weighted 1. For two-class masks ``ce`` is the binary cross-entropy.
    ``weights`` ``(B, *S)`` scale every pixel's contribution (reweighting).
    """
    import torch
    import torch.nn.functional as F

    k = logits.shape[1]
    w = weights if weights is not None else None
    terms = []
    if kind in ("ce", "dicece"):
        ce = F.cross_entropy(logits, target, reduction="none")
        terms.append((ce * w).sum() / w.sum().clamp(min=1e-6) if w is not None else ce.mean())
    if kind == "gce":
        p = torch.softmax(logits, 1)
        py = p.gather(1, target[:, None]).squeeze(1).clamp(min=1e-6)
        g = (1 - py ** q) / q
        terms.append((g * w).sum() / w.sum().clamp(min=1e-6) if w is not None else g.mean())
    if kind == "sce":
        ce = F.cross_entropy(logits, target, reduction="none")
        py = torch.softmax(logits, 1).gather(1, target[:, None]).squeeze(1)
        s = ce + _RCE_A * (1 - py)
        terms.append((s * w).sum() / w.sum().clamp(min=1e-6) if w is not None else s.mean())
    if kind in ("dice", "dicece"):
        p = torch.softmax(logits, 1)
        onehot = F.one_hot(target, k).movedim(-1, 1).to(p.dtype)
        dims = (0,) + tuple(range(2, p.ndim))
        if w is not None:
            ww = w[:, None]
            inter = (p * onehot * ww).sum(dims)
            denom = ((p + onehot) * ww).sum(dims)
        else:
            inter = (p * onehot).sum(dims)
            denom = (p + onehot).sum(dims)
        dice = (2 * inter + 1e-5) / (denom + 1e-5)
        terms.append(1 - dice[1:].mean() if k > 1 else 1 - dice.mean())
    if not terms:
        raise ValueError(f"unknown loss '{kind}' (choose {', '.join(LOSSES)})")
    return sum(terms)


# ----------------------------------------------------------------------------------------------
# Folds


def make_folds(case_ids: Sequence[str], folds: int, repeats: int = 1, seed: int = 0) -> list[list[list[str]]]:
    """``repeats`` independent splits of ``case_ids`` into ``folds`` held-out groups.

    Deterministic for a seed and a set of ids (their order does not matter).
    """
    ids = sorted(case_ids)
    if folds < 1:
        raise TrainError("--folds must be at least 1")
    if folds > 1 and len(ids) < folds:
        raise TrainError(f"{len(ids)} usable cases cannot be split into {folds} folds; use fewer folds")
    out = []
    for r in range(repeats):
        rng = np.random.default_rng([seed, r, 7919])
        order = [ids[i] for i in rng.permutation(len(ids))]
        if folds == 1:
            out.append([[]])  # one member trained on everything (no held-out cases)
            continue
        out.append([sorted(order[f::folds]) for f in range(folds)])
    return out




def member_seed(seed: int, name: str) -> int:
    return int(zlib.crc32(f"{seed}:{name}".encode()) & 0x7FFFFFFF)


def batches_2d(items: list[PreparedCase], batch: int, rng: np.random.Generator):
    """Shuffled mini-batches of case indices (no batch of one: BatchNorm needs two samples)."""
    order = rng.permutation(len(items))
    for i in range(0, len(order), batch):
        idx = order[i:i + batch]
        if len(idx) < 2 and len(order) >= 2:
            idx = np.concatenate([idx, order[:1]])
        yield [(int(j), None) for j in idx]


def patch_slices(shape: Sequence[int], labels: np.ndarray, patch: Sequence[int], rng: np.random.Generator,
                  foreground_p: float = 0.67) -> tuple[slice, ...]:
    """A random ``patch`` window in a volume of ``shape`` (zero-padded beforehand when smaller),
    centred on foreground with probability ``foreground_p``."""
    fg = np.argwhere(labels > 0) if rng.random() < foreground_p else np.zeros((0, len(shape)))
    if len(fg):
        centre = fg[rng.integers(len(fg))]
        start = [int(np.clip(c - p // 2, 0, s - p)) for c, p, s in zip(centre, patch, shape)]
    else:
        start = [int(rng.integers(0, s - p + 1)) for p, s in zip(patch, shape)]
    return tuple(slice(a, a + p) for a, p in zip(start, patch))


def pad_to(arr: np.ndarray, patch: Sequence[int], lead: int = 0) -> np.ndarray:
    pad = [max(0, p - s) for p, s in zip(patch, arr.shape[lead:])]
    return np.pad(arr, [(0, 0)] * lead + [(0, p) for p in pad]) if any(pad) else arr


def batches_3d(items: list[PreparedCase], labels: dict, batch: int, per_volume: int, patch, rng):
    """Mini-batches of (case index, patch window): ``per_volume`` random patches per volume."""
    order = np.repeat(np.arange(len(items)), per_volume)
    order = order[rng.permutation(len(order))]
    for i in range(0, len(order), batch):
        out = []
        for j in order[i:i + batch]:
            lab = pad_to(labels[items[j].case_id], patch)
            out.append((int(j), patch_slices(lab.shape, lab, patch, rng)))
        yield out




def save_checkpoint(path: Path, net, opt, sched, epoch, history, relabel_start, labels, original, gen,
                     guard: dict) -> None:
    import io as _io

    import torch

    changed = {cid: torch.from_numpy(np.ascontiguousarray(v)) for cid, v in labels.items()
               if v is not original.get(cid)}
    state = {"model": net.state_dict(), "optim": opt.state_dict(), "sched": sched.state_dict(), "epoch": epoch,
             "history": json.dumps(history), "relabel_start": -1 if relabel_start is None else int(relabel_start),
             "labels": changed, "gen": gen.get_state(), "guard": json.dumps(guard)}
    buf = _io.BytesIO()
    torch.save(state, buf)
    atomic_write(path, buf.getvalue())


def save_relabelled(out_stem: Path, labels: dict, original: dict) -> None:
    """Record what relabelling changed: final training labels and per-case flip counts."""
    import io as _io

    changed = {cid: v for cid, v in labels.items() if not np.array_equal(v, original[cid])}
    buf = _io.BytesIO()
    np.savez_compressed(buf, **{cid: v for cid, v in changed.items()})
    atomic_write(out_stem.parent / f"{out_stem.name}.relabelled.npz", buf.getvalue())
    summary = {cid: {"flipped": int(np.count_nonzero(v != original[cid])), "pixels": int(v.size)}
               for cid, v in changed.items()}
    atomic_write(out_stem.parent / f"{out_stem.name}.relabelled.json", json.dumps(summary, indent=1))


# ----------------------------------------------------------------------------------------------
# Loss weights and predictions on the training cases


def pixel_weights(reweight: np.ndarray | None, labels: np.ndarray, case_weight: float, on: bool) -> np.ndarray | None:
    """A training case's loss weights: the reweighting map (or ones) times the case's weight; None
    when no weighting is on."""
    if not on:
        return None
    w = reweight if reweight is not None else np.ones(labels.shape, np.float32)
    return w * np.float32(case_weight) if case_weight != 1.0 else w


def predict_training_items(net, items: list[PreparedCase], spec, rc, device, amp) -> dict:
    """Mean probabilities and the relabel measure ``rc.measure`` for every training item (TTA,
    optional MC; ``rc``: the RelabelConfig)."""
    import torch

    out = {}
    patch = spec.preprocess.patch if spec.spatial_dims == 3 else None
    for it in items:
        x = torch.from_numpy(it.image.astype(np.float32))
        acc = run(iter_predict([(net, patch)], x, tta=rc.tta, mc=rc.mc, device=device, amp=amp))
        res = acc.result()
        out[it.case_id] = (res["mean_prob"].numpy(), res[rc.measure].numpy())
    net.train()
    return out


def monitor_dice(net, monitor, spec, device, amp) -> float:
    """Mean foreground Dice of the network's argmax on ``monitor`` ``(case, clean labels)`` pairs (experiments)."""
    import torch

    net.eval()
    scores = []
    patch = spec.preprocess.patch if spec.spatial_dims == 3 else None
    for it, clean in monitor:
        x = torch.from_numpy(it.image.astype(np.float32))[None]
        p = forward_probs(net, x, patch=patch, device=device, amp=amp)[0].cpu().numpy()
        pred = p.argmax(0)
        scores.append(foreground_dice(pred, clean))
    net.train()
    return float(np.mean(scores))
