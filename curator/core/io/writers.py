"""Write images and masks atomically, reproducing the original file's storage and geometry."""

from __future__ import annotations

import os
from pathlib import Path

import numpy as np

from curator.core.io.files import atomic_path
from curator.core.io.formats import format_of, load_sitk
from curator.core.io.masks import label_dtype
from curator.core.io.types import Geometry, ImageData, MaskEncoding


def write_image(path: str | os.PathLike, image: ImageData | np.ndarray, geometry: Geometry | None = None, *,
                quality: int = 95) -> Path:
    """Write an image atomically in the format given by ``path``'s suffix.

    2D arrays go through Pillow (JPEG written at ``quality``); 3D arrays through SimpleITK with
    their geometry.
    """
    path = Path(path)
    if isinstance(image, ImageData):
        arr, geometry = image.array, geometry or image.geometry
    else:
        arr = np.asarray(image)
    fmt = format_of(path)
    if fmt in ("jpeg", "png", "bmp", "tiff"):
        from PIL import Image as PILImage

        if arr.dtype != np.uint8 and not (arr.dtype == np.uint16 and arr.ndim == 2 and fmt in ("png", "tiff")):
            raise ValueError(f"cannot write {arr.dtype} data as {fmt.upper()}; convert to uint8 first")
        im = PILImage.fromarray(arr)
        with atomic_path(path) as tmp:
            kwargs = {"quality": quality} if fmt == "jpeg" else {}
            im.save(tmp, format=_pil_format(fmt), **kwargs)
        return path
    if fmt in ("nifti", "nrrd", "mha"):
        sitk = load_sitk()
        img = sitk.GetImageFromArray(arr, isVector=arr.ndim == (geometry.ndim if geometry else 3) + 1)
        (geometry or Geometry.identity(img.GetDimension())).apply(img)
        with atomic_path(path) as tmp:
            sitk.WriteImage(img, str(tmp), useCompression=True)
        return path
    raise ValueError(f"{path}: cannot write format '{fmt}'")


def _pil_format(fmt: str) -> str:
    return {"jpeg": "JPEG", "png": "PNG", "bmp": "BMP", "tiff": "TIFF"}[fmt]


def write_mask(
    path: str | os.PathLike,
    labels: np.ndarray,
    *,
    like: ImageData | None = None,
    geometry: Geometry | None = None,
    encoding: MaskEncoding | None = None,
) -> Path:
    """Write a label map atomically, stored the way ``like`` (the original mask) was.

    ``labels`` is ``(Y, X)`` or ``(Z, Y, X)`` integer. 2D files follow ``encoding`` (default: the
    original's, else 0/255 for binary masks and raw values otherwise). NIfTI masks written ``like``
    an original NIfTI keep its header and affine byte for byte (nibabel). NRRD / MHA and NIfTI
    without an original go through SimpleITK with ``geometry``. DICOM SEG output is written by
    :func:`curator.core.io.dicom_seg.write_seg`.
    """
    path = Path(path)
    labels = np.asarray(labels)
    if not np.issubdtype(labels.dtype, np.integer) and labels.dtype != bool:
        raise ValueError(f"labels must be integers, got {labels.dtype}")
    fmt = format_of(path) if not path.is_dir() else "dicom"
    encoding = encoding or (like.encoding if like is not None else None)
    geometry = geometry or (like.geometry if like is not None else None)
    if fmt in ("jpeg", "png", "bmp", "tiff"):
        if labels.ndim != 2:
            raise ValueError(f"{path}: a {fmt.upper()} mask must be 2-D, got shape {labels.shape}")
        with atomic_path(path) as tmp:
            _encode_2d_mask(labels, encoding, fmt).save(tmp, format=_pil_format(fmt), **(
                {"quality": 100, "subsampling": 0} if fmt == "jpeg" else {}))
        return path
    if fmt == "nifti" and like is not None and like.source is not None and format_of(like.source) == "nifti":
        return _write_nifti_like(path, labels, like.source)
    if fmt in ("nifti", "nrrd", "mha"):
        sitk = load_sitk()
        max_label = int(labels.max()) if labels.size else 0
        img = sitk.GetImageFromArray(labels.astype(label_dtype(max_label), copy=False))
        (geometry or Geometry.identity(labels.ndim)).apply(img)
        with atomic_path(path) as tmp:
            sitk.WriteImage(img, str(tmp), useCompression=True)
        return path
    raise ValueError(f"{path}: cannot write masks as '{fmt}' (DICOM SEG: use curator.core.io.dicom_seg.write_seg)")


def _encode_2d_mask(labels: np.ndarray, encoding: MaskEncoding | None, fmt: str):
    from PIL import Image as PILImage

    present = [int(v) for v in np.unique(labels)]
    if encoding is None:
        binary = set(present) <= {0, 1}
        encoding = MaskEncoding(((0, 0), (1, 255)), "L") if binary else MaskEncoding(
            tuple((v, v) for v in present), "L")
    mode = encoding.mode
    if mode == "1":
        if set(present) - {0, 1}:
            mode = "L"  # multi-class content cannot be 1-bit; keep grey
        else:
            return PILImage.fromarray((labels > 0)).convert("1")
    if mode == "P":
        im = PILImage.fromarray(labels.astype(np.uint8), mode="P")
        if encoding.palette:
            im.putpalette(list(encoding.palette))
        return im
    if mode == "RGB":
        out = np.zeros(labels.shape + (3,), np.uint8)
        for lab in present:
            val = encoding.value_of(lab)
            out[labels == lab] = val if isinstance(val, tuple) else (val, val, val)
        return PILImage.fromarray(out, mode="RGB")
    if mode in ("I;16", "I") and fmt in ("png", "tiff"):
        out = np.zeros(labels.shape, np.uint16 if mode == "I;16" else np.int32)
        for lab in present:
            out[labels == lab] = encoding.value_of(lab)
        return PILImage.fromarray(out)
    out = np.zeros(labels.shape, np.uint8)
    for lab in present:
        val = encoding.value_of(lab)
        out[labels == lab] = val[0] if isinstance(val, tuple) else val
    return PILImage.fromarray(out, mode="L")


def _write_nifti_like(path: Path, labels: np.ndarray, original: Path) -> Path:
    """Write labels with the original NIfTI's header and affine (qform/sform codes included)."""
    import nibabel as nib

    ref = nib.load(str(original))
    data = np.asarray(labels).transpose(tuple(reversed(range(labels.ndim))))  # (Z,Y,X) -> (x,y,z)
    if data.shape != ref.shape[: data.ndim]:
        raise ValueError(f"labels of shape {labels.shape} do not fit {original} ({ref.shape[::-1]} in Z,Y,X)")
    header = ref.header.copy()
    max_label = int(labels.max()) if labels.size else 0
    dtype = label_dtype(max_label)
    orig_dtype = ref.get_data_dtype()
    if np.issubdtype(orig_dtype, np.integer) and np.iinfo(orig_dtype).max >= max_label:
        dtype = orig_dtype  # keep the original's storage type where it can hold the labels
    header.set_data_dtype(dtype)
    out = nib.Nifti1Image(data.astype(dtype), ref.affine, header) if isinstance(ref, nib.Nifti1Image) else \
        nib.Nifti2Image(data.astype(dtype), ref.affine, header)
    out.header.set_slope_inter(1.0, 0.0)
    qform, qcode = ref.get_qform(coded=True)
    sform, scode = ref.get_sform(coded=True)
    if qform is not None:
        out.set_qform(qform, int(qcode))
    if sform is not None:
        out.set_sform(sform, int(scode))
    with atomic_path(path) as tmp:
        nib.save(out, str(tmp))
    return path
