"""The bad-input corpus: small dataset folders built from the real sample data, each broken in one way.

Nothing here is committed as a binary: every folder is generated at test time from the files in
``CURATOR_TEST_DATA`` (HAM10000 pairs, the TotalSegmentator CT as NIfTI and converted to NRRD /
MetaImage, the pydicom and dcmqi DICOM series and SEG), then damaged. Each :class:`Entry` says
what `curator info` must report for it (:class:`Expect`) and whether `curator batch` runs on it.

Build the whole corpus by hand to look at it::

    python -m tests.integration.corpus /tmp/corpus        # then: curator info /tmp/corpus/<name>

Outcomes (``Expect.outcome``):

* ``case_error``: the named case has an error naming the file and the problem; every other case
  is fine; batch leaves that case out (reported as failed) and ranks the rest;
* ``case_warning``: the named case is usable and carries a warning saying what was chosen;
* ``dataset_warning``: a dataset-level warning (something ignored, named), every case usable;
* ``dataset_error``: the folder cannot be used at all; `info` exits 1 with a one-line message;
* ``ok``: an unusual but valid input, read correctly (no error, batch ranks every case).
"""

from __future__ import annotations

import gzip
import json
import os
import shutil
import struct
import sys
import zlib
from dataclasses import dataclass, field
from pathlib import Path
from typing import Callable

import numpy as np

__all__ = ["Entry", "Expect", "ENTRIES", "build", "build_all", "FAMILIES"]


@dataclass(frozen=True)
class Expect:
    outcome: str  # case_error | case_warning | dataset_warning | dataset_error | ok
    codes: tuple[str, ...] = ()  # one of these problem codes must be reported
    case: str | None = None  # the case it belongs to
    names: str | None = None  # text the message must contain (the file or folder)
    deep: bool = False  # only decoding the pixels can tell (`info --deep`)


@dataclass(frozen=True)
class Entry:
    name: str
    family: str
    what: str
    build: Callable[[Path, Path], None]
    expect: Expect
    batch: bool = True  # run `curator batch` on it in the corpus batch test
    unprivileged: bool = False  # needs file permissions to apply (run without root's DAC override)
    ndim: int = 2


ENTRIES: list[Entry] = []
FAMILIES = {
    "truncated": "truncated files of every format",
    "empty": "zero-byte files of every format",
    "geometry": "wrong shapes and geometry",
    "labels": "odd label values",
    "colour": "colour masks",
    "huge": "decompression bombs and huge headers",
    "names": "unicode, spaces, long and hostile names",
    "symlinks": "symlinks and symlink loops",
    "unreadable": "unreadable and vanishing files",
    "structure": "duplicate stems, second folders, missing halves",
    "dicom": "DICOM series and SEG problems",
    "manifest": "dataset.json problems",
}


def entry(name: str, family: str, what: str, expect: Expect, **kw):
    def deco(fn):
        ENTRIES.append(Entry(name, family, what, fn, expect, **kw))
        return fn
    return deco


# ----------------------------------------------------------------------------------------------
# base datasets from the real data

HAM = ("ISIC_0024311", "ISIC_0027001", "ISIC_0027287", "ISIC_0027533")
BAD = HAM[1]  # the case each 2D entry damages
CT_IDS = ("ct_a", "ct_b", "ct_c")


def _ham_dir(data: Path) -> Path:
    return data / "derm" / "ham10000"


def ham(dst: Path, data: Path, *, img: str = "jpg", mask: str = "png", ids=HAM) -> Path:
    """HAM10000 pairs: ``images/ISIC_x.<img>`` + ``masks/ISIC_x.<mask>`` (real pixels; re-encoded
    losslessly when another format is asked for)."""
    from PIL import Image

    (dst / "images").mkdir(parents=True, exist_ok=True)
    (dst / "masks").mkdir(parents=True, exist_ok=True)
    for cid in ids:
        src_img = _ham_dir(data) / "test_images" / f"{cid}.jpg"
        src_mask = _ham_dir(data) / "test_masks" / f"{cid}.png"
        if img == "jpg":
            shutil.copyfile(src_img, dst / "images" / f"{cid}.jpg")
        else:
            Image.open(src_img).save(dst / "images" / f"{cid}.{img}")
        if mask == "png":
            shutil.copyfile(src_mask, dst / "masks" / f"{cid}.png")
        else:
            Image.open(src_mask).save(dst / "masks" / f"{cid}.{mask}")
    return dst


def ham_mask(data: Path, cid: str = BAD) -> np.ndarray:
    from PIL import Image

    return np.asarray(Image.open(_ham_dir(data) / "test_masks" / f"{cid}.png"))


def save_png(path: Path, arr: np.ndarray) -> None:
    from PIL import Image

    path.parent.mkdir(parents=True, exist_ok=True)
    Image.fromarray(arr).save(path)


def ct_paths(data: Path) -> tuple[Path, Path]:
    base = data / "ct" / "totalsegmentator_example"
    return base / "example_ct_sm.nii.gz", base / "example_seg_fast" / "liver.nii.gz"


def ct(dst: Path, data: Path, *, ext: str = ".nii.gz", ids=CT_IDS) -> Path:
    """The real 30-slice CT with its liver mask as ``images/<id><ext>`` + ``masks/<id><ext>``."""
    import SimpleITK as sitk

    sitk.ProcessObject.SetGlobalWarningDisplay(False)
    img, mask = ct_paths(data)
    (dst / "images").mkdir(parents=True, exist_ok=True)
    (dst / "masks").mkdir(parents=True, exist_ok=True)
    for cid in ids:
        for src, sub in ((img, "images"), (mask, "masks")):
            out = dst / sub / f"{cid}{ext}"
            if ext == ".nii.gz":
                shutil.copyfile(src, out)
            else:
                sitk.WriteImage(sitk.ReadImage(str(src)), str(out), useCompression=ext.endswith("z.nrrd"))
    return dst


def ct_arrays(data: Path):
    """``(image, mask, sitk image of the mask)`` of the real CT, arrays ``(Z, Y, X)``."""
    import SimpleITK as sitk

    img, mask = ct_paths(data)
    m = sitk.ReadImage(str(mask))
    return sitk.GetArrayFromImage(sitk.ReadImage(str(img))), sitk.GetArrayFromImage(m), m


def write_like(path: Path, arr: np.ndarray, like, *, spacing=None, origin=None, direction=None) -> None:
    import SimpleITK as sitk

    out = sitk.GetImageFromArray(arr)
    out.SetSpacing(spacing or like.GetSpacing())
    out.SetOrigin(origin or like.GetOrigin())
    out.SetDirection(direction or like.GetDirection())
    path.parent.mkdir(parents=True, exist_ok=True)
    sitk.WriteImage(out, str(path), useCompression=str(path).endswith(".gz"))


def msd(dst: Path, data: Path, *, labels=None, extra_training=()) -> Path:
    img, mask = ct_paths(data)
    (dst / "imagesTr").mkdir(parents=True, exist_ok=True)
    (dst / "labelsTr").mkdir(parents=True, exist_ok=True)
    training = []
    for cid in CT_IDS:
        shutil.copyfile(img, dst / "imagesTr" / f"{cid}.nii.gz")
        shutil.copyfile(mask, dst / "labelsTr" / f"{cid}.nii.gz")
        training.append({"image": f"./imagesTr/{cid}.nii.gz", "label": f"./labelsTr/{cid}.nii.gz"})
    training += list(extra_training)
    spec = {"name": "corpus", "labels": labels or {"0": "background", "1": "liver"}, "modality": {"0": "CT"},
            "numTraining": len(training), "training": training}
    (dst / "dataset.json").write_text(json.dumps(spec, indent=1))
    return dst


def dicom_dir(data: Path) -> Path:
    return data / "dicom" / "pydicom_dicomdirtests" / "98892001" / "CT5N"


def dicom(dst: Path, data: Path, *, seg: bool = True, name: str = "CT5N") -> Path:
    """``<name>/`` (the real 5-slice pydicom CT series) with a mask NIfTI ``<name>_seg.nii.gz``
    beside it (a threshold of the real pixels), ``other/`` (the same slices as another series),
    and ``ct-3slice/`` with its real DICOM SEG."""
    from curator.core.io.dicom import read_dicom_image
    from curator.core.io.writers import write_mask

    import pydicom
    from pydicom.uid import generate_uid

    for folder, new_uids in ((name, False), ("other", True)):
        series = dst / folder
        series.mkdir(parents=True, exist_ok=True)
        uid = generate_uid()
        for f in sorted(dicom_dir(data).iterdir()):
            if not new_uids:
                shutil.copyfile(f, series / f.name)
                continue
            ds = pydicom.dcmread(str(f))  # the same real slices as a series of their own
            ds.SeriesInstanceUID, ds.SOPInstanceUID, ds.SeriesNumber = uid, generate_uid(), 9
            ds.save_as(str(series / f.name))
        img = read_dicom_image(series)
        labels = (img.array > np.median(img.array)).astype(np.uint8)
        write_mask(dst / f"{folder}_seg.nii.gz", labels, geometry=img.geometry)
    if seg:
        src = data / "ct" / "dcmqi_ct-3slice"
        shutil.copytree(src / "ct-3slice", dst / "ct-3slice")
        shutil.copyfile(src / "liver.dcm", dst / "liver.dcm")
    return dst


def truncate(path: Path, fraction: float = 0.5, *, keep: int | None = None) -> None:
    data = path.read_bytes()
    path.write_bytes(data[: keep if keep is not None else int(len(data) * fraction)])


def empty(path: Path) -> None:
    path.write_bytes(b"")


def _png_chunk(kind: bytes, payload: bytes) -> bytes:
    return struct.pack(">I", len(payload)) + kind + payload + struct.pack(">I", zlib.crc32(kind + payload) & 0xFFFFFFFF)


def zero_png(path: Path, width: int, height: int) -> None:
    """A valid all-black 8-bit grey PNG of any size, written without ever holding the pixels."""
    comp = zlib.compressobj(9)
    row = b"\0" * (width + 1)
    body = bytearray()
    for _ in range(height):
        body += comp.compress(row)
    body += comp.flush()
    ihdr = struct.pack(">IIBBBBB", width, height, 8, 0, 0, 0, 0)
    path.parent.mkdir(parents=True, exist_ok=True)
    path.write_bytes(b"\x89PNG\r\n\x1a\n" + _png_chunk(b"IHDR", ihdr) + _png_chunk(b"IDAT", bytes(body))
                     + _png_chunk(b"IEND", b""))


def nifti_claiming(path: Path, shape_xyz, *, dtype=np.uint8, zeros: bool = False, payload: bytes = b"") -> None:
    """A gzip NIfTI whose header claims ``shape_xyz``; its data is all zeros (a decompression bomb)
    when ``zeros``, else just ``payload``."""
    import nibabel as nib

    hdr = nib.Nifti1Header()
    hdr.set_data_shape(shape_xyz)
    hdr.set_data_dtype(dtype)
    hdr.set_zooms((1.0,) * len(shape_xyz))
    hdr["vox_offset"] = 352
    hdr.set_qform(np.eye(4), 1)
    raw = hdr.binaryblock + b"\0" * 4
    path.parent.mkdir(parents=True, exist_ok=True)
    with gzip.open(path, "wb", compresslevel=1) as fh:
        fh.write(raw)
        if zeros:
            n = int(np.prod(shape_xyz)) * np.dtype(dtype).itemsize
            chunk = b"\0" * (1 << 24)
            while n > 0:
                fh.write(chunk[: min(n, len(chunk))])
                n -= len(chunk)
        else:
            fh.write(payload)


# ----------------------------------------------------------------------------------------------
# truncated files

@entry("trunc_png_image", "truncated", "a PNG image cut in half",
       Expect("case_error", ("unreadable_image",), BAD, f"{BAD}.png"))
def _(root, data):
    ham(root, data, img="png")
    truncate(root / "images" / f"{BAD}.png")


@entry("trunc_png_mask", "truncated", "a PNG mask cut in half",
       Expect("case_error", ("unreadable_mask",), BAD, f"{BAD}.png"))
def _(root, data):
    ham(root, data)
    truncate(root / "masks" / f"{BAD}.png", 0.6)


@entry("trunc_jpeg_image", "truncated", "a JPEG image cut in half",
       Expect("case_error", ("unreadable_image",), BAD, f"{BAD}.jpg"))
def _(root, data):
    ham(root, data)
    truncate(root / "images" / f"{BAD}.jpg")


@entry("trunc_jpeg_mask", "truncated", "a JPEG mask cut in half",
       Expect("case_error", ("unreadable_mask",), BAD, f"{BAD}.jpg"))
def _(root, data):
    ham(root, data, mask="jpg")
    truncate(root / "masks" / f"{BAD}.jpg")


@entry("trunc_bmp_image", "truncated", "a BMP image cut in half",
       Expect("case_error", ("unreadable_image",), BAD, f"{BAD}.bmp"))
def _(root, data):
    ham(root, data, img="bmp")
    truncate(root / "images" / f"{BAD}.bmp")


@entry("trunc_bmp_mask", "truncated", "a BMP mask cut in half",
       Expect("case_error", ("unreadable_mask",), BAD, f"{BAD}.bmp"))
def _(root, data):
    ham(root, data, mask="bmp")
    truncate(root / "masks" / f"{BAD}.bmp")


@entry("trunc_nii_image", "truncated", "an uncompressed .nii CT cut in half",
       Expect("case_error", ("unreadable_image",), "ct_b", "ct_b.nii"), ndim=3)
def _(root, data):
    ct(root, data, ext=".nii")
    truncate(root / "images" / "ct_b.nii")


@entry("trunc_nii_mask", "truncated", "an uncompressed .nii mask cut in half",
       Expect("case_error", ("unreadable_mask",), "ct_b", "ct_b.nii"), ndim=3)
def _(root, data):
    ct(root, data, ext=".nii")
    truncate(root / "masks" / "ct_b.nii")


@entry("trunc_niigz_image", "truncated", "a .nii.gz CT cut in half (was read as zero-filled)",
       Expect("case_error", ("unreadable_image",), "ct_b", "ct_b.nii.gz"), ndim=3)
def _(root, data):
    ct(root, data)
    truncate(root / "images" / "ct_b.nii.gz")


@entry("trunc_niigz_mask", "truncated", "a .nii.gz mask cut short (was read as zero-filled)",
       Expect("case_error", ("unreadable_mask",), "ct_b", "ct_b.nii.gz"), ndim=3)
def _(root, data):
    ct(root, data)
    truncate(root / "masks" / "ct_b.nii.gz", 0.8)


@entry("trunc_niigz_tail", "truncated", "a .nii.gz missing only its last 8 bytes (the gzip trailer)",
       Expect("case_error", ("unreadable_image",), "ct_b", "ct_b.nii.gz"), ndim=3)
def _(root, data):
    ct(root, data)
    p = root / "images" / "ct_b.nii.gz"
    truncate(p, keep=p.stat().st_size - 8)


@entry("trunc_nrrd_image", "truncated", "a raw NRRD CT cut in half",
       Expect("case_error", ("unreadable_image",), "ct_b", "ct_b.nrrd"), ndim=3)
def _(root, data):
    ct(root, data, ext=".nrrd")
    truncate(root / "images" / "ct_b.nrrd")


@entry("trunc_nrrd_gz_mask", "truncated", "a gzip NRRD mask cut short",
       Expect("case_error", ("unreadable_mask",), "ct_b", "ct_b.nrrd"), ndim=3)
def _(root, data):
    import SimpleITK as sitk

    ct(root, data, ext=".nrrd")
    m = root / "masks" / "ct_b.nrrd"
    sitk.WriteImage(sitk.ReadImage(str(m)), str(m), useCompression=True)
    truncate(m, 0.7)


@entry("trunc_mha_image", "truncated", "a MetaImage CT cut in half",
       Expect("case_error", ("unreadable_image",), "ct_b", "ct_b.mha"), ndim=3)
def _(root, data):
    ct(root, data, ext=".mha")
    truncate(root / "images" / "ct_b.mha")


@entry("trunc_dicom_pixels", "truncated", "a DICOM slice whose pixel data is cut short",
       Expect("case_error", ("unreadable_slice",), "CT5N", "2392"), ndim=3)
def _(root, data):
    dicom(root, data)
    p = root / "CT5N" / "2392"
    truncate(p, keep=p.stat().st_size - 200)


@entry("trunc_dicom_header", "truncated", "a DICOM slice cut inside its header (was reported as a gap)",
       Expect("case_error", ("unreadable_slice",), "CT5N", "2392"), ndim=3)
def _(root, data):
    dicom(root, data)
    truncate(root / "CT5N" / "2392", keep=400)


@entry("trunc_dicom_seg", "truncated", "a DICOM SEG cut in half",
       Expect("case_error", ("unreadable_mask",), "ct-3slice", "liver.dcm"), ndim=3)
def _(root, data):
    dicom(root, data)
    truncate(root / "liver.dcm")


# ----------------------------------------------------------------------------------------------
# zero-byte files

@entry("empty_png_image", "empty", "a 0-byte PNG image",
       Expect("case_error", ("unreadable_image",), BAD, f"{BAD}.png"))
def _(root, data):
    ham(root, data, img="png")
    empty(root / "images" / f"{BAD}.png")


@entry("empty_png_mask", "empty", "a 0-byte PNG mask",
       Expect("case_error", ("unreadable_mask",), BAD, f"{BAD}.png"))
def _(root, data):
    ham(root, data)
    empty(root / "masks" / f"{BAD}.png")


@entry("empty_jpeg_image", "empty", "a 0-byte JPEG image",
       Expect("case_error", ("unreadable_image",), BAD, f"{BAD}.jpg"))
def _(root, data):
    ham(root, data)
    empty(root / "images" / f"{BAD}.jpg")


@entry("empty_bmp_mask", "empty", "a 0-byte BMP mask",
       Expect("case_error", ("unreadable_mask",), BAD, f"{BAD}.bmp"))
def _(root, data):
    ham(root, data, mask="bmp")
    empty(root / "masks" / f"{BAD}.bmp")


@entry("empty_nii_image", "empty", "a 0-byte .nii image",
       Expect("case_error", ("unreadable_image",), "ct_b", "ct_b.nii"), ndim=3)
def _(root, data):
    ct(root, data, ext=".nii")
    empty(root / "images" / "ct_b.nii")


@entry("empty_niigz_mask", "empty", "a 0-byte .nii.gz mask",
       Expect("case_error", ("unreadable_mask",), "ct_b", "ct_b.nii.gz"), ndim=3)
def _(root, data):
    ct(root, data)
    empty(root / "masks" / "ct_b.nii.gz")


@entry("empty_niigz_image", "empty", "a 0-byte .nii.gz image",
       Expect("case_error", ("unreadable_image",), "ct_b", "ct_b.nii.gz"), ndim=3)
def _(root, data):
    ct(root, data)
    empty(root / "images" / "ct_b.nii.gz")


@entry("empty_nrrd_image", "empty", "a 0-byte NRRD image",
       Expect("case_error", ("unreadable_image",), "ct_b", "ct_b.nrrd"), ndim=3)
def _(root, data):
    ct(root, data, ext=".nrrd")
    empty(root / "images" / "ct_b.nrrd")


@entry("empty_mha_mask", "empty", "a 0-byte MetaImage mask",
       Expect("case_error", ("unreadable_mask",), "ct_b", "ct_b.mha"), ndim=3)
def _(root, data):
    ct(root, data, ext=".mha")
    empty(root / "masks" / "ct_b.mha")


@entry("empty_dicom_slice", "empty", "a 0-byte file among a DICOM series' slices",
       Expect("case_error", ("unreadable_slice",), "CT5N", "2392"), ndim=3)
def _(root, data):
    dicom(root, data)
    empty(root / "CT5N" / "2392")


@entry("empty_dicom_seg", "empty", "a 0-byte DICOM SEG (its series loses its mask; the file is named)",
       Expect("case_error", ("missing_mask",), "ct-3slice", "ct-3slice"), ndim=3)
def _(root, data):
    dicom(root, data)
    empty(root / "liver.dcm")


# ----------------------------------------------------------------------------------------------
# shapes and geometry

@entry("mask_transposed", "geometry", "a mask stored transposed (450x600 for a 600x450 image)",
       Expect("case_error", ("shape_mismatch",), BAD, "450x600"))
def _(root, data):
    ham(root, data)
    save_png(root / "masks" / f"{BAD}.png", np.ascontiguousarray(ham_mask(data).T))


@entry("mask_one_row_short", "geometry", "a mask one row short",
       Expect("case_error", ("shape_mismatch",), BAD, "449x600"))
def _(root, data):
    ham(root, data)
    save_png(root / "masks" / f"{BAD}.png", ham_mask(data)[:-1])


@entry("mask_fewer_slices", "geometry", "a 3D mask with 29 of the CT's 30 slices",
       Expect("case_error", ("shape_mismatch",), "ct_b", "ct_b.nii.gz"), ndim=3)
def _(root, data):
    ct(root, data)
    _, mask, m = ct_arrays(data)
    write_like(root / "masks" / "ct_b.nii.gz", mask[:-1], m)


@entry("mask_other_spacing", "geometry", "a 3D mask with another voxel spacing",
       Expect("case_error", ("geometry_mismatch",), "ct_b", "spacing"), ndim=3)
def _(root, data):
    ct(root, data)
    _, mask, m = ct_arrays(data)
    write_like(root / "masks" / "ct_b.nii.gz", mask, m, spacing=(2.0, 2.0, 2.0))


@entry("mask_other_origin", "geometry", "a 3D mask shifted by 30 mm",
       Expect("case_error", ("geometry_mismatch",), "ct_b", "origin"), ndim=3)
def _(root, data):
    ct(root, data)
    _, mask, m = ct_arrays(data)
    o = m.GetOrigin()
    write_like(root / "masks" / "ct_b.nii.gz", mask, m, origin=(o[0] + 30.0, o[1], o[2]))


@entry("mask_oblique", "geometry", "a 3D mask on a rotated grid",
       Expect("case_error", ("geometry_mismatch",), "ct_b", "orientation"), ndim=3)
def _(root, data):
    ct(root, data)
    _, mask, m = ct_arrays(data)
    c, s = np.cos(0.3), np.sin(0.3)
    d = np.asarray(m.GetDirection()).reshape(3, 3) @ np.array([[c, -s, 0], [s, c, 0], [0, 0, 1]])
    write_like(root / "masks" / "ct_b.nii.gz", mask, m, direction=tuple(d.ravel()))


@entry("mask_flipped_axes", "geometry", "a 3D mask stored with its rows flipped (same voxels): aligned exactly",
       Expect("ok"), ndim=3)
def _(root, data):
    ct(root, data)
    _, mask, m = ct_arrays(data)
    a = np.asarray(m.GetDirection()).reshape(3, 3).copy()
    origin = np.asarray(m.GetOrigin()) + a[:, 1] * m.GetSpacing()[1] * (mask.shape[1] - 1)
    a[:, 1] *= -1
    write_like(root / "masks" / "ct_b.nii.gz", mask[:, ::-1, :].copy(), m, origin=tuple(origin),
               direction=tuple(a.ravel()))


@entry("image_4d", "geometry", "a 4-D NIfTI (two volumes) given as the image",
       Expect("case_error", ("unreadable_image",), "ct_b", "4-D"), ndim=3)
def _(root, data):
    import nibabel as nib

    ct(root, data)
    im = nib.load(str(ct_paths(data)[0]))
    arr = np.asanyarray(im.dataobj)
    nib.save(nib.Nifti1Image(np.stack([arr, arr], -1), im.affine), str(root / "images" / "ct_b.nii.gz"))


@entry("mask_single_slice", "geometry", "a 2-D NIfTI mask for a 3-D image",
       Expect("case_error", ("shape_mismatch",), "ct_b", "2-D"), ndim=3)
def _(root, data):
    import SimpleITK as sitk

    ct(root, data)
    _, mask, _m = ct_arrays(data)
    sitk.WriteImage(sitk.GetImageFromArray(mask[15]), str(root / "masks" / "ct_b.nii.gz"))


@entry("mask_vector", "geometry", "a 3-D mask with two components per voxel",
       Expect("case_error", ("mask_not_labels",), "ct_b", "components"), ndim=3)
def _(root, data):
    import SimpleITK as sitk

    ct(root, data)
    _, mask, m = ct_arrays(data)
    v = sitk.GetImageFromArray(np.stack([mask, mask], -1), isVector=True)
    v.CopyInformation(m)
    sitk.WriteImage(v, str(root / "masks" / "ct_b.nii.gz"))


@entry("image_2d_mask_3d", "geometry", "a PNG image whose mask is a NIfTI volume",
       Expect("case_error", ("shape_mismatch",), BAD, "3-D"))
def _(root, data):
    import SimpleITK as sitk

    ham(root, data)
    (root / "masks" / f"{BAD}.png").unlink()
    sitk.WriteImage(sitk.GetImageFromArray(np.stack([ham_mask(data)] * 3)), str(root / "masks" / f"{BAD}.nii.gz"))


@entry("tiny_image", "geometry", "a 3x2 pixel image with its mask", Expect("ok"))
def _(root, data):
    from PIL import Image

    ham(root, data)
    Image.open(root / "images" / f"{BAD}.jpg").resize((3, 2)).save(root / "images" / f"{BAD}.png")
    (root / "images" / f"{BAD}.jpg").unlink()
    save_png(root / "masks" / f"{BAD}.png", np.array([[0, 255, 0], [255, 255, 0]], np.uint8))


@entry("grey16_image", "geometry", "a 16-bit grey PNG image", Expect("ok"))
def _(root, data):
    from PIL import Image

    ham(root, data)
    grey = np.asarray(Image.open(root / "images" / f"{BAD}.jpg").convert("L")).astype(np.uint16) * 257
    Image.fromarray(grey).save(root / "images" / f"{BAD}.png")
    (root / "images" / f"{BAD}.jpg").unlink()


# ----------------------------------------------------------------------------------------------
# label values

@entry("label_300", "labels", "one 3-D mask holds label 300 beside the liver (crashed proposals)",
       Expect("ok"), ndim=3)
def _(root, data):
    ct(root, data)
    _, mask, m = ct_arrays(data)
    lab = mask.astype(np.uint16)
    lab[10:14, 40:50, 40:50] = 300
    write_like(root / "masks" / "ct_b.nii.gz", lab, m)


@entry("label_1000_png16", "labels", "a 16-bit PNG mask with values 0, 1 and 1000 (1 was lost)",
       Expect("case_warning", ("grey_levels",), BAD, "1000", deep=True))
def _(root, data):
    from PIL import Image

    ham(root, data)
    m = (ham_mask(data) > 0).astype(np.uint16)
    m[:, :300] *= 1000
    Image.fromarray(m).save(root / "masks" / f"{BAD}.png")


@entry("grey_0_128_255", "labels", "a grey mask with values 0, 128 and 255 (collapsed to 0/255)",
       Expect("case_warning", ("grey_levels",), BAD, "128", deep=True))
def _(root, data):
    ham(root, data)
    m = ham_mask(data).copy()
    m[(m > 0) & (np.arange(m.shape[1]) < 300)[None, :]] = 128
    save_png(root / "masks" / f"{BAD}.png", m)


@entry("stray_2_7_in_01", "labels", "a 0/1 mask with stray pixels of 2 and 7 (became extra classes)",
       Expect("case_error", ("stray_labels",), BAD, "7", deep=True))
def _(root, data):
    ham(root, data)
    m = (ham_mask(data) > 0).astype(np.uint8)
    m[5, 5] = 2
    m[6:8, 6:8] = 7
    save_png(root / "masks" / f"{BAD}.png", m)


@entry("stray_2_7_in_0255", "labels", "a 0/255 mask with stray pixels of 2 and 7",
       Expect("case_error", ("stray_labels",), BAD, "7", deep=True))
def _(root, data):
    ham(root, data)
    m = ham_mask(data).copy()
    m[5, 5] = 2
    m[6:8, 6:8] = 7
    save_png(root / "masks" / f"{BAD}.png", m)


@entry("negative_labels", "labels", "a NIfTI mask holding -1",
       Expect("case_error", ("unreadable_mask",), "ct_b", "negative", deep=True), ndim=3)
def _(root, data):
    ct(root, data)
    _, mask, m = ct_arrays(data)
    lab = mask.astype(np.int16)
    lab[0, :5, :5] = -1
    write_like(root / "masks" / "ct_b.nii.gz", lab, m)


@entry("probability_mask", "labels", "a float NIfTI probability map given as the mask",
       Expect("case_error", ("non_integer_mask",), "ct_b", "non-integer"), ndim=3)
def _(root, data):
    ct(root, data)
    _, mask, m = ct_arrays(data)
    write_like(root / "masks" / "ct_b.nii.gz", mask.astype(np.float32) * 0.7, m)


@entry("nan_mask", "labels", "a float NIfTI mask holding NaN",
       Expect("case_error", ("unreadable_mask", "non_integer_mask"), "ct_b", "NaN"), ndim=3)
def _(root, data):
    ct(root, data)
    _, mask, m = ct_arrays(data)
    lab = mask.astype(np.float32)
    lab[0, 0, 0] = np.nan
    write_like(root / "masks" / "ct_b.nii.gz", lab, m)


@entry("float_integer_mask", "labels", "a float32 NIfTI mask holding only 0.0 and 1.0", Expect("ok"), ndim=3)
def _(root, data):
    ct(root, data)
    _, mask, m = ct_arrays(data)
    write_like(root / "masks" / "ct_b.nii.gz", mask.astype(np.float32), m)


@entry("label_70000", "labels", "an int32 NIfTI mask with label 70000",
       Expect("case_error", ("unreadable_mask",), "ct_b", "70000", deep=True), ndim=3)
def _(root, data):
    ct(root, data)
    _, mask, m = ct_arrays(data)
    write_like(root / "masks" / "ct_b.nii.gz", mask.astype(np.int32) * 70000, m)


@entry("empty_mask", "labels", "an all-background mask",
       Expect("case_warning", ("empty_mask",), BAD, f"{BAD}.png", deep=True))
def _(root, data):
    ham(root, data)
    save_png(root / "masks" / f"{BAD}.png", np.zeros_like(ham_mask(data)))


@entry("full_mask", "labels", "a mask covering the whole image",
       Expect("case_warning", ("full_mask",), BAD, f"{BAD}.png", deep=True))
def _(root, data):
    ham(root, data)
    save_png(root / "masks" / f"{BAD}.png", np.full_like(ham_mask(data), 255))


@entry("png16_0_65535", "labels", "a 16-bit PNG mask 0/65535", Expect("ok"))
def _(root, data):
    from PIL import Image

    ham(root, data)
    Image.fromarray((ham_mask(data) > 0).astype(np.uint16) * 65535).save(root / "masks" / f"{BAD}.png")


@entry("antialiased_grey", "labels", "a lossless grey mask with anti-aliased edges (many grey levels)",
       Expect("case_warning", ("lossy_mask",), BAD, "grey levels", deep=True))
def _(root, data):
    from scipy import ndimage

    ham(root, data)
    m = ndimage.gaussian_filter(ham_mask(data).astype(float), 3)
    save_png(root / "masks" / f"{BAD}.png", np.clip(m, 0, 255).astype(np.uint8))


@entry("undeclared_label", "labels", "an MSD mask holding label 2 that dataset.json does not declare",
       Expect("case_error", ("undeclared_label",), "ct_b", "2", deep=True), ndim=3)
def _(root, data):
    msd(root, data)
    _, mask, m = ct_arrays(data)
    lab = mask.copy()
    lab[10:14, 40:50, 40:50] = 2
    write_like(root / "labelsTr" / "ct_b.nii.gz", lab, m)


# ----------------------------------------------------------------------------------------------
# colour masks

@entry("rgb_two_colours", "colour", "an RGB mask, red on black", Expect("ok"))
def _(root, data):
    ham(root, data)
    m = ham_mask(data)
    rgb = np.zeros(m.shape + (3,), np.uint8)
    rgb[m > 0] = (200, 30, 30)
    save_png(root / "masks" / f"{BAD}.png", rgb)


@entry("rgb_photo_as_mask", "colour", "the photograph itself given as the mask",
       Expect("case_error", ("unreadable_mask",), BAD, "colours", deep=True))
def _(root, data):
    from PIL import Image

    ham(root, data)
    Image.open(root / "images" / f"{BAD}.jpg").save(root / "masks" / f"{BAD}.png")


@entry("rgba_mask", "colour", "an RGBA mask (alpha 255)", Expect("ok"))
def _(root, data):
    ham(root, data)
    m = ham_mask(data)
    rgba = np.zeros(m.shape + (4,), np.uint8)
    rgba[..., 3] = 255
    rgba[m > 0, :3] = 255
    save_png(root / "masks" / f"{BAD}.png", rgba)


@entry("palette_mask", "colour", "a palette PNG mask", Expect("ok"))
def _(root, data):
    from PIL import Image

    ham(root, data)
    im = Image.fromarray((ham_mask(data) > 0).astype(np.uint8), mode="P")
    im.putpalette([0, 0, 0, 0, 200, 0] + [0] * 762)
    im.save(root / "masks" / f"{BAD}.png")


@entry("jpeg_colour_mask", "colour", "a red-on-black mask saved as JPEG (lossy colours)",
       Expect("case_error", ("unreadable_mask",), BAD, "distinct colours", deep=True))
def _(root, data):
    from PIL import Image

    ham(root, data)
    m = ham_mask(data)
    rgb = np.zeros(m.shape + (3,), np.uint8)
    rgb[m > 0] = (220, 20, 20)
    (root / "masks" / f"{BAD}.png").unlink()
    Image.fromarray(rgb).save(root / "masks" / f"{BAD}.jpg", quality=80)


@entry("rgb_grey_mask", "colour", "an RGB mask whose channels are equal (0/255)", Expect("ok"))
def _(root, data):
    ham(root, data)
    save_png(root / "masks" / f"{BAD}.png", np.repeat(ham_mask(data)[..., None], 3, axis=2))


# ----------------------------------------------------------------------------------------------
# decompression bombs and huge headers

@entry("huge_header_niigz", "huge", "a small .nii.gz whose header claims 2048x2048x2048",
       Expect("case_error", ("too_large",), "ct_b", "ct_b.nii.gz"), ndim=3)
def _(root, data):
    ct(root, data)
    nifti_claiming(root / "images" / "ct_b.nii.gz", (2048, 2048, 2048), dtype=np.int16,
                   payload=gzip.decompress(ct_paths(data)[0].read_bytes())[352:])


@entry("bomb_niigz_zeros", "huge", "a 0.6 MB .nii.gz that inflates to 660 million zero voxels",
       Expect("case_error", ("too_large",), "ct_b", "ct_b.nii.gz"), ndim=3)
def _(root, data):
    ct(root, data)
    nifti_claiming(root / "masks" / "ct_b.nii.gz", (1100, 1000, 600), zeros=True)


@entry("bomb_png_9000", "huge", "a 9000x9000 all-black PNG mask (81 Mpx in 80 kB)",
       Expect("case_error", ("too_large",), BAD, f"{BAD}.png"))
def _(root, data):
    ham(root, data)
    zero_png(root / "masks" / f"{BAD}.png", 9000, 9000)


@entry("bomb_png_20000", "huge", "a 20000x20000 PNG image (beyond Pillow's own bomb limit)",
       Expect("case_error", ("too_large",), BAD, f"{BAD}.png"))
def _(root, data):
    ham(root, data)
    zero_png(root / "images" / f"{BAD}.png", 20000, 20000)
    (root / "images" / f"{BAD}.jpg").unlink()


@entry("huge_nrrd_header", "huge", "a NRRD whose header claims 4000x4000x4000",
       Expect("case_error", ("too_large",), "ct_b", "ct_b.nrrd"), ndim=3)
def _(root, data):
    ct(root, data, ext=".nrrd")
    p = root / "images" / "ct_b.nrrd"
    head, _, body = p.read_bytes().partition(b"\n\n")
    lines = [b"sizes: 4000 4000 4000" if ln.startswith(b"sizes:") else ln for ln in head.split(b"\n")]
    p.write_bytes(b"\n".join(lines) + b"\n\n" + body[:1000])


@entry("huge_bmp_header", "huge", "a BMP whose header claims 30000x30000",
       Expect("case_error", ("too_large", "unreadable_image"), BAD, f"{BAD}.bmp"))
def _(root, data):
    ham(root, data, img="bmp")
    p = root / "images" / f"{BAD}.bmp"
    b = bytearray(p.read_bytes())
    b[18:26] = struct.pack("<ii", 30000, 30000)
    p.write_bytes(bytes(b[:4096]))


@entry("huge_jpeg_header", "huge", "a JPEG whose frame header claims 60000x60000",
       Expect("case_error", ("too_large",), BAD, f"{BAD}.jpg"))
def _(root, data):
    ham(root, data)
    p = root / "images" / f"{BAD}.jpg"
    b = bytearray(p.read_bytes())
    i = b.find(b"\xff\xc0")
    b[i + 5:i + 9] = struct.pack(">HH", 60000, 60000)
    p.write_bytes(bytes(b))


@entry("huge_dicom_rows", "huge", "DICOM slices whose headers claim 30000x30000 pixels",
       Expect("case_error", ("too_large",), "CT5N", "30000"), ndim=3)
def _(root, data):
    import pydicom

    dicom(root, data)
    for f in (root / "CT5N").iterdir():
        ds = pydicom.dcmread(str(f))
        ds.Rows = ds.Columns = 30000
        ds.save_as(str(f))


# ----------------------------------------------------------------------------------------------
# names

@entry("unicode_names", "names", "file names in French and Chinese", Expect("ok"))
def _(root, data):
    ham(root, data)
    for old, new in ((HAM[0], "lésion_été"), (HAM[1], "皮肤病变_1")):
        (root / "images" / f"{old}.jpg").rename(root / "images" / f"{new}.jpg")
        (root / "masks" / f"{old}.png").rename(root / "masks" / f"{new}.png")


@entry("spaces_in_names", "names", "file and folder names with spaces", Expect("ok"))
def _(root, data):
    ham(root, data)
    for sub in ("images", "masks"):
        for p in (root / sub).iterdir():
            p.rename(p.with_name("case " + p.name))
    (root / "images").rename(root / "my images")
    (root / "masks").rename(root / "my masks")


@entry("long_name_240", "names", "a 240-character file name (its cache file's name was too long)", Expect("ok"))
def _(root, data):
    ham(root, data)
    long = "L" * 236
    (root / "images" / f"{BAD}.jpg").rename(root / "images" / f"{long}.jpg")
    (root / "masks" / f"{BAD}.png").rename(root / "masks" / f"{long}.png")


@entry("formula_names", "names", "case ids starting with = + - @ (spreadsheet formulas)", Expect("ok"))
def _(root, data):
    ham(root, data)
    for old, new in zip(HAM, ("=HYPERLINK(1)", "+1+1", "-2+3", "@SUM(1)")):
        (root / "images" / f"{old}.jpg").rename(root / "images" / f"{new}.jpg")
        (root / "masks" / f"{old}.png").rename(root / "masks" / f"{new}.png")


@entry("newline_in_name", "names", "a file name holding a newline and quotes", Expect("ok"))
def _(root, data):
    ham(root, data)
    new = 'two\nlines "q" \'s'
    (root / "images" / f"{BAD}.jpg").rename(root / "images" / f"{new}.jpg")
    (root / "masks" / f"{BAD}.png").rename(root / "masks" / f"{new}.png")


@entry("upper_suffixes", "names", "upper-case suffixes (.JPG, .PNG)", Expect("ok"))
def _(root, data):
    ham(root, data)
    (root / "images" / f"{BAD}.jpg").rename(root / "images" / f"{BAD}.JPG")
    (root / "masks" / f"{BAD}.png").rename(root / "masks" / f"{BAD}.PNG")


@entry("dots_in_names", "names", "names with several dots (a..b.v2.png)", Expect("ok"))
def _(root, data):
    ham(root, data)
    (root / "images" / f"{BAD}.jpg").rename(root / "images" / "a..b.v2.jpg")
    (root / "masks" / f"{BAD}.png").rename(root / "masks" / "a..b.v2.png")


@entry("hidden_files", "names", "hidden files and macOS resource forks beside the cases", Expect("ok"))
def _(root, data):
    ham(root, data)
    (root / "images" / f"._{BAD}.jpg").write_bytes(b"\0\5\26\7 resource fork")
    (root / "masks" / f".{BAD}.png").write_bytes(b"junk")
    (root / "__MACOSX").mkdir()
    (root / "__MACOSX" / "x.png").write_bytes(b"junk")


# ----------------------------------------------------------------------------------------------
# symlinks

@entry("symlinked_files", "symlinks", "every file a symlink into another folder", Expect("ok"))
def _(root, data):
    store = root.parent / f"{root.name}-store"
    ham(store, data)
    for sub in ("images", "masks"):
        (root / sub).mkdir(parents=True)
        for p in (store / sub).iterdir():
            (root / sub / p.name).symlink_to(p)


@entry("dangling_mask_link", "symlinks", "a mask that is a symlink to nothing",
       Expect("case_error", ("unreadable_mask", "missing_mask"), BAD, f"{BAD}.png"))
def _(root, data):
    ham(root, data)
    (root / "masks" / f"{BAD}.png").unlink()
    (root / "masks" / f"{BAD}.png").symlink_to(root / "nowhere.png")


@entry("dangling_image_link", "symlinks", "an image that is a symlink to nothing",
       Expect("case_error", ("unreadable_image", "missing_image"), BAD, f"{BAD}.jpg"))
def _(root, data):
    ham(root, data)
    (root / "images" / f"{BAD}.jpg").unlink()
    (root / "images" / f"{BAD}.jpg").symlink_to(root / "nowhere.jpg")


@entry("symlink_loop_dir", "symlinks", "a folder symlink pointing back at the dataset (a loop)",
       Expect("ok"))
def _(root, data):
    ham(root, data)
    (root / "images" / "loop").symlink_to(root)
    (root / "masks" / "again").symlink_to(root / "masks")


@entry("self_link", "symlinks", "a mask that is a symlink to itself",
       Expect("case_error", ("unreadable_mask", "missing_mask"), BAD, f"{BAD}.png"))
def _(root, data):
    ham(root, data)
    p = root / "masks" / f"{BAD}.png"
    p.unlink()
    p.symlink_to(p)


@entry("link_cycle_pair", "symlinks", "two image symlinks pointing at each other",
       Expect("case_error", ("unreadable_image", "missing_image"), BAD, f"{BAD}.jpg"))
def _(root, data):
    ham(root, data)
    (root / "elsewhere").mkdir()
    a, b = root / "images" / f"{BAD}.jpg", root / "elsewhere" / "other.jpg"
    a.unlink()
    a.symlink_to(b)
    b.symlink_to(a)


@entry("dicom_symlink_loop", "symlinks", "a symlink loop inside a DICOM tree", Expect("ok"), ndim=3)
def _(root, data):
    dicom(root, data)
    (root / "CT5N" / "up").symlink_to(root)
    (root / "deep").mkdir()
    (root / "deep" / "down").symlink_to(root / "deep")


# ----------------------------------------------------------------------------------------------
# unreadable and vanishing files (permissions apply only without root's override: see tests)

@entry("unreadable_image", "unreadable", "an image with mode 000",
       Expect("case_error", ("unreadable_image",), BAD, f"{BAD}.jpg"), unprivileged=True)
def _(root, data):
    ham(root, data)
    (root / "images" / f"{BAD}.jpg").chmod(0)


@entry("unreadable_mask", "unreadable", "a mask with mode 000",
       Expect("case_error", ("unreadable_mask",), BAD, f"{BAD}.png"), unprivileged=True)
def _(root, data):
    ham(root, data)
    (root / "masks" / f"{BAD}.png").chmod(0)


@entry("unreadable_nifti", "unreadable", "a .nii.gz image with mode 000",
       Expect("case_error", ("unreadable_image",), "ct_b", "ct_b.nii.gz"), unprivileged=True, ndim=3)
def _(root, data):
    ct(root, data)
    (root / "images" / "ct_b.nii.gz").chmod(0)


@entry("unreadable_mask_folder", "unreadable", "the masks folder with mode 000 (PermissionError in info)",
       Expect("dataset_error", (), None, "masks"), unprivileged=True, batch=False)
def _(root, data):
    ham(root, data)
    (root / "masks").chmod(0)


@entry("unreadable_series_folder", "unreadable", "one DICOM series folder with mode 000",
       Expect("dataset_warning", ("unreadable_folder",), None, "CT5N"), unprivileged=True, ndim=3)
def _(root, data):
    dicom(root, data)
    (root / "CT5N").chmod(0)


@entry("unreadable_dicom_slice", "unreadable", "one DICOM slice with mode 000",
       Expect("case_error", ("unreadable_slice",), "CT5N", "2392"), unprivileged=True, ndim=3)
def _(root, data):
    dicom(root, data)
    (root / "CT5N" / "2392").chmod(0)


@entry("folder_named_like_mask", "unreadable", "a folder named like a mask file",
       Expect("case_error", ("missing_mask", "unreadable_mask"), BAD, BAD))
def _(root, data):
    ham(root, data)
    (root / "masks" / f"{BAD}.png").unlink()
    (root / "masks" / f"{BAD}.png").mkdir()


# ----------------------------------------------------------------------------------------------
# structure: duplicate stems, other folders, missing halves

@entry("duplicate_image_stem", "structure", "two images with one stem: .jpg and .png",
       Expect("case_error", ("ambiguous_image",), BAD, f"{BAD}.png"))
def _(root, data):
    from PIL import Image

    ham(root, data)
    Image.open(root / "images" / f"{BAD}.jpg").transpose(Image.FLIP_LEFT_RIGHT).save(root / "images" / f"{BAD}.png")


@entry("duplicate_stem_bmp_png", "structure", "two images with one stem: .bmp and .png",
       Expect("case_error", ("ambiguous_image",), BAD, f"{BAD}.bmp"))
def _(root, data):
    from PIL import Image

    ham(root, data, img="png")
    Image.open(root / "images" / f"{BAD}.png").transpose(Image.FLIP_LEFT_RIGHT).save(root / "images" / f"{BAD}.bmp")


@entry("duplicate_mask_stem", "structure", "two masks with one stem: .png and .bmp",
       Expect("case_error", ("ambiguous_mask",), BAD, f"{BAD}.bmp"))
def _(root, data):
    ham(root, data)
    save_png(root / "masks" / f"{BAD}.bmp", np.zeros_like(ham_mask(data)))


@entry("second_image_folder", "structure", "a second image folder beside the first (was ignored)",
       Expect("dataset_warning", ("ignored_folder",), None, "images_extra"))
def _(root, data):
    ham(root, data)
    (root / "images_extra").mkdir()
    shutil.copyfile(root / "images" / f"{BAD}.jpg", root / "images_extra" / "ISIC_9999999.jpg")


@entry("missing_mask", "structure", "an image without a mask",
       Expect("case_error", ("missing_mask",), BAD, f"{BAD}.jpg"))
def _(root, data):
    ham(root, data)
    (root / "masks" / f"{BAD}.png").unlink()


@entry("orphan_mask", "structure", "a mask without an image",
       Expect("dataset_warning", ("orphan_mask",), None, f"{BAD}.png"))
def _(root, data):
    ham(root, data)
    (root / "images" / f"{BAD}.jpg").unlink()


@entry("ph2_bmp_and_jpg", "structure", "a PH2 case with both a .bmp and a .jpg dermoscopic image",
       Expect("case_error", ("ambiguous_image",), "IMD002", "IMD002.bmp"))
def _(root, data):
    from PIL import Image

    base = root / "PH2 Dataset images"
    for n, cid in enumerate(HAM[:3]):
        d = base / f"IMD00{n + 1}"
        (d / f"IMD00{n + 1}_Dermoscopic_Image").mkdir(parents=True)
        (d / f"IMD00{n + 1}_lesion").mkdir(parents=True)
        shutil.copyfile(_ham_dir(data) / "test_images" / f"{cid}.jpg", d / f"IMD00{n + 1}_Dermoscopic_Image" / f"IMD00{n + 1}.jpg")
        Image.open(_ham_dir(data) / "test_masks" / f"{cid}.png").save(d / f"IMD00{n + 1}_lesion" / f"IMD00{n + 1}_lesion.bmp")
    d = base / "IMD002" / "IMD002_Dermoscopic_Image"
    Image.open(d / "IMD002.jpg").transpose(Image.FLIP_TOP_BOTTOM).save(d / "IMD002.bmp")


@entry("isic_two_segmentations", "structure", "an ISIC case with a _segmentation .png and .bmp",
       Expect("case_error", ("ambiguous_mask",), BAD, f"{BAD}_segmentation.bmp"))
def _(root, data):
    from PIL import Image

    root.mkdir(parents=True, exist_ok=True)
    for cid in HAM:
        shutil.copyfile(_ham_dir(data) / "test_images" / f"{cid}.jpg", root / f"{cid}.jpg")
        shutil.copyfile(_ham_dir(data) / "test_masks" / f"{cid}.png", root / f"{cid}_segmentation.png")
    Image.fromarray(np.zeros_like(ham_mask(data))).save(root / f"{BAD}_segmentation.bmp")


@entry("empty_folder_beside", "structure", "empty and unrelated folders and files beside the pairs", Expect("ok"))
def _(root, data):
    ham(root, data)
    (root / "notes").mkdir()
    (root / "README.txt").write_text("a dataset")
    (root / "images" / "Thumbs.db").write_bytes(b"\0" * 10)


# ----------------------------------------------------------------------------------------------
# DICOM

@entry("dicom_no_pixels", "dicom", "a DICOM series whose files hold no pixel data",
       Expect("case_error", ("unreadable_slice",), "CT5N", "pixel data"), ndim=3)
def _(root, data):
    import pydicom

    dicom(root, data)
    for f in (root / "CT5N").iterdir():
        ds = pydicom.dcmread(str(f))
        del ds.PixelData
        ds.save_as(str(f))


@entry("dicom_mixed_series", "dicom", "two series' slices mixed in one folder: told apart", Expect("ok"), ndim=3)
def _(root, data):
    import pydicom
    from pydicom.uid import generate_uid

    dicom(root, data, seg=False)
    uid = generate_uid()
    for f in sorted(dicom_dir(data).iterdir()):  # a second series: the same slices shifted, another UID
        ds = pydicom.dcmread(str(f))
        ds.SeriesInstanceUID = uid
        ds.SOPInstanceUID = generate_uid()
        ds.SeriesNumber = 77
        ds.save_as(str(root / "CT5N" / f"b{f.name}"))
    from curator.core.io.dicom import scan_series
    from curator.core.io.writers import write_mask

    for s in scan_series(root / "CT5N"):
        shape = (len(s.files), s.rows, s.columns)
        lab = np.zeros(shape, np.uint8)
        lab[:, 4:12, 4:12] = 1
        # one mask per series, named after the folder and series number
        write_mask(root / "CT5N" / f"CT5N_s{s.number}_seg.nii.gz", lab, geometry=s.info.geometry)
    (root / "CT5N_seg.nii.gz").unlink()


@entry("dicom_sizes_differ", "dicom", "one slice of a series 8x8 instead of 16x16",
       Expect("case_error", ("inconsistent_size",), "CT5N", "sizes"), ndim=3)
def _(root, data):
    import pydicom

    dicom(root, data)
    f = root / "CT5N" / "2392"
    ds = pydicom.dcmread(str(f))
    arr = ds.pixel_array[:8, :8].copy()
    ds.Rows = ds.Columns = 8
    ds.PixelData = arr.tobytes()
    ds.save_as(str(f))


@entry("dicom_seg_other_series", "dicom", "a DICOM SEG for a series that is not in the folder",
       Expect("dataset_warning", ("orphan_mask",), None, "liver.dcm"), ndim=3)
def _(root, data):
    dicom(root, data, seg=False)
    shutil.copyfile(data / "ct" / "dcmqi_ct-3slice" / "liver.dcm", root / "liver.dcm")


@entry("mask_for_wrong_series", "dicom", "series CT5 and CT5N: CT5N_seg.nii.gz must not go to CT5",
       Expect("case_error", ("missing_mask",), "CT5", "CT5"), ndim=3)
def _(root, data):
    import pydicom
    from pydicom.uid import generate_uid

    dicom(root, data, seg=False)
    (root / "CT5").mkdir()
    uid = generate_uid()
    for f in sorted(dicom_dir(data).iterdir()):
        ds = pydicom.dcmread(str(f))
        ds.SeriesInstanceUID = uid
        ds.SOPInstanceUID = generate_uid()
        ds.save_as(str(root / "CT5" / f.name))


@entry("dicom_duplicate_slice", "dicom", "one slice copied under another name (same position)",
       Expect("case_error", ("duplicate_slices",), "CT5N", "position"), ndim=3)
def _(root, data):
    import pydicom
    from pydicom.uid import generate_uid

    dicom(root, data)
    ds = pydicom.dcmread(str(root / "CT5N" / "2392"))
    ds.SOPInstanceUID = generate_uid()
    ds.save_as(str(root / "CT5N" / "2392copy"))


@entry("dicom_same_series_twice", "dicom", "the same series in two folders (a copy): counted once, said",
       Expect("dataset_warning", ("duplicate_series",), None, "CT5N"), ndim=3)
def _(root, data):
    dicom(root, data)
    shutil.copytree(root / "CT5N", root / "backup" / "CT5N")


@entry("dicom_no_position", "dicom", "slices without ImagePositionPatient",
       Expect("case_warning", ("no_position",), "CT5N", "ImagePositionPatient"), ndim=3, batch=False)
def _(root, data):
    import pydicom

    from curator.core.io.dicom import read_dicom_image
    from curator.core.io.writers import write_mask

    dicom(root, data, seg=False)
    for f in (root / "CT5N").iterdir():
        ds = pydicom.dcmread(str(f))
        del ds.ImagePositionPatient
        ds.save_as(str(f))
    img = read_dicom_image(root / "CT5N")  # the mask on the grid the series now has
    write_mask(root / "CT5N_seg.nii.gz", (img.array > 0).astype(np.uint8), geometry=img.geometry)


@entry("dicom_orientation_differs", "dicom", "one slice with another orientation",
       Expect("case_error", ("inconsistent_orientation",), "CT5N", "orientation"), ndim=3)
def _(root, data):
    import pydicom

    dicom(root, data)
    f = root / "CT5N" / "2392"
    ds = pydicom.dcmread(str(f))
    ds.ImageOrientationPatient = [0, 1, 0, 0, 0, -1]
    ds.save_as(str(f))


@entry("dicom_gap", "dicom", "the real pydicom series with slices missing (a gap)",
       Expect("case_error", ("missing_slices",), "CT2", "gap"), ndim=3)
def _(root, data):
    dicom(root, data, seg=False)
    src = data / "dicom" / "pydicom_dicomdirtests" / "77654033" / "CT2"
    shutil.copytree(src, root / "CT2")
    from curator.core.io.dicom import read_dicom_image
    from curator.core.io.writers import write_mask

    img = read_dicom_image(root / "CT2")
    write_mask(root / "CT2_seg.nii.gz", (img.array > np.median(img.array)).astype(np.uint8), geometry=img.geometry)


@entry("dicom_not_images", "dicom", "a folder of DICOM files that are not images (no Rows)",
       Expect("dataset_error", (), None, "no image"), ndim=3, batch=False)
def _(root, data):
    import pydicom

    root.mkdir(parents=True)
    for f in sorted(dicom_dir(data).iterdir()):
        ds = pydicom.dcmread(str(f))
        for tag in ("Rows", "Columns", "PixelData"):
            delattr(ds, tag)
        ds.save_as(str(root / f"{f.name}.dcm"))


@entry("dicom_mask_wrong_grid", "dicom", "a mask NIfTI named after a series but on another grid",
       Expect("case_error", ("shape_mismatch", "geometry_mismatch"), "CT5N", "CT5N_seg.nii.gz"), ndim=3)
def _(root, data):
    dicom(root, data)
    _, mask, m = ct_arrays(data)
    write_like(root / "CT5N_seg.nii.gz", mask, m)


@entry("dicom_two_masks_for_a_series", "dicom", "two mask files named after one series (.nii.gz and .nrrd)",
       Expect("case_error", ("ambiguous_mask",), "CT5N", "CT5N_seg.nii.gz"), ndim=3)
def _(root, data):
    import SimpleITK as sitk

    dicom(root, data)
    m = sitk.ReadImage(str(root / "CT5N_seg.nii.gz"))
    sitk.WriteImage(m, str(root / "CT5N_mask.nrrd"))


@entry("lits_nii_and_niigz", "structure", "a LiTS volume stored twice: volume-1.nii and volume-1.nii.gz",
       Expect("case_error", ("ambiguous_image",), "volume-1", "volume-1.nii"), ndim=3)
def _(root, data):
    import nibabel as nib

    img, mask = ct_paths(data)
    root.mkdir(parents=True)
    for n in (0, 1, 2):
        shutil.copyfile(img, root / f"volume-{n}.nii.gz")
        shutil.copyfile(mask, root / f"segmentation-{n}.nii.gz")
    nib.save(nib.load(str(img)), str(root / "volume-1.nii"))


# ----------------------------------------------------------------------------------------------
# manifests (dataset.json)

@entry("manifest_traversal", "manifest", "a dataset.json entry with ../../.. leaving the dataset",
       Expect("case_error", ("outside_dataset",), "secret", "outside the dataset"), ndim=3)
def _(root, data):
    outside = root.parent / f"{root.name}-outside"
    outside.mkdir(parents=True)
    shutil.copyfile(ct_paths(data)[0], outside / "secret.nii.gz")
    shutil.copyfile(ct_paths(data)[1], outside / "secret_seg.nii.gz")
    msd(root, data, extra_training=[{"image": f"./imagesTr/../../{outside.name}/secret.nii.gz",
                                     "label": f"./labelsTr/../../{outside.name}/secret_seg.nii.gz"}])


@entry("manifest_absolute", "manifest", "a dataset.json entry with an absolute path",
       Expect("case_error", ("outside_dataset",), "passwd", "outside the dataset"), ndim=3)
def _(root, data):
    msd(root, data, extra_training=[{"image": "/etc/passwd", "label": "/etc/hostname"}])


@entry("manifest_bad_json", "manifest", "a dataset.json that is not JSON",
       Expect("dataset_warning", ("bad_dataset_json",), None, "dataset.json"), ndim=3)
def _(root, data):
    msd(root, data)
    (root / "dataset.json").write_text("{ not json")


@entry("manifest_training_not_list", "manifest", "a dataset.json whose training is a string",
       Expect("dataset_warning", ("bad_dataset_json",), None, "training"), ndim=3)
def _(root, data):
    msd(root, data)
    spec = json.loads((root / "dataset.json").read_text())
    spec["training"] = "imagesTr"
    (root / "dataset.json").write_text(json.dumps(spec))


@entry("manifest_missing_label", "manifest", "a dataset.json entry whose label file is missing",
       Expect("case_error", ("missing_mask",), "ct_b", "ct_b.nii.gz"), ndim=3)
def _(root, data):
    msd(root, data)
    (root / "labelsTr" / "ct_b.nii.gz").unlink()


@entry("manifest_labels_not_dict", "manifest", "a dataset.json whose labels are a list",
       Expect("dataset_warning", ("bad_dataset_json",), None, "labels"), ndim=3)
def _(root, data):
    msd(root, data)
    spec = json.loads((root / "dataset.json").read_text())
    spec["labels"] = ["background", "liver"]
    (root / "dataset.json").write_text(json.dumps(spec))


# ----------------------------------------------------------------------------------------------


def build(e: Entry, base: Path, data: Path) -> Path:
    root = base / e.name
    e.build(root, data)
    return root


def build_all(base: Path, data: Path) -> dict[str, Path]:
    base.mkdir(parents=True, exist_ok=True)
    return {e.name: build(e, base, data) for e in ENTRIES}


def restore_permissions(base: Path) -> None:
    """Give back permissions to everything under ``base`` (so it can be read and deleted)."""
    stack = [base]
    while stack:
        d = stack.pop()
        if d.is_symlink():
            continue
        try:
            d.chmod(0o755)
            entries = list(d.iterdir())
        except OSError:
            continue
        for p in entries:
            if p.is_symlink():
                continue
            if p.is_dir():
                stack.append(p)
            else:
                try:
                    p.chmod(0o644)
                except OSError:
                    pass


if __name__ == "__main__":  # pragma: no cover - a developer's tool
    here = Path(__file__).resolve().parents[2]
    data = Path(os.environ.get("CURATOR_TEST_DATA", here.parent / "shared" / "data"))
    out = Path(sys.argv[1] if len(sys.argv) > 1 else "corpus")
    sys.path.insert(0, str(here))
    built = build_all(out, data)
    counts: dict[str, int] = {}
    for e in ENTRIES:
        counts[e.family] = counts.get(e.family, 0) + 1
    print(f"{len(built)} datasets in {out}: " + ", ".join(f"{k} {v}" for k, v in counts.items()))
