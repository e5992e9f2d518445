"""Image and mask types with their geometry, the read errors, and the size limits.

Conventions used throughout Mask Curator:

* Arrays are in numpy order: 2D images ``(Y, X)`` or ``(Y, X, C)``, 3D volumes ``(Z, Y, X)``.
* Geometry follows ITK: ``spacing`` and ``origin`` are in physical axis order ``(x, y[, z])`` in
  millimetres, ``direction`` is the row-major direction cosine matrix, in LPS patient coordinates.
  ``Geometry.scale`` gives spacing in array order for viewers such as napari.
* A mask is read into a label map (``uint8``, or ``uint16`` beyond 255 labels) with label 0 for
  background, together with a :class:`MaskEncoding` saying how the values are stored in the file,
  so that writing a corrected mask back reproduces the original's storage (0/255, 1-bit BMP,
  palette PNG, NIfTI header).
"""

from __future__ import annotations

import os
from dataclasses import dataclass, field, replace
from pathlib import Path
from typing import Sequence

import numpy as np

from curator.core.errors import CuratorError

IMAGE_2D_SUFFIXES = (".jpg", ".jpeg", ".png", ".bmp", ".tif", ".tiff")
VOLUME_SUFFIXES = (".nii", ".nii.gz", ".nrrd", ".nhdr", ".mha", ".mhd")
LOSSY_2D = ("jpeg",)


class ReadError(CuratorError):
    """A file could not be read as an image or mask; the message says why, for a user.

    ``code`` (optional) names the kind of problem for reports (``too_large``, ``stray_labels``, ...);
    without one, callers report an unreadable image or mask.
    """

    def __init__(self, message: str, code: str | None = None):
        super().__init__(message)
        self.code = code


class TooLargeError(ReadError):
    """The file's header claims more pixels than the size limit allows (see :func:`size_limits`)."""

    def __init__(self, message: str):
        super().__init__(message, "too_large")


# ----------------------------------------------------------------------------------------------
# Size limits: a damaged or hostile header (or a decompression bomb) must not exhaust memory

DEFAULT_MAX_MEGAPIXELS = 64.0  # 2D: 8000 x 8000
DEFAULT_MAX_MEGAVOXELS = 512.0  # 3D: 1024 x 1024 x 512


def _env_limit(name: str, default: float) -> float:
    try:
        value = float(os.environ.get(name, default))
    except ValueError:
        return default
    return value if value > 0 else default


def size_limits() -> tuple[float, float]:
    """``(max 2D pixels, max 3D voxels)`` an image may have, in millions. Raised with the
    environment variables ``CURATOR_MAX_MEGAPIXELS`` / ``CURATOR_MAX_MEGAVOXELS`` (the command
    line's ``--max-megapixels`` / ``--max-megavoxels`` set them)."""
    return (_env_limit("CURATOR_MAX_MEGAPIXELS", DEFAULT_MAX_MEGAPIXELS),
            _env_limit("CURATOR_MAX_MEGAVOXELS", DEFAULT_MAX_MEGAVOXELS))


def check_size(path, shape: Sequence[int]) -> None:
    """Raise :class:`TooLargeError` when a ``(Y, X)`` / ``(Z, Y, X)`` grid exceeds the size limit."""
    n = float(np.prod([float(v) for v in shape])) if len(shape) else 0.0
    mpx, mvox = size_limits()
    three_d = len(shape) >= 3
    limit = (mvox if three_d else mpx) * 1e6
    if n <= limit:
        return
    unit, option, env = ("voxels", "--max-megavoxels", "CURATOR_MAX_MEGAVOXELS") if three_d else \
        ("pixels", "--max-megapixels", "CURATOR_MAX_MEGAPIXELS")
    dims = "x".join(str(int(v)) for v in reversed(tuple(shape)))
    raise TooLargeError(
        f"{path}: too large: {dims} = {n / 1e6:,.0f} million {unit}, above the limit of {limit / 1e6:g} million "
        f"(a damaged header or a decompression bomb?); if the image is real and the machine has the memory, "
        f"raise the limit with {option} N or {env}=N")




# ----------------------------------------------------------------------------------------------
# Geometry and containers


@dataclass(frozen=True)
class Geometry:
    """Physical placement of an image grid (ITK conventions).

    ``spacing``/``origin`` are in axis order ``(x, y[, z])`` (mm); ``direction`` is the row-major
    ``ndim x ndim`` matrix of direction cosines.
    """

    spacing: tuple[float, ...]
    origin: tuple[float, ...]
    direction: tuple[float, ...]

    @classmethod
    def identity(cls, ndim: int, spacing: Sequence[float] | None = None) -> "Geometry":
        spacing = tuple(float(s) for s in (spacing or (1.0,) * ndim))
        return cls(spacing, (0.0,) * ndim, tuple(np.eye(ndim).ravel().tolist()))

    @classmethod
    def from_sitk(cls, img) -> "Geometry":
        return cls(tuple(img.GetSpacing()), tuple(img.GetOrigin()), tuple(img.GetDirection()))

    @property
    def ndim(self) -> int:
        return len(self.spacing)

    @property
    def scale(self) -> tuple[float, ...]:
        """Spacing in array order ``(Z, Y, X)`` / ``(Y, X)``, as napari's ``scale`` expects."""
        return tuple(reversed(self.spacing))

    def apply(self, sitk_image) -> None:
        sitk_image.SetSpacing(self.spacing)
        sitk_image.SetOrigin(self.origin)
        sitk_image.SetDirection(self.direction)

    def matches(self, other: "Geometry", *, rtol: float = 1e-4, atol: float = 1e-3) -> bool:
        """True when both grids place voxels at the same physical points (within tolerance)."""
        if self.ndim != other.ndim:
            return False
        return bool(
            np.allclose(self.spacing, other.spacing, rtol=rtol, atol=atol)
            and np.allclose(self.origin, other.origin, rtol=rtol, atol=max(atol, 1e-2))
            and np.allclose(self.direction, other.direction, atol=1e-4)
        )

    def to_json(self) -> dict:
        return {"spacing": list(self.spacing), "origin": list(self.origin), "direction": list(self.direction)}

    @classmethod
    def from_json(cls, d: dict) -> "Geometry":
        return cls(tuple(d["spacing"]), tuple(d["origin"]), tuple(d["direction"]))


@dataclass(frozen=True)
class MaskEncoding:
    """How a mask's labels are stored in its file, so it can be written back the same way.

    ``stored`` maps each label to the value (or RGB colour) written for it. ``mode`` is the Pillow
    mode of a 2D file (``"1"``, ``"L"``, ``"P"``, ``"RGB"``, ``"I;16"``, ``"I"``) or ``"volume"``.
    ``palette`` is a palette PNG's raw palette. ``note`` records anything lossy about the read.
    """

    stored: tuple[tuple[int, int | tuple[int, ...]], ...] = ((0, 0), (1, 1))
    mode: str = "L"
    palette: tuple[int, ...] | None = None
    note: str = ""

    def value_of(self, label: int):
        for lab, val in self.stored:
            if lab == label:
                return val
        return label  # labels not seen on read are stored as themselves

    def to_json(self) -> dict:
        return {
            "stored": [[lab, list(val) if isinstance(val, tuple) else val] for lab, val in self.stored],
            "mode": self.mode,
            "palette": list(self.palette) if self.palette else None,
            "note": self.note,
        }

    @classmethod
    def from_json(cls, d: dict) -> "MaskEncoding":
        stored = tuple((int(lab), tuple(val) if isinstance(val, list) else int(val)) for lab, val in d["stored"])
        pal = tuple(d["palette"]) if d.get("palette") else None
        return cls(stored, d.get("mode", "L"), pal, d.get("note", ""))


@dataclass
class ImageData:
    """An image or label map in memory with its geometry.

    ``array`` is ``(Y, X)``, ``(Y, X, C)`` (2D, ``C`` = 3 for RGB) or ``(Z, Y, X)`` (3D).
    ``format`` is one of ``jpeg png bmp tiff nifti nrrd mha dicom dicom-seg``.
    ``encoding`` is set for masks (see :class:`MaskEncoding`).
    """

    array: np.ndarray
    geometry: Geometry
    format: str = ""
    source: Path | None = None
    encoding: MaskEncoding | None = None
    meta: dict = field(default_factory=dict)

    @property
    def ndim(self) -> int:
        """Number of spatial dimensions (2 or 3)."""
        return self.geometry.ndim

    @property
    def spatial_shape(self) -> tuple[int, ...]:
        return tuple(self.array.shape[: self.ndim])

    @property
    def channels(self) -> int:
        return self.array.shape[self.ndim] if self.array.ndim > self.ndim else 1

    @property
    def labels(self) -> list[int]:
        """Sorted non-zero label values present (for masks)."""
        return [int(v) for v in np.unique(self.array) if v != 0]


@dataclass(frozen=True)
class ImageInfo:
    """What a file's header says, read without decoding pixels.

    ``shape`` is spatial, in array order (``(Y, X)`` or ``(Z, Y, X)``); ``channels`` is the number
    of components per pixel; ``dtype`` a numpy dtype name.
    """

    shape: tuple[int, ...]
    geometry: Geometry
    channels: int = 1
    dtype: str = "uint8"
    format: str = ""

    @property
    def ndim(self) -> int:
        return len(self.shape)


# ----------------------------------------------------------------------------------------------
# Atomic writes




def with_array(image: ImageData, array: np.ndarray) -> ImageData:
    """A copy of ``image`` holding ``array`` (same geometry, format, encoding)."""
    return replace(image, array=array)
