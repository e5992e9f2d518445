"""Export a cleaned dataset: the input's layout, names, formats and geometry, plus a record.

``OUT`` receives every file of the source dataset, with the masks of changed cases rewritten the
way the originals were stored (:meth:`curator.core.data.cases.Case.write_mask`: PNG/BMP values and
palettes, NIfTI header and affine, DICOM SEG referencing the source series), unchanged cases copied
byte for byte, excluded cases left out (and listed), plus:

* ``changes.csv``: ``case_id,decision,pixels_added,pixels_removed,dice_to_original``;
* ``provenance.json``: versions, settings, model hashes, reviewer decisions (with the change
  regions each changed mask took from its proposal: kind, such as ``class`` for a component's
  class change, labels from and to, size), and the SHA-256 of every input read and every output
  written.

The export is built in a hidden sibling folder and renamed into place only when complete, so a
crash, a full disk or a permission error never leaves anything at ``OUT`` that looks complete; a
rerun clears the leftovers and starts again.
"""

from __future__ import annotations

import hashlib
import json
import os
import shutil
import time
from dataclasses import dataclass, field
from pathlib import Path
from typing import Generator

import numpy as np

from curator import __version__
from curator.core.curation.decisions import Decision, DecisionError
from curator.core.errors import CuratorError
from curator.core.io.files import atomic_write, explain_os_error, pid_alive, write_csv
from curator.core.io.types import ReadError
from curator.core.jobs import Progress
from curator.core.metrics import changed_pixels, dice
from curator.core.project.artifacts import final_mask as decided
from curator.core.project.store import Store

__all__ = ["ExportError", "ExportResult", "iter_export", "final_mask"]


class ExportError(CuratorError):
    """The export cannot be written; the message says why and what was left untouched."""


@dataclass
class ExportResult:
    """What an export wrote. ``failed``: every case that could not be handled, with the reason;
    ``failed_corrections``: those among them whose accepted or edited correction (or a proposal
    the options asked to take) is *not* in the export: the export is then incomplete and the
    command line exits non-zero."""

    out: Path
    changed: list[str] = field(default_factory=list)
    unchanged: list[str] = field(default_factory=list)
    excluded: list[str] = field(default_factory=list)
    failed: dict[str, str] = field(default_factory=dict)
    failed_corrections: dict[str, str] = field(default_factory=dict)
    not_copied: dict[str, str] = field(default_factory=dict)  # source files that could not be read

    @property
    def complete(self) -> bool:
        return not self.failed_corrections


def _sha256(path: Path) -> str:
    h = hashlib.sha256()
    with open(path, "rb") as fh:
        for chunk in iter(lambda: fh.read(1 << 20), b""):
            h.update(chunk)
    return h.hexdigest()


class _Unreadable(Exception):
    """A source file could not be read (gone, no permission): it is left out and reported."""


def _copy_hash(src: Path, dst: Path) -> str:
    """Copy a file (metadata too) and return its SHA-256, reading it once. A source that cannot
    be read raises :class:`_Unreadable`; a destination that cannot be written raises ``OSError``."""
    h = hashlib.sha256()
    try:
        fi = open(src, "rb")
    except OSError as exc:
        raise _Unreadable(f"cannot be read ({exc.strerror or exc})") from exc
    with fi:
        dst.parent.mkdir(parents=True, exist_ok=True)
        with open(dst, "wb") as fo:
            while True:
                try:
                    chunk = fi.read(1 << 20)
                except OSError as exc:
                    raise _Unreadable(f"cannot be read ({exc.strerror or exc})") from exc
                if not chunk:
                    break
                h.update(chunk)
                fo.write(chunk)
            fo.flush()
            os.fsync(fo.fileno())
    shutil.copystat(src, dst)
    return h.hexdigest()


def _source_files(src: Path):
    """``(path, relative path)`` of every file of the dataset, following folder links once each
    (a link loop is not walked twice); broken links are listed too, to be reported."""
    seen: set[tuple[int, int]] = set()
    for dirpath, dirnames, filenames in os.walk(src, followlinks=True):
        try:
            st = os.stat(dirpath)
        except OSError:
            dirnames[:] = []
            continue
        if (st.st_dev, st.st_ino) in seen:
            dirnames[:] = []
            continue
        seen.add((st.st_dev, st.st_ino))
        dirnames[:] = sorted(d for d in dirnames if not d.startswith("."))
        for name in sorted(filenames):
            if name.startswith("."):
                continue
            p = Path(dirpath) / name
            yield p, p.relative_to(src).as_posix()


def _explain(exc: OSError, where: Path) -> str:
    return explain_os_error(exc, where)


def _remove_stale(parent: Path, name: str) -> None:
    """Remove what a killed export of ``name`` left in ``parent`` (its staging and old folders),
    never the folders of an export still running in another process."""
    import re

    for stale in list(parent.glob(f".{name}.partial-*")) + list(parent.glob(f".{name}.old-*")):
        m = re.search(r"\.(?:partial|old)-(\d+)", stale.name)
        if m and pid_alive(int(m.group(1))) and int(m.group(1)) != os.getpid():
            continue
        shutil.rmtree(stale, ignore_errors=True)


def final_mask(project, store, case, given, *, take_proposal: bool = False) -> tuple[str, np.ndarray | None]:
    """The case's decision and the mask it leads to (``None`` = the original, unchanged): the
    review's own rule (:func:`curator.core.project.artifacts.final_mask`), so the export writes what the
    reviewer was shown."""
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
    out = Path(out).expanduser().resolve()
    dataset = project.open_dataset()
    w = _Writing(_staging_for(out, dataset.root, overwrite), ExportResult(out))
    n = len(dataset.cases)
    try:
        with Store(project.db_path, reviewer=reviewer) as store:
            dataset.check()
            yield Progress(0, n, "deciding what to write")
            plan, excluded_files = _plan(dataset, store, w.result, take_proposals_above, take_top)
            # 1) copy what stays as it is
            yield from _iter_copy_kept(dataset, plan, excluded_files, w)
            # 2) write the changed masks
            for i, case in enumerate(dataset.cases):
                yield Progress(i, n, f"exporting {case.id}")
                reason = _write_case(project, store, case, plan[case.id], w, deidentify_seg)
                if reason is not None:
                    yield Progress(i, n, f"{case.id}: kept the original ({reason})")
            if dataset.layout == "msd" and w.result.excluded and (w.staging / "dataset.json").exists():
                _drop_from_dataset_json(w.staging / "dataset.json", dataset, set(w.result.excluded))
                w.outputs["dataset.json"] = _sha256(w.staging / "dataset.json")
            # 3) the record
            _write_record(project, store, dataset, w, {"take_proposals_above": take_proposals_above,
                                                       "take_top": take_top, "reviewer": store.reviewer,
                                                       "deidentify_seg": deidentify_seg})
            # 4) publish
            _publish(w.staging, out)
            store.log("export", {"out": str(out), "changed": len(w.result.changed),
                                 "excluded": len(w.result.excluded), "unchanged": len(w.result.unchanged)})
    except OSError as exc:
        shutil.rmtree(w.staging, ignore_errors=True)
        raise ExportError(_explain(exc, Path(getattr(exc, "filename", None) or w.staging))) from exc
    except BaseException:
        shutil.rmtree(w.staging, ignore_errors=True)
        raise
    yield Progress(n, n, f"exported to {out}")
    return w.result


@dataclass
class _Writing:
    """An export being written: its staging folder, its result so far, the SHA-256 of every input
    read and output written, and the rows of ``changes.csv``."""

    staging: Path
    result: ExportResult
    inputs: dict[str, str] = field(default_factory=dict)
    outputs: dict[str, str] = field(default_factory=dict)
    rows: list[tuple] = field(default_factory=list)

    def copy(self, src: Path, src_rel: str, dest_rel: str) -> None:
        """Copy a source file as it is into the export; one that cannot be read is reported."""
        try:
            self.inputs[src_rel] = self.outputs[dest_rel] = _copy_hash(src, self.staging / dest_rel)
        except _Unreadable as exc:
            self.result.not_copied[src_rel] = str(exc)


def _staging_for(out: Path, src: Path, overwrite: bool) -> Path:
    """The hidden folder beside ``out`` the export is built in (after checking ``out`` may be
    written and clearing what a killed export left)."""
    if out == src or src in out.parents or out in src.parents:
        raise ExportError(f"the export folder {out} must not be, contain or lie inside the dataset {src}")
    if out.exists() and any(out.iterdir()) and not overwrite:
        raise ExportError(f"{out} exists and is not empty; choose another folder or pass --overwrite")
    parent = out.parent
    try:
        parent.mkdir(parents=True, exist_ok=True)
    except OSError as exc:
        raise ExportError(_explain(exc, parent)) from exc
    _remove_stale(parent, out.name)
    staging = parent / f".{out.name}.partial-{os.getpid()}-{int(time.time())}"
    try:
        staging.mkdir()
    except OSError as exc:
        raise ExportError(_explain(exc, staging)) from exc
    return staging


def _plan(dataset, store, result: ExportResult, take_above: float | None, take_top: int | None):
    """What each case gets: ``case id -> (decision, None)`` for a mask kept as it is (or an
    excluded case), ``("pending", take the proposal?)`` for one to write; and the files of the
    excluded cases. Corrections that cannot be written go to ``result.failed_corrections``."""
    ranks = {r["case_id"]: r for r in store.queue()}
    plan = {}
    excluded_files: set[Path] = set()
    for case in dataset.cases:
        d = store.decision(case.id)["decision"]
        if d == "excluded":
            plan[case.id] = ("excluded", None)
            excluded_files |= _case_files(case)
            continue
        info = ranks.get(case.id, {})
        take = d == "unreviewed" and (
            (take_above is not None and (info.get("score") or -1) >= take_above)
            or (take_top is not None and info.get("rank") is not None and info["rank"] <= take_top))
        if case.mask is None or not case.ok:
            plan[case.id] = (d, None)
            if Decision(d).changes_mask or take:
                why = "; ".join(p.message for p in case.problems if p.severity == "error") or "no mask"
                result.failed_corrections[case.id] = f"{d}, but the case cannot be read now: {why}"
            continue
        plan[case.id] = ("pending", take) if Decision(d).changes_mask or take else (d, None)
    return plan, excluded_files


def _iter_copy_kept(dataset, plan: dict, excluded_files: set[Path], w: _Writing) -> Generator[Progress, None, None]:
    """Copy every file of the dataset but the masks to rewrite and the excluded cases' files, then
    the kept masks that live beside the dataset folder."""
    n = len(dataset.cases)
    rewritten = {c.mask.resolve() for c in dataset.cases if plan[c.id][0] == "pending" and c.mask}
    files = list(_source_files(dataset.root))
    for i, (p, rel) in enumerate(files):
        try:
            real = p.resolve()
        except (OSError, RuntimeError):  # a link loop (Python raises RuntimeError for those)
            real = p
        if real in rewritten or any(p == e or e in p.parents for e in excluded_files):
            continue
        if i % 25 == 0:
            yield Progress(0, n, f"copying files ({i}/{len(files)})")
        if not p.is_file():
            if p.is_symlink():
                w.result.not_copied[rel] = "a symbolic link that leads nowhere (or loops)"
            continue
        w.copy(p, rel, rel)
    for case in dataset.cases:  # masks kept beside, outside the dataset folder
        if case.mask is not None and case.mask_rel.startswith("..") and plan[case.id][0] not in ("pending", "excluded"):
            w.copy(case.mask, case.mask_rel, case.mask_dest_rel())


def _write_case(project, store, case, planned: tuple, w: _Writing, deidentify_seg: bool) -> str | None:
    """Record one case in the export, writing its new mask when it has one. Returns why a
    correction could not be written (the original mask is then copied), else None."""
    decision, take = planned
    result = w.result
    if decision == "excluded":
        w.rows.append((case.id, "excluded", "", "", ""))
        result.excluded.append(case.id)
        return None
    if decision != "pending":
        w.rows.append((case.id, decision, 0, 0, "1.000000" if case.mask is not None else ""))
        result.unchanged.append(case.id)
        if not case.ok:
            result.failed[case.id] = "; ".join(p.message for p in case.problems if p.severity == "error")
        return None
    try:
        image = case.read_image()
        given = case.read_mask(image)
        decision, mask = final_mask(project, store, case, given, take_proposal=bool(take))
        if mask is None:
            mask = given.array
        top = int(mask.max()) if mask.size else 0
        dtype = given.array.dtype if top <= np.iinfo(given.array.dtype).max else np.uint16
        mask = mask.astype(dtype, copy=False)
        path = case.write_mask(mask, w.staging, original=given, deidentify=deidentify_seg)
    except (ReadError, ValueError, ExportError, KeyError) as exc:
        # this case keeps its original mask; the export goes on and says why
        reason = str(exc)
        if case.mask is not None and case.mask.is_file():
            w.copy(case.mask, case.mask_rel, case.mask_dest_rel())
        w.rows.append((case.id, f"failed: {reason}", 0, 0, "1.000000"))
        result.failed[case.id] = reason
        result.failed_corrections[case.id] = reason
        result.unchanged.append(case.id)
        return reason
    w.outputs[path.relative_to(w.staging).as_posix()] = _sha256(path)
    w.inputs[case.mask_rel] = _sha256(case.mask) if case.mask.is_file() else ""
    added, removed = changed_pixels(given.array, mask)
    w.rows.append((case.id, decision, added, removed, f"{dice(given.array, mask):.6f}"))
    (result.changed if added or removed else result.unchanged).append(case.id)
    return None


def _write_record(project, store, dataset, w: _Writing, options: dict) -> None:
    """``changes.csv`` (every correction not written marked failed) and ``provenance.json``."""
    result, rows = w.result, w.rows
    for cid, why in result.failed_corrections.items():
        result.failed.setdefault(cid, why)
        if not any(r[0] == cid for r in rows):
            rows.append((cid, f"failed: {why}", 0, 0, ""))
        else:
            rows[:] = [(r[0], f"failed: {why}", *r[2:]) if r[0] == cid and not str(r[1]).startswith("failed")
                       else r for r in rows]
    write_csv(w.staging / "changes.csv", ["case_id", "decision", "pixels_added", "pixels_removed",
                                          "dice_to_original"], rows)
    w.outputs["changes.csv"] = _sha256(w.staging / "changes.csv")
    prov = _provenance(project, store, dataset, __version__, w.inputs, w.outputs, result, options)
    atomic_write(w.staging / "provenance.json", json.dumps(prov, indent=2))


def _publish(staging: Path, out: Path) -> None:
    """Rename the finished export into place (an earlier one at ``out`` goes only then)."""
    if out.exists():
        trash = out.parent / f".{out.name}.old-{os.getpid()}"
        os.replace(out, trash)
        os.replace(staging, out)
        shutil.rmtree(trash, ignore_errors=True)
    else:
        os.replace(staging, out)


def _region_changes(store, case_id: str, d: dict) -> list[dict] | None:
    """The change regions a case's exported mask took from its proposal (each one's kind, labels,
    size and confidence: a class change reads ``kind: class, from_label: 1, to_label: 2``): the
    chosen ones of an accepted decision, all of a proposal taken for an unreviewed case. ``None``
    when the mask is not a proposal's, or the stored proposal is no longer the one accepted."""
    if d["decision"] not in (Decision.ACCEPTED, Decision.UNREVIEWED):
        return None
    p = store.proposal(case_id)
    if not p or (d["decision"] == Decision.ACCEPTED and p.get("run_id") != d.get("model_run")):
        return None
    chosen = d.get("regions") if d["decision"] == Decision.ACCEPTED else None
    return [{k: r.get(k) for k in ("id", "kind", "from_label", "to_label", "size", "mean_confidence")}
            for r in p.get("regions") or [] if chosen is None or r.get("id") in chosen]


def _case_files(case) -> set[Path]:
    """The source files (or DICOM folders) that belong to one case."""
    out = {case.image}
    if case.mask is not None:
        out.add(case.mask)
    return out


def _drop_from_dataset_json(path: Path, dataset, excluded: set[str]) -> None:
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
    train_plan = project.current_models_dir / "train.json"
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
    decisions = {}
    for cid in result.changed + result.excluded:
        d = store.decision(cid)
        decisions[cid] = {k: d[k] for k in ("decision", "reviewer", "updated", "note")}
        changes = _region_changes(store, cid, d)
        if changes is not None:
            decisions[cid]["changes"] = changes
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
                    "unchanged": len(result.unchanged), "failed": result.failed,
                    "complete": result.complete, "corrections_not_written": result.failed_corrections,
                    "files_not_copied": result.not_copied},
        "inputs_sha256": inputs,
        "outputs_sha256": outputs,
    }
