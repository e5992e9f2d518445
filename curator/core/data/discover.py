"""Open a dataset folder: try each layout in turn and keep the first that finds cases.

Layouts: ``ph2`` (the PH2 database's own folders), ``isic`` (``ISIC_x.jpg`` +
``ISIC_x_segmentation.png``, one folder or separate image and mask folders), ``msd`` (Medical
Segmentation Decathlon / nnU-Net: ``imagesTr/``, ``labelsTr/``, ``dataset.json``), ``lits``
(``volume-N.nii`` + ``segmentation-N.nii``), ``dicom`` (DICOM series with a DICOM SEG or a
NIfTI/NRRD mask beside them) and ``pairs`` (image and mask folders with matching file stems, or
``x.png`` + ``x_mask.png`` in one folder); one module each under :mod:`.layouts`.

Opening is lazy: discovery lists files and never decodes pixels (DICOM headers are parsed to tell
series apart). Nothing is ever written into a dataset folder.
"""

from __future__ import annotations

import os
from pathlib import Path
from typing import Callable

from curator.core.data.cases import Case, Dataset, DatasetError, Problem
from curator.core.data.layouts.dicom import discover_dicom
from curator.core.data.layouts.isic import discover_isic
from curator.core.data.layouts.lits import discover_lits
from curator.core.data.layouts.msd import discover_msd
from curator.core.data.layouts.pairs import discover_pairs
from curator.core.data.layouts.ph2 import discover_ph2
from curator.core.data.scan import SCAN_PROBLEMS, natural_key

# ----------------------------------------------------------------------------------------------
# Layout discovery

LAYOUTS = ("ph2", "isic", "msd", "lits", "dicom", "pairs")
DISCOVER_BY_LAYOUT: dict[str, Callable[[Path], Dataset | None]] = {
    "ph2": discover_ph2,
    "isic": discover_isic,
    "msd": discover_msd,
    "lits": discover_lits,
    "dicom": discover_dicom,
    "pairs": discover_pairs,
}


def open_dataset(path: str | os.PathLike, *, layout: str | None = None) -> Dataset:
    """Discover the cases of a dataset folder (lazy: no pixels are read).

    ``layout`` forces one of :data:`LAYOUTS`; by default it is detected. Raises
    :class:`DatasetError` when the folder is missing, empty or holds no recognisable cases.
    """
    root = Path(path).expanduser().resolve()
    if not root.exists():
        raise DatasetError(f"{root}: no such folder")
    if root.is_file():
        raise DatasetError(f"{root}: is a file; give the dataset folder")
    try:
        entries = [p for p in root.iterdir() if not p.name.startswith(".")]
    except PermissionError as exc:
        raise DatasetError(f"{root}: cannot list folder ({exc.strerror})") from exc
    if not entries:
        raise DatasetError(f"{root}: the folder is empty")
    order = [layout] if layout else ["msd", "lits", "ph2", "isic", "pairs", "dicom"]
    found: list[Problem] = []
    token = SCAN_PROBLEMS.set(found)
    try:
        for name in order:
            if name not in DISCOVER_BY_LAYOUT:
                raise DatasetError(f"unknown layout '{name}'; choose from {', '.join(LAYOUTS)}")
            del found[:]
            try:
                ds = DISCOVER_BY_LAYOUT[name](root)
            except OSError as exc:  # a folder vanished or became unreadable while it was listed
                raise DatasetError(f"{root}: cannot list the dataset ({exc.strerror or exc}: "
                                   f"{getattr(exc, 'filename', '') or ''})") from exc
            if ds is not None and (ds.cases or layout):
                ds.cases.sort(key=lambda c: natural_key(c.id))
                _dedupe_ids(ds.cases)
                ds.problems += [p for p in found if p.message not in {q.message for q in ds.problems}]
                return ds
    finally:
        SCAN_PROBLEMS.reset(token)
    unreadable = "".join(f"; {p.message}" for p in found if p.code == "unreadable_folder")
    raise DatasetError(
        f"{root}: no image/mask cases found{unreadable}. Supported layouts: PH2, ISIC (ISIC_x.jpg + "
        "ISIC_x_segmentation.png), image and mask folders with matching names, Medical Segmentation "
        "Decathlon (imagesTr/labelsTr), LiTS (volume-N / segmentation-N) and DICOM series with masks."
    )


def _dedupe_ids(cases: list[Case]) -> None:
    seen: dict[str, int] = {}
    for c in cases:
        if c.id in seen:
            seen[c.id] += 1
            c.id = f"{c.id}~{seen[c.id]}"
        else:
            seen[c.id] = 0
