"""The batch's work as self-contained tasks that an executor can run in any process or machine.

Two kinds: training one ensemble member (:class:`MemberTask`, :func:`iter_member_task`) and
scoring cases with the ensemble (:class:`ScoreJob` and a :class:`Scorer` that loads the models
once and then scores case after case). A task carries only a small, picklable description (paths,
settings as JSON, case ids); it reads the dataset and the preparation cache and writes its result
(a member's ``.pt``/``.json``, a case's ``maps/<case>.npz``) atomically into the project folder.
So wherever tasks run, the dataset and the project must be seen at the same paths (one machine,
or shared storage), and a task run twice (a retry after a lost worker) writes the same files again
instead of adding new ones. Only the file paths and per-case status travel back.

The local executor (:mod:`curator.core.executors`) runs these in the batch's own process, with
the cases already prepared there; any other executor runs the very same functions elsewhere.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from pathlib import Path
from typing import Generator, Sequence

import numpy as np

from .jobs import Progress

__all__ = ["MemberTask", "iter_member_task", "ScoreJob", "Scorer"]


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

    @property
    def json_path(self) -> Path:
        return Path(self.models_dir) / f"{self.name}.json"


def _prepare(case_ids: Sequence[str], dataset: str, layout: str | None, preprocess: dict, labels, cache_dir
             ) -> Generator[Progress, None, dict]:
    """The cases ``case_ids`` prepared (from the cache where the batch already prepared them)."""
    from .dataset import open_dataset
    from .prepare import iter_prepare
    from .preprocess import PreprocessSpec

    ds = open_dataset(dataset, layout=layout)
    wanted = set(case_ids)
    cases = [c for c in ds.cases if c.id in wanted]
    prepared, failed = yield from iter_prepare(cases, PreprocessSpec.from_json(preprocess), list(labels), cache_dir)
    missing = sorted(wanted - set(prepared))
    if missing:
        from .training import TrainError

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
    from .device import resolve_device, set_threads
    from .preprocess import PreprocessSpec
    from .training import TrainConfig, build_spec, iter_train_member

    if task.json_path.exists():
        return str(task.json_path)
    cfg = TrainConfig.from_json(task.config)
    if prepared is None:
        set_threads(cfg.threads)
        prepared = yield from _prepare(task.train_ids + task.probe_ids, task.dataset, task.layout, task.preprocess,
                                       task.labels, task.cache_dir)
    device = device or resolve_device(cfg.device)
    train_items = [prepared[c] for c in task.train_ids]
    probe = [prepared[c] for c in task.probe_ids if c in prepared]
    in_channels = train_items[0].image.shape[0]
    spec = build_spec(cfg, PreprocessSpec.from_json(task.preprocess), list(task.labels), in_channels)
    res = yield from iter_train_member(train_items, spec, cfg, name=task.name,
                                       out_stem=Path(task.models_dir) / task.name, device=device, probe=probe)
    return str(res.json_path)


@dataclass(frozen=True)
class ScoreJob:
    """What every scorer of one uncertainty run shares: the project, the models, the settings."""

    project: str  # the project folder
    member_specs: tuple[str, ...]
    config: dict  # UncertaintyConfig fields (tta, tta_intensity, mc, device, amp, threads, allow_torchscript)
    signature: str  # recorded in every map: the members and settings that made it


@dataclass
class Scorer:
    """Scores cases one at a time with the models loaded once (per process or per actor).

    ``members`` and ``prepared``: what the batch's own process already holds (local executor);
    without them the scorer loads the members itself and reads each case from the cache.
    """

    job: ScoreJob
    members: list | None = None
    prepared: dict | None = None
    _project: object = field(default=None, init=False, repr=False)

    def __post_init__(self):
        from .device import resolve_device, set_threads
        from .pipeline import load_members
        from .project import Project

        cfg = self.job.config
        if self.members is None:
            set_threads(cfg.get("threads"))
        self.device = resolve_device(cfg.get("device", "auto"))
        if self.members is None:
            self.members = load_members([Path(p) for p in self.job.member_specs], self.device,
                                        allow_torchscript=bool(cfg.get("allow_torchscript")))
        self.spec = self.members[0].spec
        self.patch = tuple(self.spec.preprocess.patch) if self.spec.spatial_dims == 3 else None
        self.amp = bool(cfg.get("amp", True) and self.device.type == "cuda")
        self._project = Project.open(self.job.project)

    def iter_case(self, case, seed: int) -> Generator[Progress, None, dict]:
        """Score ``case`` (a dataset Case) and save its maps; returns ``{"in_fold": bool}`` or
        ``{"failed": reason}``. Deterministic for a case, its ``seed`` and the models."""
        import torch

        from .inference import iter_predict
        from .prepare import iter_prepare
        from .uncertainty import UncertaintyMaps, save_maps

        cfg = self.job.config
        pc = (self.prepared or {}).get(case.id)
        if pc is None:
            prepared, failed = yield from iter_prepare([case], self.spec.preprocess, self.spec.labels,
                                                       self._project.cache_dir)
            if case.id not in prepared:
                return {"failed": failed.get(case.id, "could not be prepared")}
            pc = prepared[case.id]
        oof = [m for m in self.members if m.out_of_fold_for(case.id)]
        in_fold = not oof
        oof = oof or self.members
        x = torch.from_numpy(pc.image.astype(np.float32))
        acc = yield from iter_predict([(m.network, self.patch) for m in oof], x, tta=cfg.get("tta", 8),
                                      mc=cfg.get("mc", 0), device=self.device, amp=self.amp,
                                      tta_intensity=bool(cfg.get("tta_intensity")), seed=seed)
        given = pc.labels
        res = acc.result(given=torch.from_numpy(given.astype(np.int64)) if given is not None else None)
        maps = {k: v.numpy() for k, v in res.items()}
        meta = {
            "case_id": case.id,
            "orig_shape": list(pc.orig_shape),
            "orig_spacing": list(pc.orig_spacing) if pc.orig_spacing else None,
            "work_shape": list(pc.image.shape[1:]),
            "labels": list(self.spec.labels),
            "members": [{"name": m.name, "sha256": m.sha256} for m in oof],
            "in_fold": in_fold,
            "predictions": acc.n,
            "signature": self.job.signature,
            "tta": cfg.get("tta", 8), "tta_intensity": bool(cfg.get("tta_intensity")), "mc": cfg.get("mc", 0),
            "models": list(cfg.get("models", [])),
        }
        save_maps(self._project.map_path(case.id), UncertaintyMaps(maps, meta))
        return {"in_fold": in_fold}
