"""Project-level jobs that chain the core steps: uncertainty maps for every case of a project.

:func:`iter_uncertainty` scores each case with the ensemble members that did not train on it
(out-of-fold), under test-time augmentation and MC dropout, and stores its maps in the project
(``maps/<case>.npz``). A case whose maps already match the members and settings is skipped, so an
interrupted run resumes; a case that cannot be read is reported and the rest go on.
"""

from __future__ import annotations

import hashlib
import json
from dataclasses import dataclass
from pathlib import Path
from typing import Generator, Sequence

import numpy as np

from .jobs import Progress

__all__ = ["UncertaintyConfig", "iter_uncertainty", "PipelineError", "load_members"]


class PipelineError(Exception):
    """A project job cannot run (no models, incompatible models); the message says why."""


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

    def to_json(self) -> dict:
        return {"tta": self.tta, "tta_intensity": self.tta_intensity, "mc": self.mc, "models": list(self.models)}


def load_members(paths: Sequence[Path], device) -> list:
    from .models import load_member

    members = []
    for p in paths:
        try:
            members.append(load_member(p, device))
        except (OSError, ValueError, RuntimeError, KeyError) as exc:
            raise PipelineError(f"cannot load model {p}: {exc}") from exc
    return members


def _signature(members, cfg: UncertaintyConfig) -> str:
    doc = json.dumps({"members": sorted(m.sha256 for m in members), **cfg.to_json()}, sort_keys=True)
    return hashlib.sha256(doc.encode()).hexdigest()[:16]


def iter_uncertainty(project, cfg: UncertaintyConfig | None = None, *, cases: Sequence[str] | None = None
                     ) -> Generator[Progress, None, dict]:
    """Compute and store uncertainty maps for the project's cases.

    Returns ``{"done": [...], "skipped": [...], "failed": {case: reason}, "in_fold": [...]}``;
    ``in_fold`` lists cases no held-out member could score (scored by members that saw them).
    """
    import torch

    from .device import resolve_device, set_threads
    from .inference import iter_predict
    from .prepare import iter_prepare
    from .uncertainty import UncertaintyMaps, save_maps, load_maps

    cfg = cfg or UncertaintyConfig()
    set_threads(cfg.threads)
    try:
        device = resolve_device(cfg.device)
    except ValueError as exc:
        raise PipelineError(str(exc)) from exc
    specs = project.member_specs() + [Path(m) for m in cfg.models]
    if not specs:
        raise PipelineError(f"{project.root}: no trained models; run `curator train` first or give --model")
    members = load_members(specs, device)
    pre_specs = {json.dumps(m.spec.preprocess.to_json(), sort_keys=True) for m in members}
    if len(pre_specs) > 1:
        raise PipelineError("the models use different preprocessing and cannot be combined into one ensemble")
    spec = members[0].spec
    label_sets = {tuple(m.spec.labels) for m in members}
    if len(label_sets) > 1:
        raise PipelineError(f"the models predict different label sets {sorted(label_sets)}")
    amp = bool(cfg.amp and device.type == "cuda")
    dataset = project.open_dataset()
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
    prepared, prep_failed = yield from iter_prepare(pending, spec.preprocess, spec.labels, project.cache_dir)
    failed.update(prep_failed)
    patch = tuple(spec.preprocess.patch) if spec.spatial_dims == 3 else None
    total = len(pending)
    for i, case in enumerate(pending):
        pc = prepared.get(case.id)
        if pc is None:
            continue
        yield Progress(i, total, f"uncertainty {case.id}")
        oof = [m for m in members if m.out_of_fold_for(case.id)]
        if not oof:
            oof = members
            in_fold.append(case.id)
        x = torch.from_numpy(pc.image.astype(np.float32))
        acc = yield from iter_predict([(m.network, patch) for m in oof], x, tta=cfg.tta, mc=cfg.mc, device=device,
                                      amp=amp, tta_intensity=cfg.tta_intensity, seed=i)
        given = pc.labels if pc.labels is not None else None
        res = acc.result(given=torch.from_numpy(given.astype(np.int64)) if given is not None else None)
        maps = {k: v.numpy() for k, v in res.items()}
        meta = {
            "case_id": case.id,
            "orig_shape": list(pc.orig_shape),
            "orig_spacing": list(pc.orig_spacing) if pc.orig_spacing else None,
            "work_shape": list(pc.image.shape[1:]),
            "labels": list(spec.labels),
            "members": [{"name": m.name, "sha256": m.sha256} for m in oof],
            "in_fold": case.id in in_fold,
            "predictions": acc.n,
            "signature": signature,
            **cfg.to_json(),
        }
        save_maps(project.map_path(case.id), UncertaintyMaps(maps, meta))
        done.append(case.id)
        yield Progress(i + 1, total, f"uncertainty {case.id} done")
    return {"done": done, "skipped": skipped, "failed": failed, "in_fold": in_fold}
