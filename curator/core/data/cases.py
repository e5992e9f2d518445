"""The case model: a dataset's cases (image + mask), their problems, and the checks that find them.

:meth:`Dataset.check` reads headers (and, with ``deep=True``, the voxels) and records problems per
case with a clear reason; a bad case never stops the rest from opening. Folders are opened by
:func:`curator.core.data.discover.open_dataset`.
"""

from __future__ import annotations

import os
from dataclasses import dataclass, field
from pathlib import Path
from typing import Callable, Iterator

import numpy as np

from curator.core.errors import CuratorError
from curator.core.io.dicom import read_dicom_image
from curator.core.io.dicom_seg import write_seg
from curator.core.io.formats import format_of
from curator.core.io.grid import axis_map, describe_mismatch, from_grid, to_grid
from curator.core.io.readers import read_image, read_info, read_mask
from curator.core.io.types import ImageData, ImageInfo, ReadError, check_size
from curator.core.io.writers import write_mask


class DatasetError(CuratorError):
    """The folder cannot be opened as a dataset at all (missing, empty, no layout recognised)."""


def rel_path(path: Path, root: Path) -> str:
    try:
        return path.relative_to(root).as_posix()
    except ValueError:
        return os.path.relpath(path, root).replace(os.sep, "/")


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
        return rel_path(self.image, self.root)

    @property
    def mask_rel(self) -> str | None:
        return rel_path(self.mask, self.root) if self.mask is not None else None

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
        DICOM SEG leaves the patient's identity out (see :func:`curator.core.io.dicom_seg.write_seg`)."""
        from dataclasses import replace

        dest = Path(out_root) / self.mask_dest_rel()
        labels = np.asarray(labels)
        if self.meta.get("mask_kind") == "seg" or (self.mask is None and self.layout == "dicom"):
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


