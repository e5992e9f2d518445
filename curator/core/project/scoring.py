"""Scoring cases with the ensemble as a self-contained job that an executor can run anywhere.

A :class:`ScoreJob` is what every scorer of one uncertainty run shares (the project folder, the
members' files, the settings, the signature recorded in every map); a :class:`Scorer` loads the
models once (per process or per actor) and then scores case after case, writing each case's
``maps/<case>.npz`` atomically into the project. A case scored twice (a retry after a lost worker)
writes the same file again. Only per-case status travels back.

The local executor (:mod:`curator.core.project.executors`) runs a scorer in the batch's own
process with the cases and models it already holds; any other executor runs the very same scorer
elsewhere, reading the cases from the project's preparation cache.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from pathlib import Path
from typing import Generator, Sequence

import numpy as np

from curator.core.engine.device import resolve_device, set_threads
from curator.core.engine.inference import iter_predict
from curator.core.engine.models import load_member
from curator.core.engine.prepare import iter_prepare
from curator.core.engine.uncertainty import UncertaintyMaps, save_maps
from curator.core.errors import CuratorError
from curator.core.jobs import Progress
from curator.core.project.folder import Project

__all__ = ["PipelineError", "load_members", "ScoreJob", "Scorer"]


class PipelineError(CuratorError):
    """A project job cannot run (no models, incompatible models); the message says why."""


def load_members(paths: Sequence[Path], device, *, allow_torchscript: bool = False) -> list:
    members = []
    for p in paths:
        try:
            members.append(load_member(p, device, allow_torchscript=allow_torchscript))
        except (OSError, ValueError, RuntimeError, KeyError) as exc:
            raise PipelineError(f"cannot load model {p}: {exc}") from exc
    return members


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
