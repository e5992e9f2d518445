"""Noisy-label training experiments (the poster's Table 1) on any dataset with clean masks.

:func:`iter_noise_experiment` corrupts the masks of a clean dataset with a chosen noise kind,
splits it into training and validation cases, trains the same network once per method and seed
(``clean``: on the clean masks; ``none``: on the noisy masks; ``relabel``: noisy masks relabelled
while training; ``reweight``; ``gce``; ``mixup``; and any relabel variant), and reports the Dice
of each model's validation predictions against the clean and the noisy validation masks, at the
images' own resolution. Results are returned (and saved by the caller) as plain dicts.
"""

from __future__ import annotations

import time
from dataclasses import replace
from typing import Generator, Sequence

import numpy as np

from curator.core.engine.device import resolve_device, set_threads
from curator.core.engine.inference import forward_probs
from curator.core.engine.prepare import choose_spec, iter_prepare, scan_labels
from curator.core.engine.preprocess import Preprocessor, labels_to_index
from curator.core.engine.training import RelabelConfig, TrainConfig, build_spec, iter_train_member
from curator.core.io.files import read_csv
from curator.core.jobs import Progress
from curator.core.metrics import detection_metrics, dice
from curator.core.project.pipeline import iter_batch
from curator.lab.corrupt import case_rng, iter_corrupt_dataset
from curator.lab.noise import corrupt_mask
from curator.lab.suite import evaluate_project

__all__ = ["METHODS", "method_config", "iter_noise_experiment", "summarise"]

METHODS = ("clean", "none", "relabel", "reweight", "gce", "sce", "ce", "dice", "mixup", "relabel-poster")


def method_config(method: str, base: TrainConfig) -> TrainConfig:
    """The training settings of a named method, starting from ``base`` (``relabel:k=v,...`` sets
    relabel options, e.g. ``relabel:tau=0.7,band=0.2,start=5``)."""
    if method in ("clean", "none"):
        return replace(base, relabel=None, reweight=False)
    if method == "reweight":
        return replace(base, relabel=None, reweight=True)
    if method in ("gce", "sce", "ce", "dice"):  # a loss instead of the default Dice + cross-entropy
        return replace(base, relabel=None, reweight=False, loss=method)
    if method == "mixup":
        return replace(base, relabel=None, mixup=0.4)
    if method == "relabel-poster":
        return replace(base, relabel=RelabelConfig(rule="uncertainty", delta=0.3, band=None, update="cumulative"))
    if method == "relabel" or method.startswith("relabel:"):
        rc = base.relabel or RelabelConfig()
        if ":" in method:
            rc = replace(rc, **parse_relabel_options(method.split(":", 1)[1]))
        return replace(base, relabel=rc)
    raise ValueError(f"unknown method '{method}'; choose from {', '.join(METHODS)} or relabel:key=value,...")


def parse_relabel_options(text: str) -> dict:
    """``"tau=0.7,band=0.2,start=5"`` → relabel option values of the right types."""
    out = {}
    for kv in filter(None, text.split(",")):
        k, _, v = kv.partition("=")
        if k not in RelabelConfig.__dataclass_fields__:
            raise ValueError(f"unknown relabel option '{k}'")
        if v.lower() == "none":
            out[k] = None
        elif k == "start":
            out[k] = v if v == "auto" else int(v)
        elif k in ("rule", "measure", "update", "select", "evidence"):
            out[k] = v
        elif k in ("tta", "mc", "every"):
            out[k] = int(v)
        else:
            out[k] = float(v)
    return out


def _split(ids: Sequence[str], val_fraction: float, seed: int) -> tuple[list[str], list[str]]:
    ids = sorted(ids)
    rng = np.random.default_rng([seed, 4242])
    order = [ids[i] for i in rng.permutation(len(ids))]
    n_val = max(1, int(round(val_fraction * len(ids))))
    return sorted(order[n_val:]), sorted(order[:n_val])


def iter_noise_experiment(
    dataset,
    *,
    noise: str = "polygon3",
    methods: Sequence[str] = ("clean", "none", "relabel"),
    seeds: Sequence[int] = (0, 1, 2),
    base: TrainConfig | None = None,
    val_fraction: float = 0.2,
    split_seed: int = 0,
    noise_seed: int = 0,
    max_cases: int | None = None,
    monitor: bool = False,
) -> Generator[Progress, None, dict]:
    """Run the experiment; returns ``{"runs": [...], "settings": {...}}``.

    Each run: ``{"method", "seed", "dice_clean", "dice_noisy", "history", "seconds"}`` with Dice in
    percent, averaged over validation cases at their original resolution.
    """
    base = base or TrainConfig()
    set_threads(base.threads)
    device = resolve_device(base.device)
    dataset.check()
    usable = [c for c in dataset.cases if c.ok and c.mask is not None]
    if max_cases:
        usable = usable[:max_cases]
    label_values = scan_labels(usable, dataset.label_names)
    pre = choose_spec(dataset, size=base.size, spacing=base.spacing, window=base.window, patch=base.patch)
    prepared, failed = yield from iter_prepare(usable, pre, label_values)
    ids = sorted(prepared)
    train_ids, val_ids = _split(ids, val_fraction, split_seed)

    noisy_work, clean_orig, noisy_orig = yield from _iter_noisy_masks(usable, prepared, pre, label_values, noise,
                                                                      noise_seed, set(val_ids))
    in_channels = prepared[ids[0]].image.shape[0]
    runs = []
    for seed in seeds:
        for method in methods:
            cfg = replace(method_config(method, base), seed=int(seed))
            spec = build_spec(cfg, pre, label_values, in_channels)
            items = []
            for cid in train_ids:
                pc = prepared[cid]
                lab = pc.labels if method == "clean" else noisy_work[cid]
                items.append(replace(pc, labels=lab))
            watch = None
            if monitor:  # Dice against the clean validation masks after every epoch (working resolution)
                watch = [(prepared[c], prepared[c].labels) for c in val_ids]
            # the held-out cases relabelling measures its evidence on: the validation cases with the
            # masks this method trains with (noisy, except for "clean"), never their clean masks
            probe = [replace(prepared[c], labels=prepared[c].labels if method == "clean" else noisy_work[c])
                     for c in val_ids]
            t0 = time.perf_counter()
            res = yield from iter_train_member(items, spec, cfg, name=f"{method}/seed{seed}", device=device,
                                               monitor=watch, probe=probe)
            d_clean, d_noisy = _validation_dice(res.network.eval(), prepared, pre, val_ids, clean_orig, noisy_orig,
                                                device)
            run = {"method": method, "seed": int(seed), "dice_clean": 100 * float(np.mean(d_clean)),
                   "dice_noisy": 100 * float(np.mean(d_noisy)), "relabel_start": res.relabel_start,
                   "relabel_stopped": res.relabel_stopped, "relabel_decision": res.decision,
                   "history": res.history, "seconds": round(time.perf_counter() - t0, 1)}
            runs.append(run)
            yield Progress(len(runs), len(seeds) * len(methods),
                           f"{method} seed {seed}: Dice {run['dice_clean']:.1f} clean / {run['dice_noisy']:.1f} noisy")
    settings = {"noise": noise, "methods": list(methods), "seeds": list(seeds), "config": base.to_json(),
                "train_cases": len(train_ids), "val_cases": len(val_ids), "failed": failed,
                "preprocess": pre.to_json(), "labels": label_values, "dataset": str(dataset.root)}
    return {"runs": runs, "settings": settings}



def _iter_noisy_masks(usable, prepared: dict, pre, label_values, noise: str, noise_seed: int, val_ids: set
                      ) -> Generator[Progress, None, tuple[dict, dict, dict]]:
    """Every case's mask corrupted at the original resolution and taken to working space; the
    validation cases' clean and noisy masks at the original resolution too."""
    noisy_work: dict[str, np.ndarray] = {}
    clean_orig: dict[str, np.ndarray] = {}
    noisy_orig: dict[str, np.ndarray] = {}
    by_id = {c.id: c for c in usable}
    ids = sorted(prepared)
    for i, cid in enumerate(ids):
        yield Progress(i, len(ids), f"corrupting {cid} ({noise})")
        case = by_id[cid]
        idx = labels_to_index(case.read_mask().array, label_values)
        scale = case.image_info().geometry.scale if case.ndim == 3 else None
        if noise == "none":  # a clean control: what does a method cost when the masks are right?
            noisy = idx.astype(np.uint8)
        else:
            noisy, _ = corrupt_mask(idx.astype(np.uint8), noise, case_rng(noise_seed, cid), scale=scale)
        pc = prepared[cid]
        noisy_work[cid] = pc.preprocessor(pre).labels_forward(noisy, len(label_values))
        if cid in val_ids:
            clean_orig[cid] = idx
            noisy_orig[cid] = noisy
    return noisy_work, clean_orig, noisy_orig


def _validation_dice(net, prepared: dict, pre, val_ids, clean_orig: dict, noisy_orig: dict, device
                     ) -> tuple[list[float], list[float]]:
    """Dice of the network's validation predictions (original resolution) to the clean and the noisy masks."""
    import torch

    d_clean, d_noisy = [], []
    patch = pre.patch if pre.ndim == 3 else None
    for cid in val_ids:
        pc = prepared[cid]
        x = torch.from_numpy(pc.image.astype(np.float32))[None]
        probs = forward_probs(net, x, patch=patch, device=device)[0].cpu()
        full = Preprocessor(pre, pc.orig_shape, pc.orig_spacing).probs_inverse(probs)
        pred = full.argmax(0).numpy()
        d_clean.append(dice(pred, clean_orig[cid]))
        d_noisy.append(dice(pred, noisy_orig[cid]))
    return d_clean, d_noisy


def summarise(result: dict) -> list[dict]:
    """Mean and per-seed Dice per method, in the order the methods ran."""
    out = []
    for method in dict.fromkeys(r["method"] for r in result["runs"]):
        rs = [r for r in result["runs"] if r["method"] == method]
        out.append({
            "method": method,
            "dice_clean": float(np.mean([r["dice_clean"] for r in rs])),
            "dice_noisy": float(np.mean([r["dice_noisy"] for r in rs])),
            "per_seed": [(r["seed"], round(r["dice_clean"], 1), round(r["dice_noisy"], 1)) for r in rs],
        })
    return out


# ----------------------------------------------------------------------------------------------
# Detection of wrong masks (``curator bench detect``)


def iter_detect_experiment(
    dataset_path,
    work_dir,
    *,
    noise: str = "mixed",
    fraction: float = 0.3,
    seed: int = 0,
    train_cfg: TrainConfig | None = None,
    unc_cfg=None,
    proposal_cfg=None,
    single_model: bool = False,
) -> Generator[Progress, None, dict]:
    """Corrupt a clean dataset, run Batch relabel on the copy, and measure how well each score
    finds the corrupted cases and how much the proposals repair them.

    Ranking methods: the combined score and each component, cleanlab's softmin (the same
    out-of-fold predictions), random order (seeded), and, with ``single_model``, one model trained
    on every case and scoring its own training masks (no out-of-fold protection). Repair: mean Dice
    to the clean masks of the given and of the proposed masks on corrupted cases (and the share of
    the gap closed), and the mean fraction of mask pixels the proposals change on clean cases.
    """
    from pathlib import Path

    work = Path(work_dir)
    noisy_root = work / "noisy"
    if not (noisy_root / "corruption.csv").exists():
        yield from iter_corrupt_dataset(dataset_path, noisy_root, noise=noise, fraction=fraction, seed=seed,
                                        overwrite=True)

    rows = read_csv(noisy_root / "corruption.csv")
    truth = {r["case_id"]: r["corrupted"] == "1" for r in rows}
    t0 = time.perf_counter()
    batch = yield from iter_batch(noisy_root, work / "project", train_cfg=train_cfg or TrainConfig(),
                                  unc_cfg=unc_cfg, proposal_cfg=proposal_cfg)
    seconds = time.perf_counter() - t0
    yield Progress(0, 1, "scoring the ranking and the repairs against the clean masks")
    ev = evaluate_project(work / "project", dataset_path, truth, kinds={r["case_id"]: r["noise"] for r in rows},
                          seed=seed)
    result = {"settings": {"noise": noise, "fraction": fraction, "seed": seed, "dataset": str(dataset_path),
                           "train": (train_cfg or TrainConfig()).to_json(), "batch_seconds": round(seconds, 1)},
              "detection": ev["detection"], "repair": ev["repair"], "models": ev["models"], "top30": ev["top30"],
              "cases": ev["cases"], "failed": batch.failed}
    if single_model:
        result["detection"]["single model (in-fold)"] = (yield from _single_model_detection(
            noisy_root, work, truth, train_cfg or TrainConfig(), unc_cfg, seed))
    return result


def _single_model_detection(noisy_root, work, truth, train_cfg, unc_cfg, seed) -> Generator[Progress, None, dict]:
    """One model trained on every case scores its own training masks (what out-of-fold avoids)."""
    cfg = replace(train_cfg, folds=1)
    batch = yield from iter_batch(noisy_root, work / "project-single", train_cfg=cfg, unc_cfg=unc_cfg)
    ranked = {cid: s for cid, s, _ in batch.ranked}
    ids = sorted(c for c in ranked if c in truth)
    return detection_metrics([ranked[c] for c in ids], [truth[c] for c in ids])
