"""The `curator` command end to end: info, corrupt, demo (subprocesses, as a user runs them)."""

from __future__ import annotations

import csv
import json
import os
import subprocess
import sys
from pathlib import Path

import numpy as np
import pytest
from PIL import Image
from curator.core.io.dicom import scan_series
from curator.core.io.dicom_seg import write_seg


def curator(*args, check=True, timeout=600):
    env = dict(os.environ, CURATOR_PROGRESS="0")
    out = subprocess.run([sys.executable, "-m", "curator.cli", *map(str, args)], capture_output=True, text=True,
                         env=env, timeout=timeout)
    if check and out.returncode != 0:
        raise AssertionError(f"curator {' '.join(map(str, args))} failed ({out.returncode}):\n{out.stderr}")
    return out


def test_version_and_help():
    from curator import __version__

    assert curator("--version").stdout.strip() == f"mask-curator {__version__}"
    out = curator("--help")
    for sub in ("info", "corrupt", "demo"):
        assert sub in out.stdout


def test_info_json_keys_on_a_synthetic_isic_set(tmp_path):
    from curator.core.jobs import run
    from curator.lab.synthetic import iter_write_isic

    run(iter_write_isic(tmp_path / "isic", 3, shape=(48, 64)))
    data = json.loads(curator("info", tmp_path / "isic", "--json").stdout)
    assert {"layout", "cases", "problems"} <= set(data)
    assert data["layout"] == "isic" and len(data["cases"]) == 3
    case = data["cases"][0]
    assert {"id", "image", "mask", "ndim", "shape", "spacing", "problems"} <= set(case)
    assert case["shape"] == [48, 64] and case["ndim"] == 2 and case["problems"] == []


def test_info_errors_are_one_clear_line(tmp_path):
    out = curator("info", tmp_path / "nope", check=False)
    assert out.returncode == 1
    assert "no such folder" in out.stderr and "Traceback" not in out.stderr
    (tmp_path / "empty").mkdir()
    out = curator("info", tmp_path / "empty", "--json", check=False)
    assert out.returncode == 1 and json.loads(out.stdout)["problems"][0]["code"] == "not_a_dataset"


def test_corrupt_rejects_output_inside_source_and_bad_fraction(tmp_path):
    from curator.core.jobs import run
    from curator.lab.synthetic import iter_write_isic

    run(iter_write_isic(tmp_path / "isic", 2, shape=(48, 64)))
    out = curator("corrupt", tmp_path / "isic", tmp_path / "isic" / "noisy", check=False)
    assert out.returncode == 1 and "outside the source" in out.stderr
    out = curator("corrupt", tmp_path / "isic", tmp_path / "o", "--fraction", "1.5", check=False)
    assert out.returncode == 1 and "between 0 and 1" in out.stderr
    assert not (tmp_path / "isic" / "noisy").exists()


def test_corrupt_msd_volume_set_is_deterministic(tmp_path):
    from curator.core.jobs import run
    from curator.lab.synthetic import iter_write_msd

    run(iter_write_msd(tmp_path / "msd", 3, shape=(10, 40, 40)))
    curator("corrupt", tmp_path / "msd", tmp_path / "a", "--noise", "mixed", "--fraction", "0.67", "--seed", "3")
    curator("corrupt", tmp_path / "msd", tmp_path / "b", "--noise", "mixed", "--fraction", "0.67", "--seed", "3")
    ra = (tmp_path / "a" / "corruption.csv").read_text()
    assert ra == (tmp_path / "b" / "corruption.csv").read_text()
    rows = list(csv.DictReader(ra.splitlines()))
    assert sum(r["corrupted"] == "1" for r in rows) == 2
    assert (tmp_path / "a" / "dataset.json").exists()
    for name in ("liver_000.nii.gz", "liver_001.nii.gz", "liver_002.nii.gz"):
        assert (tmp_path / "a" / "imagesTr" / name).read_bytes() == (tmp_path / "msd" / "imagesTr" / name).read_bytes()
    info = json.loads(curator("info", tmp_path / "a", "--json").stdout)
    assert info["layout"] == "msd" and all(not c["problems"] for c in info["cases"])


def test_corrupt_dicom_seg_dataset(tmp_path):

    from tests.conftest import make_dicom_series

    src = tmp_path / "src"
    make_dicom_series(src / "ct", n=5, shape=(32, 32))
    s = scan_series(src / "ct")[0]
    lab = np.zeros((5, 32, 32), np.uint8)
    lab[1:4, 6:26, 6:26] = 1
    write_seg(src / "liver.dcm", lab, s, segment_names={1: "Liver"})
    curator("corrupt", src, tmp_path / "out", "--noise", "polygon3")
    rows = list(csv.DictReader(open(tmp_path / "out" / "corruption.csv")))
    assert rows[0]["corrupted"] == "1" and float(rows[0]["dice_to_original"]) < 0.9
    from curator.core.data.discover import open_dataset

    ds = open_dataset(tmp_path / "out")
    m = ds.cases[0].read_mask()
    assert m.meta["segments"] == {1: "Liver"}
    assert 0 < m.array.sum() < lab.sum()


def test_corrupt_copies_unreadable_mask_cases_and_reports_them(tmp_path):
    src = tmp_path / "src"
    (src / "images").mkdir(parents=True)
    (src / "masks").mkdir()
    for name in ("a", "b"):
        Image.fromarray(np.zeros((30, 30, 3), np.uint8)).save(src / "images" / f"{name}.png")
        m = np.zeros((30, 30), np.uint8)
        m[5:20, 5:20] = 255
        Image.fromarray(m).save(src / "masks" / f"{name}.png")
    (src / "masks" / "b.png").write_bytes(b"broken")
    out = curator("corrupt", src, tmp_path / "out", "--noise", "erode")
    rows = {r["case_id"]: r for r in csv.DictReader(open(tmp_path / "out" / "corruption.csv"))}
    assert rows["a"]["corrupted"] == "1" and rows["b"]["noise"] == "failed"
    assert (tmp_path / "out" / "masks" / "b.png").read_bytes() == b"broken"
    assert "b" in out.stderr


def test_demo_without_gui_lists_the_demo_dataset(tmp_path):
    out = curator("demo", "--no-gui", "--root", tmp_path / "demo", "-q")
    assert "layout: isic" in out.stdout
    assert (tmp_path / "demo" / "derm" / "corruption.csv").exists()
    assert (tmp_path / "demo" / "ct" / "dataset.json").exists()


# -- real data ------------------------------------------------------------------------------------


@pytest.mark.data
def test_info_ph2_lists_200_cases_without_problems(ph2):
    data = json.loads(curator("info", ph2, "--json").stdout)
    assert data["layout"] == "ph2" and len(data["cases"]) == 200
    assert all(c["problems"] == [] for c in data["cases"]) and data["problems"] == []
    text = curator("info", ph2).stdout
    assert "200 ok, 0 with warnings, 0 with errors" in text


@pytest.mark.data
def test_info_real_dicom_series(shared_data):
    folder = shared_data / "dicom" / "totalsegmentator_example_ct_dicom"
    data = json.loads(curator("info", folder, "--json").stdout)
    (case,) = data["cases"]
    assert case["shape"] == [20, 512, 512]
    assert case["spacing"] == pytest.approx([0.977, 0.977, 2.0], abs=1e-3)
    text = curator("info", folder).stdout
    assert "20 slices of 512x512" in text and "(0.977, 0.977, 2.0)" in text


@pytest.mark.data
def test_info_reports_the_gap_in_ct2(shared_data):
    folder = shared_data / "dicom" / "pydicom_dicomdirtests" / "77654033" / "CT2"
    data = json.loads(curator("info", folder, "--json").stdout)
    problems = data["cases"][0]["problems"]
    gap = [p for p in problems if p["code"] == "missing_slices"]
    assert gap and "gap" in gap[0]["message"] and "missing" in gap[0]["message"]
    assert "gap in the series" in curator("info", folder).stdout


@pytest.mark.data
def test_corrupt_ph2_polygon3(ph2, tmp_path):
    out_dir = tmp_path / "ph2-p3"
    curator("corrupt", ph2, out_dir, "--noise", "polygon3", "--fraction", "1", "--seed", "0", "-q")
    rows = list(csv.DictReader(open(out_dir / "corruption.csv")))
    assert len(rows) == 200 and all(r["corrupted"] == "1" and r["noise"] == "polygon3" for r in rows)
    mean = float(np.mean([float(r["dice_to_original"]) for r in rows]))
    assert 0.5 < mean < 0.9
    masks = sorted(Path(out_dir).glob("PH2 Dataset images/IMD*/IMD*_lesion/IMD*_lesion.bmp"))
    assert len(masks) == 200
    src = Image.open(ph2 / "PH2 Dataset images" / "IMD003" / "IMD003_lesion" / "IMD003_lesion.bmp")
    dst = Image.open(out_dir / "PH2 Dataset images" / "IMD003" / "IMD003_lesion" / "IMD003_lesion.bmp")
    assert dst.mode == src.mode and dst.size == src.size
    # images are copied unchanged
    img = "PH2 Dataset images/IMD003/IMD003_Dermoscopic_Image/IMD003.jpg"
    assert (out_dir / img).read_bytes() == (ph2 / img).read_bytes()
    info = json.loads(curator("info", out_dir, "--json").stdout)
    assert info["layout"] == "ph2" and len(info["cases"]) == 200
