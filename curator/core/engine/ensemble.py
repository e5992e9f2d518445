"""The K-fold ensemble: the training plan, one self-contained task per member, and the local run.

:func:`iter_train` trains ``repeats x folds`` members on a dataset; every case is left out by one
member per repeat, so each case can later be scored by models that never saw its mask. Each member
is a :class:`MemberTask`: a small, picklable description (paths, settings as JSON, case ids) that
:func:`iter_member_task` runs in any process or machine. It reads the dataset and the preparation
cache and writes the member's ``.pt``/``.json`` atomically into the models folder, so a task run
twice (a retry after a lost worker) writes the same files again instead of adding new ones; only
the file paths travel back.

By default the tasks run here, one after another (:func:`iter_member_tasks`); an executor
(:mod:`curator.core.project.executors`, or a plugin's) may run them elsewhere. Wherever they run,
the dataset and the project must be seen at the same paths (one machine, or shared storage).
"""

from __future__ import annotations

import json
from dataclasses import dataclass, replace
from pathlib import Path
from typing import Generator, Sequence

import numpy as np

from curator.core.data.discover import open_dataset
from curator.core.data.memo import ReadMemo
from curator.core.engine.device import resolve_device, set_threads
from curator.core.engine.prepare import choose_spec, iter_prepare, scan_labels
from curator.core.engine.preprocess import PreprocessSpec, labels_to_index
from curator.core.engine.training import SAVED_BEFORE, TrainConfig, build_spec, iter_train_member
from curator.core.engine.training_data import TrainError, make_folds, save_relabelled
from curator.core.io.files import atomic_write
from curator.core.io.masks import read_labels
from curator.core.jobs import Progress

__all__ = ["iter_train", "TrainResult", "MemberTask", "iter_member_task", "iter_member_tasks"]


@dataclass
class TrainResult:
    """What :func:`iter_train` made: the members' ``.json`` paths (in plan order), the cases that
    could not be prepared (id -> reason) and the folds."""

    members: list[str]
    failed: dict[str, str]
    folds: list


@dataclass(frozen=True)
class MemberTask:
    """Train one member: ``name`` on ``train_ids``, with ``probe_ids`` held out as its evidence."""

    name: str
    dataset: str  # the dataset folder
    layout: str | None
    models_dir: str
    cache_dir: str | None
    config: dict  # TrainConfig.to_json()
    preprocess: dict  # PreprocessSpec.to_json()
    labels: tuple[int, ...]
    train_ids: tuple[str, ...]
    probe_ids: tuple[str, ...] = ()
    trusted_ids: tuple[str, ...] = ()  # labels a reviewer vouched for: never relabelled
    label_files: tuple[tuple[str, str], ...] = ()  # (case id, reviewed mask .npz) replacing its given mask
    init: str | None = None  # a member .json to start from (fine-tuning in a review round)

    @property
    def json_path(self) -> Path:
        return Path(self.models_dir) / f"{self.name}.json"


def _prepare(case_ids: Sequence[str], dataset: str, layout: str | None, preprocess: dict, labels, cache_dir
             ) -> Generator[Progress, None, dict]:
    """The cases ``case_ids`` prepared (from the cache where the batch already prepared them)."""
    ds = open_dataset(dataset, layout=layout)
    wanted = set(case_ids)
    cases = [c for c in ds.cases if c.id in wanted]
    prepared, failed = yield from iter_prepare(cases, PreprocessSpec.from_json(preprocess), list(labels), cache_dir)
    missing = sorted(wanted - set(prepared))
    if missing:
        why = "; ".join(f"{c}: {failed.get(c, 'not in the dataset')}" for c in missing[:5])
        raise TrainError(f"{len(missing)} case(s) could not be prepared for training ({why})")
    return prepared


def iter_member_task(task: MemberTask, *, prepared: dict | None = None, device=None
                     ) -> Generator[Progress, None, str]:
    """Train the member ``task`` describes and save it; returns its ``.json`` path.

    ``prepared`` (case id -> PreparedCase): the cases when the caller has them in memory; without
    it they are read from the preparation cache (or prepared again). A member already saved is not
    trained again; one interrupted mid-way resumes from its last epoch's checkpoint.
    """
    if task.json_path.exists():
        return str(task.json_path)
    cfg = TrainConfig.from_json(task.config)
    if prepared is None:
        set_threads(cfg.threads)
        prepared = yield from _prepare(task.train_ids + task.probe_ids, task.dataset, task.layout, task.preprocess,
                                       task.labels, task.cache_dir)
    device = device or resolve_device(cfg.device)
    given = prepared
    carried = _carried_labels(task, prepared)
    prepared = _reviewed_labels({**prepared, **{c: replace(prepared[c], labels=v) for c, v in carried.items()}}, task)
    train_items = [prepared[c] for c in task.train_ids]
    probe = [prepared[c] for c in task.probe_ids if c in prepared]
    in_channels = train_items[0].image.shape[0]
    spec = build_spec(cfg, PreprocessSpec.from_json(task.preprocess), list(task.labels), in_channels)
    res = yield from iter_train_member(train_items, spec, cfg, name=task.name,
                                       out_stem=Path(task.models_dir) / task.name, device=device, probe=probe,
                                       trusted=task.trusted_ids, init=Path(task.init) if task.init else None)
    if carried and cfg.relabel is None:  # the next round carries them on in turn
        save_relabelled(Path(task.models_dir) / task.name, carried, {c: given[c].labels for c in carried})
    return str(res.json_path)


def _carried_labels(task: MemberTask, prepared: dict) -> dict:
    """The labels the member ``task.init`` ended its training with where relabelling changed them
    (its ``.relabelled.npz``), for the training cases no reviewer vouched for: a review round goes
    on from the labels the previous round reached, not from the masks it had corrected."""
    if not task.init:
        return {}
    path = Path(task.init).with_suffix("").with_suffix(".relabelled.npz")
    if not path.exists():
        return {}
    keep = set(task.train_ids) - set(task.trusted_ids)
    with np.load(path) as z:
        return {c: z[c] for c in z.files if c in keep and c in prepared and z[c].shape == prepared[c].labels.shape}


def _reviewed_labels(prepared: dict, task: MemberTask) -> dict:
    """``prepared`` with the reviewed masks of ``task.label_files`` as the cases' labels (working grid)."""
    if not task.label_files:
        return prepared
    out = dict(prepared)
    pre = PreprocessSpec.from_json(task.preprocess)
    for cid, path in task.label_files:
        if cid not in out:
            continue
        pc = out[cid]
        try:
            labels = read_labels(path)
        except (OSError, ValueError, KeyError) as exc:
            raise TrainError(f"{cid}: the reviewed mask {path} cannot be read ({exc})") from exc
        if tuple(labels.shape) != tuple(pc.orig_shape):
            raise TrainError(f"{cid}: the reviewed mask {path} has shape {labels.shape}, the case {tuple(pc.orig_shape)}")
        index = labels_to_index(labels, list(task.labels))
        out[cid] = replace(pc, labels=pc.preprocessor(pre).labels_forward(index, len(task.labels)))
    return out


def iter_member_tasks(tasks: Sequence[MemberTask], *, prepared: dict | None = None
                      ) -> Generator[Progress, None, list[str]]:
    """Run ``tasks`` here, one after another; returns the members' ``.json`` paths in their order
    (the local executor's training)."""
    paths = []
    device = None
    for k, task in enumerate(tasks):
        if device is None:
            device = resolve_device(task.config.get("device", "auto"))
        yield Progress(k, len(tasks), f"training {task.name} on {len(task.train_ids)} cases")
        paths.append((yield from iter_member_task(task, prepared=prepared, device=device)))
    return paths


def _plan_tasks(base: MemberTask, folds: list, ids: Sequence[str], init_dir):
    """``(k, MemberTask)`` for every member of the plan: trained on all but its fold, which it scores."""
    known = set(ids)
    for r, split in enumerate(folds):
        for f, held_out in enumerate(split):
            name = f"member-r{r}-f{f}"
            out = set(held_out)
            yield r * len(split) + f, replace(base, name=name, train_ids=tuple(c for c in ids if c not in out),
                                              probe_ids=tuple(c for c in held_out if c in known),
                                              init=_init_member(init_dir, name))


def _init_member(init_dir, name: str) -> str | None:
    if init_dir is None:
        return None
    path = Path(init_dir) / f"{name}.json"
    if not path.exists():
        raise TrainError(f"{path} is missing: a review round fine-tunes each member of the previous round")
    return str(path)


def _comparable(config: dict) -> dict:
    """Settings that change the models (not where or how fast they are computed), JSON-normalised."""
    d = {**SAVED_BEFORE, **json.loads(json.dumps(config))}
    for k in ("device", "amp", "threads"):
        d.pop(k, None)
    return d


def iter_train(dataset, models_dir, cfg: TrainConfig, *, cache_dir=None, cases: Sequence[str] | None = None,
               executor=None, evidence: dict[str, str | None] | None = None, base_plan: dict | None = None,
               init_dir=None) -> Generator[Progress, None, TrainResult]:
    """Train ``cfg.repeats x cfg.folds`` members on ``dataset``; resumable.

    Writes ``models_dir/train.json`` (settings, folds, label values) and ``member-rRfF.{pt,json}``
    per member. A member already saved is skipped; one interrupted mid-way resumes from its last
    epoch. ``executor`` (:mod:`curator.core.project.executors`, or a plugin's; default: here, one
    after another, :func:`iter_member_tasks`) runs the members' training tasks.

    A review round (``curator rescore``): ``evidence`` (case id -> reviewed mask file, or None where
    the given mask is right) marks those cases trusted and trains on their reviewed masks;
    ``base_plan`` (the batch's ``train.json``) gives the label values, preprocessing and folds, so
    every case stays scored by the members that never trained on it; ``init_dir`` holds the
    members each new one starts from (same names). Returns a :class:`TrainResult`.
    """
    models_dir = Path(models_dir)
    models_dir.mkdir(parents=True, exist_ok=True)
    set_threads(cfg.threads)
    try:
        resolve_device(cfg.device)  # an unusable device is said before any work (the tasks resolve their own)
    except ValueError as exc:
        raise TrainError(str(exc)) from exc
    yield Progress(0, None, "checking the dataset")
    dataset.check()
    usable = [c for c in dataset.cases if c.ok and c.mask is not None and (cases is None or c.id in cases)]
    if not usable:
        raise TrainError("no usable cases with masks in the dataset (see `curator info`)")
    plan_path = models_dir / "train.json"
    plan = json.loads(plan_path.read_text()) if plan_path.exists() else None
    if plan is not None and _comparable(plan.get("config", {})) != _comparable(cfg.to_json()):
        raise TrainError(f"{models_dir} holds a training run with other settings; use a new project or "
                         "delete its models folder")
    memo = ReadMemo()  # the masks the label scan decodes, for the preprocessing below
    if plan is None and base_plan is not None:
        plan = {**base_plan, "config": cfg.to_json()}
    if plan is None:
        label_values = scan_labels(usable, dataset.label_names, memo=memo)
        pre = choose_spec(dataset, size=cfg.size, spacing=cfg.spacing, window=cfg.window, patch=cfg.patch)
        plan = {"config": cfg.to_json(), "labels": label_values, "preprocess": pre.to_json(),
                "dataset": str(dataset.root), "layout": dataset.layout}

    pre = PreprocessSpec.from_json(plan["preprocess"])
    label_values = plan["labels"]
    prepared, failed = yield from iter_prepare(usable, pre, label_values, cache_dir, memo=memo)
    ids = sorted(prepared)
    if "folds" not in plan:
        plan["folds"] = make_folds(ids, cfg.folds, cfg.repeats, cfg.seed)
    if not plan_path.exists():
        atomic_write(plan_path, json.dumps(plan, indent=1))
    if not prepared:  # every case failed to read: say why instead of failing on an empty list
        why = "; ".join(f"{c}: {r}" for c, r in list(failed.items())[:5])
        raise TrainError(f"none of the {len(usable)} case(s) could be read ({why})")
    evidence = {c: p for c, p in (evidence or {}).items() if c in prepared}
    base = MemberTask(name="", dataset=str(dataset.root), layout=dataset.layout, models_dir=str(models_dir),
                      cache_dir=str(cache_dir) if cache_dir is not None else None, config=cfg.to_json(),
                      preprocess=pre.to_json(), labels=tuple(label_values), train_ids=(),
                      trusted_ids=tuple(sorted(evidence)),
                      label_files=tuple(sorted((c, str(p)) for c, p in evidence.items() if p)))
    members, tasks = {}, []
    n_members = cfg.repeats * cfg.folds
    for k, task in _plan_tasks(base, plan["folds"], ids, init_dir):
        if task.json_path.exists():
            members[k] = task.json_path
            yield Progress(k + 1, n_members, f"{task.name}: already trained")
        else:
            tasks.append((k, task))
    if tasks:
        todo = [t for _, t in tasks]
        if executor is None:
            paths = yield from iter_member_tasks(todo, prepared=prepared)
        else:
            paths = yield from executor.iter_train(todo, prepared=None if executor.remote else prepared)
        members.update({k: Path(p) for (k, _), p in zip(tasks, paths)})
    members = [members[k] for k in sorted(members)]
    yield Progress(n_members, n_members, f"{n_members} member(s) trained")
    return TrainResult([str(m) for m in members], failed, plan["folds"])
