"""The PH2 database's own layout: ``IMDxxx/IMDxxx_Dermoscopic_Image/IMDxxx.bmp`` + ``IMDxxx_lesion/``."""

from __future__ import annotations

import re
from pathlib import Path

from curator.core.data.cases import Case, Dataset, rel_path
from curator.core.data.scan import all_existing, is_dir, list_folder, note_ambiguous
from curator.core.io.types import IMAGE_2D_SUFFIXES

_IMD = re.compile(r"^IMD\d+$", re.I)


def discover_ph2(root: Path) -> Dataset | None:
    candidates = [root, root / "PH2 Dataset images", root / "PH2Dataset" / "PH2 Dataset images"]
    base = None
    for c in candidates:
        if is_dir(c) and any(_IMD.match(p.name) and is_dir(p) for p in list_folder(c)):
            base = c
            break
    if base is None:
        return None
    cases = []
    for d in [p for p in list_folder(base) if is_dir(p) and _IMD.match(p.name)]:
        cid = d.name
        img_dir = d / f"{cid}_Dermoscopic_Image"
        les_dir = d / f"{cid}_lesion"
        images = all_existing(img_dir, cid, IMAGE_2D_SUFFIXES)
        masks = all_existing(les_dir, f"{cid}_lesion", IMAGE_2D_SUFFIXES)
        case = Case(cid, images[0] if images else img_dir / f"{cid}.bmp", masks[0] if masks else None, "ph2", 2, root)
        if not images:
            case.add_problem("missing_image", f"no dermoscopic image in {rel_path(img_dir, root)}")
        note_ambiguous(case, images, masks, root)
        cases.append(case)
    if not cases:
        return None
    ds = Dataset(root, "ph2", cases, label_names={1: "lesion"})
    return ds
