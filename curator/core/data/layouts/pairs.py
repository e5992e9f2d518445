"""Image and mask folders with matching file stems, or ``x.png`` + ``x_mask.png`` in one folder."""

from __future__ import annotations

import re
from pathlib import Path

from curator.core.data.cases import Case, Dataset, Problem, rel_path
from curator.core.data.names import MASK_SUFFIXES, is_image_dir, is_mask_dir, name_words
from curator.core.data.scan import file_stem, is_dir, is_image_file, list_folder, ndim_of, note_ambiguous


def match_stems(images: list[Path], masks: list[Path]) -> tuple[list[tuple[Path, Path | None]], list[Path]]:
    """Pair images with masks whose stem equals the image's, extends it (``x`` ↔ ``x_mask``,
    ``x_liver_000``) or is extended by a channel suffix (nnU-Net ``x_0000`` ↔ ``x``)."""
    pairs, unmatched, _ = _match_stems_all(images, masks)
    return pairs, unmatched


def _match_stems_all(images: list[Path], masks: list[Path]):
    """:func:`match_stems`, and for each image the other files that could equally be its image
    or its mask (same stem, another format: ``a.bmp`` beside ``a.png``)."""
    by_stem: dict[str, list[Path]] = {}
    for m in masks:
        by_stem.setdefault(file_stem(m).lower(), []).append(m)
    img_stems: dict[str, list[Path]] = {}
    for img in images:
        img_stems.setdefault(file_stem(img).lower(), []).append(img)
    used: set[Path] = set()
    pairs = []
    rivals: dict[Path, tuple[list[Path], list[Path]]] = {}
    mask_stems = sorted(by_stem)
    for st, group in img_stems.items():
        img = group[0]
        exact = [c for c in by_stem.get(st, []) if c not in used and c not in group]
        cand = list(exact)
        if not cand:
            cand = [m for s in mask_stems if s.startswith(st) and s[len(st):len(st) + 1] in "_-."
                    and len(s) > len(st) for m in by_stem[s]]
        if not cand:
            base = re.sub(r"_\d{4}$", "", st)
            cand = list(by_stem.get(base, [])) if base != st else []
        cand = [c for c in cand if c not in used and c not in group]
        same = []
        if len(cand) > 1:  # prefer a conventional mask suffix when several extend the stem
            preferred = [c for c in cand if file_stem(c).lower()[len(st):] in MASK_SUFFIXES]
            pool = preferred or cand
            first = sorted(pool, key=lambda p: (len(file_stem(p)), p.name))[0]
            same = [c for c in pool if file_stem(c).lower() == file_stem(first).lower()]  # a.png and a.bmp
            cand = [first]
        mask = cand[0] if cand else None
        if mask is not None:
            used.add(mask)
            used.update(same)
        pairs.append((img, mask))
        rivals[img] = (group, same if len(same) > 1 else ([mask] if mask is not None else []))
    unmatched = [m for m in masks if m not in used]
    return pairs, unmatched, rivals


def _pair_cases(pairs, rivals, layout: str, root: Path) -> list[Case]:
    cases = []
    for i, m in pairs:
        case = Case(file_stem(i), i, m, layout, ndim_of(i), root)
        imgs, ms = rivals.get(i, ([i], [m] if m else []))
        note_ambiguous(case, imgs, ms, root)
        cases.append(case)
    return cases


def discover_pairs(root: Path) -> Dataset | None:
    # 1) an image folder and a mask folder side by side (root itself or one level down)
    for base in [root] + [p for p in list_folder(root) if is_dir(p) and not p.name.startswith(".")]:
        subdirs = [p for p in list_folder(base) if is_dir(p) and not p.name.startswith(".")] if is_dir(base) else []
        img_dirs = [d for d in subdirs if is_image_dir(d.name)]
        mask_dirs = [d for d in subdirs if is_mask_dir(d.name)]
        if not img_dirs or not mask_dirs:
            continue
        img_dir, mask_dir = _best_dir_pair(img_dirs, mask_dirs)
        images = [p for p in list_folder(img_dir) if is_image_file(p)]
        masks = [p for p in list_folder(mask_dir) if is_image_file(p)]
        if not images:
            continue
        pairs, unmatched, rivals = _match_stems_all(images, masks)
        if not any(m for _, m in pairs):
            continue
        cases = _pair_cases(pairs, rivals, "pairs", root)
        ds = Dataset(root, "pairs", cases, meta={"image_dir": rel_path(img_dir, root), "mask_dir": rel_path(mask_dir, root)})
        ds.problems += [Problem("orphan_mask", f"mask {rel_path(p, root)} has no image", "warning") for p in unmatched]
        for d in img_dirs + mask_dirs:
            if d in (img_dir, mask_dir):
                continue
            n = sum(1 for p in list_folder(d) if is_image_file(p))
            if n:
                kind = "image" if d in img_dirs else "mask"
                ds.problems.append(Problem(
                    "ignored_folder", f"folder {rel_path(d, root)} also holds {n} {kind} file(s) and was not read "
                    f"(this dataset pairs {rel_path(img_dir, root)} with {rel_path(mask_dir, root)}); open it as a "
                    "dataset of its own, or move its files", "warning"))
        return ds
    # 2) x.png + x_mask.png in one folder
    files = [p for p in list_folder(root) if is_image_file(p)]
    masks = [p for p in files if file_stem(p).lower().endswith(MASK_SUFFIXES)]
    if not masks:
        return None
    images = [p for p in files if p not in masks]
    pairs, unmatched, rivals = _match_stems_all(images, masks)
    if not any(m for _, m in pairs):
        return None
    cases = _pair_cases(pairs, rivals, "pairs", root)
    ds = Dataset(root, "pairs", cases)
    ds.problems += [Problem("orphan_mask", f"mask {rel_path(p, root)} has no image", "warning") for p in unmatched]
    return ds


def _best_dir_pair(img_dirs: list[Path], mask_dirs: list[Path]) -> tuple[Path, Path]:
    """Pick the image/mask folders that share the most name words (``test_images`` ↔ ``test_masks``)."""
    best, score = (img_dirs[0], mask_dirs[0]), -1
    for i in img_dirs:
        for m in mask_dirs:
            s = len(name_words(i.name) & name_words(m.name))
            if s > score:
                best, score = (i, m), s
    return best


# -- DICOM ---------------------------------------------------------------------------------------
