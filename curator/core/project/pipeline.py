"""Project-level jobs that chain the core steps: uncertainty maps for every case of a project.

:func:`iter_uncertainty` scores each case with the ensemble members that did not train on it
(out-of-fold), under test-time augmentation and MC dropout, and stores its maps in the project
(``maps/<case>.npz``). A case whose maps already match the members and settings is skipped, so an
interrupted run resumes; a case that cannot be read is reported and the rest go on.
"""

from __future__ import annotations

import hashlib
import json
from dataclasses import asdict, dataclass, replace
from pathlib import Path
from typing import Generator, Sequence

import numpy as np

from curator.core.curation.calibration import Calibration, calibrate_gate, replaces_mask
from curator.core.curation.proposals import ProposalConfig, gate_regions, propose
from curator.core.curation.ranking import (
    COMPONENTS,
    SCORES_VERSION,
    adaptive_weights,
    case_scores,
    combine,
    edge_scores,
    outlier_scores,
    rank_order,
    reference_agreement,
    shape_descriptors,
    write_ranking,
)
from curator.core.data.discover import open_dataset
from curator.core.data.memo import ReadMemo
from curator.core.engine.device import resolve_device, set_threads
from curator.core.engine.ensemble import iter_train
from curator.core.engine.prepare import iter_prepare
from curator.core.engine.preprocess import labels_to_index
from curator.core.engine.training import TrainConfig
from curator.core.engine.uncertainty import load_maps
from curator.core.io.files import atomic_path, atomic_write
from curator.core.io.types import ReadError
from curator.core.jobs import Progress
from curator.core.project.artifacts import (candidates_path, proposal_row, regions_path, save_proposal,
                                            withhold_proposal, write_proposals_csv)
from curator.core.project.executors import ExecutorError, LocalExecutor, executor_class
from curator.core.project.folder import Project
from curator.core.project.scoring import PipelineError, ScoreJob, load_members
from curator.core.project.store import Store

__all__ = ["UncertaintyConfig", "UncertaintyResult", "ProposalsResult", "BatchResult", "iter_uncertainty", "iter_proposals",
           "iter_batch", "rank_cases", "PipelineError", "load_members", "training_blocker"]


@dataclass
class UncertaintyConfig:
    tta: int = 8
    tta_intensity: bool = False
    mc: int = 0  # MC-dropout passes per transform (0: dropout off)
    device: str = "auto"
    amp: bool = True
    threads: int | None = None
    overwrite: bool = False
    models: Sequence[str] = ()  # extra user-supplied model specs (JSON) used for every case
    allow_torchscript: bool = False  # TorchScript runs code: only on the user's explicit word

    def to_json(self) -> dict:
        return {"tta": self.tta, "tta_intensity": self.tta_intensity, "mc": self.mc, "models": list(self.models)}


@dataclass
class UncertaintyResult:
    """What :func:`iter_uncertainty` did: maps computed, up to date, failed (id -> reason), and the
    cases no held-out member could score (scored by members that trained on them)."""

    done: list[str]
    skipped: list[str]
    failed: dict[str, str]
    in_fold: list[str]


@dataclass
class ProposalsResult:
    """What :func:`iter_proposals` did, and the batch's calibration of the region gate."""

    done: list[str]
    skipped: list[str]
    failed: dict[str, str]
    calibration: Calibration


def _signature(members, cfg: UncertaintyConfig) -> str:
    doc = json.dumps({"members": sorted(m.sha256 for m in members), **cfg.to_json()}, sort_keys=True)
    return hashlib.sha256(doc.encode()).hexdigest()[:16]


def iter_uncertainty(project, cfg: UncertaintyConfig | None = None, *, cases: Sequence[str] | None = None,
                     dataset=None, executor=None) -> Generator[Progress, None, dict]:
    """Compute and store uncertainty maps for the project's cases (``dataset``: the project's
    dataset already opened, else it is opened here), scored by ``executor`` (default: here, by
    :class:`curator.core.project.executors.LocalExecutor`).

    Returns an :class:`UncertaintyResult`. (The executors' ``iter_score`` answers per case with the
    documented ``{"in_fold": bool} | {"failed": why}`` dicts: that is the plugins' contract.)
    """
    cfg = cfg or UncertaintyConfig()
    set_threads(cfg.threads)
    try:
        device = resolve_device(cfg.device)
    except ValueError as exc:
        raise PipelineError(str(exc)) from exc
    specs = project.member_specs() + [Path(m) for m in cfg.models]
    if not specs:
        raise PipelineError(f"{project.root}: no trained models; run `curator train` first or give --model")
    members = load_members(specs, device, allow_torchscript=cfg.allow_torchscript)
    pre_specs = {json.dumps(m.spec.preprocess.to_json(), sort_keys=True) for m in members}
    if len(pre_specs) > 1:
        raise PipelineError("the models use different preprocessing and cannot be combined into one ensemble")
    spec = members[0].spec
    label_sets = {tuple(m.spec.labels) for m in members}
    if len(label_sets) > 1:
        raise PipelineError(f"the models predict different label sets {sorted(label_sets)}")
    dataset = dataset if dataset is not None else project.open_dataset()
    dataset.check()
    todo = [c for c in dataset.cases if c.ok and (cases is None or c.id in cases)]
    failed = {c.id: "; ".join(p.message for p in c.problems if p.severity == "error")
              for c in dataset.cases if not c.ok and (cases is None or c.id in cases)}
    signature = _signature(members, cfg)
    done, skipped, in_fold = [], [], []
    pending = []
    for c in todo:
        path = project.map_path(c.id)
        if path.exists() and not cfg.overwrite:
            try:
                if load_maps(path).meta.get("signature") == signature:
                    skipped.append(c.id)
                    continue
            except Exception:
                pass  # damaged or old maps: recompute
        pending.append(c)
    executor = executor or LocalExecutor()
    items = [(c, i) for i, c in enumerate(pending)]  # a case's seed: its place among the cases to score
    prepared = None
    if not executor.remote:  # remote scorers read the cases from the project's preparation cache
        prepared, prep_failed = yield from iter_prepare(pending, spec.preprocess, spec.labels, project.cache_dir)
        failed.update(prep_failed)
        items = [(c, i) for c, i in items if c.id in prepared]
    pending = [c for c, _ in items]
    job = ScoreJob(project=str(project.root), member_specs=tuple(str(p) for p in specs),
                   config={**asdict(cfg), "models": list(cfg.models)}, signature=signature)
    results = yield from executor.iter_score(job, items, members=members, prepared=prepared)
    for case in pending:
        res = results.get(case.id, {"failed": "not scored"})
        if "failed" in res:
            failed[case.id] = res["failed"]
            continue
        done.append(case.id)
        if res.get("in_fold"):
            in_fold.append(case.id)
    return UncertaintyResult(done, skipped, failed, in_fold)


# ----------------------------------------------------------------------------------------------
# Proposals, ranking, and the whole batch


def _config_hash(doc: dict) -> str:
    return hashlib.sha256(json.dumps(doc, sort_keys=True).encode()).hexdigest()[:12]


def iter_proposals(project, store, cfg=None, *, cases: Sequence[str] | None = None,
                   write_masks: bool = True, dataset=None) -> Generator[Progress, None, dict]:
    """Proposals and per-case scores for every case with uncertainty maps.

    Three steps. (1) Every case's candidate changes, each region with its mean confidence (no
    gate yet), and its scores; the candidates are kept in ``proposals/.regions/`` so a rerun only
    redoes cases whose maps or settings changed. (2) The gate a region's confidence must reach is
    calibrated on the batch's own cases (:mod:`curator.core.curation.calibration`), unless
    ``cfg.min_confidence`` fixes it; when the models are not good enough, proposals are withheld
    and the reason kept with every case. (3) The gated proposals: the proposed mask in the dataset's
    own name and format under ``proposals/`` (when ``write_masks``), the change regions under
    ``proposals/.regions/``, the proposal and its regions in the store, ``calibration.json`` and
    ``proposals.csv`` in the project. Returns a :class:`ProposalsResult`.
    ``dataset``: the project's dataset already opened, else it is opened here.
    """
    cfg = cfg or ProposalConfig()
    dataset = dataset if dataset is not None else project.open_dataset()
    dataset.check()
    masks = ReadMemo()  # the masks step (1) decodes, for the files step (3) writes
    todo = [c for c in dataset.cases if project.map_path(c.id).exists() and (cases is None or c.id in cases)]
    failed: dict[str, str] = {}
    records: dict[str, dict] = {}
    ungated, base_id = replace(cfg, min_confidence=0.0), _config_hash(cfg.to_json())
    for i, case in enumerate(todo):
        yield Progress(i, 2 * len(todo), f"proposal {case.id}")
        rec = _candidates(project, case, cfg, ungated, base_id, masks)
        if isinstance(rec, str):
            failed[case.id] = rec
            store.set_failed(case.id, rec)
            continue
        records[case.id] = rec
    calib = _calibrate(project, store, cfg, records)
    done, skipped, rows = [], [], []
    trusted = store.trusted()
    for i, case in enumerate(todo):
        if case.id not in records:
            continue
        yield Progress(len(todo) + i, 2 * len(todo), f"proposal {case.id}")
        status, row, warning = _gated_proposal(project, store, cfg, case, records[case.id], calib,
                                               trusted=case.id in trusted, masks=masks if write_masks else None)
        if warning:
            yield Progress(len(todo) + i, 2 * len(todo), warning)
        (skipped if status == "skipped" else done).append(case.id)
        rows.append(row)
    write_proposals_csv(project.root / "proposals.csv", rows)
    yield Progress(2 * len(todo), 2 * len(todo), "proposals done")
    return ProposalsResult(done, skipped, failed, calib)


def _candidates(project, case, cfg, ungated, base_id: str, masks: ReadMemo) -> dict | str:
    """Step (1) for one case: its ungated candidate regions and scores (read back when the maps and
    settings are the same), or why it failed."""
    try:
        maps = load_maps(project.map_path(case.id))
    except Exception as exc:
        return f"unreadable uncertainty maps ({exc})"
    cand_id = f"{maps.meta.get('signature', '')}-{base_id}-s{SCORES_VERSION}"
    cp = candidates_path(project, case.id)
    rec = _read_candidates(cp, cand_id)
    if rec is not None:
        return rec
    try:
        image = case.read_image()
        given = case.read_mask(image)
        masks.keep(case.id, given)
    except (ReadError, OSError, ValueError) as exc:
        return str(exc)
    labels = maps.labels
    mean_prob = maps.at_original("mean_prob")
    unc = maps.at_original(cfg.measure) if cfg.measure in maps.maps else None
    if mean_prob.shape[1:] != given.array.shape:
        return f"maps {mean_prob.shape[1:]} do not fit the mask {given.array.shape}; recompute them"
    index = labels_to_index(given.array, labels)
    spacing = image.geometry.scale if image.ndim == 3 else None
    prop = propose(given.array, mean_prob, unc, labels=labels, cfg=ungated,
                   image=image.array if image.ndim == 2 else None, spacing=spacing)
    scores = case_scores(index, mean_prob)
    scores.update(edge_scores(image.array, index, mean_prob.argmax(0)) if image.ndim == 2 else {})
    desc = shape_descriptors(given.array, image.array)
    scores.update({f"desc:{k}": v for k, v in desc.items()})
    rec = {"run_id": cand_id, "scores": scores, "regions": [r.to_json() for r in prop.regions],
           "area": int(np.count_nonzero(given.array)) or int(given.array.size),
           "in_fold": bool(maps.meta.get("in_fold"))}
    with atomic_path(cp) as tmp:
        np.savez_compressed(tmp, mask=prop.mask, regions=prop.region_map, given=given.array,
                            record=np.array(json.dumps(rec)))
    return rec


def _calibrate(project, store, cfg, records: dict[str, dict]) -> Calibration:
    """Step (2): the gate, calibrated on the batch's cases scored out of fold (vouched-for masks
    first), or fixed by ``cfg.min_confidence``; kept in the store and ``calibration.json``."""
    if cfg.min_confidence is not None:
        calib = Calibration(float(cfg.min_confidence), None, 0, float("nan"), target=cfg.calibration_target)
    else:
        known = known_masks(store)
        calib = calibrate_gate([{"softmin": r["scores"]["softmin"], "agreement": 1.0 - r["scores"]["dice"],
                                 "area": r["area"], "known": known.get(cid, 0),
                                 "regions": [(g["mean_confidence"], g["size"], g["kind"]) for g in r["regions"]]}
                                for cid, r in records.items() if not r["in_fold"]], target=cfg.calibration_target)
    store.set_state("calibration", calib.to_json())
    atomic_write(project.root / "calibration.json", json.dumps(calib.to_json(), indent=1))
    return calib


def _gated_proposal(project, store, cfg, case, rec: dict, calib: Calibration, *, trusted: bool,
                    masks: ReadMemo | None) -> tuple[str, list, str | None]:
    """Step (3) for one case: its proposal at the calibrated gate, or withheld with the reason;
    returns ``(status, proposals.csv row, warning)``. ``masks``: write the proposed mask in the
    dataset's format (None: do not)."""
    withheld = calib.withheld
    if trusted:
        withheld = "a reviewer trusts this mask: no change is proposed"
    elif withheld is None and rec["in_fold"]:
        withheld = "no model held this case out: the models that scored it trained on its mask"
    gate_tag = f"g{calib.gate:.4f}" if calib.gate is not None else "withheld"
    run_id = f"{rec['run_id']}-{gate_tag}" + ("-w" if withheld else "")
    prev = store.proposal(case.id)
    config = {**cfg.to_json(), "region_confidence": calib.gate, "withheld": withheld,
              "calibration": calib.describe()}
    prev_withheld = (prev or {}).get("config", {}) or {}
    if prev is not None and prev.get("run_id") == run_id and (prev_withheld.get("withheld")
                                                              or regions_path(project, case.id).exists()):
        return "skipped", proposal_row(case.id, prev, prev_withheld.get("withheld")), None
    store.set_scores(case.id, {**rec["scores"], "change": 0.0}, run_id)
    if not withheld:
        with np.load(candidates_path(project, case.id)) as z:
            prop = gate_regions(z["given"], z["mask"], z["regions"], rec["regions"], calib.gate)
        if replaces_mask(int(np.count_nonzero(prop.given)), *prop.outline_changes()):
            withheld = "the proposal would replace the mask rather than correct it: review this case by hand"
    if withheld:
        config["withheld"] = withheld
        withhold_proposal(project, store, case.id, config=config, run_id=run_id)
        return "done", proposal_row(case.id, store.proposal(case.id), withheld), None
    mask_path, warning = None, None
    if masks is not None:
        try:
            given = masks.take(case.id) or case.read_mask()
            mask_path = str(case.write_mask(prop.mask, project.proposals_dir, original=given))
        except (ReadError, ValueError, OSError) as exc:
            warning = f"{case.id}: proposal not written in the dataset's format ({exc})"
    store.set_scores(case.id, {"change": prop.change_fraction}, run_id)
    save_proposal(project, store, case.id, prop, path=mask_path, regions=[r.to_json() for r in prop.regions],
                  config=config, run_id=run_id)
    store.set_failed(case.id, None)
    return "done", proposal_row(case.id, store.proposal(case.id), None), warning


def _read_candidates(path: Path, run_id: str) -> dict | None:
    """The saved candidates' record when they were made from the same maps and settings."""
    if not path.exists():
        return None
    try:
        with np.load(path) as z:
            rec = json.loads(str(z["record"]))
    except Exception:  # damaged or from an older version: recompute
        return None
    return rec if rec.get("run_id") == run_id else None


def known_masks(store) -> dict[str, int]:
    """What reviewers said of the given masks: 1 right (trusted, kept), -1 wrong (accepted, edited)."""
    return {c: 1 if p is None else -1 for c, p in store.evidence().items()}


def rank_cases(project, store, weights: dict | None = None) -> list[tuple[str, float, int]]:
    """Combine the stored scores (with an isolation-forest outlier score) into the review order;
    writes ``ranking.csv`` and the store's ranking. Without ``weights``, the weights follow the
    models' agreement with the masks judged correct (:func:`curator.core.curation.ranking.adaptive_weights`);
    the weights used are kept in the store (state ``ranking``)."""
    scores = store.scores()
    ids = sorted(c for c, s in scores.items() if "softmin" in s)
    if not ids:
        return []
    feats = []
    for c in ids:
        s = scores[c]
        f = {k: v for k, v in s.items() if k.startswith("desc:")}
        f.update({k: s[k] for k in ("softmin", "dice", "disagreement", "boundary") if k in s})
        feats.append(f)
    out = outlier_scores(feats)
    for c, o in zip(ids, out):
        scores[c]["outlier"] = float(o)
        store.set_scores(c, {"outlier": float(o)})
    known = known_masks(store)
    agreement = reference_agreement([scores[c]["softmin"] for c in ids], [1.0 - scores[c].get("dice", np.nan) for c in ids],
                                    known=[known.get(c, 0) for c in ids])
    weights = weights or adaptive_weights(agreement)
    store.set_state("ranking", {"agreement": agreement, "weights": weights})
    combined = combine({c: {k: scores[c][k] for k in COMPONENTS if k in scores[c]} for c in ids}, weights)
    ranked = rank_order(combined)
    store.set_ranking(ranked)
    write_ranking(project.root / "ranking.csv", ranked)
    return ranked


def training_blocker(dataset, train_cfg) -> str | None:
    """Why an out-of-fold ensemble cannot be trained on ``dataset`` (checked), and what can be
    done instead; None when it can."""
    folds = int(getattr(train_cfg, "folds", 1) or 1)
    usable = len(dataset.usable())
    if folds <= 1 or usable >= folds:
        return None
    return (f"this dataset has {usable} usable case{'s' if usable != 1 else ''}: an out-of-fold ensemble of "
            f"{folds} folds needs at least {folds} (each case is scored by models that did not train on its "
            "mask). What can be done: score it with a model trained elsewhere (`curator batch DATASET --project "
            "DIR --model SPEC.json`), or review it without models (open it in the app: Keep, Edit and Exclude "
            "work without proposals). `--folds 1` trains one model on every mask; it then scores masks it has "
            "learned, and finds few wrong ones.")


@dataclass
class BatchResult:
    members: list
    failed: dict
    ranked: list
    proposals: ProposalsResult | None
    relabel_notes: list = None  # per member: whether relabelling acted, and on what evidence

    def __post_init__(self):
        self.relabel_notes = self.relabel_notes or []


def relabel_notes(member_paths) -> list[str]:
    """One line per trained member: what relabelling did and why (from its saved record)."""
    notes = []
    for p in member_paths:
        try:
            info = json.loads(Path(p).read_text()).get("info", {})
        except (OSError, ValueError):
            continue
        if info.get("relabel_decision"):
            notes.append(f"{Path(p).stem}: {info['relabel_decision']}")
    return notes


def iter_batch(dataset_path, project_dir, *, train_cfg=None, unc_cfg: UncertaintyConfig | None = None,
               proposal_cfg=None, layout: str | None = None, reviewer: str | None = None,
               models: Sequence[str] = (), executor: str | None = None, executor_options: dict | None = None,
               trusted: Sequence[str] = ()) -> Generator[Progress, None, BatchResult]:
    """Batch relabel: train (or load) → uncertainty → proposals → ranking, resumable.

    With ``models`` (user-supplied specs) and ``train_cfg=None``, no training is done.
    ``executor`` names where training and scoring run (:func:`curator.core.project.executors.make_executor`;
    default ``local``: here), ``executor_options`` its options (e.g. ``{"address": "auto"}``).
    Writes ``ranking.csv`` and ``proposals/`` in the project; failures are recorded per case.
    ``trusted``: case ids whose masks a reviewer vouches for (marked in the store; see
    :meth:`curator.core.project.store.Store.set_trusted`); training and proposals respect them and
    the earlier reviews' evidence.
    """
    options = {k: v for k, v in (executor_options or {}).items() if v is not None}
    try:  # a wrong executor name or option is said before anything is written
        executor_cls = executor_class(executor)
        if executor_cls is LocalExecutor:
            LocalExecutor(**options)
    except ExecutorError as exc:
        raise PipelineError(str(exc)) from exc
    ds = open_dataset(dataset_path, layout=layout)
    project = Project.create(project_dir, ds.root, layout=ds.layout)
    unc_cfg = unc_cfg or UncertaintyConfig()
    if models:
        unc_cfg = UncertaintyConfig(**{**unc_cfg.__dict__, "models": tuple(models)})
    with Store(project.db_path, reviewer=reviewer) as store:
        ds.check()
        store.sync_cases(ds.cases)
        unknown = sorted(set(trusted) - set(store.case_ids()))
        if unknown:
            raise PipelineError(f"trusted case(s) not in the dataset: {', '.join(unknown[:5])}")
        for cid in sorted(set(trusted) - store.trusted()):
            store.set_trusted(cid)
        for c in ds.cases:
            store.set_failed(c.id, None if c.ok else "; ".join(p.message for p in c.problems if p.severity == "error"))
        store.log("batch:start", {"train": train_cfg.to_json() if train_cfg else None, "uncertainty": unc_cfg.to_json(),
                                  "proposals": proposal_cfg.to_json() if proposal_cfg else None})
        try:
            runner = executor_cls(**options)
        except ExecutorError as exc:
            raise PipelineError(str(exc)) from exc
        with runner:
            res = yield from _iter_batch_steps(ds, project, store, runner, train_cfg, unc_cfg, proposal_cfg, models)
        members, props, ranked = res
        failed = store.failed()
    yield Progress(4, 4, "batch done")
    return BatchResult(members, failed, ranked, props, relabel_notes(members or project.member_specs()))


def _iter_batch_steps(ds, project, store, executor, train_cfg, unc_cfg, proposal_cfg, models):
    """The batch's steps inside its store, with its executor; returns ``(members, proposals, ranking)``
    (the dataset ``ds`` opened once for all of them)."""
    members = []
    if train_cfg is not None or not models:
        train_cfg = train_cfg or TrainConfig()
        if (why := training_blocker(ds, train_cfg)) is not None:
            store.log("batch:refused", {"why": why})
            raise PipelineError(why)
        yield Progress(0, 4, "training the ensemble")
        res = yield from iter_train(ds, project.models_dir, train_cfg, cache_dir=project.cache_dir,
                                    executor=executor, evidence=store.evidence())
        members = res.members
        for cid, why in res.failed.items():
            store.set_failed(cid, why)
    yield Progress(1, 4, "computing uncertainty")
    unc = yield from iter_uncertainty(project, unc_cfg, dataset=ds, executor=executor)
    for cid, why in unc.failed.items():
        store.set_failed(cid, why)
    yield Progress(2, 4, "proposing corrections")
    props = yield from iter_proposals(project, store, proposal_cfg, dataset=ds)
    for cid, why in props.failed.items():
        store.set_failed(cid, why)
    yield Progress(3, 4, "ranking")
    ranked = rank_cases(project, store)
    store.log("batch:done", {"ranked": len(ranked), "failed": len(store.failed()), "executor": executor.name})
    return members, props, ranked
