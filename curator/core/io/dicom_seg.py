"""DICOM SEG: read a segmentation object as a label map on its series' grid, and write one (highdicom).

Arrays are ``(Z, Y, X)``; geometry follows :mod:`curator.core.io.types` (ITK, LPS, ``(x, y, z)``).
Patient identity is left out of written objects unless asked for.
"""

from __future__ import annotations

import os
import warnings
from pathlib import Path
from typing import Sequence

import numpy as np

from curator import __version__
from curator.core.io.dicom import DicomSeries
from curator.core.io.files import atomic_path
from curator.core.io.formats import load_sitk
from curator.core.io.types import Geometry, ImageData, ImageInfo, MaskEncoding, ReadError

# ----------------------------------------------------------------------------------------------
# DICOM SEG


def read_seg(path: str | os.PathLike, *, reference: ImageData | ImageInfo | None = None) -> ImageData:
    """Read a DICOM SEG as a label map (segment number = label), aligned to ``reference``.

    With a reference (the annotated series), the segmentation is resampled onto the series grid
    with nearest-neighbour interpolation through physical space, so frames are matched by position,
    not by order. Without, it is returned on its own grid. Overlapping segments: the higher segment
    number wins.
    """
    import highdicom as hd

    path = Path(path)
    try:
        seg = hd.seg.segread(str(path))
    except Exception as exc:
        raise ReadError(f"{path}: unreadable DICOM SEG ({exc})") from exc
    numbers = list(seg.get_segment_numbers())
    try:
        vol = seg.get_volume(combine_segments=True, skip_overlap_checks=True, dtype=np.uint16)
    except Exception as exc:
        raise ReadError(f"{path}: DICOM SEG frames do not form a regular volume ({exc})") from exc
    arr = np.asarray(vol.array)
    if arr.ndim == 4:
        arr = arr[..., 0]
    affine = np.asarray(vol.affine, dtype=float)  # (slice, row, column) index -> LPS
    spacing = tuple(float(np.linalg.norm(affine[:3, i])) for i in (2, 1, 0))
    direction = np.stack([affine[:3, i] / s for i, s in zip((2, 1, 0), spacing)], axis=1)
    geom = Geometry(spacing, tuple(float(v) for v in affine[:3, 3]), tuple(direction.ravel().tolist()))
    max_label = int(arr.max()) if arr.size else 0
    labels = arr.astype(np.uint8 if max_label <= 255 else np.uint16)
    names = {int(s.SegmentNumber): str(s.SegmentLabel) for s in seg.SegmentSequence}
    meta = {"segments": names, "referenced_series_uid": _seg_ref_series(seg), "segment_numbers": numbers}
    enc = MaskEncoding(tuple((n, n) for n in [0] + numbers), "volume", None, "dicom-seg")
    out = ImageData(labels, geom, "dicom-seg", path, enc, meta)
    if reference is not None:
        out = resample_labels_to(out, reference.geometry, _shape_of(reference))
    return out


def _shape_of(ref: ImageData | ImageInfo) -> tuple[int, ...]:
    return tuple(ref.spatial_shape) if isinstance(ref, ImageData) else tuple(ref.shape)


def _seg_ref_series(seg) -> str:
    for item in getattr(seg, "ReferencedSeriesSequence", []) or []:
        return str(item.SeriesInstanceUID)
    return ""


def resample_labels_to(mask: ImageData, geometry: Geometry, shape: Sequence[int]) -> ImageData:
    """Nearest-neighbour resampling of a label map onto another grid (through physical space)."""
    from dataclasses import replace

    if mask.geometry.matches(geometry, atol=1e-4) and tuple(mask.array.shape) == tuple(shape):
        return mask
    sitk = load_sitk()
    src = sitk.GetImageFromArray(mask.array)
    mask.geometry.apply(src)
    ref = sitk.Image([int(v) for v in reversed(shape)], src.GetPixelID())
    geometry.apply(ref)
    out = sitk.Resample(src, ref, sitk.Transform(), sitk.sitkNearestNeighbor, 0, src.GetPixelID())
    return replace(mask, array=sitk.GetArrayFromImage(out), geometry=geometry)


def write_seg(
    path: str | os.PathLike,
    labels: np.ndarray,
    series: DicomSeries,
    *,
    segment_names: dict[int, str] | None = None,
    like: Path | None = None,
    series_description: str = "Mask Curator corrected segmentation",
    software: str = "Mask Curator",
    deidentify: bool = False,
) -> Path:
    """Write ``labels`` ``(Z, Y, X)`` (in the series' spatial order) as a DICOM SEG of ``series``.

    Segment descriptions are copied from ``like`` (the original SEG) when given, so coded
    anatomy survives; new labels get generic descriptions. The SEG references every source
    instance. Needs SOPInstanceUIDs in the source files (anonymised series without them cannot be
    referenced and raise :class:`ValueError`).

    By default the SEG carries the source's patient and study identity (name, ID, birth date, sex,
    accession number), as a SEG returned to the same study must. With ``deidentify`` those are
    left empty (:data:`DEIDENTIFIED`), PatientIdentityRemoved is YES and the method is recorded;
    the UIDs that tie the SEG to its series stay, so it can still be matched to it.
    """

    import highdicom as hd
    import pydicom
    from pydicom.sr.codedict import codes

    if any(not u for u in series.sop_uids):
        raise ValueError("the source series has no SOPInstanceUIDs; a DICOM SEG cannot reference it")
    sources = [pydicom.dcmread(str(f)) for f in series.files]
    if deidentify:
        sources = [_without_identity(ds) for ds in sources]
    labels = np.asarray(labels)
    described: dict[int, object] = {}
    if like is not None:
        try:
            orig = hd.seg.segread(str(like))
            for item in orig.SegmentSequence:
                described[int(item.SegmentNumber)] = item
        except Exception:
            described = {}
    # Segment numbers are the label values; DICOM wants them 1..N, so every number up to the
    # largest label (or the original's largest segment) is described, present or not.
    top = max([int(labels.max()) if labels.size else 0, *described.keys(), 1])
    descriptions = []
    for n in range(1, top + 1):
        if n in described:
            d = described[n]
            descriptions.append(hd.seg.SegmentDescription(
                segment_number=n,
                segment_label=str(d.SegmentLabel),
                segmented_property_category=hd.sr.CodedConcept.from_dataset(d.SegmentedPropertyCategoryCodeSequence[0]),
                segmented_property_type=hd.sr.CodedConcept.from_dataset(d.SegmentedPropertyTypeCodeSequence[0]),
                algorithm_type=hd.seg.SegmentAlgorithmTypeValues.MANUAL,
            ))
        else:
            name = (segment_names or {}).get(n, f"Label {n}")
            descriptions.append(hd.seg.SegmentDescription(
                segment_number=n,
                segment_label=name,
                segmented_property_category=codes.SCT.Tissue,
                segmented_property_type=codes.SCT.Tissue,
                algorithm_type=hd.seg.SegmentAlgorithmTypeValues.MANUAL,
            ))
    pixel = labels.astype(np.uint16 if top > 255 else np.uint8)
    with warnings.catch_warnings():
        # real series carry names such as "JANCT000" that highdicom finds unlikely; they are copied as they are
        warnings.filterwarnings("ignore", message=".*unlikely to represent the intended person name.*")
        seg = _segmentation(hd, sources, pixel, descriptions, series, series_description, software, __version__)
    if deidentify:
        _without_identity(seg)
        seg.PatientIdentityRemoved = "YES"
        seg.DeidentificationMethod = "Mask Curator: patient identity not copied"
    with atomic_path(path) as tmp:
        seg.save_as(str(tmp))
    return Path(path)


DEIDENTIFIED = {"PatientName": "", "PatientID": "", "PatientBirthDate": "", "PatientSex": "",
                "AccessionNumber": "", "ReferringPhysicianName": "", "StudyID": ""}


def _without_identity(ds):
    """A source slice (read for this SEG only, never written) with the patient's identity left out."""
    for key, value in DEIDENTIFIED.items():
        setattr(ds, key, value)
    for key in ("OtherPatientIDs", "OtherPatientNames", "OtherPatientIDsSequence", "PatientAddress",
                "PatientTelephoneNumbers", "InstitutionName", "InstitutionAddress", "PatientAge"):
        if key in ds:
            delattr(ds, key)
    return ds


def _character_set(source):
    """The source's SpecificCharacterSet as highdicom accepts it: None for the default repertoire
    (real series often hold an empty value, which highdicom refuses)."""
    from pydicom.multival import MultiValue

    value = source.get("SpecificCharacterSet")
    values = [str(v).strip() for v in (value if isinstance(value, (list, tuple, MultiValue)) else [value])
              if v is not None]
    if not values or not any(values):
        return None
    if not values[0]:  # default repertoire followed by code extensions
        values[0] = "ISO 2022 IR 6"
    return values[0] if len(values) == 1 else values


def _segmentation(hd, sources, pixel, descriptions, series, series_description, software, version):
    return hd.seg.Segmentation(
        source_images=sources,
        pixel_array=pixel,
        segmentation_type=hd.seg.SegmentationTypeValues.BINARY,
        segment_descriptions=descriptions,
        series_instance_uid=hd.UID(),
        series_number=int(series.number or 0) + 1000,
        sop_instance_uid=hd.UID(),
        instance_number=1,
        manufacturer="Mask Curator",
        manufacturer_model_name=software,
        software_versions=version,
        device_serial_number="0",
        series_description=series_description[:64],
        omit_empty_frames=False,
        specific_character_set=_character_set(sources[0]),
    )
