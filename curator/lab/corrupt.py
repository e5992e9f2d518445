"""Write a copy of a dataset with deliberately wrong masks (``curator corrupt``).

The copy keeps the source's layout, file names and formats; a chosen fraction of the cases get a
mask deteriorated by :func:`curator.lab.noise.corrupt_mask`, the rest are copied unchanged.
``OUT/corruption.csv`` (``case_id,corrupted,noise,dice_to_original``) says which, and
``OUT/corruption.json`` records the parameters. The source is only read.
"""

from __future__ import annotations

import json
import os
import shutil
import zlib
from pathlib import Path
from typing import Generator, NamedTuple, Sequence

import numpy as np

from curator import __version__
from curator.core.data.discover import open_dataset
from curator.core.errors import CuratorError
from curator.core.io.files import atomic_write, write_csv
from curator.core.io.types import ReadError
from curator.core.jobs import Progress
from curator.core.metrics import dice
from curator.lab.noise import NOISE_KINDS, corrupt_mask

__all__ = ["iter_corrupt_dataset", "case_rng", "CorruptError", "CorruptionRow"]


class CorruptError(CuratorError):
    """The corruption job cannot start (bad arguments, output in the way, unreadable source)."""


def case_rng(seed: int, case_id: str) -> np.random.Generator:
    """A generator that depends only on the seed and the case id (adding cases changes nothing else)."""
    return np.random.default_rng([int(seed), zlib.crc32(case_id.encode("utf-8"))])


def _inside(a: Path, b: Path) -> bool:
    try:
        a.relative_to(b)
        return True
    except ValueError:
        return False


class CorruptionRow(NamedTuple):
    """One line of ``corruption.csv``: ``corrupted`` 1 or 0; ``noise`` the kind applied, ``""`` for
    a case copied unchanged, ``failed`` for one that could not be read; ``dice_to_original`` as
    written (6 decimals; ``1.0`` unchanged; empty when failed)."""

    case_id: str
    corrupted: int
    noise: str
    dice_to_original: str


def iter_corrupt_dataset(
    src,
    out,
    *,
    noise: str = "polygon3",
    fraction: float = 1.0,
    seed: int = 0,
    mode: str = "auto",
    beta: float = 0.5,
    overwrite: bool = False,
    link_images: bool = False,
    cases: Sequence[str] | None = None,
) -> Generator[Progress, None, Path]:
    """Copy dataset ``src`` to ``out`` with ``fraction`` of its masks deteriorated by ``noise``.

    Cases whose mask cannot be read are copied as they are and reported (``noise = failed``).
    ``link_images`` symlinks unchanged files instead of copying them (large 3D sets). ``beta``:
    the share of the foreground the ``li`` noise changes. ``cases``: copy only these cases (a
    subsample; the copy is a dataset of its own). Returns the path of ``corruption.csv``.
    """
    if noise not in NOISE_KINDS:
        raise CorruptError(f"unknown noise kind '{noise}'; choose from {', '.join(NOISE_KINDS)}")
    if not 0.0 <= fraction <= 1.0:
        raise CorruptError(f"--fraction must be between 0 and 1, got {fraction}")
    ds = _open_source(src, cases)
    out = _empty_output(Path(out).expanduser().resolve(), ds.root, overwrite)
    yield Progress(0, None, f"checking {len(ds)} cases")
    ds.check()
    usable = [c for c in ds.cases if c.ok and c.mask is not None]
    rng = np.random.default_rng(int(seed))
    n_pick = int(round(fraction * len(usable)))
    picked = set(rng.choice(len(usable), size=n_pick, replace=False).tolist()) if n_pick else set()
    chosen = {usable[i].id for i in picked}
    rewritten = {c.mask.resolve() for c in usable if c.id in chosen}
    yield from _iter_copy_unchanged(ds, out, rewritten, subsample=cases is not None, link=link_images)
    rows = []
    total = len(ds.cases)
    for i, case in enumerate(ds.cases):
        yield Progress(i, total, f"{case.id}")
        if case.mask is None or not case.ok:
            reason = "; ".join(p.message for p in case.problems) or "no mask"
            rows.append(CorruptionRow(case.id, 0, "failed", ""))
            yield Progress(i, total, f"{case.id}: skipped ({reason})")
            continue
        if case.id not in chosen:
            rows.append(CorruptionRow(case.id, 0, "", "1.0"))
            continue
        try:
            rows.append(_corrupt_case(case, out, noise, case_rng(seed, case.id), usable, mode=mode, beta=beta))
        except (ReadError, ValueError, OSError) as exc:
            _copy_mask(case, out)  # keep the copy complete: the original mask back, and a report
            rows.append(CorruptionRow(case.id, 0, "failed", ""))
            yield Progress(i, total, f"{case.id}: failed ({exc})")
    csv_path = out / "corruption.csv"
    write_csv(csv_path, list(CorruptionRow._fields), rows)
    atomic_write(out / "corruption.json", json.dumps({
        "source": str(ds.root), "layout": ds.layout, "noise": noise, "fraction": fraction, "seed": seed,
        "mode": mode, "beta": beta if noise == "li" else None, "cases": len(ds.cases), "corrupted": len(chosen), "mask_curator": __version__,
    }, indent=2))
    yield Progress(total, total, f"{len(chosen)} of {total} masks corrupted")
    return csv_path


def _open_source(src, cases: Sequence[str] | None):
    """The source dataset, reduced to ``cases`` when given (each must be there)."""
    ds = open_dataset(src)
    if cases is not None:
        keep = set(cases)
        missing = keep - {c.id for c in ds.cases}
        if missing:
            raise CorruptError(f"no case(s) {', '.join(sorted(missing)[:5])} in {ds.root}")
        ds.cases = [c for c in ds.cases if c.id in keep]
    return ds


def _empty_output(out: Path, src_root: Path, overwrite: bool) -> Path:
    """``out``, made empty (with ``overwrite``) and outside the source, where originals live."""
    if _inside(out, src_root) or _inside(src_root, out):
        raise CorruptError(f"the output {out} must lie outside the source dataset {src_root} (originals are never written)")
    if out.exists() and any(out.iterdir()):
        if not overwrite:
            raise CorruptError(f"{out} exists and is not empty; choose another folder or pass --overwrite")
        shutil.rmtree(out)
    out.mkdir(parents=True, exist_ok=True)
    return out


def _iter_copy_unchanged(ds, out: Path, rewritten: set[Path], *, subsample: bool, link: bool) -> Generator[Progress, None, None]:
    """Copy (or ``link``) every file of the source except the masks that will be rewritten; a
    ``subsample`` copies its cases' own files and the dataset's manifests (dataset.json and the like)."""
    src_root = ds.root
    if not subsample:
        files = [p for p in src_root.rglob("*") if p.is_file() and p.resolve() not in rewritten]
    else:
        own = {g for c in ds.cases for f in (c.image, c.mask) if f is not None
               for g in ((p for p in f.rglob("*") if p.is_file()) if f.is_dir() else (f,))}
        files = sorted({f for f in own if f.resolve() not in rewritten and _inside(f, src_root)}
                       | {p for p in src_root.iterdir() if p.is_file() and p.suffix.lower() in (".json", ".txt", ".csv")})
    for i, p in enumerate(files):
        if i % 50 == 0:
            yield Progress(0, None, f"copying files ({i}/{len(files)})")
        dest = out / p.relative_to(src_root)
        dest.parent.mkdir(parents=True, exist_ok=True)
        if link:
            os.symlink(p.resolve(), dest)
        else:
            shutil.copy2(p, dest)
    # masks kept outside the source folder (a DICOM series' sibling NIfTI) travel with the copy
    for c in ds.cases:
        if c.mask is not None and c.mask_rel.startswith("..") and c.mask.resolve() not in rewritten:
            shutil.copy2(c.mask, out / c.mask_dest_rel())


def _corrupt_case(case, out: Path, noise: str, rng: np.random.Generator, usable, *, mode: str,
                  beta: float) -> CorruptionRow:
    """Write ``case``'s mask deteriorated by ``noise`` into the copy."""
    image_info = case.image_info()
    original = case.read_mask()
    scale = image_info.geometry.scale if case.ndim == 3 else None
    image = other = None
    if noise in ("annotator", "add_neighbour") and case.ndim == 2:
        image = case.read_image().array  # the neighbouring structure follows the image's edges
    if noise in ("annotator", "other_case"):
        others = [c for c in usable if c.id != case.id]
        if others:
            other = others[int(rng.integers(len(others)))].read_mask().array
    noisy, applied = corrupt_mask(original.array, noise, rng, mode=mode, scale=scale, beta=beta, image=image,
                                  other=other)
    noisy = noisy.astype(original.array.dtype)
    case.write_mask(noisy, out, original=original)
    return CorruptionRow(case.id, 1, applied, f"{dice(original.array, noisy):.6f}")


def _copy_mask(case, out: Path) -> None:
    dest = out / case.mask_dest_rel()
    dest.parent.mkdir(parents=True, exist_ok=True)
    shutil.copy2(case.mask, dest)
