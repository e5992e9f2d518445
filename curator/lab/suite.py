"""The development suite (``curator bench suite``): Batch relabel on several real datasets, several
noise settings and several seeds, one table per dataset with the mean and the worst.

A method that only works on the dataset it was tuned on is not finished. The suite corrupts a
subsample of each dataset (:mod:`curator.lab.corrupt`: Li et al.'s protocol and realistic
annotator errors), runs the batch with the product's defaults, once with relabelling and once
without, and measures on every run (:func:`evaluate_project`):

* ranking: AUROC of the combined score, of cleanlab's softmin on the same predictions, of each
  component and of a random order; the share of the wrong masks in the first 30 % of the queue;
* repair: the share of the Dice gap to the clean masks that the proposals close on the corrupted
  cases, the share of mask pixels they change on the clean ones, the share of cases whose
  proposals were withheld;
* models: the Dice of the out-of-fold consensus to the clean masks (how good the models are),
  and how many members relabelled.

Profiles: ``quick`` (a smoke run with tiny models), ``default`` (subsampled, four datasets, about an hour on
two CPU cores), ``wide`` (every real 2D set, about two hours), ``full`` (every case up to a cap, more noise settings and seeds, plus HAM10000 and the
synthetic CT). Results: ``suite.json`` (every run, every case's scores, for analyses without
retraining) and ``suite.html``.
"""

from __future__ import annotations

import json
import time
from dataclasses import dataclass, replace
from pathlib import Path
from typing import Generator, Sequence

import numpy as np

from curator.core.curation.ranking import COMPONENTS
from curator.core.data.discover import open_dataset
from curator.core.engine.training import RelabelConfig, TrainConfig
from curator.core.engine.uncertainty import load_maps
from curator.core.io.files import read_csv
from curator.core.jobs import Progress
from curator.core.metrics import detection_metrics, dice
from curator.core.project.artifacts import load_proposal_arrays
from curator.core.project.folder import Project
from curator.core.project.pipeline import UncertaintyConfig, iter_batch
from curator.core.project.store import Store
from curator.lab.corrupt import iter_corrupt_dataset
from curator.lab.noise import NOISE_KINDS
from curator.lab.synthetic import iter_write_msd

__all__ = ["SuiteDataset", "NoiseSetting", "DATASETS", "PROFILES", "parse_noise", "iter_suite", "evaluate_project",
           "summarise_suite", "default_train_config"]


@dataclass(frozen=True)
class SuiteDataset:
    name: str
    path: str  # relative to the data root; "synthetic-ct" is generated
    binary: bool = False  # merge every label into one (the other liver-slice sets are binary too)
    note: str = ""


@dataclass(frozen=True)
class NoiseSetting:
    noise: str
    fraction: float
    beta: float = 0.5

    @property
    def name(self) -> str:
        return f"{self.noise}-a{self.fraction:g}" + (f"-b{self.beta:g}" if self.noise == "li" else "")


DATASETS = {d.name: d for d in (
    SuiteDataset("ph2", "derm/ph2", note="dermoscopy, 200"),
    SuiteDataset("kvasir", "polyp/kvasir_seg", note="colonoscopy polyps, 998, JPEG masks"),
    SuiteDataset("cvc", "polyp/cvc_clinicdb", note="colonoscopy polyps, 609, JPEG masks"),
    SuiteDataset("msd-liver", "ct/liver_slices/msd_task03", note="CT liver slices, 643 (122 patients)"),
    SuiteDataset("ircadb", "ct/liver_slices/ircadb", note="CT liver slices, 36"),
    SuiteDataset("chaos", "ct/liver_slices/chaos", note="CT liver slices, 20"),
    SuiteDataset("lits", "ct/liver_slices/lits", binary=True, note="CT liver slices (sagittal/coronal), 18, "
                 "anti-aliased colour masks, liver and tumour merged"),
    SuiteDataset("ham10000", "derm/ham10000", note="dermoscopy, 5"),
    SuiteDataset("synthetic-ct", "synthetic-ct", note="3D synthetic CT volumes"),
)}


def parse_noise(text: str) -> NoiseSetting:
    """``li:0.3:0.5`` (noise, fraction alpha, share beta) or ``annotator:0.3``."""
    parts = text.split(":")

    if parts[0] not in NOISE_KINDS:
        raise ValueError(f"unknown noise '{parts[0]}' in '{text}'; choose from {', '.join(NOISE_KINDS)}")
    fraction = float(parts[1]) if len(parts) > 1 else 0.3
    beta = float(parts[2]) if len(parts) > 2 else 0.5
    return NoiseSetting(parts[0], fraction, beta)


PROFILES = {
    "quick": {"datasets": ["ph2", "kvasir"], "cases": 16, "noises": ["li:0.3:0.5"], "seeds": [0],
              "train": {"epochs": 2, "size": 48, "channels": (8, 16, 32), "folds": 2, "batch_size": 8},
              "tta": 2},
    # one dermoscopy, one endoscopy and two CT sets: 16 runs, about an hour on 2 cores
    "default": {"datasets": ["ph2", "cvc", "msd-liver", "chaos"], "cases": 32,
                "noises": ["li:0.3:0.5", "annotator:0.3"], "seeds": [0, 1], "train": {}, "tta": 8},
    # every real 2D set (docs/results.md): 28 runs, about two hours on 2 cores
    "wide": {"datasets": ["ph2", "kvasir", "cvc", "msd-liver", "ircadb", "chaos", "lits"], "cases": 32,
             "noises": ["li:0.3:0.5", "annotator:0.3"], "seeds": [0, 1], "train": {}, "tta": 8},
    "full": {"datasets": list(DATASETS), "cases": 200,
             "noises": ["li:0.3:0.5", "li:0.5:0.5", "li:0.7:0.5", "annotator:0.3", "annotator:0.5"],
             "seeds": [0, 1, 2], "train": {}, "tta": 8},
}


def default_train_config(**overrides):
    """The training settings of ``curator batch`` without options (relabelling on)."""
    cfg = TrainConfig(relabel=RelabelConfig())
    return replace(cfg, **overrides)


# ----------------------------------------------------------------------------------------------
# One run: evaluate a finished batch against the clean masks


def _found_at(curve, share: float) -> float:
    for reviewed, found in curve:
        if reviewed >= share - 1e-9:
            return found
    return curve[-1][1] if curve else float("nan")


def evaluate_project(project_dir, clean_root, truth: dict[str, bool], *, kinds: dict[str, str] | None = None,
                     seed: int = 0) -> dict:
    """How well a finished batch found and repaired the wrong masks of a corrupted dataset.

    ``truth``: case id -> was its mask corrupted; ``clean_root``: the dataset with the clean masks.
    Returns ``{"detection": {method: metrics}, "top30": ..., "repair": {...}, "models": {...},
    "cases": [per-case record]}``.
    """
    project = Project.open(project_dir)
    clean = open_dataset(clean_root)
    noisy = project.open_dataset()
    with Store(project.db_path) as store:
        scores = store.scores()
        ranked = {r["case_id"]: r["score"] for r in store.queue() if r.get("score") is not None}
        ids = sorted(c for c in ranked if c in truth)
        y = [truth[c] for c in ids]
        methods = {"combined": [ranked[c] for c in ids]}
        for comp in COMPONENTS + tuple(sorted({k for s in scores.values() for k in s if k.startswith("x:")})):
            if ids and all(comp in scores.get(c, {}) for c in ids):
                methods[comp if comp != "softmin" else "cleanlab softmin"] = [scores[c][comp] for c in ids]
        methods["random order"] = list(np.random.default_rng(seed).random(len(ids)))
        detection = {name: detection_metrics(v, y) for name, v in methods.items()}
        records = []
        for cid in ids:
            case = noisy[cid]
            given = case.read_mask().array
            ref = clean[cid].read_mask().array
            rec = {"case_id": cid, "wrong": bool(truth[cid]), "kind": (kinds or {}).get(cid, ""),
                   "dice_given": dice(given, ref), "scores": {k: float(v) for k, v in scores.get(cid, {}).items()
                                                             if not k.startswith("desc:")}}
            p = store.proposal(cid)
            prop = given
            if p is not None and p.get("regions_path") and Path(p["regions_path"]).exists():
                prop, _ = load_proposal_arrays(p["regions_path"])
            rec["withheld"] = (p or {}).get("config", {}).get("withheld")
            rec["regions"] = len((p or {}).get("regions") or [])
            rec["dice_proposal"] = dice(prop, ref)
            rec["change"] = float(np.count_nonzero(prop != given)) / max(int(np.count_nonzero(given)), 1)
            mp = project.map_path(cid)
            if mp.exists():
                maps = load_maps(mp)
                consensus = np.asarray(maps.labels)[maps.at_original("mean_prob").argmax(0)]
                rec["dice_model"] = dice(consensus, ref) if consensus.shape == ref.shape else float("nan")
            records.append(rec)
    wrong = [r for r in records if r["wrong"]]
    right = [r for r in records if not r["wrong"]]
    d_given = float(np.mean([r["dice_given"] for r in wrong])) if wrong else float("nan")
    d_prop = float(np.mean([r["dice_proposal"] for r in wrong])) if wrong else float("nan")
    gap = 1.0 - d_given
    repair = {
        "corrupted_cases": len(wrong), "clean_cases": len(right),
        "dice_given_to_clean": d_given, "dice_proposal_to_clean": d_prop,
        "gap_closed": (d_prop - d_given) / gap if wrong and gap > 0 else float("nan"),
        "change_on_clean_cases": float(np.mean([r["change"] for r in right])) if right else float("nan"),
        "withheld_share": float(np.mean([bool(r["withheld"]) for r in records])) if records else float("nan"),
        "withheld_reasons": sorted({r["withheld"] for r in records if r["withheld"]}),
    }
    models = {"dice_to_clean": float(np.nanmean([r.get("dice_model", np.nan) for r in records])) if records else
              float("nan")}
    models.update(_relabel_record(project))
    return {"detection": detection, "top30": _found_at(detection["combined"]["found_curve"], 0.3),
            "repair": repair, "models": models, "cases": records}


def _relabel_record(project) -> dict:
    """What relabelling did in each member (from the members' saved histories)."""
    members = []
    for spec in project.member_specs():
        try:
            info = json.loads(Path(spec).read_text()).get("info", {})
        except (OSError, ValueError):
            continue
        hist = info.get("history", [])
        members.append({"relabelled_epochs": sum(1 for h in hist if h.get("relabelled_cases")),
                        "max_relabelled_cases": max([h.get("relabelled_cases") or 0 for h in hist], default=0),
                        "decision": info.get("relabel_decision")})
    return {"members": len(members), "members_relabelling": sum(1 for m in members if m["relabelled_epochs"]),
            "relabel": members}


# ----------------------------------------------------------------------------------------------
# The suite


def _subsample(ds, n: int, seed: int) -> list[str]:
    """``n`` usable cases, the same for every noise setting and seed of the suite (patients are not
    split apart on purpose: the suite measures finding errors, not generalisation)."""
    usable = sorted(c.id for c in ds.cases if c.ok and c.mask is not None)
    if len(usable) <= n:
        return usable
    rng = np.random.default_rng([seed, 1009])
    return sorted(usable[i] for i in rng.choice(len(usable), n, replace=False))


def _clean_copy(src: Path, out: Path, ids: list[str], binary: bool) -> Generator[Progress, None, Path]:
    """A dataset of the chosen cases (masks merged to one label when ``binary``)."""
    if (out / "corruption.csv").exists():
        return out
    tmp = out.with_name(out.name + ".tmp")
    yield from iter_corrupt_dataset(src, tmp, noise="li", fraction=0.0, cases=ids, overwrite=True)
    if binary:
        ds = open_dataset(tmp)
        for c in ds.cases:
            m = c.read_mask()
            c.write_mask((m.array > 0).astype(m.array.dtype), tmp, original=m)
    tmp.rename(out)
    return out


def _iter_synthetic(root: Path, seed: int, n: int = 24) -> Generator[Progress, None, Path]:
    """The synthetic CT set (MSD layout), written once into the suite's folder."""
    out = root / "synthetic-ct"
    if not (out / "dataset.json").exists():
        yield from iter_write_msd(out, n=n, seed=seed)
    return out


def iter_suite(out, *, data_root, profile: str = "default", datasets: Sequence[str] | None = None,
               noises: Sequence[str] | None = None, seeds: Sequence[int] | None = None, cases: int | None = None,
               relabel_baseline: bool = True, train_overrides: dict | None = None,
               ) -> Generator[Progress, None, dict]:
    """Run the suite into folder ``out`` (resumable: finished runs are read back, not redone).

    Returns ``{"profile", "settings", "runs": [...], "summary": ...}`` and writes ``suite.json``.
    ``relabel_baseline``: also run each setting with relabelling off (skipped, and the relabelled
    run reused, when no member of that run relabelled anything: the two would train alike).
    """
    if profile not in PROFILES:
        raise ValueError(f"unknown suite profile '{profile}'; choose from {', '.join(PROFILES)}")
    prof = PROFILES[profile]
    names = list(datasets or prof["datasets"])
    bad = [n for n in names if n not in DATASETS]
    if bad:
        raise ValueError(f"unknown suite dataset(s) {', '.join(bad)}; choose from {', '.join(DATASETS)}")
    settings = [parse_noise(n) for n in (noises or prof["noises"])]
    seeds = list(seeds if seeds is not None else prof["seeds"])
    n_cases = int(cases or prof["cases"])
    out = Path(out)
    out.mkdir(parents=True, exist_ok=True)
    data_root = Path(data_root)
    overrides = {**prof["train"], **(train_overrides or {})}
    unc = UncertaintyConfig(tta=prof["tta"])
    plan = [(d, s, seed) for d in names for s in settings for seed in seeds]
    runs = []
    t_start = time.perf_counter()
    for k, (dname, setting, seed) in enumerate(plan):
        spec = DATASETS[dname]
        run_dir = out / dname / setting.name / f"seed{seed}"
        result_path = run_dir / "result.json"
        if result_path.exists():
            runs.append(json.loads(result_path.read_text()))
            continue
        yield Progress(k, len(plan), f"{dname} {setting.name} seed {seed}")
        src = (yield from _iter_synthetic(out, 0)) if dname == "synthetic-ct" else data_root / spec.path
        if not src.exists():
            runs.append({"dataset": dname, "noise": setting.name, "seed": seed, "error": f"missing: {src}"})
            continue
        ids = _subsample(open_dataset(src), n_cases, 0)
        clean_root = yield from _clean_copy(src, out / dname / "clean", ids, spec.binary)
        noisy_root = run_dir / "noisy"
        if not (noisy_root / "corruption.csv").exists():
            yield from iter_corrupt_dataset(clean_root, noisy_root, noise=setting.noise, fraction=setting.fraction,
                                            beta=setting.beta, seed=seed, overwrite=True)
        rows = list(_read_csv(noisy_root / "corruption.csv"))
        truth = {r["case_id"]: r["corrupted"] == "1" for r in rows}
        kinds = {r["case_id"]: r["noise"] for r in rows}
        rec = {"dataset": dname, "noise": setting.name, "seed": seed, "cases": len(ids),
               "wrong": sum(truth.values())}
        variants = [("relabel", True)] + ([("no-relabel", False)] if relabel_baseline else [])
        for vname, relabel in variants:
            cfg = default_train_config(seed=seed, **overrides)
            if not relabel:
                cfg = replace(cfg, relabel=None)
            if vname == "no-relabel" and rec["relabel"].get("models", {}).get("members_relabelling") == 0:
                rec[vname] = {**rec["relabel"], "reused": "no member relabelled: the same training"}
                continue
            t0 = time.perf_counter()
            yield from iter_batch(noisy_root, run_dir / f"project-{vname}", train_cfg=cfg, unc_cfg=unc)
            res = evaluate_project(run_dir / f"project-{vname}", clean_root, truth, kinds=kinds, seed=seed)
            res["seconds"] = round(time.perf_counter() - t0, 1)
            rec[vname] = res
        run_dir.mkdir(parents=True, exist_ok=True)
        result_path.write_text(json.dumps(rec))
        runs.append(rec)
        yield Progress(k + 1, len(plan), f"{dname} {setting.name} seed {seed} done "
                       f"({(time.perf_counter() - t_start) / 60:.1f} min so far)")
    result = {"profile": profile, "settings": {"datasets": names, "noises": [s.name for s in settings],
                                               "seeds": seeds, "cases": n_cases, "train": _jsonable(overrides)},
              "runs": runs}
    result["summary"] = summarise_suite(runs)
    (out / "suite.json").write_text(json.dumps(result, indent=1))
    return result


def _read_csv(path):
    yield from read_csv(path)


def _jsonable(d: dict) -> dict:
    return json.loads(json.dumps(d, default=list))


# ----------------------------------------------------------------------------------------------
# Summary


METRICS = {
    # name: (how to read it from a run's variant result, higher is better)
    "auroc_combined": (lambda r: r["detection"]["combined"]["auroc"], True),
    "auroc_softmin": (lambda r: r["detection"].get("cleanlab softmin", {}).get("auroc", np.nan), True),
    "auroc_random": (lambda r: r["detection"]["random order"]["auroc"], True),
    "top30": (lambda r: r["top30"], True),
    "gap_closed": (lambda r: r["repair"]["gap_closed"], True),
    "clean_changed": (lambda r: r["repair"]["change_on_clean_cases"], False),
    "withheld": (lambda r: r["repair"]["withheld_share"], False),
    "model_dice": (lambda r: r["models"]["dice_to_clean"], True),
}


def _value(run: dict, variant: str, metric: str) -> float:
    res = run.get(variant)
    if not res:
        return float("nan")
    try:
        return float(METRICS[metric][0](res))
    except (KeyError, TypeError):
        return float("nan")


def summarise_suite(runs: list[dict]) -> dict:
    """Per dataset: the mean over its runs (noise settings x seeds) and the worst run, for each
    metric and variant; then the mean and the worst over datasets (of the per-dataset means)."""
    out: dict = {"datasets": {}, "overall": {}}
    variants = ("relabel", "no-relabel")
    names = list(dict.fromkeys(r["dataset"] for r in runs if "error" not in r))
    for d in names:
        rs = [r for r in runs if r["dataset"] == d and "error" not in r]
        row = {"runs": len(rs)}
        for v in variants:
            for m, (_, higher) in METRICS.items():
                vals = np.array([_value(r, v, m) for r in rs], float)
                ok = vals[np.isfinite(vals)]
                row[f"{v}:{m}"] = float(ok.mean()) if ok.size else float("nan")
                row[f"{v}:{m}:worst"] = float((ok.min() if higher else ok.max())) if ok.size else float("nan")
        out["datasets"][d] = row
    for v in variants:
        for m, (_, higher) in METRICS.items():
            vals = np.array([out["datasets"][d][f"{v}:{m}"] for d in names], float)
            ok = vals[np.isfinite(vals)]
            out["overall"][f"{v}:{m}"] = float(ok.mean()) if ok.size else float("nan")
            out["overall"][f"{v}:{m}:worst"] = float((ok.min() if higher else ok.max())) if ok.size else float("nan")
    return out
