"""Which format a file is, and whether it is complete, checked before any decoding.

Also the SimpleITK loader shared by the readers and the DICOM module.
"""

from __future__ import annotations

import os
from pathlib import Path

import numpy as np

from curator.core.io.types import ReadError, TooLargeError, check_size


def format_of(path: str | os.PathLike) -> str:
    """Format name of a path from its suffix (or ``dicom`` for a folder / DICOM file)."""
    p = Path(path)
    name = p.name.lower()
    if p.is_dir():
        return "dicom"
    if name.endswith(".nii.gz") or name.endswith(".nii"):
        return "nifti"
    suffix = p.suffix.lower()
    return {
        ".jpg": "jpeg",
        ".jpeg": "jpeg",
        ".png": "png",
        ".bmp": "bmp",
        ".tif": "tiff",
        ".tiff": "tiff",
        ".nrrd": "nrrd",
        ".nhdr": "nrrd",
        ".mha": "mha",
        ".mhd": "mha",
        ".dcm": "dicom",
    }.get(suffix, "dicom" if is_dicom_file(p) else "unknown")


def is_dicom_file(path: str | os.PathLike) -> bool:
    """True when the file carries the DICOM preamble magic ``DICM`` at byte 128."""
    try:
        with open(path, "rb") as fh:
            fh.seek(128)
            return fh.read(4) == b"DICM"
    except OSError:
        return False


def check_file(path: Path) -> None:
    """Raise :class:`ReadError` saying why ``path`` cannot be read at all (missing, a broken or
    looping symbolic link, unreadable, empty)."""
    import errno

    try:
        st = os.stat(path)
    except OSError as exc:
        if exc.errno == errno.ELOOP:
            raise ReadError(f"{path}: symbolic link loop (the link points back at itself)") from exc
        if path.is_symlink():
            raise ReadError(f"{path}: broken symbolic link (points to {os.readlink(path)}, which does not exist)") from exc
        if exc.errno in (errno.EACCES, errno.EPERM):
            raise ReadError(f"{path}: permission denied (the file cannot be read)") from exc
        raise ReadError(f"{path}: file not found") from exc
    import stat as _stat

    if _stat.S_ISDIR(st.st_mode):
        if not os.access(path, os.R_OK | os.X_OK):
            raise ReadError(f"{path}: permission denied (the folder cannot be read)")
        return
    if not os.access(path, os.R_OK):
        raise ReadError(f"{path}: permission denied (the file cannot be read)")
    if st.st_size == 0:
        raise ReadError(f"{path}: file is empty (0 bytes)")


def open_error(path: Path, exc: BaseException, what: str) -> ReadError:
    """A :class:`ReadError` for a library that failed to open a file."""
    if isinstance(exc, PermissionError):
        return ReadError(f"{path}: permission denied (the file cannot be read)")
    name = type(exc).__name__
    if name == "DecompressionBombError":  # Pillow's own limit, beyond ours
        return TooLargeError(f"{path}: too large: {exc} ({what}); if the image is real, raise the limit with "
                             "--max-megapixels N or CURATOR_MAX_MEGAPIXELS=N")
    return ReadError(f"{path}: {what} ({exc})")


# ----------------------------------------------------------------------------------------------
# Completeness: a truncated file must never be read as if the missing part were zeros


def truncated_error(path: Path, have: int, need: int) -> ReadError:
    return ReadError(f"{path}: file is truncated ({have:,} of {need:,} bytes of image data present)")


def _inflate_count(path: Path, need: int, offset: int = 0, *, wbits: int = 47) -> tuple[int, bool]:
    """Inflate the gzip (``wbits`` 47) or zlib (15) stream at ``offset`` of ``path``, counting
    bytes and keeping none, until it ends or yields more than ``need``. Returns ``(count, whole)``:
    ``whole`` is false when the file ends inside the stream (a truncated file, even when all the
    data came out and only the trailer is missing). Raises :class:`ReadError` for damaged data."""
    import zlib

    d = zlib.decompressobj(wbits)
    got = 0
    try:
        with open(path, "rb") as fh:
            fh.seek(offset)
            while True:
                data = fh.read(1 << 20)
                if not data:
                    return got, False
                while data:
                    got += len(d.decompress(data, 1 << 20))
                    data = d.unconsumed_tail
                    if d.eof:
                        rest = d.unused_data
                        if not rest.strip(b"\0"):
                            return got, True
                        d = zlib.decompressobj(wbits)  # a further gzip member
                        data = rest
                    if got > need:
                        return got, True
    except zlib.error as exc:
        raise ReadError(f"{path}: damaged compressed data ({exc})") from exc


def check_nifti_complete(path: Path) -> None:
    import nibabel as nib

    try:
        img = nib.load(str(path))
        hdr = img.header
        offset = int(img.dataobj.offset)  # where nibabel (and ITK) find the voxels
    except Exception as exc:
        raise ReadError(f"{path}: not a readable NIfTI file ({exc})") from exc
    shape = [int(v) for v in hdr.get_data_shape()]
    check_size(path, list(reversed(shape)))
    nbytes = int(np.prod(shape)) * hdr.get_data_dtype().itemsize
    need = offset + nbytes
    size = path.stat().st_size
    if not path.name.lower().endswith(".gz"):
        if size < need:
            raise truncated_error(path, max(0, size - offset), nbytes)
        return
    with open(path, "rb") as fh:  # fast path: the gzip trailer holds the inflated size (mod 2**32)
        fh.seek(max(0, size - 4))
        isize = int.from_bytes(fh.read(4), "little")
    if isize == need % (1 << 32):
        return
    got, whole = _inflate_count(path, need)
    if got < need or not whole:
        raise truncated_error(path, max(0, min(got, need - 1) - offset), nbytes)


def nifti_nonfinite(path: Path) -> bool:
    """True when a floating-point NIfTI holds NaN or infinity (ITK reads NaN as 0)."""
    import nibabel as nib

    img = nib.load(str(path))
    if not np.issubdtype(img.get_data_dtype(), np.floating):
        return False
    return not bool(np.all(np.isfinite(np.asanyarray(img.dataobj))))


def check_nrrd_complete(path: Path, nbytes: int) -> None:
    with open(path, "rb") as fh:
        head = fh.read(1 << 16)
    end = head.find(b"\n\n")
    if end < 0:
        return  # detached data or an odd header: SimpleITK decides
    fields = {}
    for line in head[:end].decode("latin-1").splitlines()[1:]:
        if ":" in line and not line.startswith("#"):
            k, _, v = line.partition(":")
            fields[k.strip().lower()] = v.lstrip("=").strip()
    if any(k in fields for k in ("data file", "datafile", "line skip", "lineskip", "byte skip", "byteskip")):
        return
    offset = end + 2
    enc = fields.get("encoding", "raw").lower()
    if enc == "raw":
        have = path.stat().st_size - offset
        if have < nbytes:
            raise truncated_error(path, have, nbytes)
    elif enc in ("gzip", "gz"):
        got, whole = _inflate_count(path, nbytes, offset)
        if got < nbytes or not whole:
            raise truncated_error(path, min(got, nbytes - 1), nbytes)


def check_mha_complete(path: Path, nbytes: int) -> None:
    if path.suffix.lower() != ".mha":
        return
    with open(path, "rb") as fh:
        head = fh.read(1 << 16)
    key = head.find(b"ElementDataFile")
    if key < 0:
        return
    eol = head.find(b"\n", key)
    if eol < 0 or b"LOCAL" not in head[key:eol]:
        return
    offset = eol + 1
    compressed = b"CompressedData = True" in head[:key]
    if not compressed:
        have = path.stat().st_size - offset
        if have < nbytes:
            raise truncated_error(path, have, nbytes)
    else:
        got, whole = _inflate_count(path, nbytes, offset, wbits=15)
        if got < nbytes or not whole:
            raise truncated_error(path, min(got, nbytes - 1), nbytes)


def check_2d_complete(path: Path, fmt: str, size_wh: tuple[int, int]) -> None:
    """PNG must end with its IEND chunk, JPEG with its end-of-image marker, an uncompressed BMP
    must hold all its rows; where the cheap test cannot tell (data after the end, compressed BMP),
    the pixels are decoded once to be sure."""
    size = path.stat().st_size
    with open(path, "rb") as fh:
        fh.seek(max(0, size - 64))
        tail = fh.read()
        fh.seek(0)
        head = fh.read(54)
    if fmt == "png" and b"IEND" in tail:
        return
    if fmt == "jpeg" and b"\xff\xd9" in tail.rstrip(b"\0 \r\n\t"):
        return
    if fmt == "bmp" and len(head) >= 34 and head[:2] == b"BM" and int.from_bytes(head[14:18], "little") >= 40:
        off = int.from_bytes(head[10:14], "little")
        bpp = int.from_bytes(head[28:30], "little")
        comp = int.from_bytes(head[30:34], "little")
        if comp == 0 and bpp:
            w, h = size_wh
            need = off + ((w * bpp + 31) // 32) * 4 * h
            if size < need:
                raise truncated_error(path, max(0, size - off), need - off)
            return
    if fmt == "tiff":
        return  # decoded (and checked by Pillow) when read
    open_pil(path, fmt).close()  # the end marker is not where expected: decode to be sure


def open_pil(path: Path, fmt: str):
    from PIL import Image as PILImage

    try:
        im = PILImage.open(path)
    except Exception as exc:
        raise open_error(path, exc, f"cannot decode {fmt.upper()} image") from exc
    try:
        check_size(path, (im.size[1], im.size[0]))  # before decoding a possible bomb
        im.load()
        return im
    except ReadError:
        im.close()
        raise
    except Exception as exc:
        im.close()
        raise open_error(path, exc, f"cannot decode {fmt.upper()} image") from exc


def short_error(exc: BaseException) -> str:
    """The useful last line of a (long, multi-line) ITK error message."""
    lines = [ln.strip() for ln in str(exc).strip().splitlines() if ln.strip()]
    return lines[-1] if lines else type(exc).__name__


def load_sitk():
    import SimpleITK as sitk

    sitk.ProcessObject.SetGlobalWarningDisplay(False)
    return sitk
