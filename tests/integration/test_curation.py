"""Curation end to end: `curator batch`, decisions, `curator export`, crashes (SIGKILL) and faults."""

from __future__ import annotations

import csv
import json
import os
import signal
import subprocess
import sys
import time
from pathlib import Path

import numpy as np
import pytest
from PIL import Image

from curator.core.jobs import run
from curator.lab.synthetic import iter_write_demo
from tests.integration.test_cli import curator

# a fixed, low region gate (three-epoch models are unsure): twelve cases are too few to calibrate one
# (see the withholding test below)
FAST = ["--folds", "3", "--epochs", "3", "--size", "48", "--channels", "8,16,32", "--batch-size", "4",
        "--threads", "2", "--tta", "2", "--proposal-tau", "0.5", "--proposal-min-confidence", "0.5", "-q"]


@pytest.fixture(scope="module")
def demo(tmp_path_factory):
    root = tmp_path_factory.mktemp("demo")
    return run(iter_write_demo(root / "demo", n_derm=12, n_ct=3, derm_shape=(96, 128), ct_shape=(12, 48, 48)))


@pytest.fixture(scope="module")
def batched(demo, tmp_path_factory):
    proj = tmp_path_factory.mktemp("p") / "proj"
    out = curator("batch", demo / "derm", "--project", proj, *FAST)
    return proj, out


def _rows(path):
    with open(path, newline="") as fh:
        return list(csv.DictReader(fh))


def test_batch_writes_ranking_and_proposals_in_the_datasets_format(batched, demo):
    proj, out = batched
    rows = _rows(proj / "ranking.csv")
    assert len(rows) == 12 and list(rows[0]) == ["case_id", "score", "rank"]
    assert [int(r["rank"]) for r in rows] == list(range(1, 13))
    scores = [float(r["score"]) for r in rows]
    assert scores == sorted(scores, reverse=True)
    props = sorted((proj / "proposals").glob("ISIC_*_segmentation.png"))
    status = {r["case_id"]: r for r in _rows(proj / "proposals.csv")}
    offered = {c for c, r in status.items() if r["status"] != "withheld"}  # (three-epoch models: some replace masks)
    assert len(props) == len(offered) >= 8
    assert all(r["reason"] for r in status.values() if r["status"] == "withheld")
    assert Image.open(props[0]).mode == Image.open(next((demo / "derm").glob("*_segmentation.png"))).mode
    assert "ranked 12 case(s)" in out.stdout


def test_proposals_are_withheld_with_the_reason_where_they_cannot_be_calibrated(demo, tmp_path):
    """Twelve cases (six judged correct) are too few to set a region gate: nothing is proposed, and
    the CLI, proposals.csv, the store and `decide` say why."""
    proj = tmp_path / "proj"
    out = curator("batch", demo / "derm", "--project", proj, *FAST[:-5], "-q")  # (without a fixed gate)
    assert "proposals withheld: too few cases scored out of fold to calibrate" in out.stdout
    rows = _rows(proj / "proposals.csv")
    assert len(rows) == 12 and {r["status"] for r in rows} == {"withheld"}
    assert all("too few cases" in r["reason"] for r in rows)
    assert not list((proj / "proposals").glob("ISIC_*"))  # no mask files that look like proposals
    calib = json.loads((proj / "calibration.json").read_text())
    assert calib["gate"] is None and "too few" in calib["withheld"]
    q = json.loads(curator("queue", "--project", proj, "--json").stdout)
    refused = curator("decide", "--project", proj, q[0]["case_id"], "accept", check=False)
    assert refused.returncode == 1 and "proposals withheld" in refused.stderr
    out_dir = tmp_path / "auto"
    curator("export", proj, out_dir, "--accept-top", "12", "-q")  # nothing to take: the originals stay
    assert {r["decision"] for r in _rows(out_dir / "changes.csv")} == {"unreviewed"}


def test_decisions_then_export_keeps_layout_and_records_changes(batched, demo, tmp_path):
    proj, _ = batched
    q = json.loads(curator("queue", "--project", proj, "--json").stdout)
    top = next(r["case_id"] for r in q if r["change_fraction"])  # the first case with a proposed change
    second, third = [r["case_id"] for r in q if r["case_id"] != top][:2]
    curator("decide", "--project", proj, top, "accept")
    curator("decide", "--project", proj, second, "exclude", "--note", "photo out of focus")
    curator("decide", "--project", proj, third, "keep")
    locked = curator("decide", "--project", proj, third, "flag", check=False)
    assert locked.returncode == 1 and "locked" in locked.stderr
    out_dir = tmp_path / "cleaned"
    curator("export", proj, out_dir, "-q")
    changes = {r["case_id"]: r for r in _rows(out_dir / "changes.csv")}
    assert changes[second]["decision"] == "excluded"
    assert not (out_dir / f"{second}.jpg").exists() and not (out_dir / f"{second}_segmentation.png").exists()
    assert changes[third]["decision"] == "kept" and changes[third]["dice_to_original"] == "1.000000"
    assert changes[top]["decision"] == "accepted"
    # unchanged masks are byte copies
    assert (out_dir / f"{third}_segmentation.png").read_bytes() == (demo / "derm" / f"{third}_segmentation.png").read_bytes()
    prov = json.loads((out_dir / "provenance.json").read_text())
    assert prov["source"]["layout"] == "isic" and len(prov["models"]) == 3 and all(len(m["sha256"]) == 64 for m in prov["models"])
    assert second in prov["summary"]["excluded"]
    import hashlib

    for rel, digest in prov["outputs_sha256"].items():
        assert hashlib.sha256((out_dir / rel).read_bytes()).hexdigest() == digest
    info = json.loads(curator("info", out_dir, "--json").stdout)
    assert info["layout"] == "isic" and len(info["cases"]) == 11
    # an existing export is not overwritten without asking
    again = curator("export", proj, out_dir, check=False)
    assert again.returncode == 1 and "not empty" in again.stderr


def test_export_take_top_proposals(batched, tmp_path):
    proj, _ = batched
    out_dir = tmp_path / "auto"
    curator("export", proj, out_dir, "--accept-top", "12", "-q")
    rows = {r["case_id"]: r for r in _rows(out_dir / "changes.csv")}
    q = {r["case_id"]: r for r in json.loads(curator("queue", "--project", proj, "--json").stdout)}
    for cid, r in rows.items():  # unreviewed cases take their proposals; reviewed ones keep their decision
        if q[cid]["decision"] != "unreviewed":
            assert r["decision"] == q[cid]["decision"]
        else:  # (a proposal of no change leaves the original)
            assert r["decision"] == ("proposal (unreviewed)" if q[cid]["change_fraction"] else "unreviewed")
    assert any(r["decision"] == "proposal (unreviewed)" for r in rows.values())


def test_export_permission_error_is_clear_and_leaves_nothing(batched, tmp_path, monkeypatch):
    import errno

    from curator.core.project import export as exp
    from curator.core.project.export import ExportError, iter_export
    from curator.core.project.folder import Project

    proj, _ = batched

    def denied(src, dst):
        raise PermissionError(errno.EACCES, "Permission denied", str(dst))

    monkeypatch.setattr(exp, "_copy_hash", denied)
    with pytest.raises(ExportError, match="no permission"):
        run(iter_export(Project.open(proj), tmp_path / "ro"))
    assert not (tmp_path / "ro").exists() and not list(tmp_path.glob(".ro.partial-*"))
    if os.geteuid() != 0:  # the real thing, where file permissions apply
        ro = tmp_path / "locked"
        ro.mkdir()
        ro.chmod(0o500)
        out = curator("export", proj, ro / "x", check=False)
        assert out.returncode == 1 and "permission" in out.stderr


def test_export_disk_full_leaves_nothing_that_looks_complete(batched, tmp_path, monkeypatch):
    import errno

    from curator.core.project import export as exp
    from curator.core.project.export import ExportError, iter_export
    from curator.core.project.folder import Project

    proj, _ = batched
    calls = {"n": 0}
    real = exp._copy_hash

    def full_disk(src, dst):
        calls["n"] += 1
        if calls["n"] > 3:
            raise OSError(errno.ENOSPC, "No space left on device", str(dst))
        return real(src, dst)

    monkeypatch.setattr(exp, "_copy_hash", full_disk)
    with pytest.raises(ExportError, match="disk is full"):
        run(iter_export(Project.open(proj), tmp_path / "full"))
    assert not (tmp_path / "full").exists()
    assert not list(tmp_path.glob(".full.partial-*"))


def test_bad_case_mid_batch_is_marked_failed_and_the_rest_goes_on(demo, tmp_path):
    import shutil

    src = tmp_path / "derm"
    shutil.copytree(demo / "derm", src)
    victim = sorted(src.glob("*_segmentation.png"))[4]
    victim.write_bytes(b"\x89PNG\r\n\x1a\n broken")
    proj = tmp_path / "proj"
    out = curator("batch", src, "--project", proj, *FAST)
    cid = victim.name.replace("_segmentation.png", "")
    assert cid in out.stderr and "failed" in out.stderr
    rows = _rows(proj / "ranking.csv")
    assert len(rows) == 11 and cid not in {r["case_id"] for r in rows}
    q = {r["case_id"]: r for r in json.loads(curator("queue", "--project", proj, "--json").stdout)}
    assert q[cid]["failed"]


def test_batch_on_3d_msd_with_lesion_labels(demo, tmp_path):
    proj = tmp_path / "proj3d"
    curator("batch", demo / "ct", "--project", proj, "--folds", "3", "--epochs", "1", "--channels", "4,8,16",
            "--patch", "8,32,32", "--batch-size", "2", "--threads", "2", "--tta", "2", "--proposal-min-confidence",
            "0.6", "-q")
    rows = _rows(proj / "ranking.csv")
    assert len(rows) == 3
    props = sorted((proj / "proposals" / "labelsTr").glob("*.nii.gz"))
    assert len(props) == 3
    import nibabel as nib

    src = nib.load(str(demo / "ct" / "labelsTr" / props[0].name))
    dst = nib.load(str(props[0]))
    np.testing.assert_array_equal(src.affine, dst.affine)


# -- crashes ----------------------------------------------------------------------------------------


def _spawn(*args) -> subprocess.Popen:
    env = dict(os.environ, CURATOR_PROGRESS="0")
    return subprocess.Popen([sys.executable, "-m", "curator.cli", *map(str, args)], stdout=subprocess.PIPE,
                            stderr=subprocess.PIPE, text=True, env=env)


def _kill_when(proc: subprocess.Popen, condition, timeout: float = 300) -> bool:
    t0 = time.time()
    while time.time() - t0 < timeout:
        if proc.poll() is not None:
            return False
        if condition():
            os.kill(proc.pid, signal.SIGKILL)
            proc.wait()
            return True
        time.sleep(0.05)
    proc.kill()
    raise AssertionError("the condition to kill never came")


def test_sigkill_during_batch_then_resume_loses_and_duplicates_nothing(demo, tmp_path):
    proj = tmp_path / "proj"
    args = ["batch", demo / "derm", "--project", proj, "--folds", "3", "--epochs", "6", "--size", "48",
            "--channels", "8,16,32", "--batch-size", "4", "--threads", "2", "--tta", "2", "-q"]
    p = _spawn(*args)
    killed = _kill_when(p, lambda: (proj / "models" / "member-r0-f1.ckpt").exists())
    assert killed, "the batch finished before it could be killed"
    assert (proj / "models" / "member-r0-f0.json").exists()  # the finished member is kept
    f0 = (proj / "models" / "member-r0-f0.pt").read_bytes()
    out = curator(*args)
    assert "ranked 12 case(s)" in out.stdout
    assert (proj / "models" / "member-r0-f0.pt").read_bytes() == f0  # not retrained
    members = [p for p in (proj / "models").glob("member-*.json") if "relabelled" not in p.name]
    assert len(members) == 3 and not list((proj / "models").glob("*.ckpt"))
    assert len(list((proj / "maps").glob("*.npz"))) == 12
    assert len(_rows(proj / "ranking.csv")) == 12
    from curator.core.project.store import Store

    with Store(proj / "curator.db") as s:
        assert len(s.case_ids()) == 12
        actions = [e["action"] for e in s.audit_log()]
        assert actions.count("batch:done") == 1 and actions.count("batch:start") == 2


def test_sigkill_during_export_then_export_again(batched, tmp_path):
    proj, _ = batched
    out_dir = tmp_path / "exp"
    p = _spawn("export", proj, out_dir, "-q")
    _kill_when(p, lambda: bool(list(tmp_path.glob(".exp.partial-*"))), timeout=60)
    # whatever happened, nothing incomplete is at OUT
    assert not out_dir.exists() or (out_dir / "provenance.json").exists()
    curator("export", proj, out_dir, "--overwrite", "-q")
    assert (out_dir / "provenance.json").exists() and (out_dir / "changes.csv").exists()
    assert not list(tmp_path.glob(".exp.partial-*"))
    rows = _rows(out_dir / "changes.csv")
    assert len(rows) == len({r["case_id"] for r in rows})  # no duplicates


def test_a_case_that_cannot_be_written_keeps_its_original_and_the_export_goes_on(batched, tmp_path, monkeypatch):
    from curator.core.project import export as exp
    from curator.core.project.export import ExportError, iter_export
    from curator.core.project.folder import Project

    proj, _ = batched
    real = exp.final_mask
    victim = {}

    def broken(project, store, case, given, **kw):
        if not victim:
            victim["id"] = case.id
            raise ExportError("its proposal is missing from the project")
        return real(project, store, case, given, **kw)

    monkeypatch.setattr(exp, "final_mask", broken)
    res = run(iter_export(Project.open(proj), tmp_path / "out", take_top=12))
    assert victim["id"] in res.failed
    rows = {r["case_id"]: r for r in _rows(tmp_path / "out" / "changes.csv")}
    assert rows[victim["id"]]["decision"].startswith("failed: ")
    assert (tmp_path / "out" / f"{victim['id']}_segmentation.png").exists()


def test_export_exits_non_zero_and_names_every_correction_it_could_not_write(batched, tmp_path):
    """An accepted proposal or an edited mask that cannot be written makes the export exit 1 and
    name the case (it used to exit 0 with its usual summary, only changes.csv saying "failed")."""
    import shutil

    from curator.core.project import review
    from curator.core.project.folder import Project
    from curator.core.project.store import Store

    proj, _ = batched
    copy = tmp_path / "proj"
    shutil.copytree(proj, copy)  # paths inside a project are relative: a copy is a working project
    project = Project.open(copy)
    q = [r["case_id"] for r in json.loads(curator("queue", "--project", copy, "--json").stdout)
         if r["decision"] == "unreviewed"]
    with Store(project.db_path) as store:
        # accepted ones need a proposal on disk to stand on (withheld and unchanged cases have none)
        backed = [c for c in q if (store.proposal(c) or {}).get("regions_path")
                  and Path(store.proposal(c)["regions_path"]).exists()]
        assert len(backed) >= 2, "the fixture's batch proposed for too few cases"
        accepted, fine = backed[:2]
        edited = next(c for c in q if c not in (accepted, fine))
        for cid in (accepted, fine):  # accepted proposals as recorded by earlier versions (no mask file)
            store.decide(cid, "accepted", pixels=(0, 0))
        view = review.load_case_view(project, store, project.open_dataset()[edited])
        m = review.working_mask(view)
        m[:4] = 1
        review.save_edit(project, store, view, m)
        d = store.decision(accepted)  # what the accepted decision stands on: its mask, or the proposal
        backing = Path(d["mask_path"] or store.proposal(accepted)["regions_path"])
        edit_file = Path(store.decision(edited)["mask_path"])
    backing.unlink()
    edit_file.unlink()
    out = curator("export", copy, tmp_path / "out", "-q", check=False)
    assert out.returncode == 1, out.stdout
    assert "could not be written" in out.stderr and accepted in out.stderr and edited in out.stderr
    assert fine not in out.stderr and "Traceback" not in out.stderr
    rows = {r["case_id"]: r for r in _rows(tmp_path / "out" / "changes.csv")}
    assert rows[accepted]["decision"].startswith("failed") and rows[edited]["decision"].startswith("failed")
    assert rows[fine]["decision"] == "accepted"
    prov = json.loads((tmp_path / "out" / "provenance.json").read_text())
    assert prov["summary"]["complete"] is False
    assert set(prov["summary"]["corrections_not_written"]) == {accepted, edited}


def test_changes_csv_escapes_case_ids_a_spreadsheet_would_run(demo, tmp_path):
    import shutil

    src = tmp_path / "derm"
    shutil.copytree(demo / "derm", src)
    # a pairs layout whose file names start like spreadsheet formulas
    data = tmp_path / "pairs"
    (data / "images").mkdir(parents=True)
    (data / "masks").mkdir()
    names = ["=HYPERLINK(1)", "+2", "-3", "@A1"]
    for name, img in zip(names, sorted(src.glob("ISIC_*[0-9].jpg"))):
        shutil.copyfile(img, data / "images" / f"{name}.jpg")
        shutil.copyfile(img.with_name(img.stem + "_segmentation.png"), data / "masks" / f"{name}.png")
    proj = tmp_path / "proj"
    curator("batch", data, "--project", proj, "--folds", "2", "--epochs", "1", "--size", "32", "--channels", "4,8,16",
            "--tta", "1", "-q")
    curator("export", proj, tmp_path / "out", "-q")
    for csv_file in (proj / "ranking.csv", tmp_path / "out" / "changes.csv"):
        for line in csv_file.read_text().splitlines()[1:]:
            assert line.lstrip('"')[0] not in "=+-@", f"{csv_file.name}: {line}"
    from curator.core.io.files import read_csv

    assert {r["case_id"] for r in read_csv(proj / "ranking.csv")} == set(names)
