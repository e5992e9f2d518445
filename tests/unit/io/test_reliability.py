"""Reading and writing that never crashes and is never silently wrong (issue 15), unit level."""

from __future__ import annotations

import errno
import gzip
import os
import shutil

import numpy as np
import pytest
from PIL import Image


from curator.core.io.types import ReadError, TooLargeError
from curator.core.io.dicom import scan_series
from curator.core.io.dicom_seg import write_seg
from curator.core.io.files import atomic_path, explain_os_error, remove_stale_temp
from curator.core.io.readers import read_image, read_info, read_mask
from curator.core.io.types import Geometry
from curator.core.io.writers import write_mask


@pytest.fixture
def real_ct(shared_data, tmp_path):
    src = shared_data / "ct" / "totalsegmentator_example" / "example_ct_sm.nii.gz"
    dst = tmp_path / "ct.nii.gz"
    shutil.copyfile(src, dst)
    return dst


def test_a_truncated_niigz_is_refused_not_read_as_zeros(real_ct):
    whole = read_image(real_ct)
    assert read_info(real_ct).shape == whole.array.shape
    data = real_ct.read_bytes()
    real_ct.write_bytes(data[: len(data) // 2])
    for read in (read_info, read_image, read_mask):
        with pytest.raises(ReadError, match="truncated"):
            read(real_ct)
    real_ct.write_bytes(data[:-8])  # everything but the gzip trailer: still cut short
    with pytest.raises(ReadError, match="truncated"):
        read_image(real_ct)


def test_a_truncated_uncompressed_nifti_is_refused(real_ct, tmp_path):
    import nibabel as nib

    nii = tmp_path / "ct.nii"
    nib.save(nib.load(str(real_ct)), str(nii))
    read_image(nii)
    nii.write_bytes(nii.read_bytes()[:-1000])
    with pytest.raises(ReadError, match="truncated"):
        read_info(nii)


def test_a_float_nifti_mask_with_nan_is_refused(real_ct, tmp_path):
    import nibabel as nib

    im = nib.load(str(real_ct))
    lab = (np.asanyarray(im.dataobj) > 0).astype(np.float32)
    lab[0, 0, 0] = np.nan
    nib.save(nib.Nifti1Image(lab, im.affine), str(tmp_path / "m.nii.gz"))  # ITK reads NaN as 0
    with pytest.raises(ReadError, match="NaN"):
        read_mask(tmp_path / "m.nii.gz")


def test_size_limits_come_from_the_header_and_can_be_raised(tmp_path, monkeypatch, capsys):
    from curator import cli

    Image.fromarray(np.zeros((450, 600, 3), np.uint8)).save(tmp_path / "a.png")
    monkeypatch.setenv("CURATOR_MAX_MEGAPIXELS", "0.1")
    with pytest.raises(TooLargeError, match="--max-megapixels") as err:
        read_info(tmp_path / "a.png")
    assert err.value.code == "too_large" and "600x450" in str(err.value)
    with pytest.raises(TooLargeError):
        read_image(tmp_path / "a.png")
    monkeypatch.setenv("CURATOR_MAX_MEGAPIXELS", "1")
    assert read_info(tmp_path / "a.png").shape == (450, 600)
    monkeypatch.delenv("CURATOR_MAX_MEGAPIXELS")
    # the command line option does the same (and is passed on to the jobs it starts)
    Image.fromarray(np.zeros((450, 600), np.uint8)).save(tmp_path / "a_mask.png")
    assert cli.main(["info", str(tmp_path), "--json", "--max-megapixels", "0.1"]) == 0
    assert '"too_large"' in capsys.readouterr().out
    monkeypatch.delenv("CURATOR_MAX_MEGAPIXELS", raising=False)


def test_a_bomb_is_refused_before_it_is_decoded(tmp_path):
    from tests.integration.corpus import nifti_claiming, zero_png

    zero_png(tmp_path / "big.png", 9000, 9000)  # 81 Mpx of zeros in a few kB
    with pytest.raises(TooLargeError, match="9000x9000"):
        read_mask(tmp_path / "big.png")
    nifti_claiming(tmp_path / "huge.nii.gz", (2048, 2048, 2048), dtype=np.int16, payload=b"\0" * 1000)
    with pytest.raises(TooLargeError, match="2048x2048x2048"):
        read_info(tmp_path / "huge.nii.gz")


def test_a_grey_mask_with_a_few_values_keeps_one_label_per_value_and_writes_them_back(tmp_path):
    m = np.zeros((20, 30), np.uint8)
    m[2:8, 2:8] = 128
    m[10:18, 10:25] = 255
    Image.fromarray(m).save(tmp_path / "m.png")
    mask = read_mask(tmp_path / "m.png")
    assert sorted(np.unique(mask.array)) == [0, 1, 2]  # 128 no longer collapses into 0
    assert mask.encoding.note.startswith("grey values 0, 128, 255")
    write_mask(tmp_path / "out.png", mask.array, like=mask)
    np.testing.assert_array_equal(np.asarray(Image.open(tmp_path / "out.png")), m)
    m16 = np.zeros((20, 30), np.uint16)
    m16[2:8, 2:8] = 1
    m16[10:18, 10:25] = 1000
    Image.fromarray(m16).save(tmp_path / "m16.png")
    mask = read_mask(tmp_path / "m16.png")
    assert sorted(np.unique(mask.array)) == [0, 1, 2]  # 1 is not thresholded away by 1000
    write_mask(tmp_path / "out16.png", mask.array, like=mask)
    np.testing.assert_array_equal(np.asarray(Image.open(tmp_path / "out16.png")), m16)


def test_stray_values_in_a_binary_mask_are_refused_not_made_classes(tmp_path):
    m = np.zeros((40, 40), np.uint8)
    m[5:30, 5:30] = 1
    m[0, 0] = 2
    m[39, 38:40] = 7
    Image.fromarray(m).save(tmp_path / "m.png")
    with pytest.raises(ReadError, match=r"stray value\(s\) 2 \(1 px\), 7 \(2 px\)") as err:
        read_mask(tmp_path / "m.png")
    assert err.value.code == "stray_labels"
    m[30:40, 30:40] = 2  # a real second label (100 px) is fine
    m[0, 0] = 0
    m[39, 38:40] = 2
    Image.fromarray(m).save(tmp_path / "ok.png")
    assert sorted(np.unique(read_mask(tmp_path / "ok.png").array)) == [0, 1, 2]


def test_labels_the_dataset_does_not_declare_are_refused(tmp_path):
    lab = np.zeros((4, 10, 10), np.uint8)
    lab[1:3, 2:8, 2:8] = 1
    lab[2, 4:6, 4:6] = 2
    write_mask(tmp_path / "m.nii.gz", lab, geometry=Geometry.identity(3))
    assert read_mask(tmp_path / "m.nii.gz", declared=[0, 1, 2]).labels == [1, 2]
    with pytest.raises(ReadError, match="does not declare") as err:
        read_mask(tmp_path / "m.nii.gz", declared=[0, 1])
    assert err.value.code == "undeclared_label"


def test_broken_and_looping_symlinks_are_named(tmp_path):
    (tmp_path / "loop.png").symlink_to(tmp_path / "loop.png")
    (tmp_path / "gone.png").symlink_to(tmp_path / "nowhere.png")
    with pytest.raises(ReadError, match="symbolic link loop"):
        read_info(tmp_path / "loop.png")
    with pytest.raises(ReadError, match="broken symbolic link"):
        read_mask(tmp_path / "gone.png")


def test_proposals_keep_a_dataset_label_beyond_a_uint8_mask():
    from curator.core.curation.proposals import ProposalConfig, propose

    given = np.zeros((40, 40), np.uint8)
    given[10:30, 10:30] = 1
    prob = np.zeros((3, 40, 40), np.float32)
    prob[0] = 1.0
    prob[:, 10:30, 10:30] = [[[0.0]], [[1.0]], [[0.0]]]
    prob[:, 14:20, 14:20] = [[[0.0]], [[0.0]], [[1.0]]]  # the models see label 300 here
    p = propose(given, prob, None, labels=[0, 1, 300], cfg=ProposalConfig(min_confidence=0.0))
    assert p.mask.dtype == np.uint16 and 300 in np.unique(p.mask)


def test_the_sliding_window_keeps_whole_patches_on_a_30_slice_volume():
    """The bundled CT is 30 slices: a (32, 96, 96) patch clipped to 30 does not divide by the
    U-Net's strides (`Sizes of tensors must match ... 15 but got 16`)."""
    import torch
    from monai.networks.nets import UNet

    from curator.core.engine.inference import forward_probs

    net = UNet(spatial_dims=3, in_channels=1, out_channels=2, channels=(2, 4, 8, 8, 8), strides=(2, 2, 2, 2),
               num_res_units=0).eval()
    for shape in [(30, 34, 20), (3, 1, 1)]:
        p = forward_probs(net, torch.zeros((1, 1) + shape), patch=(32, 32, 32))
        assert tuple(p.shape) == (1, 2) + shape
        assert torch.allclose(p.sum(1), torch.ones(1))


def test_safe_names_are_distinct_and_short():
    from curator.core.io.files import safe_name

    assert safe_name("ISIC_0000001") == "ISIC_0000001"
    assert safe_name("a b") != safe_name("a_b") and safe_name("a b") != safe_name("a?b")
    long = safe_name("L" * 240)
    assert len(long) <= 101 and long != safe_name("L" * 239)
    assert not safe_name(".hidden").startswith(".")


def test_atomic_writes_beside_a_240_character_name(tmp_path):
    dest = tmp_path / ("x" * 240 + ".npz")
    with atomic_path(dest) as tmp:
        assert len(tmp.name) < 200
        np.savez(tmp, a=np.zeros(2))
    assert dest.exists()


def test_stale_temporary_files_of_dead_writers_are_removed(tmp_path):
    import subprocess
    import sys

    dead = subprocess.run([sys.executable, "-c", "import os; print(os.getpid())"], capture_output=True,
                          text=True).stdout.strip()
    (tmp_path / "sub").mkdir()
    stale = tmp_path / "sub" / f".a.npz.{dead}-abc123.tmp.npz"
    live = tmp_path / f".b.npz.{os.getpid()}-def456.tmp.npz"
    other = tmp_path / ".keep"
    for p in (stale, live, other):
        p.write_bytes(b"x")
    assert remove_stale_temp(tmp_path) == [stale]
    assert live.exists() and other.exists() and not stale.exists()


def test_csv_cells_that_a_spreadsheet_would_run_are_escaped(tmp_path):
    from curator.core.curation.ranking import read_ranking, write_ranking

    ids = ["=HYPERLINK(\"http://x\")", "+1+1", "-2+3", "@SUM(1)", "'quoted", "\tTab", "ISIC_1"]
    write_ranking(tmp_path / "r.csv", [(c, 1.0 - i / 10, i + 1) for i, c in enumerate(ids)])
    text = (tmp_path / "r.csv").read_text()
    for line in text.splitlines()[1:]:
        cell = line.split(",")[0].strip('"')
        assert cell[0] not in "=+-@\t" or cell.startswith("'"), line
    assert [c for c, _, _ in read_ranking(tmp_path / "r.csv")] == ids
    assert ",-0.5" not in text  # numbers are left alone


def test_os_errors_are_explained():
    assert "disk is full" in explain_os_error(OSError(errno.ENOSPC, "No space left on device"), "/p")
    assert "read-only" in explain_os_error(OSError(errno.EROFS, "Read-only file system"), "/p")
    assert "no permission" in explain_os_error(PermissionError(errno.EACCES, "Permission denied"), "/p")


def test_dicom_warnings_do_not_print_the_patients_name(tmp_path, capfd, recwarn):
    import warnings

    import pydicom


    from tests.conftest import make_dicom_series

    make_dicom_series(tmp_path / "s", n=4)
    for f in (tmp_path / "s").iterdir():
        ds = pydicom.dcmread(str(f))
        ds.PatientName = "JANCT000"  # a one-part name: highdicom warns, quoting it
        ds.save_as(str(f))
    s = scan_series(tmp_path / "s")[0]
    lab = np.zeros((4, 16, 16), np.uint8)
    lab[1:3, 4:9, 4:9] = 1
    with warnings.catch_warnings(record=True) as caught:
        warnings.simplefilter("default")
        import importlib

        import curator.core.io.dicom as dicom_module

        importlib.reload(dicom_module)  # its filters, as set when the module is imported
        s = scan_series(tmp_path / "s")[0]
        write_seg(tmp_path / "seg.dcm", lab, s)
    out, err = capfd.readouterr()
    assert "JANCT000" not in out + err
    assert not any("JANCT000" in str(w.message) for w in caught)


def test_the_reliability_doc_counts_the_corpus_as_it_is():
    """docs/reliability.md's table of families and outcomes matches tests/integration/corpus.py."""
    from collections import Counter
    from pathlib import Path

    from tests.integration.corpus import ENTRIES, FAMILIES

    doc = (Path(__file__).resolve().parents[3] / "docs" / "reliability.md").read_text()
    outcomes = ["case_error", "case_warning", "dataset_warning", "dataset_error", "ok"]
    for fam in list(FAMILIES) + ["all"]:
        c = Counter(e.expect.outcome for e in ENTRIES if fam in ("all", e.family))
        row = f"| {fam} | {sum(c.values())} | " + " | ".join(str(c[o]) for o in outcomes) + " |"
        assert row in doc, row
