"""Read and write medical images and masks with their geometry.

2D: JPEG, PNG, BMP, TIFF (RGB or grey images; masks as 0/1, 0/255, 1-bit, palette, grey or RGB
label colours). 3D: NIfTI, NRRD, MetaImage, DICOM series (JPEG 2000 and other compressed transfer
syntaxes through GDCM) and DICOM SEG.

Conventions used throughout Mask Curator:

* Arrays are in numpy order: 2D images ``(Y, X)`` or ``(Y, X, C)``, 3D volumes ``(Z, Y, X)``.
* Geometry follows ITK: ``spacing`` and ``origin`` are in physical axis order ``(x, y[, z])`` in
  millimetres, ``direction`` is the row-major direction cosine matrix, in LPS patient coordinates.
  ``Geometry.scale`` gives spacing in array order for viewers such as napari.
* A mask is read into a label map (``uint8``, or ``uint16`` beyond 255 labels) with label 0 for
  background, together with a :class:`MaskEncoding` saying how the values are stored in the file,
  so that writing a corrected mask back reproduces the original's storage (0/255, 1-bit BMP,
  palette PNG, NIfTI header).

All writes are atomic: written to a temporary file in the destination folder, flushed to disk and
renamed over the destination.
"""

from __future__ import annotations

import contextlib
import os
import tempfile
from dataclasses import dataclass, field, replace
from pathlib import Path
from typing import Iterator, Sequence

import numpy as np

__all__ = [
    "Geometry",
    "ImageData",
    "ImageInfo",
    "MaskEncoding",
    "ReadError",
    "TooLargeError",
    "IMAGE_2D_SUFFIXES",
    "VOLUME_SUFFIXES",
    "atomic_write",
    "atomic_path",
    "remove_stale_temp",
    "format_of",
    "is_dicom_file",
    "read_info",
    "read_image",
    "read_mask",
    "write_image",
    "write_mask",
    "mask_from_values",
    "stray_values",
    "check_label_values",
    "size_limits",
    "check_size",
    "explain_os_error",
    "csv_cell",
    "csv_unescape",
    "write_csv",
    "read_csv",
]

IMAGE_2D_SUFFIXES = (".jpg", ".jpeg", ".png", ".bmp", ".tif", ".tiff")
VOLUME_SUFFIXES = (".nii", ".nii.gz", ".nrrd", ".nhdr", ".mha", ".mhd")
_LOSSY_2D = ("jpeg",)


class ReadError(Exception):
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


def explain_os_error(exc: OSError, where=None) -> str:
    """One line for a user: what failed with a file system error, and what to do."""
    import errno

    where = where if where is not None else (getattr(exc, "filename", None) or "")
    if exc.errno == errno.ENOSPC or exc.errno == getattr(errno, "EDQUOT", -1):
        return f"the disk is full (while writing {where}); free some space and run it again"
    if exc.errno == errno.EROFS:
        return f"{where} is on a read-only file system; choose a folder you can write to"
    if exc.errno in (errno.EACCES, errno.EPERM):
        return f"no permission to write {where}; choose a folder you can write to"
    if exc.errno == errno.ENAMETOOLONG:
        return f"a file name is too long for this file system ({where})"
    return f"{exc.strerror or exc} ({where})"


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


@contextlib.contextmanager
def atomic_path(dest: str | os.PathLike, *, suffix: str | None = None) -> Iterator[Path]:
    """Yield a temporary path beside ``dest``; on success fsync it and rename it over ``dest``.

    The temporary file keeps ``dest``'s suffix (libraries choose the format from it). On error the
    temporary file is removed and ``dest`` is left as it was.
    """
    dest = Path(dest)
    dest.parent.mkdir(parents=True, exist_ok=True)
    suffix = suffix if suffix is not None else "".join(dest.suffixes) or dest.suffix
    if len(suffix) > 16:  # a "suffix" taken from a name full of dots
        suffix = dest.suffix if len(dest.suffix) <= 16 else ""
    # the name stays well under the 255-byte limit whatever the destination's name; the pid lets a
    # later run tell a dead writer's leftover (see remove_stale_temp) from a live one's
    fd, tmp = tempfile.mkstemp(prefix=f".{dest.name[:80]}.{os.getpid()}-", suffix=_TMP_MARK + suffix, dir=dest.parent)
    os.close(fd)
    tmp_path = Path(tmp)
    try:
        yield tmp_path
        with open(tmp_path, "rb+") as fh:
            os.fsync(fh.fileno())
        os.replace(tmp_path, dest)
        _fsync_dir(dest.parent)
    except BaseException:
        with contextlib.suppress(OSError):
            tmp_path.unlink()
        raise


_TMP_MARK = ".tmp"


def remove_stale_temp(folder: str | os.PathLike, *, recursive: bool = True) -> list[Path]:
    """Delete the temporary files :func:`atomic_path` left behind when its process was killed.

    Only files whose writing process is gone are removed (their names carry its pid), so a live
    writer in another process is never disturbed. Returns the paths removed.
    """
    import re

    pattern = re.compile(r"^\..*\.(\d+)-[A-Za-z0-9_]+\.tmp")
    folder = Path(folder)
    if not folder.is_dir():
        return []
    removed = []
    it = folder.rglob(".*") if recursive else folder.glob(".*")
    for p in it:
        m = pattern.match(p.name)
        if not m or not p.is_file() or p.is_symlink():
            continue
        if _pid_alive(int(m.group(1))):
            continue
        with contextlib.suppress(OSError):
            p.unlink()
            removed.append(p)
    return removed


def _pid_alive(pid: int) -> bool:
    if pid == os.getpid():
        return True
    try:
        os.kill(pid, 0)
    except ProcessLookupError:
        return False
    except (PermissionError, OSError):
        return True
    return True


def atomic_write(dest: str | os.PathLike, data: bytes | str) -> None:
    """Write bytes or text to ``dest`` atomically."""
    with atomic_path(dest) as tmp:
        with open(tmp, "wb") as fh:
            fh.write(data.encode("utf-8") if isinstance(data, str) else data)


def _fsync_dir(path: Path) -> None:
    with contextlib.suppress(OSError):
        fd = os.open(path, os.O_RDONLY)
        try:
            os.fsync(fd)
        finally:
            os.close(fd)


# ----------------------------------------------------------------------------------------------
# CSV files people open in spreadsheets

_FORMULA_START = ("=", "+", "-", "@", "\t", "\r", "\n")


def csv_cell(value):
    """A CSV cell a spreadsheet will not run: text starting with ``= + - @`` (or a tab, a line
    break) gets a leading ``'`` (OWASP's advice against CSV injection), and so does text that
    already starts with ``'``, so :func:`csv_unescape` gives back exactly the original. Numbers are
    left alone."""
    if isinstance(value, str) and value and (value[0] in _FORMULA_START or value[0] == "'"):
        return "'" + value
    return value


def csv_unescape(cell: str) -> str:
    """The text :func:`csv_cell` escaped."""
    return cell[1:] if isinstance(cell, str) and cell.startswith("'") else cell


def write_csv(path: str | os.PathLike, header: Sequence[str], rows) -> None:
    """Write a CSV file atomically, every text cell escaped with :func:`csv_cell`."""
    import csv
    import io as _io

    buf = _io.StringIO()
    w = csv.writer(buf, lineterminator="\n")
    w.writerow(list(header))
    for row in rows:
        w.writerow([csv_cell(v) for v in row])
    atomic_write(path, buf.getvalue())


def read_csv(path: str | os.PathLike) -> list[dict]:
    """The rows of a CSV file written by :func:`write_csv`, text cells unescaped."""
    import csv

    with open(path, newline="", encoding="utf-8") as fh:
        return [{k: csv_unescape(v) for k, v in r.items()} for r in csv.DictReader(fh)]


# ----------------------------------------------------------------------------------------------
# Format detection


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


def _check_file(path: Path) -> None:
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


def _open_error(path: Path, exc: BaseException, what: str) -> ReadError:
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


def _truncated(path: Path, have: int, need: int) -> ReadError:
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


def _check_nifti_complete(path: Path) -> None:
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
            raise _truncated(path, max(0, size - offset), nbytes)
        return
    with open(path, "rb") as fh:  # fast path: the gzip trailer holds the inflated size (mod 2**32)
        fh.seek(max(0, size - 4))
        isize = int.from_bytes(fh.read(4), "little")
    if isize == need % (1 << 32):
        return
    got, whole = _inflate_count(path, need)
    if got < need or not whole:
        raise _truncated(path, max(0, min(got, need - 1) - offset), nbytes)


def _nifti_nonfinite(path: Path) -> bool:
    """True when a floating-point NIfTI holds NaN or infinity (ITK reads NaN as 0)."""
    import nibabel as nib

    img = nib.load(str(path))
    if not np.issubdtype(img.get_data_dtype(), np.floating):
        return False
    return not bool(np.all(np.isfinite(np.asanyarray(img.dataobj))))


def _check_nrrd_complete(path: Path, nbytes: int) -> None:
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
            raise _truncated(path, have, nbytes)
    elif enc in ("gzip", "gz"):
        got, whole = _inflate_count(path, nbytes, offset)
        if got < nbytes or not whole:
            raise _truncated(path, min(got, nbytes - 1), nbytes)


def _check_mha_complete(path: Path, nbytes: int) -> None:
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
            raise _truncated(path, have, nbytes)
    else:
        got, whole = _inflate_count(path, nbytes, offset, wbits=15)
        if got < nbytes or not whole:
            raise _truncated(path, min(got, nbytes - 1), nbytes)


def _check_2d_complete(path: Path, fmt: str, size_wh: tuple[int, int]) -> None:
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
                raise _truncated(path, max(0, size - off), need - off)
            return
    if fmt == "tiff":
        return  # decoded (and checked by Pillow) when read
    _open_pil(path, fmt).close()  # the end marker is not where expected: decode to be sure


def _sitk():
    import SimpleITK as sitk

    sitk.ProcessObject.SetGlobalWarningDisplay(False)
    return sitk


# ----------------------------------------------------------------------------------------------
# Header-only reads


def read_info(path: str | os.PathLike) -> ImageInfo:
    """Read shape, geometry and pixel type from a file's header without decoding its pixels.

    Also checks that the file holds all the data its header promises (a truncated file raises
    :class:`ReadError`) and that the image is within the size limit (:class:`TooLargeError`).
    """
    path = Path(path)
    _check_file(path)
    fmt = format_of(path)
    if fmt in ("jpeg", "png", "bmp", "tiff"):
        from PIL import Image as PILImage

        try:
            with PILImage.open(path) as im:
                w, h = im.size
                bands = len(im.getbands())
                mode = im.mode
        except Exception as exc:  # Pillow raises many types for broken files
            raise _open_error(path, exc, f"not a readable {fmt.upper()} image") from exc
        check_size(path, (h, w))
        _check_2d_complete(path, fmt, (w, h))
        channels = 1 if mode in ("1", "L", "P", "I", "I;16", "F", "LA", "PA") else min(bands, 4)
        dtype = {"I;16": "uint16", "I": "int32", "F": "float32", "1": "bool"}.get(mode, "uint8")
        return ImageInfo((h, w), Geometry.identity(2), channels, dtype, fmt)
    if fmt == "dicom":
        from . import dicom as dcm

        if path.is_dir():
            series = dcm.scan_series(path)
            if not series:
                raise ReadError(f"{path}: no DICOM image series in this folder")
            check_size(path, series[0].info.shape)
            return series[0].info
        info = dcm.read_file_info(path)
        check_size(path, info.shape)
        return info
    if fmt in ("nifti", "nrrd", "mha"):
        reader = _header_reader(path, fmt)
        size = reader.GetSize()
        if len(size) == 4 and size[3] != 1:
            raise ReadError(f"{path}: 4-D image with {size[3]} volumes; expected a single 3-D volume")
        size = size[:3]
        geometry = Geometry(reader.GetSpacing()[:3], reader.GetOrigin()[:3], _direction3(reader.GetDirection(),
                                                                                        reader.GetDimension()))
        dtype = _sitk_dtype_name(reader.GetPixelID())
        info = ImageInfo(tuple(reversed(size)), geometry, reader.GetNumberOfComponents(), dtype, fmt)
        _check_volume_complete(path, fmt, info, reader)
        return info
    raise ReadError(f"{path}: unsupported file type '{path.suffix}'")


def _direction3(direction: Sequence[float], dim: int) -> tuple[float, ...]:
    if dim <= 3:
        return tuple(direction)
    m = np.asarray(direction, float).reshape(dim, dim)[:3, :3]
    return tuple(m.ravel().tolist())


def _header_reader(path: Path, fmt: str):
    """A SimpleITK reader with the header read, its size checked against the limit."""
    sitk = _sitk()
    reader = sitk.ImageFileReader()
    reader.SetFileName(str(path))
    try:
        reader.ReadImageInformation()
    except RuntimeError as exc:
        if not os.access(path, os.R_OK):
            raise ReadError(f"{path}: permission denied (the file cannot be read)") from exc
        raise ReadError(f"{path}: not a readable {fmt.upper()} file ({_short(exc)})") from exc
    size = reader.GetSize()
    check_size(path, tuple(reversed(size[:3])) + ((size[3],) if len(size) > 3 and size[3] > 1 else ()))
    return reader


def _check_volume_complete(path: Path, fmt: str, info: ImageInfo, reader=None) -> None:
    """Raise :class:`ReadError` when a NIfTI / NRRD / MetaImage file holds less data than its
    header says (SimpleITK reads a truncated NIfTI as if the rest were zeros)."""
    if fmt == "nifti":
        _check_nifti_complete(path)
        return
    itemsize = np.dtype(info.dtype).itemsize if info.dtype != "unknown" else 1
    nbytes = int(np.prod(info.shape)) * max(1, info.channels) * itemsize
    if fmt == "nrrd":
        _check_nrrd_complete(path, nbytes)
    elif fmt == "mha":
        _check_mha_complete(path, nbytes)


def _short(exc: BaseException) -> str:
    """The useful last line of a (long, multi-line) ITK error message."""
    lines = [ln.strip() for ln in str(exc).strip().splitlines() if ln.strip()]
    return lines[-1] if lines else type(exc).__name__


def _sitk_dtype_name(pixel_id: int) -> str:
    sitk = _sitk()
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
    _check_file(path)
    fmt = format_of(path)
    if fmt in ("jpeg", "png", "bmp", "tiff"):
        return _read_2d_image(path, fmt)
    if fmt == "dicom":
        from . import dicom as dcm

        return dcm.read_dicom_image(path, series_uid=series_uid)
    if fmt in ("nifti", "nrrd", "mha"):
        return _read_itk(path, fmt)
    raise ReadError(f"{path}: unsupported file type '{path.suffix}'")


def _open_pil(path: Path, fmt: str):
    from PIL import Image as PILImage

    try:
        im = PILImage.open(path)
    except Exception as exc:
        raise _open_error(path, exc, f"cannot decode {fmt.upper()} image") from exc
    try:
        check_size(path, (im.size[1], im.size[0]))  # before decoding a possible bomb
        im.load()
        return im
    except ReadError:
        im.close()
        raise
    except Exception as exc:
        im.close()
        raise _open_error(path, exc, f"cannot decode {fmt.upper()} image") from exc


def _read_2d_image(path: Path, fmt: str) -> ImageData:
    im = _open_pil(path, fmt)
    if im.mode in ("P", "PA", "RGBA", "CMYK", "YCbCr", "LAB", "HSV", "LA", "1"):
        im = im.convert("RGB" if im.mode not in ("LA", "1") else "L")
    if im.mode in ("I;16", "I;16B", "I;16L"):
        arr = np.asarray(im, dtype=np.uint16)
    else:
        arr = np.asarray(im)
    arr = np.ascontiguousarray(arr)
    return ImageData(arr, Geometry.identity(2), fmt, path, meta={"mode": im.mode})


def _read_itk(path: Path, fmt: str) -> ImageData:
    reader = _header_reader(path, fmt)  # the size limit, before any voxel is read
    size = reader.GetSize()
    dtype = _sitk_dtype_name(reader.GetPixelID())
    _check_volume_complete(path, fmt, ImageInfo(tuple(reversed(size)), Geometry.identity(min(len(size), 3)),
                                                reader.GetNumberOfComponents(), dtype, fmt))
    try:
        img = reader.Execute()
    except RuntimeError as exc:
        raise ReadError(f"{path}: cannot read {fmt.upper()} file ({_short(exc)})") from exc
    return _from_sitk(img, fmt, path)


def _from_sitk(img, fmt: str, path: Path | None) -> ImageData:
    sitk = _sitk()
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
    _check_file(path)
    fmt = format_of(path)
    if fmt in ("jpeg", "png", "bmp", "tiff"):
        mask = _read_2d_mask(path, fmt)
    elif fmt == "dicom":
        from . import dicom as dcm

        if path.is_file() and dcm.is_seg_file(path):
            mask = dcm.read_seg(path, reference=reference)
        else:
            mask = _volume_to_mask(dcm.read_dicom_image(path, series_uid=series_uid), path)
    elif fmt in ("nifti", "nrrd", "mha"):
        mask = _volume_to_mask(_read_itk(path, fmt), path)
    else:
        raise ReadError(f"{path}: unsupported mask file type '{path.suffix}'")
    check_label_values(mask, declared=declared)
    return mask


def stray_values(labels: np.ndarray, *, max_count: int = 16, ratio: float = 0.01) -> list[tuple[int, int]]:
    """``(label, pixels)`` of the labels that look like slips of the brush: at most ``max_count``
    pixels each and under ``ratio`` of the largest label."""
    values, counts = np.unique(labels, return_counts=True)
    fg = [(int(v), int(c)) for v, c in zip(values, counts) if v != 0]
    if len(fg) < 2:
        return []
    top = max(c for _, c in fg)
    return [(v, c) for v, c in fg if c <= max_count and c < ratio * top]


def check_label_values(mask: ImageData, *, declared: Sequence[int] | None = None) -> None:
    """Refuse a label map holding undeclared or stray values (see :func:`read_mask`)."""
    stored = dict(mask.encoding.stored) if mask.encoding is not None else {}

    def shown(v: int) -> str:
        s = stored.get(v, v)
        return str(s if not isinstance(s, tuple) else "RGB" + str(s))

    path = mask.source
    if declared is not None:
        present = [int(v) for v in np.unique(mask.array)]
        extra = sorted(set(present) - {int(d) for d in declared} - {0})
        if extra:
            decl = ", ".join(str(int(d)) for d in sorted(set(declared) | {0}))
            raise ReadError(f"{path}: mask holds label value(s) {', '.join(shown(v) for v in extra)} that the "
                            f"dataset does not declare (dataset.json labels: {decl}); fix the mask or declare "
                            "the label", "undeclared_label")
        return
    stray = stray_values(mask.array)
    if stray:
        values, counts = np.unique(mask.array, return_counts=True)
        main = max(((int(v), int(c)) for v, c in zip(values, counts) if v != 0), key=lambda vc: vc[1])
        desc = ", ".join(f"{shown(v)} ({c} px)" for v, c in stray)
        raise ReadError(f"{path}: mask holds stray value(s) {desc} beside {shown(main[0])} ({main[1]} px); "
                        "slips like these would become classes of their own: set them to the right label "
                        "(or to 0) in the mask", "stray_labels")


def _label_dtype(max_label: int):
    return np.uint8 if max_label <= 255 else np.uint16


def _volume_to_mask(img: ImageData, path: Path) -> ImageData:
    arr = img.array
    if arr.ndim != img.ndim:
        raise ReadError(f"{path}: mask has {arr.shape[-1]} components per voxel; expected a label map")
    if np.issubdtype(arr.dtype, np.floating):
        if not np.all(np.isfinite(arr)) or (img.format == "nifti" and _nifti_nonfinite(path)):
            raise ReadError(f"{path}: mask holds NaN or infinite values; expected integer labels")
        if not np.array_equal(arr, np.round(arr)):
            frac = np.count_nonzero(arr != np.round(arr)) / arr.size
            raise ReadError(
                f"{path}: non-integer mask ({frac:.1%} of voxels are fractional; "
                "expected integer labels, e.g. a probability map was saved instead of a label map)"
            )
    if arr.size and arr.min() < 0:
        raise ReadError(f"{path}: mask holds negative values ({int(arr.min())}); expected labels >= 0")
    max_label = int(arr.max()) if arr.size else 0
    if max_label > 65535:
        raise ReadError(f"{path}: mask label {max_label} is out of range (max 65535)")
    labels = arr.astype(_label_dtype(max_label), copy=False)
    enc = MaskEncoding(tuple((int(v), int(v)) for v in np.unique(labels)), "volume", None, str(arr.dtype))
    return ImageData(np.ascontiguousarray(labels), img.geometry, img.format, path, enc, dict(img.meta))


def _read_2d_mask(path: Path, fmt: str) -> ImageData:
    im = _open_pil(path, fmt)
    mode = im.mode
    palette = None
    if mode == "1":
        labels = np.asarray(im, dtype=bool).astype(np.uint8)
        enc = MaskEncoding(((0, 0), (1, 1)), "1")
        return ImageData(labels, Geometry.identity(2), fmt, path, enc)
    if mode in ("P", "PA"):
        idx = np.asarray(im.convert("P") if mode == "PA" else im)
        pal = im.getpalette()
        palette = tuple(pal) if pal else None
        values = np.unique(idx)
        enc = MaskEncoding(tuple((int(v), int(v)) for v in values), "P", palette)
        return ImageData(idx.astype(np.uint8), Geometry.identity(2), fmt, path, enc)
    if mode in ("RGBA", "LA"):
        im = im.convert("RGB" if mode == "RGBA" else "L")
        mode = im.mode
    if mode in ("RGB", "YCbCr", "CMYK"):
        rgb = np.asarray(im.convert("RGB"))
        if np.array_equal(rgb[..., 0], rgb[..., 1]) and np.array_equal(rgb[..., 0], rgb[..., 2]):
            labels, stored, note = mask_from_values(rgb[..., 0], lossy=fmt in _LOSSY_2D)
            enc = MaskEncoding(tuple((lab, (v, v, v)) for lab, v in stored), "RGB", None, note)
            return ImageData(labels, Geometry.identity(2), fmt, path, enc)
        return _rgb_colour_mask(rgb, path, fmt)
    arr = np.asarray(im)
    if arr.ndim != 2:
        raise ReadError(f"{path}: mask has an unsupported pixel layout (mode {mode})")
    if np.issubdtype(arr.dtype, np.floating) and not np.array_equal(arr, np.round(arr)):
        raise ReadError(f"{path}: non-integer mask (floating-point TIFF with fractional values)")
    labels, stored, note = mask_from_values(arr, lossy=fmt in _LOSSY_2D)
    enc = MaskEncoding(stored, mode, None, note)
    return ImageData(labels, Geometry.identity(2), fmt, path, enc)


MAX_GREY_LABELS = 16  # a lossless grey mask with more distinct values is read as anti-aliased


def mask_from_values(values: np.ndarray, *, lossy: bool = False):
    """Turn stored grey values into labels.

    Returns ``(labels, stored, note)`` where ``stored`` is ``((label, stored_value), ...)``.
    One non-zero value (0/255, 0/1, 0/128) → binary 0/1. Several values that are already small
    integers (< 64) → kept as labels. A lossless mask with a few other values (0/128/255,
    0/1/1000; at most :data:`MAX_GREY_LABELS`) → one label per value in increasing order, noted
    (``grey values ... read as labels ...``), so nothing collapses and writing it back stores the
    same values. A lossy file (JPEG) or a grey map of many values → thresholded at half of the
    maximum, noted.
    """
    vals = np.unique(values)
    vals_i = [int(v) for v in vals]
    if len(vals_i) == 1:
        v = vals_i[0]
        if v == 0:
            return np.zeros(values.shape, np.uint8), ((0, 0), (1, 255 if values.dtype == np.uint8 else 1)), ""
        return np.ones(values.shape, np.uint8), ((0, 0), (1, v)), "mask covers the whole image"
    if len(vals_i) == 2 and vals_i[0] == 0:
        return (values != 0).astype(np.uint8), ((0, 0), (1, vals_i[1])), ""
    if not lossy and vals_i[0] >= 0 and vals_i[-1] < 64 and len(vals_i) <= 32:
        max_label = vals_i[-1]
        return values.astype(_label_dtype(max_label)), tuple((v, v) for v in vals_i), ""
    if not lossy and vals_i[0] == 0 and len(vals_i) <= MAX_GREY_LABELS:
        labels = np.searchsorted(vals, values).astype(_label_dtype(len(vals_i) - 1))
        stored = tuple((i, v) for i, v in enumerate(vals_i))
        note = (f"grey values {', '.join(map(str, vals_i))} read as labels "
                f"{', '.join(str(i) for i in range(len(vals_i)))} (one class per value; if the middle values "
                "are anti-aliased edges rather than classes, save the mask with only 0 and one value)")
        return labels, stored, note
    top = vals_i[-1]
    labels = (values > top / 2).astype(np.uint8)
    note = f"{len(vals_i)} grey levels thresholded at {top / 2:g} (lossy or anti-aliased mask)"
    return labels, ((0, 0), (1, top)), note


def label_colours(colours: np.ndarray, counts: np.ndarray, *, max_labels: int = 64, tolerance: float = 12.0,
                  min_count: int = 10) -> np.ndarray | None:
    """The pure label colours of an anti-aliased colour mask, or None when it does not look like one.

    Edge pixels of an anti-aliased mask are blends of two label colours (liver blue over black
    background, tumour red over liver blue): they lie on the segment between two pure colours in
    RGB. Colours are taken in order of frequency; one that lies within ``tolerance`` of a segment
    between colours already taken is a blend, any other becomes a label colour. None when more than
    ``max_labels`` colours are needed, or colours that are neither (rarer than ``min_count`` pixels
    each) cover more than 0.5 % of the image: a photograph or an overlay, not a mask.
    """
    c = np.asarray(colours, float)
    order = np.argsort(-np.asarray(counts), kind="stable")
    pure: list[int] = []
    unexplained = 0
    for i in order:
        p = c[i]
        blend = False
        for a in range(len(pure)):
            for b in range(a + 1, len(pure)):
                u, v = c[pure[a]], c[pure[b]]
                seg = v - u
                t = np.clip(np.dot(p - u, seg) / max(np.dot(seg, seg), 1e-9), 0.0, 1.0)
                if np.linalg.norm(p - (u + t * seg)) <= tolerance:
                    blend = True
                    break
            if blend:
                break
        if blend:
            continue
        if counts[i] < min_count and pure:
            unexplained += int(counts[i])
            continue
        pure.append(int(i))
        if len(pure) > max_labels:
            return None
    if unexplained > 0.005 * float(np.sum(counts)):
        return None
    # a small object may hold no pixel of its pure colour: shades of one colour over the background
    # (on one ray from it) are one label, whose colour is the shade farthest from the background
    bg = c[pure[0]]
    rays: list[int] = []
    for i in pure[1:]:
        d = c[i] - bg
        for k, j in enumerate(rays):
            e = c[j] - bg
            cos = np.dot(d, e) / max(np.linalg.norm(d) * np.linalg.norm(e), 1e-9)
            if cos > 0.995:
                rays[k] = i if np.linalg.norm(d) > np.linalg.norm(e) else j
                break
        else:
            rays.append(i)
    return c[[pure[0]] + rays].astype(np.int64)


def _rgb_colour_mask(rgb: np.ndarray, path: Path, fmt: str) -> ImageData:
    flat = rgb.reshape(-1, 3)
    colours, inverse, counts = np.unique(flat, axis=0, return_inverse=True, return_counts=True)
    note = ""
    if len(colours) > 64:
        pure = label_colours(colours, counts)
        if pure is not None:  # anti-aliasing blurs edges only: most pixels keep a pure label colour
            exact = (colours[:, None, :].astype(np.int64) == pure[None]).all(-1).any(1)
            if counts[exact].sum() < 0.9 * counts.sum():
                pure = None
        if pure is None:
            raise ReadError(
                f"{path}: colour mask with {len(colours)} distinct colours; expected a label map "
                "(a photograph or an overlay may have been given as the mask)"
            )
        # every colour to its nearest label colour (a blend goes to the nearer of its two ends)
        d = ((colours[:, None, :].astype(np.int64) - pure[None]) ** 2).sum(-1)
        nearest = d.argmin(1)
        note = (f"{len(colours) - len(pure)} anti-aliased colours mapped to the nearest of {len(pure)} label colours "
                "(lossy or anti-aliased mask)")
        colours, inverse = pure, nearest[inverse.ravel()]
    # labels in order of the colours' sums, ties by the colour itself: the same colour gets the same
    # label in every file that holds the same set of colours
    order = np.lexsort((colours[:, 2], colours[:, 1], colours[:, 0], colours.sum(axis=1)))
    if colours[order[0]].sum() != 0:
        order = np.concatenate([[len(colours)], order])  # no black: background label unused
        colours = np.vstack([colours, [0, 0, 0]])
    rank = np.empty(len(colours), np.int64)
    rank[order] = np.arange(len(order))
    labels = rank[inverse.ravel()].reshape(rgb.shape[:2]).astype(np.uint8)
    stored = tuple((int(rank[i]), tuple(int(c) for c in colours[i])) for i in order)
    return ImageData(labels, Geometry.identity(2), fmt, path, MaskEncoding(stored, "RGB", None, note))


# ----------------------------------------------------------------------------------------------
# Writing


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
        sitk = _sitk()
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
    :func:`curator.core.dicom.write_seg`.
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
        sitk = _sitk()
        max_label = int(labels.max()) if labels.size else 0
        img = sitk.GetImageFromArray(labels.astype(_label_dtype(max_label), copy=False))
        (geometry or Geometry.identity(labels.ndim)).apply(img)
        with atomic_path(path) as tmp:
            sitk.WriteImage(img, str(tmp), useCompression=True)
        return path
    raise ValueError(f"{path}: cannot write masks as '{fmt}' (DICOM SEG: use curator.core.dicom.write_seg)")


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
    dtype = _label_dtype(max_label)
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


def with_array(image: ImageData, array: np.ndarray) -> ImageData:
    """A copy of ``image`` holding ``array`` (same geometry, format, encoding)."""
    return replace(image, array=array)
