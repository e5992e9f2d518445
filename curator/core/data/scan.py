"""Listing dataset folders: file names, ids, walking, and the problems met while listing.

Listing never decodes pixels and never writes into a dataset folder. An unreadable folder is a
problem recorded for the dataset (:func:`scan_problem`), not an error.
"""

from __future__ import annotations

import contextvars
import os
import re
from pathlib import Path
from typing import Iterator

from curator.core.data.cases import Case, Problem, rel_path
from curator.core.io.types import IMAGE_2D_SUFFIXES, VOLUME_SUFFIXES


def file_stem(path: Path) -> str:
    name = path.name
    low = name.lower()
    for suf in (".nii.gz", ".nii", ".nrrd", ".nhdr", ".mha", ".mhd", *IMAGE_2D_SUFFIXES, ".dcm"):
        if low.endswith(suf):
            return name[: -len(suf)]
    return path.stem


def is_image_file(p: Path, *, volumes: bool = True) -> bool:
    """An image or volume file by its name: a file, or a symbolic link whose target is missing
    or loops (kept, so that reading it says what is wrong instead of the case losing a file)."""
    low = p.name.lower()
    if p.name.startswith(".") or not (low.endswith(IMAGE_2D_SUFFIXES) or (volumes and low.endswith(VOLUME_SUFFIXES))):
        return False
    try:
        return p.is_file() or (p.is_symlink() and not p.exists())
    except OSError:
        return p.is_symlink()


def list_folder(folder: Path) -> list[Path]:
    """The entries of a folder, sorted; an unreadable folder is reported (see :func:`scan_problem`)
    and lists nothing."""
    try:
        return sorted(folder.iterdir())
    except OSError as exc:
        scan_problem("unreadable_folder", f"{folder}: cannot read this folder ({exc.strerror or exc})")
        return []


def is_dir(p: Path) -> bool:
    try:
        return p.is_dir()
    except OSError:
        return False


SCAN_PROBLEMS: "contextvars.ContextVar[list[Problem] | None]" = contextvars.ContextVar("curator_scan_problems", default=None)


def scan_problem(code: str, message: str, severity: str = "warning") -> None:
    """Record a problem met while listing folders (attached to the dataset by :func:`open_dataset`)."""
    found = SCAN_PROBLEMS.get()
    if found is not None and not any(p.message == message for p in found):
        found.append(Problem(code, message, severity))


def ndim_of(p: Path) -> int:
    return 2 if p.name.lower().endswith(IMAGE_2D_SUFFIXES) else 3


def natural_key(s: str):
    return [int(t) if t.isdigit() else t.lower() for t in re.split(r"(\d+)", s)]




def walk(root: Path, max_depth: int = 4) -> Iterator[Path]:
    """Files under root (skipping hidden entries), breadth-first to ``max_depth``. Symbolic links
    are followed, but a folder already visited (a link loop, or two links to one folder) is
    listed once; unreadable folders are reported, not fatal."""
    stack = [(root, 0)]
    seen: set[tuple[int, int]] = set()
    while stack:
        d, depth = stack.pop(0)
        try:
            st = os.stat(d)
            key = (st.st_dev, st.st_ino)
            if key in seen:
                continue
            seen.add(key)
            entries = sorted(os.scandir(d), key=lambda e: e.name)
        except OSError as exc:
            scan_problem("unreadable_folder", f"{rel_path(Path(d), root)}: cannot read this folder "
                          f"({exc.strerror or exc})")
            continue
        for e in entries:
            if e.name.startswith(".") or e.name == "__MACOSX":
                continue
            try:
                is_dir = e.is_dir(follow_symlinks=True)
                is_file = not is_dir and e.is_file(follow_symlinks=True)
            except OSError:  # a symbolic link loop
                is_dir, is_file = False, False
            if is_dir:
                if depth < max_depth:
                    stack.append((Path(e.path), depth + 1))
            elif is_file or e.is_symlink():
                yield Path(e.path)


# -- PH2 -----------------------------------------------------------------------------------------



def all_existing(folder: Path, stem: str, suffixes) -> list[Path]:
    if not is_dir(folder):
        return []
    return [p for p in list_folder(folder) if is_image_file(p, volumes=False) and file_stem(p).lower() == stem.lower()
            and p.name.lower().endswith(tuple(suffixes))]


def note_ambiguous(case: Case, images: list[Path], masks: list[Path], root: Path) -> None:
    """Two files that could each be the case's image (or mask), e.g. ``a.bmp`` and ``a.png``: no
    silent choice, the case is an error until one is removed."""
    if len(images) > 1:
        case.add_problem("ambiguous_image", f"{len(images)} image files for one case: "
                         f"{', '.join(rel_path(p, root) for p in images)}; remove or rename all but one")
    if len(masks) > 1:
        case.add_problem("ambiguous_mask", f"{len(masks)} mask files for one case: "
                         f"{', '.join(rel_path(p, root) for p in masks)}; remove or rename all but one")


# -- ISIC ----------------------------------------------------------------------------------------



def path_inside(root: Path, rel: str) -> tuple[Path, bool]:
    """``root / rel`` normalised (without following links) and whether it stays inside ``root``."""
    p = Path(os.path.normpath(root / str(rel)))
    try:
        p.relative_to(root)
        return p, True
    except ValueError:
        return p, False




def volume_files(folder: Path) -> list[Path]:
    return [p for p in list_folder(folder) if is_image_file(p) and p.name.lower().endswith(VOLUME_SUFFIXES)]
