"""DICOM series with a DICOM SEG, or a NIfTI/NRRD mask, beside them."""

from __future__ import annotations

from pathlib import Path

from curator.core.data.cases import Case, Dataset, Problem, rel_path
from curator.core.data.scan import file_stem, note_ambiguous, volume_files, walk
from curator.core.io.dicom import NOT_DICOM_SUFFIXES, scan_folder
from curator.core.io.formats import is_dicom_file


def discover_dicom(root: Path) -> Dataset | None:
    folders: dict[Path, None] = {}
    for p in walk(root, 4):
        suffix = p.suffix.lower()
        if suffix == ".dcm" or (suffix not in NOT_DICOM_SUFFIXES and is_dicom_file(p)):
            folders.setdefault(p.parent, None)
    if not folders:
        return None
    all_series = []
    segs = []
    problems: list[Problem] = []
    for folder in folders:
        s, g, errors = scan_folder(folder)
        all_series += s
        segs += g
        problems += [Problem("unreadable_file", f"{rel_path(folder, root)}/{e}", "warning") for e in errors]
    # one series reached twice (a copied folder, a second link to it) is one case, and said so
    by_uid: dict[str, object] = {}
    kept = []
    for s in all_series:
        first = by_uid.get(s.uid) if s.uid else None
        if first is not None:
            problems.append(Problem("duplicate_series", f"series {s.uid} is in both {rel_path(first.folder, root)} and "
                                    f"{rel_path(s.folder, root)}; only {rel_path(first.folder, root)} is used (a copy?)",
                                    "warning"))
            continue
        if s.uid:
            by_uid[s.uid] = s
        kept.append(s)
    all_series = kept
    if not all_series:
        return None
    per_folder: dict[Path, int] = {}
    for s in all_series:
        per_folder[s.folder] = per_folder.get(s.folder, 0) + 1
    masks, ambiguous = _match_series_masks(all_series, segs, root, per_folder)
    seg_problems = {g.path: g.problem for g in segs if g.problem}
    cases = []
    for s in all_series:
        rel = rel_path(s.folder, root)
        cid = root.name if rel == "." else rel.replace("/", "_")
        if per_folder[s.folder] > 1:
            cid += f"_s{s.number if s.number is not None else len(cases)}"
        mask, kind = masks.get(id(s), (None, None))
        case = Case(cid, s.folder, mask, "dicom", 3, root, meta={"series": s, "series_uid": s.uid})
        if kind:
            case.meta["mask_kind"] = kind
        if mask in seg_problems:
            case.meta["mask_problem"] = f"{mask}: {seg_problems[mask]}"
        if id(s) in ambiguous:
            note_ambiguous(case, [], ambiguous[id(s)], root)
        cases.append(case)
    used = {m for m, k in masks.values() if k == "seg"}
    for g in segs:
        if g.path not in used:
            problems.append(Problem("orphan_mask", f"DICOM SEG {rel_path(g.path, root)} references a series not found here",
                                    "warning"))
    return Dataset(root, "dicom", cases, problems)




def _match_series_masks(all_series, segs, root: Path, per_folder: dict):
    """Find each series' mask: a DICOM SEG that references it; else a NIfTI/NRRD named after the
    series folder beside or inside it (``<folder>_seg.nii.gz``, not ``<folder>N_seg``); else the
    only volume file inside a folder that holds just this series. Returns ``({series: (path,
    kind)}, {series: [files]})``, the second for series that several files are named after."""
    out: dict[int, tuple[Path, str]] = {}
    ambiguous: dict[int, list[Path]] = {}
    claimed: set[Path] = set()
    for s in all_series:
        sops = set(s.sop_uids) - {""}
        for g in segs:
            if (s.uid and g.referenced_series_uid == s.uid) or (sops and sops & set(g.referenced_sop_uids)):
                out[id(s)] = (g.path, "seg")
                break
    def named_after(stem: str, name: str) -> bool:  # "ct5n_seg" is named after "ct5n", not after "ct5"
        return stem == name or (stem.startswith(name) and stem[len(name)] in "_-. ")

    for s in all_series:
        if id(s) in out:
            continue
        name = s.folder.name.lower()
        if per_folder[s.folder] > 1:  # several series in one folder: the mask must say which
            name = f"{name}_s{s.number}"
        named = [p for p in volume_files(s.folder.parent) + volume_files(s.folder)
                 if named_after(file_stem(p).lower(), name) and p not in claimed]
        if named:
            named.sort(key=lambda p: (len(p.name), p.name))
            pick = named[0]
            out[id(s)] = (pick, "file")
            claimed.add(pick)
            if len(named) > 1:  # said, never chosen silently
                ambiguous[id(s)] = named
    for s in all_series:
        if id(s) in out or per_folder[s.folder] > 1:
            continue
        inside = [p for p in volume_files(s.folder) if p not in claimed]
        if len(inside) == 1 and s.folder != root or (len(inside) == 1 and len(all_series) == 1):
            out[id(s)] = (inside[0], "file")
            claimed.add(inside[0])
    return out, ambiguous
