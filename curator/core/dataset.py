"""Open a dataset folder and discover its cases (image + mask pairs) by layout.

Layouts: ``ph2`` (the PH2 database's own folders), ``isic`` (``ISIC_x.jpg`` +
``ISIC_x_segmentation.png``, one folder or separate image and mask folders), ``msd`` (Medical
Segmentation Decathlon / nnU-Net: ``imagesTr/``, ``labelsTr/``, ``dataset.json``), ``lits``
(``volume-N.nii`` + ``segmentation-N.nii``), ``dicom`` (DICOM series with a DICOM SEG or a
NIfTI/NRRD mask beside them) and ``pairs`` (image and mask folders with matching file stems, or
``x.png`` + ``x_mask.png`` in one folder).

Opening is lazy: discovery lists files and never decodes pixels (DICOM headers are parsed to tell
series apart). :meth:`Dataset.check` reads headers (and, with ``deep=True``, the voxels) and
records problems per case with a clear reason; a bad case never stops the rest from opening.
Nothing is ever written into a dataset folder.
"""

from __future__ import annotations

import contextvars
import json
import os
import re
from dataclasses import dataclass, field
from pathlib import Path
from typing import Callable, Iterator

import numpy as np

from .io import (
    IMAGE_2D_SUFFIXES,
    VOLUME_SUFFIXES,
    ImageData,
    ImageInfo,
    ReadError,
    format_of,
    is_dicom_file,
    read_image,
    read_info,
    read_mask,
)

__all__ = ["Problem", "Case", "Dataset", "open_dataset", "LAYOUTS", "DatasetError"]

LAYOUTS = ("ph2", "isic", "msd", "lits", "dicom", "pairs")
_MASK_WORDS = ("mask", "masks", "label", "labels", "seg", "segs", "segmentation", "segmentations", "gt",
               "groundtruth", "ground_truth", "truth", "annotation", "annotations", "lesion", "labelstr",
               "target", "targets")
_IMAGE_WORDS = ("image", "images", "img", "imgs", "input", "inputs", "imagestr", "data", "scan", "scans",
                "volume", "volumes", "photo", "photos")
_MASK_SUFFIXES = ("_segmentation", "_seg", "_mask", "_label", "_labels", "_gt", "_lesion", "-seg", "-mask",
                  "-label", "_annotation")


class DatasetError(Exception):
    """The folder cannot be opened as a dataset at all (missing, empty, no layout recognised)."""


@dataclass(frozen=True)
class Problem:
    """Something wrong with a case or a dataset. ``severity``: ``error`` (the case cannot be used)
    or ``warning`` (usable; worth a look)."""

    code: str
    message: str
    severity: str = "error"

    def to_json(self) -> dict:
        return {"code": self.code, "severity": self.severity, "message": self.message}

    def __str__(self) -> str:
        return f"{self.severity}: {self.message}"


@dataclass
class Case:
    """One image with its mask. Paths are absolute; ``image`` may be a DICOM series folder."""

    id: str
    image: Path
    mask: Path | None
    layout: str
    ndim: int
    root: Path
    problems: list[Problem] = field(default_factory=list)
    meta: dict = field(default_factory=dict)
    _image_info: ImageInfo | None = field(default=None, repr=False)
    _mask_info: ImageInfo | None = field(default=None, repr=False)

    # -- paths ---------------------------------------------------------------------------------
    @property
    def image_rel(self) -> str:
        return _rel(self.image, self.root)

    @property
    def mask_rel(self) -> str | None:
        return _rel(self.mask, self.root) if self.mask is not None else None

    @property
    def mask_format(self) -> str | None:
        if self.mask is None:
            return None
        return "dicom-seg" if self.meta.get("mask_kind") == "seg" else format_of(self.mask)

    @property
    def ok(self) -> bool:
        """No error-level problem recorded so far."""
        return not any(p.severity == "error" for p in self.problems)

    def add_problem(self, code: str, message: str, severity: str = "error") -> None:
        if not any(p.code == code and p.message == message for p in self.problems):
            self.problems.append(Problem(code, message, severity))

    # -- headers ---------------------------------------------------------------------------------
    def image_info(self) -> ImageInfo:
        if self._image_info is None:
            self._refuse()
            series = self.meta.get("series")
            if series is not None:
                from .io import check_size

                check_size(self.image, series.info.shape)
                self._image_info = series.info
            else:
                self._image_info = read_info(self.image)
        return self._image_info

    def mask_info(self) -> ImageInfo | None:
        if self.mask is None:
            return None
        if self._mask_info is None:
            if self.meta.get("mask_problem"):
                raise ReadError(self.meta["mask_problem"])
            if self.meta.get("mask_kind") == "seg":
                self._mask_info = self.image_info()  # SEG objects are aligned to their series on read
            else:
                self._mask_info = read_info(self.mask)
        return self._mask_info

    @property
    def shape(self) -> tuple[int, ...]:
        return self.image_info().shape

    @property
    def spacing(self) -> tuple[float, ...]:
        return self.image_info().geometry.spacing

    # -- pixels ----------------------------------------------------------------------------------
    def _refuse(self) -> None:
        if self.meta.get("refused"):
            raise ReadError(self.meta["refused"], "outside_dataset")

    def read_image(self) -> ImageData:
        """The image: ``(Y, X[, C])`` or ``(Z, Y, X)``."""
        self._refuse()
        series = self.meta.get("series")
        if series is not None:
            from .dicom import read_dicom_image

            return read_dicom_image(self.image, series=series)
        return read_image(self.image)

    def read_mask(self, image: ImageData | None = None) -> ImageData:
        """The mask as a label map on the image's grid (``(Y, X)`` / ``(Z, Y, X)``).

        A mask stored with flipped or permuted axes relative to its image is moved onto the image
        grid exactly (``meta['axis_map']`` records how, so writers can store it back the same way).
        """
        self._refuse()
        if self.mask is None:
            raise ReadError(f"{self.id}: no mask")
        ref = image if image is not None else self.image_info()
        declared = self.meta.get("declared_labels")
        if self.meta.get("mask_kind") == "seg":
            return read_mask(self.mask, reference=ref, declared=declared)
        mask = read_mask(self.mask, declared=declared)
        return align_mask(mask, ref, self.mask_rel or self.id)

    def mask_dest_rel(self) -> str:
        """Where this case's mask belongs, relative to a dataset root of the same layout: the
        original's place, or the layout's conventional place for a case that had none."""
        if self.mask is not None:
            rel = self.mask_rel
            return self.mask.name if rel.startswith("..") else rel
        img = Path(self.image_rel)
        if self.layout == "ph2":
            return (img.parent.parent / f"{self.id}_lesion" / f"{self.id}_lesion.bmp").as_posix()
        if self.layout == "isic":
            return (img.parent / f"{self.id}_segmentation.png").as_posix()
        if self.layout == "msd":
            return f"labelsTr/{self.id}.nii.gz"
        if self.layout == "lits":
            return (img.parent / img.name.replace("volume-", "segmentation-")).as_posix()
        if self.layout == "dicom":
            return (img / f"{self.id}_seg.dcm").as_posix() if img.as_posix() != "." else f"{self.id}_seg.dcm"
        suffix = ".png" if self.ndim == 2 else ".nii.gz"
        return (img.parent / f"{self.id}_mask{suffix}").as_posix()

    def write_mask(self, labels: np.ndarray, out_root: str | os.PathLike, *, original: ImageData | None = None,
                   deidentify: bool = False) -> Path:
        """Write ``labels`` (on the image grid, as :meth:`read_mask` returns) as this case's mask
        under ``out_root``, with the original's relative path, format, value encoding and grid
        (NIfTI header, flipped axes, DICOM SEG segment descriptions). Atomic. ``deidentify``: a
        DICOM SEG leaves the patient's identity out (see :func:`curator.core.dicom.write_seg`)."""
        from dataclasses import replace

        from .grid import from_grid
        from .io import write_mask

        dest = Path(out_root) / self.mask_dest_rel()
        labels = np.asarray(labels)
        if self.meta.get("mask_kind") == "seg" or (self.mask is None and self.layout == "dicom"):
            from .dicom import write_seg

            return write_seg(dest, labels, self.meta["series"], like=self.mask, deidentify=deidentify)
        if original is None and self.mask is not None:
            original = self.read_mask()
        like = original
        if original is not None and original.meta.get("axis_map") is not None:
            labels = from_grid(labels, original.meta["axis_map"])
            like = replace(original, geometry=original.meta["source_geometry"])
        geometry = None
        if like is None and self.ndim == 3:
            geometry = self.image_info().geometry
        return write_mask(dest, labels, like=like, geometry=geometry)

    def to_json(self) -> dict:
        info = self._image_info
        out = {
            "id": self.id,
            "image": str(self.image),
            "mask": str(self.mask) if self.mask is not None else None,
            "ndim": self.ndim,
            "shape": list(info.shape) if info else None,
            "spacing": [round(float(s), 6) for s in info.geometry.spacing] if info else None,
            "problems": [p.to_json() for p in self.problems],
        }
        if info is not None and info.channels > 1:
            out["channels"] = info.channels
        if self.meta.get("mask_kind"):
            out["mask_kind"] = self.meta["mask_kind"]
        return out


def align_mask(mask: ImageData, ref: ImageData | ImageInfo, case_id: str = "") -> ImageData:
    """Put a mask on its image's grid, exactly, or raise :class:`ReadError` saying how they differ."""
    from dataclasses import replace

    from .grid import axis_map, describe_mismatch, to_grid

    ref_shape = tuple(ref.spatial_shape) if isinstance(ref, ImageData) else tuple(ref.shape)
    if mask.ndim != len(ref_shape):
        raise ReadError(f"{case_id}: mask is {mask.ndim}-D but the image is {len(ref_shape)}-D", "shape_mismatch")
    if mask.ndim == 2:
        if tuple(mask.array.shape) != ref_shape:
            raise ReadError(f"{case_id}: mask shape {mask.array.shape} does not match image shape {ref_shape}",
                            "shape_mismatch")
        return mask
    amap = axis_map(mask.geometry, mask.array.shape, ref.geometry, ref_shape)
    if amap is None:
        raise ReadError(
            f"{case_id}: mask and image grids differ ({describe_mismatch(mask.geometry, mask.array.shape, ref.geometry, ref_shape)})",
            "geometry_mismatch")
    if amap.is_identity:
        return mask
    meta = dict(mask.meta, axis_map=amap, source_geometry=mask.geometry)
    return replace(mask, array=to_grid(mask.array, amap), geometry=ref.geometry, meta=meta)


def _rel(path: Path, root: Path) -> str:
    try:
        return path.relative_to(root).as_posix()
    except ValueError:
        return os.path.relpath(path, root).replace(os.sep, "/")


def _stem(path: Path) -> str:
    name = path.name
    low = name.lower()
    for suf in (".nii.gz", ".nii", ".nrrd", ".nhdr", ".mha", ".mhd", *IMAGE_2D_SUFFIXES, ".dcm"):
        if low.endswith(suf):
            return name[: -len(suf)]
    return path.stem


def _is_image_file(p: Path, *, volumes: bool = True) -> bool:
    """An image or volume file by its name: a file, or a symbolic link whose target is missing
    or loops (kept, so that reading it says what is wrong instead of the case losing a file)."""
    low = p.name.lower()
    if p.name.startswith(".") or not (low.endswith(IMAGE_2D_SUFFIXES) or (volumes and low.endswith(VOLUME_SUFFIXES))):
        return False
    try:
        return p.is_file() or (p.is_symlink() and not p.exists())
    except OSError:
        return p.is_symlink()


def _listdir(folder: Path) -> list[Path]:
    """The entries of a folder, sorted; an unreadable folder is reported (see :func:`_scan_problem`)
    and lists nothing."""
    try:
        return sorted(folder.iterdir())
    except OSError as exc:
        _scan_problem("unreadable_folder", f"{folder}: cannot read this folder ({exc.strerror or exc})")
        return []


def _is_dir(p: Path) -> bool:
    try:
        return p.is_dir()
    except OSError:
        return False


_SCAN: "contextvars.ContextVar[list[Problem] | None]" = contextvars.ContextVar("curator_scan_problems", default=None)


def _scan_problem(code: str, message: str, severity: str = "warning") -> None:
    """Record a problem met while listing folders (attached to the dataset by :func:`open_dataset`)."""
    found = _SCAN.get()
    if found is not None and not any(p.message == message for p in found):
        found.append(Problem(code, message, severity))


def _ndim_of(p: Path) -> int:
    return 2 if p.name.lower().endswith(IMAGE_2D_SUFFIXES) else 3


def _natural_key(s: str):
    return [int(t) if t.isdigit() else t.lower() for t in re.split(r"(\d+)", s)]


# ----------------------------------------------------------------------------------------------
# Dataset


@dataclass
class Dataset:
    """The cases of one dataset folder, in a stable order."""

    root: Path
    layout: str
    cases: list[Case]
    problems: list[Problem] = field(default_factory=list)
    label_names: dict[int, str] = field(default_factory=dict)
    meta: dict = field(default_factory=dict)

    def __len__(self) -> int:
        return len(self.cases)

    def __iter__(self) -> Iterator[Case]:
        return iter(self.cases)

    def __getitem__(self, case_id: str) -> Case:
        for c in self.cases:
            if c.id == case_id:
                return c
        raise KeyError(case_id)

    @property
    def ndim(self) -> int | None:
        dims = {c.ndim for c in self.cases}
        return dims.pop() if len(dims) == 1 else None

    def usable(self) -> list[Case]:
        """Cases with no error-level problem (call :meth:`check` first for header-level checks)."""
        return [c for c in self.cases if c.ok]

    def check(self, *, deep: bool = False, progress: Callable[[int, int, str], None] | None = None) -> None:
        """Read every case's headers (``deep``: also its pixels) and record what is wrong."""
        for i, case in enumerate(self.cases):
            check_case(case, deep=deep)
            if progress:
                progress(i + 1, len(self.cases), case.id)

    def to_json(self) -> dict:
        return {
            "root": str(self.root),
            "layout": self.layout,
            "ndim": self.ndim,
            "label_names": {str(k): v for k, v in self.label_names.items()},
            "cases": [c.to_json() for c in self.cases],
            "problems": [p.to_json() for p in self.problems],
        }


def _read_problem(exc: Exception, default: str) -> tuple[str, str]:
    """``(code, message)`` for a failure to read a file: the error's own code, else ``default``."""
    if isinstance(exc, ReadError):
        return exc.code or default, str(exc)
    if isinstance(exc, OSError):
        return default, f"{getattr(exc, 'filename', '') or ''}: {exc.strerror or exc}".lstrip(": ")
    return default, f"{type(exc).__name__}: {exc}"


def check_case(case: Case, *, deep: bool = False) -> None:
    """Record the case's problems: unreadable, truncated, empty or too large files, missing mask,
    shape or geometry mismatch; with ``deep``, also decode pixels (corrupt data, non-integer,
    stray, undeclared or empty masks; labels chosen for a grey mask). Every message names the file."""
    if case.meta.get("refused"):
        case.add_problem("outside_dataset", case.meta["refused"])
        return
    try:
        info = case.image_info()
    except Exception as exc:  # a library failing in an unexpected way is still a per-case problem
        case.add_problem(*_read_problem(exc, "unreadable_image"))
        return
    series = case.meta.get("series")
    if series is not None:
        for code, severity, message in series.problems:
            case.add_problem(code, f"{case.image_rel}: {message}" if not message.startswith(case.image_rel)
                             else message, severity)
    if case.mask is None:
        where = case.image.name if case.image_rel == "." else case.image_rel
        case.add_problem("missing_mask", f"no mask found for {where}")
        return
    try:
        minfo = case.mask_info()
    except Exception as exc:
        case.add_problem(*_read_problem(exc, "unreadable_mask"))
        return
    mname, iname = case.mask_rel, case.image_rel
    if minfo is not None and case.meta.get("mask_kind") != "seg":
        if minfo.channels > 1 and case.ndim == 3:
            case.add_problem("mask_not_labels", f"mask {mname} has {minfo.channels} components per voxel; "
                             "expected one label per voxel")
        if minfo.ndim != info.ndim:
            case.add_problem("shape_mismatch", f"mask {mname} is {minfo.ndim}-D but the image {iname} is {info.ndim}-D")
        elif case.ndim == 2 and minfo.shape != info.shape:
            case.add_problem(
                "shape_mismatch",
                f"mask {mname} is {minfo.shape[0]}x{minfo.shape[1]} but the image {iname} is "
                f"{info.shape[0]}x{info.shape[1]} (rows x columns)",
            )
        elif case.ndim == 3:
            from .grid import axis_map, describe_mismatch

            if axis_map(minfo.geometry, minfo.shape, info.geometry, info.shape) is None:
                code = "shape_mismatch" if sorted(minfo.shape) != sorted(info.shape) else "geometry_mismatch"
                case.add_problem(code, f"mask {mname} and image {iname} grids differ: " + describe_mismatch(
                    minfo.geometry, minfo.shape, info.geometry, info.shape))
        if minfo.dtype.startswith("float") and case.ndim == 3:
            deep = True  # only the voxels can tell whether a float mask holds integer labels
    if not deep or not case.ok:
        return
    try:
        image = case.read_image()
    except Exception as exc:
        case.add_problem(*_read_problem(exc, "unreadable_image"))
        return
    try:
        mask = case.read_mask(image)
    except Exception as exc:
        code, message = _read_problem(exc, "unreadable_mask")
        if code == "unreadable_mask" and "non-integer" in message:
            code = "non_integer_mask"
        case.add_problem(code, message)
        return
    if not np.any(mask.array):
        case.add_problem("empty_mask", f"mask {mname} is empty (no foreground)", "warning")
    elif np.all(mask.array):
        case.add_problem("full_mask", f"mask {mname} covers the whole image (no background)", "warning")
    note = mask.encoding.note if mask.encoding is not None else ""
    if note and "lossy or anti-aliased" in note:
        case.add_problem("lossy_mask", f"mask {mname}: {note}", "warning")
    elif note.startswith("grey values"):
        case.add_problem("grey_levels", f"mask {mname}: {note}", "warning")


# ----------------------------------------------------------------------------------------------
# Layout discovery


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
    token = _SCAN.set(found)
    try:
        for name in order:
            if name not in _DISCOVER:
                raise DatasetError(f"unknown layout '{name}'; choose from {', '.join(LAYOUTS)}")
            del found[:]
            try:
                ds = _DISCOVER[name](root)
            except OSError as exc:  # a folder vanished or became unreadable while it was listed
                raise DatasetError(f"{root}: cannot list the dataset ({exc.strerror or exc}: "
                                   f"{getattr(exc, 'filename', '') or ''})") from exc
            if ds is not None and (ds.cases or layout):
                ds.cases.sort(key=lambda c: _natural_key(c.id))
                _dedupe_ids(ds.cases)
                ds.problems += [p for p in found if p.message not in {q.message for q in ds.problems}]
                return ds
    finally:
        _SCAN.reset(token)
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


def _walk(root: Path, max_depth: int = 4) -> Iterator[Path]:
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
            _scan_problem("unreadable_folder", f"{_rel(Path(d), root)}: cannot read this folder "
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

_IMD = re.compile(r"^IMD\d+$", re.I)


def _discover_ph2(root: Path) -> Dataset | None:
    candidates = [root, root / "PH2 Dataset images", root / "PH2Dataset" / "PH2 Dataset images"]
    base = None
    for c in candidates:
        if _is_dir(c) and any(_IMD.match(p.name) and _is_dir(p) for p in _listdir(c)):
            base = c
            break
    if base is None:
        return None
    cases = []
    for d in [p for p in _listdir(base) if _is_dir(p) and _IMD.match(p.name)]:
        cid = d.name
        img_dir = d / f"{cid}_Dermoscopic_Image"
        les_dir = d / f"{cid}_lesion"
        images = _all_existing(img_dir, cid, IMAGE_2D_SUFFIXES)
        masks = _all_existing(les_dir, f"{cid}_lesion", IMAGE_2D_SUFFIXES)
        case = Case(cid, images[0] if images else img_dir / f"{cid}.bmp", masks[0] if masks else None, "ph2", 2, root)
        if not images:
            case.add_problem("missing_image", f"no dermoscopic image in {_rel(img_dir, root)}")
        _note_ambiguous(case, images, masks, root)
        cases.append(case)
    if not cases:
        return None
    ds = Dataset(root, "ph2", cases, label_names={1: "lesion"})
    return ds


def _all_existing(folder: Path, stem: str, suffixes) -> list[Path]:
    if not _is_dir(folder):
        return []
    return [p for p in _listdir(folder) if _is_image_file(p, volumes=False) and _stem(p).lower() == stem.lower()
            and p.name.lower().endswith(tuple(suffixes))]


def _note_ambiguous(case: Case, images: list[Path], masks: list[Path], root: Path) -> None:
    """Two files that could each be the case's image (or mask), e.g. ``a.bmp`` and ``a.png``: no
    silent choice, the case is an error until one is removed."""
    if len(images) > 1:
        case.add_problem("ambiguous_image", f"{len(images)} image files for one case: "
                         f"{', '.join(_rel(p, root) for p in images)}; remove or rename all but one")
    if len(masks) > 1:
        case.add_problem("ambiguous_mask", f"{len(masks)} mask files for one case: "
                         f"{', '.join(_rel(p, root) for p in masks)}; remove or rename all but one")


# -- ISIC ----------------------------------------------------------------------------------------

_ISIC_IMG = re.compile(r"^(ISIC_\d+)$", re.I)
_ISIC_MASK = re.compile(r"^(ISIC_\d+)_segmentation$", re.I)


def _discover_isic(root: Path) -> Dataset | None:
    images: dict[str, list[Path]] = {}
    masks: dict[str, list[Path]] = {}
    for p in _walk(root, 2):
        if not p.name.lower().endswith(IMAGE_2D_SUFFIXES):
            continue
        st = _stem(p)
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
        _note_ambiguous(case, imgs, ms, root)
        cases.append(case)
    ds = Dataset(root, "isic", cases, label_names={1: "lesion"})
    for cid in sorted(set(masks) - set(images)):
        ds.problems.append(Problem("orphan_mask", f"mask {_rel(masks[cid][0], root)} has no image", "warning"))
    return ds


# -- Medical Segmentation Decathlon / nnU-Net ----------------------------------------------------


def _inside(root: Path, rel: str) -> tuple[Path, bool]:
    """``root / rel`` normalised (without following links) and whether it stays inside ``root``."""
    p = Path(os.path.normpath(root / str(rel)))
    try:
        p.relative_to(root)
        return p, True
    except ValueError:
        return p, False


def _discover_msd(root: Path) -> Dataset | None:
    img_dir, lab_dir = root / "imagesTr", root / "labelsTr"
    if not _is_dir(img_dir) or not _is_dir(lab_dir):
        return None
    problems: list[Problem] = []
    meta: dict = {}
    label_names: dict[int, str] = {}
    declared = None
    spec_path = root / "dataset.json"
    pairs: list[tuple[Path, Path | None]] = []
    refused: dict[int, str] = {}
    if spec_path.is_file():
        try:
            spec = json.loads(spec_path.read_text())
            if not isinstance(spec, dict):
                raise TypeError("the file does not hold a JSON object")
            meta["dataset_json"] = {k: v for k, v in spec.items() if k not in ("training", "test")}
            labels = spec.get("labels", {})
            if isinstance(labels, dict):
                for k, v in labels.items():
                    if str(k).isdigit():  # MSD: {"0": "background", "1": "liver"}
                        label_names[int(k)] = str(v)
                    elif isinstance(v, int):  # nnU-Net v2: {"background": 0, "liver": 1}
                        label_names[int(v)] = str(k)
                if label_names:
                    declared = sorted(label_names)
            else:
                problems.append(Problem("bad_dataset_json", f"dataset.json: \"labels\" is a {type(labels).__name__}, "
                                        "not a mapping of values to names; label names ignored", "warning"))
            label_names.pop(0, None)
            training = spec.get("training", []) or []
            if not isinstance(training, list):
                problems.append(Problem("bad_dataset_json", f"dataset.json: \"training\" is a {type(training).__name__}, "
                                        "not a list; matching imagesTr and labelsTr by name", "warning"))
                training = []
            for item in training:
                if not isinstance(item, dict) or not item.get("image"):
                    continue
                img, img_in = _inside(root, item["image"])
                lab, lab_in = _inside(root, item["label"]) if item.get("label") else (None, True)
                if not (img_in and lab_in):
                    bad = item["image"] if not img_in else item["label"]
                    refused[len(pairs)] = (f"dataset.json lists {bad}, which is outside the dataset folder "
                                           f"{root}; refused (a dataset's files must lie inside it)")
                pairs.append((img, lab))
        except (ValueError, KeyError, TypeError) as exc:
            problems.append(Problem("bad_dataset_json", f"dataset.json unreadable ({exc}); matching files by name",
                                    "warning"))
            pairs = []
    else:
        problems.append(Problem("no_dataset_json", "no dataset.json; matching imagesTr and labelsTr by name",
                                "warning"))
    if not pairs:
        images = [p for p in _listdir(img_dir) if _is_image_file(p)]
        labels = [p for p in _listdir(lab_dir) if _is_image_file(p)]
        pairs, unmatched = _match_stems(images, labels)
        problems += [Problem("orphan_mask", f"label {_rel(p, root)} has no image", "warning") for p in unmatched]
    cases = []
    for i, (img, lab) in enumerate(pairs):
        cid = re.sub(r"_0000$", "", _stem(img))
        if i in refused:
            case = Case(cid, img, None, "msd", _ndim_of(img), root, meta={"refused": refused[i]})
            case.add_problem("outside_dataset", refused[i])
            cases.append(case)
            continue
        present = lab is not None and (lab.exists() or lab.is_symlink())
        case = Case(cid, img, lab if present else None, "msd", _ndim_of(img), root)
        if declared is not None:
            case.meta["declared_labels"] = declared
        if not img.exists() and not img.is_symlink():
            case.add_problem("missing_image", f"{_rel(img, root)} listed in dataset.json does not exist")
        if lab is not None and not present:
            case.add_problem("missing_mask", f"{_rel(lab, root)} listed in dataset.json does not exist")
        cases.append(case)
    return Dataset(root, "msd", cases, problems, label_names, meta)


# -- LiTS ----------------------------------------------------------------------------------------

_LITS_VOL = re.compile(r"^volume-(\d+)$", re.I)
_LITS_SEG = re.compile(r"^segmentation-(\d+)$", re.I)


def _discover_lits(root: Path) -> Dataset | None:
    vols: dict[str, list[Path]] = {}
    segs: dict[str, list[Path]] = {}
    for p in _walk(root, 2):
        if not p.name.lower().endswith(VOLUME_SUFFIXES):
            continue
        st = _stem(p)
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
        _note_ambiguous(case, ps, ms, root)  # volume-1.nii beside volume-1.nii.gz: no silent choice
        cases.append(case)
    ds = Dataset(root, "lits", cases, label_names={1: "liver", 2: "tumour"})
    for n in sorted(set(segs) - set(vols), key=int):
        ds.problems.append(Problem("orphan_mask", f"{_rel(segs[n][0], root)} has no volume", "warning"))
    return ds


# -- Paired folders / suffix pairs ---------------------------------------------------------------


def _words(name: str) -> set[str]:
    return set(re.split(r"[^a-z0-9]+", name.lower())) | {name.lower()}


def _is_mask_dir(name: str) -> bool:
    return bool(_words(name) & set(_MASK_WORDS))


def _is_image_dir(name: str) -> bool:
    return bool(_words(name) & set(_IMAGE_WORDS)) and not _is_mask_dir(name)


def _match_stems(images: list[Path], masks: list[Path]) -> tuple[list[tuple[Path, Path | None]], list[Path]]:
    """Pair images with masks whose stem equals the image's, extends it (``x`` ↔ ``x_mask``,
    ``x_liver_000``) or is extended by a channel suffix (nnU-Net ``x_0000`` ↔ ``x``)."""
    pairs, unmatched, _ = _match_stems_all(images, masks)
    return pairs, unmatched


def _match_stems_all(images: list[Path], masks: list[Path]):
    """:func:`_match_stems`, and for each image the other files that could equally be its image
    or its mask (same stem, another format: ``a.bmp`` beside ``a.png``)."""
    by_stem: dict[str, list[Path]] = {}
    for m in masks:
        by_stem.setdefault(_stem(m).lower(), []).append(m)
    img_stems: dict[str, list[Path]] = {}
    for img in images:
        img_stems.setdefault(_stem(img).lower(), []).append(img)
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
            preferred = [c for c in cand if _stem(c).lower()[len(st):] in _MASK_SUFFIXES]
            pool = preferred or cand
            first = sorted(pool, key=lambda p: (len(_stem(p)), p.name))[0]
            same = [c for c in pool if _stem(c).lower() == _stem(first).lower()]  # a.png and a.bmp
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
        case = Case(_stem(i), i, m, layout, _ndim_of(i), root)
        imgs, ms = rivals.get(i, ([i], [m] if m else []))
        _note_ambiguous(case, imgs, ms, root)
        cases.append(case)
    return cases


def _discover_pairs(root: Path) -> Dataset | None:
    # 1) an image folder and a mask folder side by side (root itself or one level down)
    for base in [root] + [p for p in _listdir(root) if _is_dir(p) and not p.name.startswith(".")]:
        subdirs = [p for p in _listdir(base) if _is_dir(p) and not p.name.startswith(".")] if _is_dir(base) else []
        img_dirs = [d for d in subdirs if _is_image_dir(d.name)]
        mask_dirs = [d for d in subdirs if _is_mask_dir(d.name)]
        if not img_dirs or not mask_dirs:
            continue
        img_dir, mask_dir = _best_dir_pair(img_dirs, mask_dirs)
        images = [p for p in _listdir(img_dir) if _is_image_file(p)]
        masks = [p for p in _listdir(mask_dir) if _is_image_file(p)]
        if not images:
            continue
        pairs, unmatched, rivals = _match_stems_all(images, masks)
        if not any(m for _, m in pairs):
            continue
        cases = _pair_cases(pairs, rivals, "pairs", root)
        ds = Dataset(root, "pairs", cases, meta={"image_dir": _rel(img_dir, root), "mask_dir": _rel(mask_dir, root)})
        ds.problems += [Problem("orphan_mask", f"mask {_rel(p, root)} has no image", "warning") for p in unmatched]
        for d in img_dirs + mask_dirs:
            if d in (img_dir, mask_dir):
                continue
            n = sum(1 for p in _listdir(d) if _is_image_file(p))
            if n:
                kind = "image" if d in img_dirs else "mask"
                ds.problems.append(Problem(
                    "ignored_folder", f"folder {_rel(d, root)} also holds {n} {kind} file(s) and was not read "
                    f"(this dataset pairs {_rel(img_dir, root)} with {_rel(mask_dir, root)}); open it as a "
                    "dataset of its own, or move its files", "warning"))
        return ds
    # 2) x.png + x_mask.png in one folder
    files = [p for p in _listdir(root) if _is_image_file(p)]
    masks = [p for p in files if _stem(p).lower().endswith(_MASK_SUFFIXES)]
    if not masks:
        return None
    images = [p for p in files if p not in masks]
    pairs, unmatched, rivals = _match_stems_all(images, masks)
    if not any(m for _, m in pairs):
        return None
    cases = _pair_cases(pairs, rivals, "pairs", root)
    ds = Dataset(root, "pairs", cases)
    ds.problems += [Problem("orphan_mask", f"mask {_rel(p, root)} has no image", "warning") for p in unmatched]
    return ds


def _best_dir_pair(img_dirs: list[Path], mask_dirs: list[Path]) -> tuple[Path, Path]:
    """Pick the image/mask folders that share the most name words (``test_images`` ↔ ``test_masks``)."""
    best, score = (img_dirs[0], mask_dirs[0]), -1
    for i in img_dirs:
        for m in mask_dirs:
            s = len(_words(i.name) & _words(m.name))
            if s > score:
                best, score = (i, m), s
    return best


# -- DICOM ---------------------------------------------------------------------------------------


def _discover_dicom(root: Path) -> Dataset | None:
    from .dicom import NOT_DICOM_SUFFIXES, scan_folder

    folders: dict[Path, None] = {}
    for p in _walk(root, 4):
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
        problems += [Problem("unreadable_file", f"{_rel(folder, root)}/{e}", "warning") for e in errors]
    # one series reached twice (a copied folder, a second link to it) is one case, and said so
    by_uid: dict[str, object] = {}
    kept = []
    for s in all_series:
        first = by_uid.get(s.uid) if s.uid else None
        if first is not None:
            problems.append(Problem("duplicate_series", f"series {s.uid} is in both {_rel(first.folder, root)} and "
                                    f"{_rel(s.folder, root)}; only {_rel(first.folder, root)} is used (a copy?)",
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
        rel = _rel(s.folder, root)
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
            _note_ambiguous(case, [], ambiguous[id(s)], root)
        cases.append(case)
    used = {m for m, k in masks.values() if k == "seg"}
    for g in segs:
        if g.path not in used:
            problems.append(Problem("orphan_mask", f"DICOM SEG {_rel(g.path, root)} references a series not found here",
                                    "warning"))
    return Dataset(root, "dicom", cases, problems)


def _volume_files(folder: Path) -> list[Path]:
    return [p for p in _listdir(folder) if _is_image_file(p) and p.name.lower().endswith(VOLUME_SUFFIXES)]


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
        named = [p for p in _volume_files(s.folder.parent) + _volume_files(s.folder)
                 if named_after(_stem(p).lower(), name) and p not in claimed]
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
        inside = [p for p in _volume_files(s.folder) if p not in claimed]
        if len(inside) == 1 and s.folder != root or (len(inside) == 1 and len(all_series) == 1):
            out[id(s)] = (inside[0], "file")
            claimed.add(inside[0])
    return out, ambiguous


_DISCOVER: dict[str, Callable[[Path], Dataset | None]] = {
    "ph2": _discover_ph2,
    "isic": _discover_isic,
    "msd": _discover_msd,
    "lits": _discover_lits,
    "dicom": _discover_dicom,
    "pairs": _discover_pairs,
}
