"""The LiTS layout: ``volume-N.nii`` + ``segmentation-N.nii``."""

from __future__ import annotations

import re
from pathlib import Path

from curator.core.data.cases import Case, Dataset, Problem, rel_path
from curator.core.data.scan import file_stem, note_ambiguous, walk
from curator.core.io.types import VOLUME_SUFFIXES

_LITS_VOL = re.compile(r"^volume-(\d+)$", re.I)
_LITS_SEG = re.compile(r"^segmentation-(\d+)$", re.I)


def discover_lits(root: Path) -> Dataset | None:
    vols: dict[str, list[Path]] = {}
    segs: dict[str, list[Path]] = {}
    for p in walk(root, 2):
        if not p.name.lower().endswith(VOLUME_SUFFIXES):
            continue
        st = file_stem(p)
        if m := _LITS_VOL.match(st):
            vols.setdefault(m.group(1), []).append(p)
        elif m := _LITS_SEG.match(st):
            segs.setdefault(m.group(1), []).append(p)
    if not vols:
        return None
    cases = []
    for n, ps in vols.items():
        ms = segs.get(n, [])
        case = Case(f"volume-{n}", ps[0], ms[0] if ms else None, "lits", 3, root)
        note_ambiguous(case, ps, ms, root)  # volume-1.nii beside volume-1.nii.gz: no silent choice
        cases.append(case)
    ds = Dataset(root, "lits", cases, label_names={1: "liver", 2: "tumour"})
    for n in sorted(set(segs) - set(vols), key=int):
        ds.problems.append(Problem("orphan_mask", f"{rel_path(segs[n][0], root)} has no volume", "warning"))
    return ds


# -- Paired folders / suffix pairs ---------------------------------------------------------------
