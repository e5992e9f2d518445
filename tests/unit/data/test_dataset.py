"""curator.core.data.discover: layout discovery, lazy opening, per-case problems, mask write-back."""

from __future__ import annotations

import json
import os
import time
from pathlib import Path

import numpy as np
import pytest
from PIL import Image


from curator.core.data.cases import DatasetError
from curator.core.data.discover import open_dataset
from tests.conftest import make_dicom_series
from curator.core.io.dicom import scan_series
from curator.core.io.dicom_seg import write_seg
from curator.core.io.readers import read_mask
from curator.core.io.types import Geometry
from curator.core.io.writers import write_image, write_mask


def _rgb(shape=(24, 32)):
    return (np.random.default_rng(0).random(shape + (3,)) * 255).astype(np.uint8)


def _mask(shape=(24, 32)):
    m = np.zeros(shape, np.uint8)
    m[5:15, 8:20] = 255
    return m


def _tree(root: Path) -> dict[str, float]:
    return {str(p.relative_to(root)): p.stat().st_mtime_ns for p in root.rglob("*")}


# -- 2D layouts -----------------------------------------------------------------------------------


def test_isic_one_folder(tmp_path):
    for i in range(3):
        Image.fromarray(_rgb()).save(tmp_path / f"ISIC_000000{i}.jpg")
        Image.fromarray(_mask()).save(tmp_path / f"ISIC_000000{i}_segmentation.png")
    Image.fromarray(_rgb()).save(tmp_path / "ISIC_0000009.jpg")  # no mask
    ds = open_dataset(tmp_path)
    assert ds.layout == "isic"
    assert [c.id for c in ds] == ["ISIC_0000000", "ISIC_0000001", "ISIC_0000002", "ISIC_0000009"]
    ds.check()
    assert [c.ok for c in ds] == [True, True, True, False]
    assert ds["ISIC_0000009"].problems[0].code == "missing_mask"
    assert ds["ISIC_0000001"].shape == (24, 32)


def test_isic_separate_folders(tmp_path):
    (tmp_path / "ISIC2018_Task1-2_Training_Input").mkdir()
    (tmp_path / "ISIC2018_Task1_Training_GroundTruth").mkdir()
    for i in range(2):
        Image.fromarray(_rgb()).save(tmp_path / "ISIC2018_Task1-2_Training_Input" / f"ISIC_001000{i}.jpg")
        Image.fromarray(_mask()).save(tmp_path / "ISIC2018_Task1_Training_GroundTruth" / f"ISIC_001000{i}_segmentation.png")
    ds = open_dataset(tmp_path)
    assert ds.layout == "isic" and len(ds) == 2
    assert ds.cases[0].mask_rel == "ISIC2018_Task1_Training_GroundTruth/ISIC_0010000_segmentation.png"


def test_ph2_layout(tmp_path):
    base = tmp_path / "PH2 Dataset images"
    for cid in ("IMD002", "IMD003"):
        (base / cid / f"{cid}_Dermoscopic_Image").mkdir(parents=True)
        (base / cid / f"{cid}_lesion").mkdir()
        Image.fromarray(_rgb()).save(base / cid / f"{cid}_Dermoscopic_Image" / f"{cid}.bmp")
        Image.fromarray(_mask() > 0).convert("1").save(base / cid / f"{cid}_lesion" / f"{cid}_lesion.bmp")
    ds = open_dataset(tmp_path)
    assert ds.layout == "ph2" and [c.id for c in ds] == ["IMD002", "IMD003"]
    m = ds["IMD002"].read_mask()
    assert set(np.unique(m.array)) == {0, 1}


def test_paired_folders_with_suffix_and_channel_names(tmp_path):
    (tmp_path / "test_images").mkdir()
    (tmp_path / "test_masks").mkdir()
    Image.fromarray(_rgb()).save(tmp_path / "test_images" / "a.jpg")
    Image.fromarray(_mask()).save(tmp_path / "test_masks" / "a.png")
    Image.fromarray(_rgb()).save(tmp_path / "test_images" / "b_1.png")
    Image.fromarray(_mask()).save(tmp_path / "test_masks" / "b_1_liver_000.png")
    ds = open_dataset(tmp_path)
    assert ds.layout == "pairs"
    assert {c.id: c.mask.name for c in ds} == {"a": "a.png", "b_1": "b_1_liver_000.png"}


def test_same_folder_suffix_pairs(tmp_path):
    Image.fromarray(_rgb()).save(tmp_path / "case1.png")
    Image.fromarray(_mask()).save(tmp_path / "case1_mask.png")
    ds = open_dataset(tmp_path)
    assert ds.layout == "pairs" and len(ds) == 1 and ds.cases[0].mask.name == "case1_mask.png"


# -- 3D layouts -----------------------------------------------------------------------------------


def _write_volume_pair(img_path: Path, lab_path: Path, shape=(6, 10, 12), geometry=None):
    geometry = geometry or Geometry((0.8, 0.8, 2.0), (1.0, 2.0, 3.0), tuple(np.eye(3).ravel()))
    vol = np.random.default_rng(0).integers(-100, 200, shape).astype(np.int16)
    lab = np.zeros(shape, np.uint8)
    lab[2:4, 3:7, 3:9] = 1
    lab[3, 4:6, 4:6] = 2
    write_image(img_path, vol, geometry)
    write_mask(lab_path, lab, geometry=geometry)
    return lab


def test_msd_with_dataset_json(tmp_path):
    (tmp_path / "imagesTr").mkdir()
    (tmp_path / "labelsTr").mkdir()
    training = []
    for i in range(3):
        _write_volume_pair(tmp_path / "imagesTr" / f"liver_{i}.nii.gz", tmp_path / "labelsTr" / f"liver_{i}.nii.gz")
        training.append({"image": f"./imagesTr/liver_{i}.nii.gz", "label": f"./labelsTr/liver_{i}.nii.gz"})
    (tmp_path / "imagesTr" / "._liver_0.nii.gz").write_bytes(b"junk")  # macOS debris in the real MSD
    (tmp_path / "dataset.json").write_text(json.dumps(
        {"labels": {"0": "background", "1": "liver", "2": "cancer"}, "training": training}))
    ds = open_dataset(tmp_path)
    assert ds.layout == "msd" and [c.id for c in ds] == ["liver_0", "liver_1", "liver_2"]
    assert ds.label_names == {1: "liver", 2: "cancer"}
    c = ds.cases[1]
    assert c.ndim == 3 and c.shape == (6, 10, 12) and c.spacing == pytest.approx((0.8, 0.8, 2.0))
    ds.check(deep=True)
    assert all(x.ok for x in ds)
    assert c.read_mask().labels == [1, 2]


def test_nnunet_channel_suffix_without_training_list(tmp_path):
    (tmp_path / "imagesTr").mkdir()
    (tmp_path / "labelsTr").mkdir()
    _write_volume_pair(tmp_path / "imagesTr" / "liver_007_0000.nii.gz", tmp_path / "labelsTr" / "liver_007.nii.gz")
    (tmp_path / "dataset.json").write_text(json.dumps({"labels": {"background": 0, "liver": 1}}))
    ds = open_dataset(tmp_path)
    assert [c.id for c in ds] == ["liver_007"] and ds.cases[0].mask.name == "liver_007.nii.gz"
    assert ds.label_names == {1: "liver"}


def test_lits_layout(tmp_path):
    for n in (0, 1, 10):
        _write_volume_pair(tmp_path / f"volume-{n}.nii", tmp_path / f"segmentation-{n}.nii")
    ds = open_dataset(tmp_path)
    assert ds.layout == "lits" and [c.id for c in ds] == ["volume-0", "volume-1", "volume-10"]


def test_dicom_series_with_seg_and_with_nifti(tmp_path):


    make_dicom_series(tmp_path / "patient1" / "ct", n=4, shape=(12, 12))
    s = scan_series(tmp_path / "patient1" / "ct")[0]
    lab = np.zeros((4, 12, 12), np.uint8)
    lab[1:3, 3:8, 3:8] = 1
    write_seg(tmp_path / "patient1" / "liver_seg.dcm", lab, s)
    make_dicom_series(tmp_path / "patient2" / "ct2", n=3, shape=(12, 12), seed=5)
    s2 = scan_series(tmp_path / "patient2" / "ct2")[0]
    write_mask(tmp_path / "patient2" / "ct2_seg.nii.gz", lab[:3], geometry=Geometry(s2.spacing, s2.origin, s2.direction))
    ds = open_dataset(tmp_path)
    assert ds.layout == "dicom"
    assert {c.id: (c.mask.name, c.meta.get("mask_kind")) for c in ds} == {
        "patient1_ct": ("liver_seg.dcm", "seg"), "patient2_ct2": ("ct2_seg.nii.gz", "file")}
    ds.check(deep=True)
    assert all(c.ok for c in ds), [c.problems for c in ds]
    np.testing.assert_array_equal(ds["patient1_ct"].read_mask().array, lab)
    np.testing.assert_array_equal(ds["patient2_ct2"].read_mask().array, lab[:3])


# -- problems -------------------------------------------------------------------------------------


def test_bad_cases_are_reported_and_the_rest_opens(tmp_path):
    (tmp_path / "images").mkdir()
    (tmp_path / "masks").mkdir()
    ok = ("good", _rgb(), _mask())
    Image.fromarray(ok[1]).save(tmp_path / "images" / "good.png")
    Image.fromarray(ok[2]).save(tmp_path / "masks" / "good.png")
    Image.fromarray(_rgb()).save(tmp_path / "images" / "wrongshape.png")
    Image.fromarray(_mask((20, 32))).save(tmp_path / "masks" / "wrongshape.png")
    Image.fromarray(_rgb()).save(tmp_path / "images" / "nomask.png")
    (tmp_path / "images" / "empty.png").write_bytes(b"")
    Image.fromarray(_mask()).save(tmp_path / "masks" / "empty.png")
    Image.fromarray(_rgb()).save(tmp_path / "images" / "corrupt.png")
    (tmp_path / "masks" / "corrupt.png").write_bytes(b"\x89PNG\r\n\x1a\n garbage garbage")
    Image.fromarray(_rgb()).save(tmp_path / "images" / "blank.png")
    Image.fromarray(np.zeros((24, 32), np.uint8)).save(tmp_path / "masks" / "blank.png")
    ds = open_dataset(tmp_path)
    ds.check(deep=True)
    codes = {c.id: [p.code for p in c.problems] for c in ds}
    assert codes == {
        "blank": ["empty_mask"],
        "corrupt": ["unreadable_mask"],
        "empty": ["unreadable_image"],
        "good": [],
        "nomask": ["missing_mask"],
        "wrongshape": ["shape_mismatch"],
    }
    assert ds["blank"].ok  # an empty mask is a warning: usable, worth a look
    assert "24x32" in ds["wrongshape"].problems[0].message
    assert [c.id for c in ds.usable()] == ["blank", "good"]


def test_volume_geometry_and_shape_mismatch(tmp_path):
    (tmp_path / "imagesTr").mkdir()
    (tmp_path / "labelsTr").mkdir()
    g = Geometry((1.0, 1.0, 2.0), (0.0, 0.0, 0.0), tuple(np.eye(3).ravel()))
    _write_volume_pair(tmp_path / "imagesTr" / "a.nii.gz", tmp_path / "labelsTr" / "a.nii.gz", geometry=g)
    _write_volume_pair(tmp_path / "imagesTr" / "b.nii.gz", tmp_path / "labelsTr" / "b.nii.gz", geometry=g)
    write_mask(tmp_path / "labelsTr" / "b.nii.gz", np.zeros((6, 10, 12), np.uint8),
                  geometry=Geometry((1.0, 1.0, 2.0), (5.0, 0.0, 0.0), g.direction))
    _write_volume_pair(tmp_path / "imagesTr" / "c.nii.gz", tmp_path / "labelsTr" / "c.nii.gz", geometry=g)
    write_mask(tmp_path / "labelsTr" / "c.nii.gz", np.zeros((5, 10, 12), np.uint8), geometry=g)
    lab = np.zeros((6, 10, 12), np.float32)
    lab[2, 2, 2] = 0.4
    _write_volume_pair(tmp_path / "imagesTr" / "d.nii.gz", tmp_path / "labelsTr" / "d.nii.gz", geometry=g)
    write_image(tmp_path / "labelsTr" / "d.nii.gz", lab, g)
    ds = open_dataset(tmp_path)
    ds.check()
    codes = {c.id: [p.code for p in c.problems] for c in ds}
    assert codes == {"a": [], "b": ["geometry_mismatch"], "c": ["shape_mismatch"], "d": ["non_integer_mask"]}
    assert "origin differs by 5.00 mm" in ds["b"].problems[0].message


def test_mask_with_flipped_axis_is_aligned_and_written_back_flipped(tmp_path):
    (tmp_path / "imagesTr").mkdir()
    (tmp_path / "labelsTr").mkdir()
    g = Geometry((1.0, 1.0, 2.0), (0.0, 0.0, 0.0), tuple(np.eye(3).ravel()))
    lab = _write_volume_pair(tmp_path / "imagesTr" / "a.nii.gz", tmp_path / "labelsTr" / "a.nii.gz", geometry=g)
    flipped_geom = Geometry((1.0, 1.0, 2.0), (0.0, 9.0, 0.0), (1.0, 0.0, 0.0, 0.0, -1.0, 0.0, 0.0, 0.0, 1.0))
    write_mask(tmp_path / "labelsTr" / "a.nii.gz", lab[:, ::-1, :].copy(), geometry=flipped_geom)
    ds = open_dataset(tmp_path)
    ds.check(deep=True)
    case = ds.cases[0]
    assert case.ok, case.problems
    m = case.read_mask()
    np.testing.assert_array_equal(m.array, lab)
    out = tmp_path / "out"
    new = m.array.copy()
    new[0, 0, 0] = 1
    case.write_mask(new, out, original=m)
    written = read_mask(out / "labelsTr" / "a.nii.gz")
    assert written.geometry.direction[4] == pytest.approx(-1.0)  # stored flipped, like the original
    np.testing.assert_array_equal(written.array, new[:, ::-1, :])


def test_write_mask_keeps_layout_name_and_format(tmp_path):
    base = tmp_path / "src" / "PH2 Dataset images" / "IMD010"
    (base / "IMD010_Dermoscopic_Image").mkdir(parents=True)
    (base / "IMD010_lesion").mkdir()
    Image.fromarray(_rgb()).save(base / "IMD010_Dermoscopic_Image" / "IMD010.jpg")
    Image.fromarray(_mask() > 0).convert("1").save(base / "IMD010_lesion" / "IMD010_lesion.bmp")
    ds = open_dataset(tmp_path / "src")
    case = ds.cases[0]
    m = case.read_mask()
    path = case.write_mask(1 - m.array, tmp_path / "out", original=m)
    assert path == tmp_path / "out" / "PH2 Dataset images" / "IMD010" / "IMD010_lesion" / "IMD010_lesion.bmp"
    assert Image.open(path).mode == "1"


def test_opening_is_lazy_and_fast_for_300_volumes(tmp_path, monkeypatch):
    (tmp_path / "imagesTr").mkdir()
    (tmp_path / "labelsTr").mkdir()
    for i in range(300):
        (tmp_path / "imagesTr" / f"liver_{i}.nii.gz").write_bytes(b"x")
        (tmp_path / "labelsTr" / f"liver_{i}.nii.gz").write_bytes(b"x")
    import curator.core.data.cases as dsmod

    def boom(*a, **k):
        raise AssertionError("opening must not read files")

    monkeypatch.setattr(dsmod, "read_image", boom)
    monkeypatch.setattr(dsmod, "read_mask", boom)
    monkeypatch.setattr(dsmod, "read_info", boom)
    t = time.perf_counter()
    ds = open_dataset(tmp_path)
    elapsed = time.perf_counter() - t
    assert len(ds) == 300
    assert elapsed < 0.5, f"listing 300 cases took {elapsed:.2f} s"


def test_nothing_is_written_into_the_source(tmp_path):
    for i in range(2):
        Image.fromarray(_rgb()).save(tmp_path / f"ISIC_000000{i}.jpg")
        Image.fromarray(_mask()).save(tmp_path / f"ISIC_000000{i}_segmentation.png")
    before = _tree(tmp_path)
    ds = open_dataset(tmp_path)
    ds.check(deep=True)
    for c in ds:
        c.read_image()
        c.read_mask()
    assert _tree(tmp_path) == before


def test_unusable_folders_raise_clear_errors(tmp_path):
    with pytest.raises(DatasetError, match="no such folder"):
        open_dataset(tmp_path / "missing")
    (tmp_path / "empty").mkdir()
    with pytest.raises(DatasetError, match="empty"):
        open_dataset(tmp_path / "empty")
    (tmp_path / "junk").mkdir()
    (tmp_path / "junk" / "notes.txt").write_text("hello")
    with pytest.raises(DatasetError, match="no image/mask cases"):
        open_dataset(tmp_path / "junk")
    f = tmp_path / "file.png"
    f.write_bytes(b"x")
    with pytest.raises(DatasetError, match="is a file"):
        open_dataset(f)


# -- real data ------------------------------------------------------------------------------------


@pytest.mark.data
def test_real_ph2_opens_with_200_clean_cases(ph2):
    ds = open_dataset(ph2)
    assert ds.layout == "ph2" and len(ds) == 200
    ds.check()
    assert all(c.ok and not c.problems for c in ds)


@pytest.mark.data
def test_real_layouts(shared_data):
    ham = open_dataset(shared_data / "derm" / "ham10000")
    assert ham.layout == "pairs" and len(ham) == 5
    amos = open_dataset(shared_data / "ct" / "sammed2d_amos_2d")
    assert len(amos) == 2 and all(c.mask is not None for c in amos)
    dcm = open_dataset(shared_data / "dicom" / "totalsegmentator_example_ct_dicom")
    assert dcm.layout == "dicom" and len(dcm) == 1
    case = dcm.cases[0]
    case_info = case.image_info()
    assert case_info.shape == (20, 512, 512)
    # the NIfTI mask beside the series stores the y axis flipped: aligned exactly on read
    dcm.check(deep=True)
    assert case.ok, case.problems
    m = case.read_mask()
    assert m.array.shape == (20, 512, 512) and 5 in m.labels
    assert os.path.basename(case.mask) == "totalsegmentator_example_ct_dicom_seg.nii.gz"
