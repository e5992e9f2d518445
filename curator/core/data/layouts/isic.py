"""The ISIC layout: ``ISIC_x.jpg`` + ``ISIC_x_segmentation.png``, in one folder or two."""

from __future__ import annotations

import re
from pathlib import Path

from curator.core.data.cases import Case, Dataset, Problem, rel_path
from curator.core.data.scan import file_stem, note_ambiguous, walk
from curator.core.io.types import IMAGE_2D_SUFFIXES

_ISIC_IMG = re.compile(r"^(ISIC_\d+)$", re.I)
_ISIC_MASK = re.compile(r"^(ISIC_\d+)_segmentation$", re.I)


def discover_isic(root: Path) -> Dataset | None:
    images: dict[str, list[Path]] = {}
    masks: dict[str, list[Path]] = {}
    for p in walk(root, 2):
        if not p.name.lower().endswith(IMAGE_2D_SUFFIXES):
            continue
        st = file_stem(p)
        m = _ISIC_MASK.match(st)
        if m:
            masks.setdefault(m.group(1).upper(), []).append(p)
            continue
        m = _ISIC_IMG.match(st)
        if m and "superpixel" not in p.name.lower():
            images.setdefault(m.group(1).upper(), []).append(p)
    if not masks:
        return None
    cases = []
    for cid, imgs in images.items():
        ms = masks.get(cid, [])
        case = Case(cid, imgs[0], ms[0] if ms else None, "isic", 2, root)
        note_ambiguous(case, imgs, ms, root)
        cases.append(case)
    ds = Dataset(root, "isic", cases, label_names={1: "lesion"})
    for cid in sorted(set(masks) - set(images)):
        ds.problems.append(Problem("orphan_mask", f"mask {rel_path(masks[cid][0], root)} has no image", "warning"))
    return ds


# -- Medical Segmentation Decathlon / nnU-Net ----------------------------------------------------
