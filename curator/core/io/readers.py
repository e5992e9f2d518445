"""Read medical images and masks with their geometry (types in :mod:`.types`, writing in :mod:`.writers`).

2D: JPEG, PNG, BMP, TIFF (RGB or grey images; masks as 0/1, 0/255, 1-bit, palette, grey or RGB
label colours). 3D: NIfTI, NRRD, MetaImage, DICOM series (JPEG 2000 and other compressed transfer
syntaxes through GDCM) and DICOM SEG.

Conventions (array order, ITK geometry, label maps): see :mod:`curator.core.io.types`.
"""

from __future__ import annotations

import os
from pathlib import Path
from typing import Sequence

import numpy as np

from curator.core.io.dicom import is_seg_file, read_dicom_image, read_file_info, scan_series
from curator.core.io.dicom_seg import read_seg
from curator.core.io.formats import (
    check_2d_complete,
    check_file,
    check_mha_complete,
    check_nifti_complete,
    check_nrrd_complete,
    format_of,
    load_sitk,
    open_error,
    open_pil,
    short_error,
)
from curator.core.io.masks import check_label_values, read_2d_mask, volume_to_mask
from curator.core.io.types import Geometry, ImageData, ImageInfo, ReadError, check_size

# ----------------------------------------------------------------------------------------------
# Header-only reads


def read_info(path: str | os.PathLike) -> ImageInfo:
    """Read shape, geometry and pixel type from a file's header without decoding its pixels.

    Also checks that the file holds all the data its header promises (a truncated file raises
    :class:`ReadError`) and that the image is within the size limit (:class:`TooLargeError`).
    """
    path = Path(path)
    check_file(path)
    fmt = format_of(path)
    if fmt in ("jpeg", "png", "bmp", "tiff"):
        from PIL import Image as PILImage

        try:
            with PILImage.open(path) as im:
                w, h = im.size
                bands = len(im.getbands())
                mode = im.mode
        except Exception as exc:  # Pillow raises many types for broken files
            raise open_error(path, exc, f"not a readable {fmt.upper()} image") from exc
        check_size(path, (h, w))
        check_2d_complete(path, fmt, (w, h))
        channels = 1 if mode in ("1", "L", "P", "I", "I;16", "F", "LA", "PA") else min(bands, 4)
        dtype = {"I;16": "uint16", "I": "int32", "F": "float32", "1": "bool"}.get(mode, "uint8")
        return ImageInfo((h, w), Geometry.identity(2), channels, dtype, fmt)
    if fmt == "dicom":
        if path.is_dir():
            series = scan_series(path)
            if not series:
                raise ReadError(f"{path}: no DICOM image series in this folder")
            check_size(path, series[0].info.shape)
            return series[0].info
        info = read_file_info(path)
        check_size(path, info.shape)
        return info
    if fmt in ("nifti", "nrrd", "mha"):
        reader = header_reader(path, fmt)
        size = reader.GetSize()
        if len(size) == 4 and size[3] != 1:
            raise ReadError(f"{path}: 4-D image with {size[3]} volumes; expected a single 3-D volume")
        size = size[:3]
        geometry = Geometry(reader.GetSpacing()[:3], reader.GetOrigin()[:3], direction3(reader.GetDirection(),
                                                                                        reader.GetDimension()))
        dtype = _sitk_dtype_name(reader.GetPixelID())
        info = ImageInfo(tuple(reversed(size)), geometry, reader.GetNumberOfComponents(), dtype, fmt)
        check_volume_complete(path, fmt, info, reader)
        return info
    raise ReadError(f"{path}: unsupported file type '{path.suffix}'")


def direction3(direction: Sequence[float], dim: int) -> tuple[float, ...]:
    if dim <= 3:
        return tuple(direction)
    m = np.asarray(direction, float).reshape(dim, dim)[:3, :3]
    return tuple(m.ravel().tolist())


def header_reader(path: Path, fmt: str):
    """A SimpleITK reader with the header read, its size checked against the limit."""
    sitk = load_sitk()
    reader = sitk.ImageFileReader()
    reader.SetFileName(str(path))
    try:
        reader.ReadImageInformation()
    except RuntimeError as exc:
        if not os.access(path, os.R_OK):
            raise ReadError(f"{path}: permission denied (the file cannot be read)") from exc
        raise ReadError(f"{path}: not a readable {fmt.upper()} file ({short_error(exc)})") from exc
    size = reader.GetSize()
    check_size(path, tuple(reversed(size[:3])) + ((size[3],) if len(size) > 3 and size[3] > 1 else ()))
    return reader


def check_volume_complete(path: Path, fmt: str, info: ImageInfo, reader=None) -> None:
    """Raise :class:`ReadError` when a NIfTI / NRRD / MetaImage file holds less data than its
    header says (SimpleITK reads a truncated NIfTI as if the rest were zeros)."""
    if fmt == "nifti":
        check_nifti_complete(path)
        return
    itemsize = np.dtype(info.dtype).itemsize if info.dtype != "unknown" else 1
    nbytes = int(np.prod(info.shape)) * max(1, info.channels) * itemsize
    if fmt == "nrrd":
        check_nrrd_complete(path, nbytes)
    elif fmt == "mha":
        check_mha_complete(path, nbytes)


def _sitk_dtype_name(pixel_id: int) -> str:
    sitk = load_sitk()
    table = {
        sitk.sitkUInt8: "uint8", sitk.sitkInt8: "int8", sitk.sitkUInt16: "uint16",
        sitk.sitkInt16: "int16", sitk.sitkUInt32: "uint32", sitk.sitkInt32: "int32",
        sitk.sitkUInt64: "uint64", sitk.sitkInt64: "int64", sitk.sitkFloat32: "float32",
        sitk.sitkFloat64: "float64", sitk.sitkVectorUInt8: "uint8", sitk.sitkVectorFloat32: "float32",
        sitk.sitkVectorInt16: "int16", sitk.sitkVectorUInt16: "uint16", sitk.sitkVectorFloat64: "float64",
    }
    return table.get(pixel_id, "unknown")


# ----------------------------------------------------------------------------------------------
# Reading images


def read_image(path: str | os.PathLike, *, series_uid: str | None = None) -> ImageData:
    """Read an image: 2D ``(Y, X[, C])`` or 3D ``(Z, Y, X)`` with its geometry.

    ``path`` may be a file or a folder holding a DICOM series (``series_uid`` picks one when the
    folder holds several). RGBA and palette images become RGB; 16-bit grey stays 16-bit.
    """
    path = Path(path)
    check_file(path)
    fmt = format_of(path)
    if fmt in ("jpeg", "png", "bmp", "tiff"):
        return _read_2d_image(path, fmt)
    if fmt == "dicom":
        return read_dicom_image(path, series_uid=series_uid)
    if fmt in ("nifti", "nrrd", "mha"):
        return _read_itk(path, fmt)
    raise ReadError(f"{path}: unsupported file type '{path.suffix}'")


def _read_2d_image(path: Path, fmt: str) -> ImageData:
    im = open_pil(path, fmt)
    if im.mode in ("P", "PA", "RGBA", "CMYK", "YCbCr", "LAB", "HSV", "LA", "1"):
        im = im.convert("RGB" if im.mode not in ("LA", "1") else "L")
    if im.mode in ("I;16", "I;16B", "I;16L"):
        arr = np.asarray(im, dtype=np.uint16)
    else:
        arr = np.asarray(im)
    arr = np.ascontiguousarray(arr)
    return ImageData(arr, Geometry.identity(2), fmt, path, meta={"mode": im.mode})


def _read_itk(path: Path, fmt: str) -> ImageData:
    reader = header_reader(path, fmt)  # the size limit, before any voxel is read
    size = reader.GetSize()
    dtype = _sitk_dtype_name(reader.GetPixelID())
    check_volume_complete(path, fmt, ImageInfo(tuple(reversed(size)), Geometry.identity(min(len(size), 3)),
                                                reader.GetNumberOfComponents(), dtype, fmt))
    try:
        img = reader.Execute()
    except RuntimeError as exc:
        raise ReadError(f"{path}: cannot read {fmt.upper()} file ({short_error(exc)})") from exc
    return _from_sitk(img, fmt, path)


def _from_sitk(img, fmt: str, path: Path | None) -> ImageData:
    sitk = load_sitk()
    dim = img.GetDimension()
    if dim == 4:
        size = img.GetSize()
        if size[3] != 1:
            raise ReadError(f"{path}: 4-D image with {size[3]} volumes; expected a single 3-D volume")
        img = img[:, :, :, 0]
        dim = 3
    if dim not in (2, 3):
        raise ReadError(f"{path}: {dim}-D image; expected 2-D or 3-D")
    arr = sitk.GetArrayFromImage(img)
    return ImageData(arr, Geometry.from_sitk(img), fmt, path)


# ----------------------------------------------------------------------------------------------
# Reading masks


def read_mask(
    path: str | os.PathLike,
    *,
    reference: ImageData | ImageInfo | None = None,
    series_uid: str | None = None,
    declared: Sequence[int] | None = None,
) -> ImageData:
    """Read a mask as a label map (``uint8``; ``uint16`` beyond 255 labels), background 0.

    2D files are decoded to labels: 1-bit → 0/1; grey with one non-zero value (0/255, 0/1) → 0/1;
    grey with several small values → those values; a lossless grey mask with a few other values
    (0/128/255, 0/1/1000) → one label per value, in order, noted in ``encoding.note``; palette PNG →
    palette indices; RGB colours → labels in order of the colours' sums (black = 0); grey masks
    saved lossily (JPEG) or with many grey levels (anti-aliased) are thresholded at half range,
    noted. 3D files keep their integer values. DICOM SEG objects are resampled onto ``reference``
    (the series they annotate), when given.

    ``declared``: the label values the dataset declares (MSD ``dataset.json``); a mask holding
    another value is refused. Without it, a value covering a handful of pixels beside a large
    label (a stray brush stroke: 2 and 7 in a 0/1 mask) is refused rather than made a class.

    Raises :class:`ReadError` for unreadable files, non-integer masks and the cases above (with
    ``code`` ``undeclared_label`` / ``stray_labels``).
    """
    path = Path(path)
    check_file(path)
    fmt = format_of(path)
    if fmt in ("jpeg", "png", "bmp", "tiff"):
        mask = read_2d_mask(path, fmt)
    elif fmt == "dicom":
        if path.is_file() and is_seg_file(path):
            mask = read_seg(path, reference=reference)
        else:
            mask = volume_to_mask(read_dicom_image(path, series_uid=series_uid), path)
    elif fmt in ("nifti", "nrrd", "mha"):
        mask = volume_to_mask(_read_itk(path, fmt), path)
    else:
        raise ReadError(f"{path}: unsupported mask file type '{path.suffix}'")
    check_label_values(mask, declared=declared)
    return mask


