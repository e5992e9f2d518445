"""Do the trained encoder's embeddings find wrong masks? (``curator bench embeddings``)

Issue 18 asked for outlier scores from the trained encoder, not only hand-made shape descriptors,
kept in the default ranking only if the development suite says they help. They did not (figures:
docs/results.md, "Encoder embeddings"), so they live here, as a measurement anyone can repeat on
a finished suite, and not in the product's ranking.

:func:`mask_embedding` runs a network once on a preprocessed case and pools its deepest feature
map (the encoder's bottleneck: the convolution output with the smallest grid and the most
channels) over each class of the given mask, brought to that grid by area averaging: what the
network sees inside the mask. :func:`embedding_outliers` scores each case by its mean distance to
its nearest neighbours among the batch's embeddings (a k-centre coreset's sensitivity).
:func:`iter_embedding_eval` scores the cases of every finished suite run with all of its members
(their embeddings side by side, so every case is seen by the same mix of members) and reports the
AUROC alone and added to the batch's combined score at several weights.
"""

from __future__ import annotations

from pathlib import Path
from typing import Generator, Sequence

import numpy as np

from curator.core.curation.ranking import combine
from curator.core.engine.prepare import iter_prepare
from curator.core.io.files import read_csv
from curator.core.jobs import Progress
from curator.core.metrics import detection_metrics
from curator.core.project.folder import Project
from curator.core.project.scoring import load_members
from curator.core.project.store import Store

__all__ = ["mask_embedding", "embedding_outliers", "iter_embedding_eval", "summarise_embeddings"]


def _bottleneck_hooks(net, store: list):
    import torch.nn as nn

    handles = []
    for mod in net.modules():
        if isinstance(mod, (nn.Conv2d, nn.Conv3d)):
            handles.append(mod.register_forward_hook(lambda m, i, o: store.append(o.detach())))
    return handles


def mask_embedding(net, x, index: np.ndarray, n_classes: int, *, patch: Sequence[int] | None = None,
                   device=None) -> np.ndarray | None:
    """Class-pooled bottleneck features of ``net`` on ``x`` ``(C, *S)`` under the class-index mask
    ``index`` ``(*S)``: ``n_classes`` blocks of the bottleneck's channels, each the mean feature
    over that class (zeros where the class is absent). None for a 3D input larger than ``patch``."""
    import torch
    import torch.nn.functional as F

    if patch is not None and any(s > p for s, p in zip(x.shape[1:], patch)):
        return None
    outs: list = []
    handles = _bottleneck_hooks(net, outs)
    was_training = net.training
    net.eval()
    try:
        with torch.no_grad():
            dev = device if device is not None else next(net.parameters()).device
            net(x[None].to(dev).float())
    finally:
        for h in handles:
            h.remove()
        net.train(was_training)
    if not outs:
        return None
    # the bottleneck: the smallest grid, and there the most channels
    feat = min(outs, key=lambda o: (int(np.prod(o.shape[2:])), -int(o.shape[1])))[0].float().cpu()  # (C', *s)
    onehot = F.one_hot(torch.from_numpy(np.asarray(index, np.int64)), n_classes).movedim(-1, 0).float()[None]
    pool = F.adaptive_avg_pool2d if onehot.ndim == 4 else F.adaptive_avg_pool3d
    weights = pool(onehot, feat.shape[1:])[0]  # (K, *s): each class's share of every bottleneck cell
    mass = weights.flatten(1).sum(1)
    pooled = torch.einsum("k...,c...->kc", weights, feat) / mass.clamp(min=1e-6)[:, None]
    pooled[mass <= 1e-6] = 0.0
    return pooled.flatten().numpy().astype(np.float32)


def embedding_outliers(embeddings: np.ndarray, *, k: int = 5, dims: int = 16) -> np.ndarray:
    """Outlier score per case (higher = more unusual) from mask-aware embeddings ``(N, D)``
    (:func:`curator.core.engine.embedding.mask_embedding`): the mean distance to the ``k`` nearest
    other cases after standardising and keeping the ``dims`` leading principal components (the
    sensitivity a k-centre coreset gives a point: far from every other, so no other stands for
    it). Zeros for fewer than ``2 k`` cases; NaN rows (no embedding) stay NaN."""
    e = np.asarray(embeddings, float)
    out = np.full(len(e), np.nan)
    ok = np.isfinite(e).all(1) if e.ndim == 2 and len(e) else np.zeros(len(e), bool)
    if ok.sum() < 2 * k:
        out[ok] = 0.0
        return out
    z = e[ok]
    z = (z - z.mean(0)) / (z.std(0) + 1e-6)
    u, s, _ = np.linalg.svd(z, full_matrices=False)
    z = u[:, :dims] * s[:dims]
    d = np.sqrt(((z[:, None, :] - z[None, :, :]) ** 2).sum(-1))
    np.fill_diagonal(d, np.inf)
    out[ok] = np.sort(d, 1)[:, :k].mean(1)
    return out


WEIGHTS = (0.1, 0.25, 0.5, 1.0)


def iter_embedding_eval(suite_dir, *, datasets=None, device="cpu") -> Generator[Progress, None, list[dict]]:
    """AUROC of the embedding outlier score, alone and in the combined score, per finished suite run."""
    import torch

    plan = sorted(p for p in Path(suite_dir).glob("*/*/seed*") if (p / "result.json").exists()
                  and (p / "project-relabel").is_dir() and (datasets is None or p.parts[-3] in datasets))
    rows = []
    for k, run_dir in enumerate(plan):
        yield Progress(k, len(plan), "/".join(run_dir.parts[-3:]))
        truth = {r["case_id"]: r["corrupted"] == "1" for r in read_csv(run_dir / "noisy" / "corruption.csv")}
        project = Project.open(run_dir / "project-relabel")
        members = load_members(project.member_specs(), torch.device(device))
        spec = members[0].spec
        cases = [c for c in project.open_dataset().cases if c.id in truth]
        prepared, _ = yield from iter_prepare(cases, spec.preprocess, spec.labels, project.cache_dir)
        ids = sorted(prepared)
        emb = []
        for cid in ids:
            x = torch.from_numpy(prepared[cid].image.astype(np.float32))
            parts = [mask_embedding(m.network, x, prepared[cid].labels, len(spec.labels)) for m in members]
            emb.append(np.concatenate(parts) if all(p is not None for p in parts) else np.full(1, np.nan))
        if len({e.size for e in emb}) != 1:
            continue  # volumes larger than the patch: no embedding
        score = embedding_outliers(np.stack(emb))
        with Store(project.db_path) as store:
            scores, weights = store.scores(), (store.get_state("ranking") or {}).get("weights")
        y = [truth[c] for c in ids]
        row = {"dataset": run_dir.parts[-3], "run": "/".join(run_dir.parts[-3:]),
               "embedding": detection_metrics(list(score), y)["auroc"],
               "shape outlier": detection_metrics([scores[c].get("outlier", 0.0) for c in ids], y)["auroc"],
               "combined": detection_metrics([combine({c: scores[c] for c in ids}, weights)[c] for c in ids], y)["auroc"]}
        for w in WEIGHTS:
            comb = combine({c: {**scores[c], "embedding": float(e)} for c, e in zip(ids, score)},
                           {**(weights or {}), "embedding": w})
            row[f"combined + {w:g} embedding"] = detection_metrics([comb[c] for c in ids], y)["auroc"]
        rows.append(row)
    return rows


def summarise_embeddings(rows: list[dict]) -> list[dict]:
    """Mean AUROC per dataset and over all runs (each column of :func:`iter_embedding_eval`)."""
    cols = [k for k in (rows[0] if rows else {}) if k not in ("dataset", "run")]
    by: dict[str, list[dict]] = {}
    for r in rows:
        by.setdefault(r["dataset"], []).append(r)
    return [{"dataset": name, "runs": len(rs), **{c: float(np.mean([r[c] for r in rs])) for c in cols}}
            for name, rs in sorted(by.items()) + [("mean", rows)]]
