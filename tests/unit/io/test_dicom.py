"""curator.core.io.dicom: series ordering by position, several series per folder, gaps, SEG read/write,
and the real JPEG 2000 series and DICOM SEG in the shared data."""

from __future__ import annotations

import numpy as np
import pytest


from tests.conftest import make_dicom_series
from curator.core.io.dicom import is_seg_file, scan_series
from curator.core.io.dicom_seg import write_seg
from curator.core.io.readers import read_image, read_mask
from curator.core.io.types import ReadError


def test_slices_are_ordered_by_position_not_file_name(tmp_path):
    made = make_dicom_series(tmp_path / "s", n=7, name_order="shuffled", seed=3)
    series = scan_series(tmp_path / "s")
    assert len(series) == 1
    s = series[0]
    assert s.problems == []
    assert s.info.shape == (7, 16, 16)
    assert s.spacing == pytest.approx((0.7, 0.7, 2.5))
    img = read_image(tmp_path / "s")
    np.testing.assert_array_equal(img.array, made["volume"])  # written in spatial order
    assert img.geometry.origin == pytest.approx((-50.0, -60.0, 10.0))


def test_two_series_in_one_folder_are_told_apart(tmp_path):
    folder = tmp_path / "f"
    a = make_dicom_series(tmp_path / "a", n=4, series_number=2, seed=1)
    b = make_dicom_series(tmp_path / "b", n=3, series_number=3, seed=2, shape=(12, 12))
    folder.mkdir()
    for i, f in enumerate(a["files"] + b["files"]):
        f.rename(folder / f"IM{i:04d}")  # no suffix, names interleave nothing about series
    series = scan_series(folder)
    assert [len(s.files) for s in series] == [4, 3]
    assert {s.uid for s in series} == {a["uid"], b["uid"]}
    with pytest.raises(ReadError, match="2 series"):
        read_image(folder)
    img = read_image(folder, series_uid=b["uid"])
    assert img.array.shape == (3, 12, 12)
    np.testing.assert_array_equal(img.array, b["volume"])


def test_missing_slice_is_reported_as_gap(tmp_path):
    make_dicom_series(tmp_path / "g", n=8, missing=(4,), spacing=(0.5, 0.5, 2.0))
    s = scan_series(tmp_path / "g")[0]
    codes = [c for c, _, _ in s.problems]
    assert "missing_slices" in codes
    msg = [m for c, _, m in s.problems if c == "missing_slices"][0]
    assert "4.00 mm" in msg and "1 missing slice" in msg
    assert s.spacing[2] == pytest.approx(2.0)


def test_uneven_spacing_is_a_warning(tmp_path):
    made = make_dicom_series(tmp_path / "u", n=5, spacing=(0.5, 0.5, 2.0))
    import pydicom

    # nudge one slice by 0.4 mm
    f = sorted(made["files"], key=lambda p: pydicom.dcmread(p).ImagePositionPatient[2])[2]
    ds = pydicom.dcmread(f)
    ds.ImagePositionPatient = [ds.ImagePositionPatient[0], ds.ImagePositionPatient[1], ds.ImagePositionPatient[2] + 0.4]
    ds.save_as(f)
    s = scan_series(tmp_path / "u")[0]
    assert [(c, sev) for c, sev, _ in s.problems] == [("uneven_spacing", "warning")]


def test_seg_write_read_round_trip_multiclass(tmp_path):
    make_dicom_series(tmp_path / "s", n=5, shape=(20, 20))
    series = scan_series(tmp_path / "s")[0]
    labels = np.zeros((5, 20, 20), np.uint8)
    labels[1:4, 5:15, 5:15] = 1
    labels[2, 8:11, 8:11] = 2
    out = write_seg(tmp_path / "seg.dcm", labels, series, segment_names={1: "liver", 2: "tumour"})
    assert is_seg_file(out)
    ref = read_image(tmp_path / "s")
    back = read_mask(out, reference=ref)
    np.testing.assert_array_equal(back.array, labels)
    assert back.meta["segments"] == {1: "liver", 2: "tumour"}
    # a rewrite "like" the first keeps the segment descriptions
    labels2 = labels.copy()
    labels2[0, :3, :3] = 1
    out2 = write_seg(tmp_path / "seg2.dcm", labels2, series, like=out)
    back2 = read_mask(out2, reference=ref)
    np.testing.assert_array_equal(back2.array, labels2)
    assert back2.meta["segments"] == {1: "liver", 2: "tumour"}


# -- real data ------------------------------------------------------------------------------------


@pytest.mark.data
def test_real_jpeg2000_series_decodes_in_order(shared_data):
    folder = shared_data / "dicom" / "totalsegmentator_example_ct_dicom"
    s = scan_series(folder)[0]
    assert s.info.shape == (20, 512, 512)
    assert s.spacing == pytest.approx((0.9765625, 0.9765625, 2.0))
    img = read_image(folder)
    assert img.array.shape == (20, 512, 512)
    assert img.array.min() <= -1000 and img.array.max() > 500  # Hounsfield units
    z = [float(v) for v in np.asarray(s.origin)]
    assert z[2] == pytest.approx(-804.5)


@pytest.mark.data
def test_real_series_gap_is_detected(shared_data):
    s = scan_series(shared_data / "dicom" / "pydicom_dicomdirtests" / "77654033" / "CT2")[0]
    assert any(c == "missing_slices" for c, _, _ in s.problems)
    ok = scan_series(shared_data / "dicom" / "pydicom_dicomdirtests" / "98892001" / "CT5N")[0]
    assert ok.problems == []


@pytest.mark.data
def test_real_dicom_seg_aligns_with_its_nrrd_twin(shared_data):
    base = shared_data / "ct" / "dcmqi_ct-3slice"
    ref = read_image(base / "ct-3slice")
    seg = read_mask(base / "liver.dcm", reference=ref)
    nrrd = read_mask(base / "liver_seg.nrrd")
    assert seg.array.shape == ref.array.shape == (3, 512, 512)
    np.testing.assert_array_equal(seg.array, nrrd.array)
    assert seg.meta["segments"] == {1: "Liver"}
