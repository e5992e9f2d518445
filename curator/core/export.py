"""Export a cleaned dataset: the input's layout, names, formats and geometry, plus a record.

``OUT`` receives every file of the source dataset, with the masks of changed cases rewritten the
way the originals were stored (:meth:`curator.core.dataset.Case.write_mask`: PNG/BMP values and
palettes, NIfTI header and affine, DICOM SEG referencing the source series), unchanged cases copied
byte for byte, excluded cases left out (and listed), plus:

* ``changes.csv``: ``case_id,decision,pixels_added,pixels_removed,dice_to_original``;
* ``provenance.json``: versions, settings, model hashes, reviewer decisions, and the SHA-256 of
  every input read and every output written.

The export is built in a hidden sibling folder and renamed into place only when complete, so a
crash, a full disk or a permission error never leaves anything at ``OUT`` that looks complete; a
rerun clears the leftovers and starts again.
"""

from __future__ import annotations

import csv
import errno
import hashlib
import io as _io
import json
import os
import shutil
import time
from dataclasses import dataclass, field
from pathlib import Path
from typing import Generator

import numpy as np

from .jobs import Progress

__all__ = ["ExportError", "ExportResult", "iter_export", "final_mask"]


class ExportError(Exception):
    """The export cannot be written; the message says why and what was left untouched."""


@dataclass
class ExportResult:
    out: Path
    changed: list[str] = field(default_factory=list)
    unchanged: list[str] = field(default_factory=list)
    excluded: list[str] = field(default_factory=list)
    failed: dict[str, str] = field(default_factory=dict)


def _sha256(path: Path) -> str:
    h = hashlib.sha256()
    with open(path, "rb") as fh:
        for chunk in iter(lambda: fh.read(1 << 20), b""):
            h.update(chunk)
    return h.hexdigest()


def _copy_hash(src: Path, dst: Path) -> str:
    """Copy a file (metadata too) and return its SHA-256, reading it once."""
    h = hashlib.sha256()
    dst.parent.mkdir(parents=True, exist_ok=True)
    with open(src, "rb") as fi, open(dst, "wb") as fo:
        for chunk in iter(lambda: fi.read(1 << 20), b""):
            h.update(chunk)
            fo.write(chunk)
        fo.flush()
        os.fsync(fo.fileno())
    shutil.copystat(src, dst)
    return h.hexdigest()


def _explain(exc: OSError, where: Path) -> str:
    if exc.errno == errno.ENOSPC:
        return f"the disk is full (while writing {where}); free some space and export again"
    if exc.errno in (errno.EACCES, errno.EPERM, errno.EROFS):
        return f"no permission to write {where}; choose a folder you can write to"
    return f"{exc.strerror or exc} ({where})"


def final_mask(project, store, case, given, *, take_proposal: bool = False) -> tuple[str, np.ndarray | None]:
    """The case's decision and the mask it leads to (``None`` = the original, unchanged): the
    review's own rule (:func:`curator.core.review.final_mask`), so the export writes what the
    reviewer was shown."""
    from .review import DecisionError
    from .review import final_mask as decided

    try:
        return decided(store, case.id, given.array, take_proposal=take_proposal)
    except DecisionError as exc:
        raise ExportError(str(exc)) from exc


def iter_export(project, out, *, take_proposals_above: float | None = None, take_top: int | None = None,
                overwrite: bool = False, reviewer: str | None = None,
                deidentify_seg: bool = False) -> Generator[Progress, None, ExportResult]:
    """Write the cleaned dataset to ``out`` (see the module docstring).

    ``take_proposals_above`` / ``take_top``: unreviewed cases with a combined score at least this
    high / among the top N by rank take their proposals. ``deidentify_seg``: DICOM SEG masks
    written leave the patient's identity out (by default they carry it, to go back to the same
    study).
    """
    from .. import __version__
    from .io import ReadError, atomic_write
    from .metrics import changed_pixels, dice
    from .store import Store

    out = Path(out).expanduser().resolve()
    dataset = project.open_dataset()
    src = dataset.root
    if out == src or src in out.parents or out in src.parents:
        raise ExportError(f"the export folder {out} must not be, contain or lie inside the dataset {src}")
    if out.exists() and any(out.iterdir()) and not overwrite:
        raise ExportError(f"{out} exists and is not empty; choose another folder or pass --overwrite")
    parent = out.parent
    try:
        parent.mkdir(parents=True, exist_ok=True)
    except OSError as exc:
        raise ExportError(_explain(exc, parent)) from exc
    for stale in parent.glob(f".{out.name}.partial-*"):
        shutil.rmtree(stale, ignore_errors=True)
    staging = parent / f".{out.name}.partial-{os.getpid()}-{int(time.time())}"
    try:
        staging.mkdir()
    except OSError as exc:
        raise ExportError(_explain(exc, staging)) from exc
    result = ExportResult(out)
    inputs: dict[str, str] = {}
    outputs: dict[str, str] = {}
    rows = []
    try:
        with Store(project.db_path, reviewer=reviewer) as store:
            dataset.check()
            ranks = {r["case_id"]: r for r in store.queue()}
            yield Progress(0, len(dataset.cases), "deciding what to write")
            plan = {}  # case id -> (decision, mask or None)
            excluded_files: set[Path] = set()
            for case in dataset.cases:
                d = store.decision(case.id)["decision"]
                if d == "excluded":
                    plan[case.id] = ("excluded", None)
                    excluded_files |= _case_files(case)
                    continue
                info = ranks.get(case.id, {})
                take = d == "unreviewed" and (
                    (take_proposals_above is not None and (info.get("score") or -1) >= take_proposals_above)
                    or (take_top is not None and info.get("rank") is not None and info["rank"] <= take_top))
                if case.mask is None or not case.ok:
                    plan[case.id] = (d, None)
                    continue
                if d in ("accepted", "edited") or take:
                    plan[case.id] = ("pending", take)
                else:
                    plan[case.id] = (d, None)
            rewritten = {c.mask.resolve() for c in dataset.cases if plan[c.id][0] == "pending" and c.mask}
            # 1) copy what stays as it is
            files = [p for p in src.rglob("*") if p.is_file() and not p.name.startswith(".")]
            for i, p in enumerate(files):
                if p.resolve() in rewritten or any(p == e or e in p.parents for e in excluded_files):
                    continue
                if i % 25 == 0:
                    yield Progress(0, len(dataset.cases), f"copying files ({i}/{len(files)})")
                rel = p.relative_to(src).as_posix()
                digest = _copy_hash(p, staging / rel)
                inputs[rel] = outputs[rel] = digest
            for case in dataset.cases:  # masks kept beside, outside the dataset folder
                if case.mask is not None and case.mask_rel.startswith("..") and plan[case.id][0] != "pending" \
                        and plan[case.id][0] != "excluded":
                    rel = case.mask_dest_rel()
                    inputs[case.mask_rel] = outputs[rel] = _copy_hash(case.mask, staging / rel)
            # 2) write the changed masks
            for i, case in enumerate(dataset.cases):
                yield Progress(i, len(dataset.cases), f"exporting {case.id}")
                decision, extra = plan[case.id]
                if decision == "excluded":
                    rows.append((case.id, "excluded", "", "", ""))
                    result.excluded.append(case.id)
                    continue
                if decision != "pending":
                    rows.append((case.id, decision, 0, 0, "1.000000" if case.mask is not None else ""))
                    result.unchanged.append(case.id)
                    if not case.ok:
                        result.failed[case.id] = "; ".join(p.message for p in case.problems if p.severity == "error")
                    continue
                try:
                    image = case.read_image()
                    given = case.read_mask(image)
                    decision, mask = final_mask(project, store, case, given, take_proposal=bool(extra))
                    if mask is None:
                        mask = given.array
                    mask = mask.astype(given.array.dtype, copy=False)
                    path = case.write_mask(mask, staging, original=given, deidentify=deidentify_seg)
                except (ReadError, ValueError, ExportError) as exc:
                    # this case keeps its original mask; the export goes on and says why
                    reason = str(exc)
                    rel = case.mask_dest_rel()
                    if case.mask is not None and case.mask.is_file():
                        inputs[case.mask_rel] = outputs[rel] = _copy_hash(case.mask, staging / rel)
                    rows.append((case.id, f"failed: {reason}", 0, 0, "1.000000"))
                    result.failed[case.id] = reason
                    result.unchanged.append(case.id)
                    yield Progress(i, len(dataset.cases), f"{case.id}: kept the original ({reason})")
                    continue
                rel = path.relative_to(staging).as_posix()
                outputs[rel] = _sha256(path)
                inputs[case.mask_rel] = _sha256(case.mask) if case.mask.is_file() else ""
                added, removed = changed_pixels(given.array, mask)
                rows.append((case.id, decision, added, removed, f"{dice(given.array, mask):.6f}"))
                (result.changed if added or removed else result.unchanged).append(case.id)
            if dataset.layout == "msd" and result.excluded and (staging / "dataset.json").exists():
                _drop_from_dataset_json(staging / "dataset.json", dataset, set(result.excluded))
                outputs["dataset.json"] = _sha256(staging / "dataset.json")
            # 3) the record
            buf = _io.StringIO()
            w = csv.writer(buf, lineterminator="\n")
            w.writerow(["case_id", "decision", "pixels_added", "pixels_removed", "dice_to_original"])
            w.writerows(rows)
            atomic_write(staging / "changes.csv", buf.getvalue())
            outputs["changes.csv"] = _sha256(staging / "changes.csv")
            prov = _provenance(project, store, dataset, __version__, inputs, outputs, result,
                               {"take_proposals_above": take_proposals_above, "take_top": take_top,
                                "reviewer": store.reviewer, "deidentify_seg": deidentify_seg})
            atomic_write(staging / "provenance.json", json.dumps(prov, indent=2))
            # 4) publish
            if out.exists():
                trash = parent / f".{out.name}.old-{os.getpid()}"
                os.replace(out, trash)
                os.replace(staging, out)
                shutil.rmtree(trash, ignore_errors=True)
            else:
                os.replace(staging, out)
            store.log("export", {"out": str(out), "changed": len(result.changed), "excluded": len(result.excluded),
                                 "unchanged": len(result.unchanged)})
    except OSError as exc:
        shutil.rmtree(staging, ignore_errors=True)
        raise ExportError(_explain(exc, Path(getattr(exc, "filename", None) or staging))) from exc
    except BaseException:
        shutil.rmtree(staging, ignore_errors=True)
        raise
    yield Progress(len(dataset.cases), len(dataset.cases), f"exported to {out}")
    return result


def _case_files(case) -> set[Path]:
    """The source files (or DICOM folders) that belong to one case."""
    out = {case.image}
    if case.mask is not None:
        out.add(case.mask)
    return out


def _drop_from_dataset_json(path: Path, dataset, excluded: set[str]) -> None:
    from .io import atomic_write

    spec = json.loads(path.read_text())
    if isinstance(spec.get("training"), list):
        keep_images = {c.image_rel for c in dataset.cases if c.id not in excluded}
        spec["training"] = [t for t in spec["training"]
                            if not isinstance(t, dict) or Path(str(t.get("image", ""))).as_posix().lstrip("./") in keep_images]
        spec["numTraining"] = len(spec["training"])
    atomic_write(path, json.dumps(spec, indent=2))


def _provenance(project, store, dataset, version, inputs, outputs, result, options) -> dict:
    import platform

    def ver(mod):
        try:
            from importlib.metadata import version as v

            return v(mod)
        except Exception:
            return None

    models = []
    for spec_path in project.member_specs():
        try:
            doc = json.loads(spec_path.read_text())
            models.append({"name": doc.get("name"), "sha256": doc.get("sha256"), "trained_on": len(doc.get("trained_on", []))})
        except (OSError, ValueError):
            continue
    train_plan = project.models_dir / "train.json"
    settings = {}
    if train_plan.exists():
        plan = json.loads(train_plan.read_text())
        settings["training"] = plan.get("config")
        settings["preprocess"] = plan.get("preprocess")
        settings["labels"] = plan.get("labels")
    proposals = {}
    for cid in result.changed:
        p = store.proposal(cid)
        if p is not None:
            proposals[cid] = {"run_id": p.get("run_id"), "config": p.get("config")}
    decisions = {cid: {k: store.decision(cid)[k] for k in ("decision", "reviewer", "updated", "note")}
                 for cid in result.changed + result.excluded}
    return {
        "created": time.strftime("%Y-%m-%dT%H:%M:%S%z"),
        "software": {"mask-curator": version, "python": platform.python_version(), "torch": ver("torch"),
                     "monai": ver("monai"), "SimpleITK": ver("SimpleITK"), "nibabel": ver("nibabel"),
                     "pydicom": ver("pydicom"), "highdicom": ver("highdicom"), "numpy": ver("numpy")},
        "source": {"dataset": str(dataset.root), "layout": dataset.layout, "cases": len(dataset.cases)},
        "project": str(project.root),
        "options": options,
        "settings": settings,
        "models": models,
        "proposals": proposals,
        "decisions": decisions,
        "summary": {"changed": sorted(result.changed), "excluded": sorted(result.excluded),
                    "unchanged": len(result.unchanged), "failed": result.failed},
        "inputs_sha256": inputs,
        "outputs_sha256": outputs,
    }
