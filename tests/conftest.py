"""Shared fixtures: the real datasets (CURATOR_TEST_DATA), small synthetic datasets, DICOM makers."""

from __future__ import annotations

import os
from pathlib import Path

import numpy as np
import pytest

REPO = Path(__file__).resolve().parents[1]


def data_root() -> Path:
    return Path(os.environ.get("CURATOR_TEST_DATA", REPO.parent / "shared" / "data")).resolve()


def _in_ci() -> bool:
    return os.environ.get("CI", "").lower() in ("1", "true", "yes")


@pytest.fixture(scope="session")
def shared_data() -> Path:
    """The real test data folder; skip when absent, fail when absent under CI=true."""
    root = data_root()
    if not (root / "derm").is_dir():
        msg = f"real test data not found at {root} (set CURATOR_TEST_DATA)"
        if _in_ci():
            pytest.fail(msg + "; CI=true requires it")
        pytest.skip(msg)
    return root


@pytest.fixture(scope="session")
def ph2(shared_data) -> Path:
    return shared_data / "derm" / "ph2"


@pytest.fixture(autouse=True)
def _curator_home(tmp_path_factory, monkeypatch):
    """Keep demo data and settings of tests out of the user's home."""
    if "CURATOR_HOME" not in os.environ:
        monkeypatch.setenv("CURATOR_HOME", str(tmp_path_factory.getbasetemp() / "curator-home"))


def make_dicom_series(folder: Path, n: int = 6, shape=(16, 16), spacing=(0.7, 0.7, 2.5), *, origin=(-50.0, -60.0, 10.0),
                      missing: tuple[int, ...] = (), series_uid: str | None = None, series_number: int = 1,
                      name_order: str = "shuffled", seed: int = 0, description: str = "test series",
                      study_uid: str | None = None, frame_uid: str | None = None) -> dict:
    """Write an uncompressed CT series (one file per slice) and return what was written.

    ``missing`` drops slice indices (a gap); ``name_order="shuffled"`` gives files names that do
    not sort in spatial order. Returns ``{"volume": (Z, Y, X) int16 of the written slices,
    "files": [...], "uid": ..., "z": [...]}``.
    """
    import pydicom
    from pydicom.dataset import FileDataset, FileMetaDataset
    from pydicom.uid import ExplicitVRLittleEndian, generate_uid

    rng = np.random.default_rng(seed)
    folder.mkdir(parents=True, exist_ok=True)
    series_uid = series_uid or generate_uid()
    study_uid = study_uid or generate_uid()
    frame_uid = frame_uid or generate_uid()
    keep = [i for i in range(n) if i not in missing]
    names = [f"{i:03d}.dcm" for i in range(len(keep))]
    if name_order == "shuffled":
        names = list(rng.permutation(names))
    vol = rng.integers(-1000, 1000, size=(len(keep),) + tuple(shape)).astype(np.int16)
    files = []
    for k, (i, name) in enumerate(zip(keep, names)):
        meta = FileMetaDataset()
        meta.MediaStorageSOPClassUID = "1.2.840.10008.5.1.4.1.1.2"
        sop = generate_uid()
        meta.MediaStorageSOPInstanceUID = sop
        meta.TransferSyntaxUID = ExplicitVRLittleEndian
        ds = FileDataset(str(folder / name), {}, file_meta=meta, preamble=b"\0" * 128)
        ds.SOPClassUID = meta.MediaStorageSOPClassUID
        ds.SOPInstanceUID = sop
        ds.StudyInstanceUID = study_uid
        ds.SeriesInstanceUID = series_uid
        ds.FrameOfReferenceUID = frame_uid
        ds.Modality = "CT"
        ds.PatientID = "TEST"
        ds.PatientName = "Test^Patient"
        ds.PatientBirthDate = ""
        ds.PatientSex = "O"
        ds.StudyDate = "20260101"
        ds.StudyTime = "120000"
        ds.StudyID = "1"
        ds.AccessionNumber = ""
        ds.ReferringPhysicianName = ""
        ds.Manufacturer = "test"
        ds.SeriesNumber = series_number
        ds.SeriesDescription = description
        ds.InstanceNumber = i + 1
        ds.ImagePositionPatient = [origin[0], origin[1], origin[2] + i * spacing[2]]
        ds.ImageOrientationPatient = [1, 0, 0, 0, 1, 0]
        ds.PixelSpacing = [spacing[1], spacing[0]]
        ds.SliceThickness = spacing[2]
        ds.Rows, ds.Columns = shape
        ds.SamplesPerPixel = 1
        ds.PhotometricInterpretation = "MONOCHROME2"
        ds.BitsAllocated = 16
        ds.BitsStored = 16
        ds.HighBit = 15
        ds.PixelRepresentation = 1
        ds.RescaleIntercept = 0
        ds.RescaleSlope = 1
        ds.PixelData = vol[k].tobytes()
        ds.save_as(str(folder / name), enforce_file_format=True)
        files.append(folder / name)
    return {"volume": vol, "files": files, "uid": series_uid, "z": [origin[2] + i * spacing[2] for i in keep]}


@pytest.fixture
def dicom_series(tmp_path):
    return make_dicom_series
