"""A real DICOM study through the whole flow: `curator corrupt` -> `curator batch` -> review ->
`curator export` as DICOM SEG, the SEG read back equal to the mask decided (the dcmqi liver
series; writing a SEG for it failed on its empty SpecificCharacterSet)."""

from __future__ import annotations

import csv

import numpy as np
import pytest
import pydicom

from tests.integration.test_cli import curator

pytestmark = pytest.mark.data

TINY = ["--folds", "1", "--epochs", "1", "--patch", "4,64,64", "--channels", "4,8,16", "--batch-size", "1",
        "--threads", "2", "--tta", "1", "--proposal-min-confidence", "0", "-q"]


def _rows(path):
    with open(path, newline="") as fh:
        return {r["case_id"]: r for r in csv.DictReader(fh)}


def test_the_real_dcmqi_series_round_trips_as_dicom_seg(shared_data, tmp_path):
    from curator.core.io.readers import read_image, read_mask
    from curator.core.project.store import Store

    src = shared_data / "ct" / "dcmqi_ct-3slice"
    noisy, proj = tmp_path / "noisy", tmp_path / "proj"
    out = curator("corrupt", src, noisy, "--noise", "dilate", "--fraction", "1", "--seed", "0")
    assert "could not be read" not in out.stdout + out.stderr
    row = _rows(noisy / "corruption.csv")["ct-3slice"]
    assert row["corrupted"] == "1" and float(row["dice_to_original"]) < 1.0
    # one case: one model on everything (five folds are refused, saying what can be done)
    refused = curator("batch", noisy, "--project", tmp_path / "refused", "--epochs", "1", "-q", check=False)
    assert refused.returncode != 0 and "--model" in refused.stderr and "cannot be split" not in refused.stderr
    curator("batch", noisy, "--project", proj, *TINY, timeout=900)
    # the one model trained on this case's own mask: its proposal is no evidence, and is withheld
    refused = curator("decide", "--project", proj, "ct-3slice", "accept", check=False)
    assert refused.returncode == 1 and "no model held this case out" in refused.stderr
    curator("decide", "--project", proj, "ct-3slice", "keep")
    with Store(proj / "curator.db") as store:
        assert store.decision("ct-3slice")["decision"] == "kept"
    given = read_mask(noisy / "liver.dcm", reference=read_image(noisy / "ct-3slice")).array
    curator("export", proj, tmp_path / "out", "-q")
    rows = _rows(tmp_path / "out" / "changes.csv")
    assert rows["ct-3slice"]["decision"] == "kept"
    series = read_image(tmp_path / "out" / "ct-3slice")
    back = read_mask(tmp_path / "out" / "liver.dcm", reference=series)
    np.testing.assert_array_equal(back.array, given)
    ds = pydicom.dcmread(tmp_path / "out" / "liver.dcm")
    source = pydicom.dcmread(sorted((src / "ct-3slice").iterdir())[0], stop_before_pixels=True)
    assert ds.Modality == "SEG" and str(ds.PatientID) == str(source.PatientID)  # back to the same study
    assert ds.StudyInstanceUID == source.StudyInstanceUID


def test_an_edited_correction_of_the_real_series_exported_de_identified(shared_data, tmp_path):
    """The original liver put back as an edit on the corrupted copy: the SEG holds exactly it, and
    with --deidentify-seg carries no patient identity while still pointing at its series."""
    from curator.core.data.discover import open_dataset
    from curator.core.io.readers import read_image, read_mask
    from curator.core.project.folder import Project
    from curator.core.project.review import load_case_view, save_edit
    from curator.core.project.store import Store

    src = shared_data / "ct" / "dcmqi_ct-3slice"
    curator("corrupt", src, tmp_path / "noisy", "--noise", "dilate", "--fraction", "1", "--seed", "1")
    original_ds = open_dataset(src)
    case = original_ds.cases[0]
    truth = case.read_mask(case.read_image()).array
    project = Project.create(tmp_path / "proj", tmp_path / "noisy")
    ds = project.open_dataset()
    ds.check()
    with Store(project.db_path) as store:
        store.sync_cases(ds.cases)
        view = load_case_view(project, store, ds.cases[0])
        assert not np.array_equal(view.given.array, truth)
        save_edit(project, store, view, truth)
    curator("export", project.root, tmp_path / "out", "--deidentify-seg", "-q")
    series = read_image(tmp_path / "out" / "ct-3slice")
    back = read_mask(tmp_path / "out" / "liver.dcm", reference=series)
    np.testing.assert_array_equal(back.array, truth)
    seg = pydicom.dcmread(tmp_path / "out" / "liver.dcm")
    source = pydicom.dcmread(sorted((src / "ct-3slice").iterdir())[0], stop_before_pixels=True)
    assert str(source.PatientName) and str(seg.PatientName) == "" and str(seg.PatientID) == ""
    assert seg.PatientIdentityRemoved == "YES"
    assert seg.ReferencedSeriesSequence[0].SeriesInstanceUID == source.SeriesInstanceUID
