"""DICOM series: discovery, ordering, gap detection and reading (SEG objects in :mod:`.dicom_seg`).

A folder may hold several series; they are told apart by SeriesInstanceUID (anonymised series with
an empty UID are grouped by series number and description instead). Slices are ordered by their
position along the slice normal (ImagePositionPatient projected on ImageOrientationPatient's
normal), never by file name. Missing slices (a gap larger than the series' usual step), duplicate
positions and uneven spacing are reported as problems.

Voxels are decoded by SimpleITK (GDCM: JPEG, JPEG-LS, JPEG 2000, RLE); headers are read with
pydicom; DICOM SEG objects are read and written with highdicom.

Arrays are ``(Z, Y, X)``; geometry follows :mod:`curator.core.io.types` (ITK, LPS, ``(x, y, z)``).
"""

from __future__ import annotations

import errno
import os
import warnings
from dataclasses import dataclass, field
from pathlib import Path

import numpy as np

from curator.core.io.formats import load_sitk, short_error
from curator.core.io.types import Geometry, ImageData, ImageInfo, ReadError, check_size

SEG_SOP_CLASS = "1.2.840.10008.5.1.4.1.1.66.4"

# No patient data in logs: highdicom's and pydicom's warnings about a person name's format quote
# the name itself ("The string "DOE^JOHN" is unlikely to represent the intended person name").
for _pattern in (r"(?s).*unlikely to represent the intended person name", r"(?s).*\bVR PN\b"):
    warnings.filterwarnings("ignore", message=_pattern)
_HEADER_TAGS = [
    "SOPClassUID", "SOPInstanceUID", "SeriesInstanceUID", "StudyInstanceUID", "SeriesNumber",
    "SeriesDescription", "Modality", "ImagePositionPatient", "ImageOrientationPatient",
    "PixelSpacing", "Rows", "Columns", "InstanceNumber", "SliceThickness", "BitsAllocated",
    "PixelRepresentation", "NumberOfFrames", "ReferencedSeriesSequence",
]


@dataclass
class SliceHeader:
    path: Path
    position: tuple[float, float, float] | None
    orientation: tuple[float, ...] | None
    pixel_spacing: tuple[float, float] | None
    rows: int
    columns: int
    instance: int | None
    sop_uid: str
    problem: str | None = None  # the slice's pixel data is missing or cut short


@dataclass
class DicomSeries:
    """One image series: its slice files in spatial order and what is wrong with it."""

    uid: str
    folder: Path
    files: list[Path]
    modality: str = ""
    description: str = ""
    number: int | None = None
    rows: int = 0
    columns: int = 0
    spacing: tuple[float, float, float] = (1.0, 1.0, 1.0)
    origin: tuple[float, float, float] = (0.0, 0.0, 0.0)
    direction: tuple[float, ...] = tuple(np.eye(3).ravel().tolist())
    problems: list[tuple[str, str, str]] = field(default_factory=list)  # (code, severity, message)
    sop_uids: list[str] = field(default_factory=list)

    @property
    def info(self) -> ImageInfo:
        return ImageInfo((len(self.files), self.rows, self.columns),
                         Geometry(self.spacing, self.origin, self.direction), 1, "int16", "dicom")

    @property
    def label(self) -> str:
        parts = [p for p in (self.modality, self.description) if p]
        return " ".join(parts) or self.uid


@dataclass
class SegFile:
    """A DICOM SEG object found in a folder and the series it annotates."""

    path: Path
    referenced_series_uid: str
    referenced_sop_uids: tuple[str, ...]
    problem: str | None = None  # its pixel data is missing or cut short


def is_seg_file(path: str | os.PathLike) -> bool:
    import pydicom

    try:
        ds = pydicom.dcmread(str(path), stop_before_pixels=True, specific_tags=["SOPClassUID", "Modality"])
    except Exception:
        return False
    return str(ds.get("SOPClassUID", "")) == SEG_SOP_CLASS or ds.get("Modality", "") == "SEG"


# suffixes of files that are certainly not DICOM (DICOM files often have none, or a UID's digits)
NOT_DICOM_SUFFIXES = frozenset({
    ".jpg", ".jpeg", ".png", ".bmp", ".tif", ".tiff", ".gz", ".nii", ".nrrd", ".nhdr", ".mha", ".mhd", ".raw",
    ".txt", ".md", ".csv", ".json", ".xlsx", ".xml", ".py", ".zip", ".pdf", ".html", ".htm", ".db", ".ini",
    ".log", ".sh", ".bat", ".exe", ".yaml", ".yml"})


def _could_be_dicom(p: Path) -> bool:
    """A name a DICOM file may have: ``.dcm``, ``.ima``, no suffix, or a UID (digits after the dot)."""
    suffix = p.suffix.lower()
    return suffix not in NOT_DICOM_SUFFIXES


def _dicom_files(folder: Path, recursive: bool) -> tuple[list[Path], list[tuple[Path, str]]]:
    """The DICOM files in a folder, and ``(file, why)`` for files that look like slices but
    cannot be read (empty, unreadable, a broken link)."""
    try:
        entries = sorted(folder.rglob("*") if recursive else folder.iterdir())
    except OSError as exc:
        return [], [(folder, f"cannot read this folder ({exc.strerror or exc})")]
    files, errors = [], []
    for p in entries:
        if p.name.startswith(".") or not _could_be_dicom(p):
            continue
        try:
            st = p.stat()
        except OSError as exc:
            if p.is_symlink():
                errors.append((p, "symbolic link loop" if exc.errno == errno.ELOOP else "broken symbolic link"))
            continue
        import stat as _stat

        if not _stat.S_ISREG(st.st_mode):
            continue
        if st.st_size == 0:
            errors.append((p, "empty file (0 bytes)"))
            continue
        if p.suffix.lower() == ".dcm":
            files.append(p)
            continue
        try:
            with open(p, "rb") as fh:
                fh.seek(128)
                magic = fh.read(4)
        except OSError as exc:
            errors.append((p, f"cannot be read ({exc.strerror or exc})"))
            continue
        if magic == b"DICM":
            files.append(p)
    return files, errors


def _pixel_data_problem(ds, path: Path) -> str | None:
    """Why a DICOM object's pixel data is unusable (missing, cut short), read from its header
    (values are deferred, not loaded): ``None`` when it is all there."""
    from pydicom.tag import Tag

    raw = None
    for tag in (0x7FE00010, 0x7FE00008, 0x7FE00009):
        raw = ds._dict.get(Tag(tag))
        if raw is not None:
            break
    if raw is None:
        return "holds no pixel data"
    size = path.stat().st_size
    length = getattr(raw, "length", None)
    tell = getattr(raw, "value_tell", None)
    if length is None or tell is None:
        return None
    if length == 0xFFFFFFFF:  # encapsulated (compressed) frames end with a sequence delimiter
        with open(path, "rb") as fh:
            fh.seek(max(0, size - 64))
            tail = fh.read()
        if b"\xfe\xff\xdd\xe0" not in tail:
            return "compressed pixel data cut short (the file ends inside it)"
        return None
    if tell + length > size:
        return f"pixel data cut short ({max(0, size - tell):,} of {length:,} bytes present)"
    try:
        frames = int(ds.get("NumberOfFrames", 1) or 1)
        need = int(ds.Rows) * int(ds.Columns) * int(ds.get("SamplesPerPixel", 1) or 1) * frames
        need = (need * int(ds.get("BitsAllocated", 16) or 16) + 7) // 8
    except (TypeError, ValueError, AttributeError):
        return None
    if not ds.file_meta.get("TransferSyntaxUID") or not ds.file_meta.TransferSyntaxUID.is_encapsulated:
        if length < need:
            return f"pixel data shorter than its {int(ds.Rows)}x{int(ds.Columns)} pixels need ({length:,} of {need:,} bytes)"
    return None


def scan_folder(folder: str | os.PathLike, *, recursive: bool = False) -> tuple[list[DicomSeries], list[SegFile], list[str]]:
    """Find the image series and SEG objects among a folder's DICOM files (headers only).

    Returns ``(series, segs, errors)``. A file that looks like one of the folder's slices but
    cannot be read (empty, cut short, no pixel data, no permission) is an error of the series
    beside it (never a silent gap); ``errors`` names the unreadable files that no series of this
    folder can own.
    """
    import pydicom

    folder = Path(folder)
    groups: dict[str, list[tuple[SliceHeader, object]]] = {}
    segs: list[SegFile] = []
    files, bad = _dicom_files(folder, recursive)
    for f in files:
        try:
            ds = pydicom.dcmread(str(f), defer_size=1024)
        except Exception as exc:
            bad.append((f, f"unreadable DICOM file ({exc})"))
            continue
        if str(ds.get("SOPClassUID", "")) == SEG_SOP_CLASS or ds.get("Modality", "") == "SEG":
            ref_uid, ref_sops = "", []
            try:
                for item in ds.get("ReferencedSeriesSequence", []) or []:
                    ref_uid = str(item.get("SeriesInstanceUID", ""))
                    ref_sops += [str(r.ReferencedSOPInstanceUID) for r in item.get("ReferencedInstanceSequence", [])]
            except Exception as exc:
                bad.append((f, f"unreadable DICOM SEG header ({exc})"))
                continue
            segs.append(SegFile(f, ref_uid, tuple(ref_sops), _pixel_data_problem(ds, f)))
            continue
        if "Rows" not in ds or "Columns" not in ds:
            sop = ds.get("SOPClassUID", None) or ds.file_meta.get("MediaStorageSOPClassUID", None)
            if sop is not None and "Image Storage" in getattr(sop, "name", ""):
                bad.append((f, "an image file without its image header (truncated?)"))
            continue  # not an image (structured report, presentation state, ...)
        try:
            uid = str(ds.get("SeriesInstanceUID", "") or "")
            key = uid or f"no-uid:{ds.get('SeriesNumber', '')}:{ds.get('SeriesDescription', '')}:{f.parent}"
            hdr = SliceHeader(
                path=f,
                position=tuple(float(v) for v in ds.ImagePositionPatient) if "ImagePositionPatient" in ds else None,
                orientation=tuple(float(v) for v in ds.ImageOrientationPatient) if "ImageOrientationPatient" in ds else None,
                pixel_spacing=tuple(float(v) for v in ds.PixelSpacing) if "PixelSpacing" in ds else None,
                rows=int(ds.Rows),
                columns=int(ds.Columns),
                instance=int(ds.InstanceNumber) if ds.get("InstanceNumber") not in (None, "") else None,
                sop_uid=str(ds.get("SOPInstanceUID", "") or ""),
                problem=_pixel_data_problem(ds, f),
            )
        except Exception as exc:  # a damaged value (text where a number belongs)
            bad.append((f, f"unreadable DICOM header ({exc})"))
            continue
        groups.setdefault(key, []).append((hdr, ds))
    series = [_build_series(key, items, folder) for key, items in groups.items()]
    series.sort(key=lambda s: (s.number if s.number is not None else 1 << 30, s.uid))
    errors = []
    for f, why in bad:
        owners = [s for s in series if s.folder == f.parent]
        if owners:
            for s in owners:
                s.problems.append(("unreadable_slice", "error",
                                   f"{f.name}: {why}; the series is incomplete without it"))
        else:
            errors.append(f"{f.name}: {why}" if f != folder else why)
    return series, segs, errors


def scan_series(folder: str | os.PathLike) -> list[DicomSeries]:
    """The image series directly inside ``folder`` (see :func:`scan_folder`)."""
    return scan_folder(folder)[0]


def _build_series(key: str, items: list, folder: Path) -> DicomSeries:
    hdrs = [h for h, _ in items]
    ds0 = items[0][1]
    uid = "" if key.startswith("no-uid:") else key
    s = DicomSeries(
        uid=uid,
        folder=hdrs[0].path.parent,
        files=[],
        modality=str(ds0.get("Modality", "") or ""),
        description=str(ds0.get("SeriesDescription", "") or ""),
        number=int(ds0.SeriesNumber) if ds0.get("SeriesNumber") not in (None, "") else None,
    )
    for h in hdrs:
        if h.problem:
            s.problems.append(("unreadable_slice", "error", f"{h.path.name}: {h.problem}"))
    sizes = {(h.rows, h.columns) for h in hdrs}
    if len(sizes) > 1:
        common = max(sizes, key=lambda rc: sum(1 for h in hdrs if (h.rows, h.columns) == rc))
        odd = [h.path.name for h in hdrs if (h.rows, h.columns) != common]
        s.problems.append(("inconsistent_size", "error", f"slices of different sizes {sorted(sizes)} in one series "
                           f"({', '.join(odd[:5])}{' ...' if len(odd) > 5 else ''} differ)"))
    s.rows, s.columns = max(sizes)
    orientation = hdrs[0].orientation or (1.0, 0.0, 0.0, 0.0, 1.0, 0.0)
    odd = [h.path.name for h in hdrs if h.orientation is not None and not np.allclose(h.orientation, orientation, atol=1e-3)]
    if odd:
        s.problems.append(("inconsistent_orientation", "error", "slices with different orientations in one series "
                           f"({', '.join(odd[:5])}{' ...' if len(odd) > 5 else ''})"))
    row_cos, col_cos = np.array(orientation[:3]), np.array(orientation[3:])
    normal = np.cross(row_cos, col_cos)
    if all(h.position is not None for h in hdrs):
        z = np.array([float(np.dot(h.position, normal)) for h in hdrs])
        order = np.argsort(z, kind="stable")
    else:
        s.problems.append(("no_position", "warning", "slices lack ImagePositionPatient; ordered by InstanceNumber"))
        z = np.array([float(h.instance or 0) for h in hdrs])
        order = np.argsort(z, kind="stable")
    hdrs = [hdrs[i] for i in order]
    z = z[order]
    s.files = [h.path for h in hdrs]
    s.sop_uids = [h.sop_uid for h in hdrs]
    px = hdrs[0].pixel_spacing or (1.0, 1.0)
    step = 1.0
    if len(hdrs) > 1:
        diffs = np.diff(z)
        positive = diffs[diffs > 1e-4]
        step = float(np.median(positive)) if positive.size else 1.0
        dup = [i for i in range(len(diffs)) if diffs[i] <= 1e-4]
        if dup:
            names = ", ".join(f"{hdrs[i].path.name} and {hdrs[i + 1].path.name}" for i in dup[:3])
            s.problems.append(("duplicate_slices", "error", f"{len(dup)} slice(s) share a position with another "
                               f"slice ({names}{' ...' if len(dup) > 3 else ''})"))
        gaps = [(i, d) for i, d in enumerate(diffs) if d > 1.5 * step]
        for i, d in gaps:
            missing = int(round(d / step)) - 1
            s.problems.append((
                "missing_slices", "error",
                f"gap in the series: {d:.2f} mm between slices {i + 1} and {i + 2} where the step is "
                f"{step:.2f} mm (about {missing} missing slice{'s' if missing != 1 else ''})",
            ))
        uneven = positive[(positive <= 1.5 * step)]
        if uneven.size and (uneven.max() - uneven.min()) > max(0.01 * step, 1e-3) and not gaps:
            s.problems.append((
                "uneven_spacing", "warning",
                f"uneven slice spacing: steps from {uneven.min():.3f} to {uneven.max():.3f} mm",
            ))
    s.spacing = (float(px[1]), float(px[0]), step)  # PixelSpacing is (row, column) = (y, x)
    first = hdrs[0].position or (0.0, 0.0, 0.0)
    s.origin = tuple(float(v) for v in first)
    direction = np.stack([row_cos, col_cos, normal], axis=1)  # columns: x, y, z axes
    s.direction = tuple(direction.ravel().tolist())
    return s


def read_file_info(path: Path) -> ImageInfo:
    """Header of a single DICOM file (one image or a multi-frame object)."""
    import pydicom

    try:
        ds = pydicom.dcmread(str(path), stop_before_pixels=True, specific_tags=_HEADER_TAGS)
    except Exception as exc:
        raise ReadError(f"{path}: unreadable DICOM file ({exc})") from exc
    if "Rows" not in ds:
        raise ReadError(f"{path}: DICOM file holds no image")
    frames = int(ds.get("NumberOfFrames", 1) or 1)

    check_size(path, (frames, int(ds.Rows), int(ds.Columns)) if frames > 1 else (int(ds.Rows), int(ds.Columns)))
    px = tuple(float(v) for v in ds.PixelSpacing) if "PixelSpacing" in ds else (1.0, 1.0)
    if frames == 1:
        return ImageInfo((int(ds.Rows), int(ds.Columns)), Geometry.identity(2, (px[1], px[0])), 1, "int16", "dicom")
    return ImageInfo((frames, int(ds.Rows), int(ds.Columns)), Geometry.identity(3, (px[1], px[0], 1.0)), 1,
                     "int16", "dicom")


def _pick_series(path: Path, series_uid: str | None) -> DicomSeries:
    series = scan_series(path)
    if not series:
        raise ReadError(f"{path}: no DICOM image series in this folder")
    if series_uid is None:
        if len(series) > 1:
            uids = ", ".join(s.uid or "(no UID)" for s in series)
            raise ReadError(f"{path}: {len(series)} series in this folder ({uids}); choose one by SeriesInstanceUID")
        return series[0]
    for s in series:
        if s.uid == series_uid:
            return s
    raise ReadError(f"{path}: series {series_uid} not found")


def read_dicom_image(path: str | os.PathLike, *, series_uid: str | None = None,
                     series: DicomSeries | None = None) -> ImageData:
    """Read a DICOM series (a folder) or a single DICOM file into ``(Z, Y, X)`` / ``(Y, X)``.

    Slices are read in spatial order with the geometry computed from their headers; pixel values are
    rescaled to modality units (HU for CT) by GDCM.
    """
    sitk = load_sitk()
    path = Path(path)
    if path.is_file():
        try:
            img = sitk.ReadImage(str(path))
        except RuntimeError as exc:
            raise ReadError(f"{path}: cannot decode DICOM file ({short_error(exc)})") from exc
        arr = sitk.GetArrayFromImage(img)
        if arr.ndim == 3 and arr.shape[0] == 1:
            arr = arr[0]
            geom = Geometry(img.GetSpacing()[:2], img.GetOrigin()[:2], (1.0, 0.0, 0.0, 1.0))
            return ImageData(arr, geom, "dicom", path)
        return ImageData(arr, Geometry.from_sitk(img), "dicom", path)
    s = series or _pick_series(path, series_uid)

    check_size(path, (len(s.files), s.rows, s.columns))
    bad = [m for code, sev, m in s.problems if code == "unreadable_slice"]
    if bad:
        raise ReadError(f"{path}: {bad[0]}", "unreadable_slice")
    reader = sitk.ImageSeriesReader()
    reader.SetFileNames([str(f) for f in s.files])
    try:
        img = reader.Execute()
    except RuntimeError as exc:
        raise ReadError(f"{path}: cannot decode DICOM series ({short_error(exc)})") from exc
    arr = sitk.GetArrayFromImage(img)
    geom = Geometry(s.spacing, s.origin, s.direction)
    meta = {"series_uid": s.uid, "sop_uids": list(s.sop_uids), "files": [str(f) for f in s.files]}
    return ImageData(arr, geom, "dicom", path, meta=meta)

