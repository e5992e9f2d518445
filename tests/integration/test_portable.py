"""Portable projects: paths relative to the project, the dataset found or relinked, old projects
migrated, review and export on a machine without the models."""

from __future__ import annotations

import json
import shutil
import sqlite3
from pathlib import Path

import numpy as np
import pytest

from curator.core.jobs import run
from tests.integration.test_cli import curator


def _batch(dataset: Path, project: Path):
    from curator.core.project.pipeline import UncertaintyConfig, iter_batch
    from curator.core.curation.proposals import ProposalConfig
    from curator.core.engine.training import TrainConfig

    cfg = TrainConfig(folds=2, epochs=2, size=32, channels=(4, 8, 16), batch_size=4, threads=2, relabel=None)
    run(iter_batch(dataset, project, train_cfg=cfg, unc_cfg=UncertaintyConfig(tta=1, threads=2),
                   proposal_cfg=ProposalConfig(tau=0.55, min_confidence=0.0)))


@pytest.fixture(scope="module")
def reviewed(tmp_path_factory):
    """A batched and reviewed project: accepted (whole and regions), edited, kept, excluded; the
    masks each decision leads to, computed through the review logic."""
    from curator.core.project import review
    from curator.core.project.folder import Project
    from curator.core.project.store import Store
    from curator.lab.synthetic import iter_write_isic

    base = tmp_path_factory.mktemp("portable")
    data = base / "site" / "data"
    run(iter_write_isic(data, 6, shape=(64, 80), seed=3))
    proj = base / "site" / "project"
    _batch(data, proj)
    project = Project.open(proj)
    ds = project.open_dataset()
    expected: dict[str, np.ndarray | None] = {}
    decisions = {}
    with Store(project.db_path, reviewer="tester") as store:
        ids = [r["case_id"] for r in store.queue()]
        plan = ["accept", "edit", "accept_regions", "keep", "exclude", "edit"]
        for cid, what in zip(ids, plan):
            view = review.load_case_view(project, store, ds[cid])
            if what == "accept":
                review.accept(project, store, view)
            elif what == "accept_regions":
                regions = [r["id"] for r in view.region_info][:1]
                review.accept(project, store, view, regions)
                view.decision = store.decision(cid)
            elif what == "edit":
                m = review.working_mask(view)
                m[: m.shape[0] // 2] = 0  # a real change
                m[-3:, -3:] = 1
                review.save_edit(project, store, view, m)
            elif what == "keep":
                review.keep(store, view)
            else:
                review.exclude(store, view)
            view.decision = store.decision(cid)
            decisions[cid] = view.decision["decision"]
            expected[cid] = review.working_mask(view) if what not in ("keep", "exclude") else None
    return base, data, proj, expected, decisions


def _check_export(out: Path, data_now: Path, expected, decisions):
    """Every accepted and edited correction is in the export, as it was decided."""
    from curator.core.data.discover import open_dataset
    from curator.core.io.files import read_csv

    rows = {r["case_id"]: r for r in read_csv(out / "changes.csv")}
    exported = open_dataset(out)
    src = open_dataset(data_now)
    for cid, decision in decisions.items():
        assert rows[cid]["decision"] == decision, rows[cid]
        if decision == "excluded":
            assert cid not in {c.id for c in exported.cases}
            continue
        got = exported[cid].read_mask().array
        if expected[cid] is None:  # kept: a byte copy
            assert exported[cid].mask.read_bytes() == src[cid].mask.read_bytes()
        else:
            np.testing.assert_array_equal(got, expected[cid], err_msg=f"{cid} ({decision})")
    prov = json.loads((out / "provenance.json").read_text())
    assert prov["summary"]["complete"] is True


def _paths_in_store(db: Path) -> list[str]:
    con = sqlite3.connect(str(db))
    try:
        rows = con.execute("SELECT path, regions_path FROM proposals").fetchall()
        rows += con.execute("SELECT mask_path, NULL FROM decisions WHERE mask_path IS NOT NULL").fetchall()
        return [p for r in rows for p in r if p]
    finally:
        con.close()


def test_the_project_keeps_no_absolute_path(reviewed):
    base, data, proj, _, _ = reviewed
    meta = json.loads((proj / "project.json").read_text())
    assert meta["dataset"] == "../data" and meta["dataset_fingerprint"]["files"] > 0
    paths = _paths_in_store(proj / "curator.db")
    assert paths and not any(Path(p).is_absolute() for p in paths), paths


def test_moved_elsewhere_without_models_relink_review_export(reviewed, tmp_path):
    """Project and dataset moved to unrelated places on 'another machine' without the models:
    export says to relink; after `curator relink` the review opens and the export holds every
    accepted and edited correction."""
    from curator.core.project import review
    from curator.core.project.folder import DatasetMissingError, Project
    from curator.core.project.store import Store

    _, data, proj, expected, decisions = reviewed
    laptop = tmp_path / "laptop"
    new_proj, new_data = laptop / "reviews" / "p", laptop / "mounted" / "derm-copy"
    shutil.copytree(proj, new_proj, ignore=shutil.ignore_patterns("models", "cache"))
    shutil.copytree(data, new_data)
    # the old places vanish (another machine)
    hidden = data.parent / "gone"
    data.rename(hidden)
    try:
        out = curator("export", new_proj, tmp_path / "out0", check=False)
        assert out.returncode == 1 and "curator relink" in out.stderr and "Traceback" not in out.stderr
        with pytest.raises(DatasetMissingError):
            Project.open(new_proj).open_dataset()
        # a different dataset is refused
        other = tmp_path / "other"
        shutil.copytree(new_data, other)
        victim = sorted(other.glob("*_segmentation.png"))[0]
        victim.write_bytes(victim.read_bytes()[:-1] + b"\0")
        refused = curator("relink", new_proj, other, check=False)
        assert refused.returncode == 1 and victim.name in refused.stderr
        done = curator("relink", new_proj, new_data)
        assert "the same data" in done.stdout
        project = Project.open(new_proj)
        assert project.locate_dataset() == new_data.resolve()
        assert not (new_proj / "models").exists() or not project.member_specs()
        with Store(project.db_path) as store:  # the review shows what was decided
            ds = project.open_dataset()
            for cid, exp in expected.items():
                view = review.load_case_view(project, store, ds[cid])
                if exp is not None:
                    np.testing.assert_array_equal(review.working_mask(view), exp)
            assert any(e["action"] == "relink" for e in store.audit_log())
        curator("export", new_proj, tmp_path / "out", "-q")
        _check_export(tmp_path / "out", new_data, expected, decisions)
    finally:
        hidden.rename(data)


def test_moved_together_is_found_without_relink(reviewed, tmp_path):
    _, data, proj, expected, decisions = reviewed
    site = tmp_path / "copied-site"
    shutil.copytree(proj, site / "project")
    shutil.copytree(data, site / "data")
    hidden = data.parent / "gone"
    data.rename(hidden)
    try:
        curator("export", site / "project", tmp_path / "out", "-q")
        _check_export(tmp_path / "out", site / "data", expected, decisions)
        meta = json.loads((site / "project" / "project.json").read_text())
        assert meta["dataset_abs"] == str((site / "data").resolve())
    finally:
        hidden.rename(data)


def _make_old_format(proj: Path) -> None:
    """Turn a project into what the first version wrote: absolute paths everywhere, no fingerprint."""
    meta = json.loads((proj / "project.json").read_text())
    old = {"format": "mask-curator-project/1", "dataset": meta["dataset_abs"], "layout": meta["layout"],
           "created": meta["created"], "mask_curator": meta["mask_curator"]}
    (proj / "project.json").write_text(json.dumps(old))
    (proj / "dataset-files.json").unlink()
    con = sqlite3.connect(str(proj / "curator.db"))
    root = proj.resolve()
    with con:
        for cid, p, rp in con.execute("SELECT case_id, path, regions_path FROM proposals").fetchall():
            con.execute("UPDATE proposals SET path = ?, regions_path = ? WHERE case_id = ?",
                        (str(root / p) if p else None, str(root / rp), cid))
        for cid, mp in con.execute("SELECT case_id, mask_path FROM decisions WHERE mask_path IS NOT NULL").fetchall():
            con.execute("UPDATE decisions SET mask_path = ? WHERE case_id = ?", (str(root / mp), cid))
        con.execute("UPDATE meta SET value = '1' WHERE key = 'schema'")
    con.close()


def test_a_project_of_the_old_format_opens_moves_and_exports(reviewed, tmp_path):
    from curator.core.project.folder import Project

    _, data, proj, expected, decisions = reviewed
    old = tmp_path / "old" / "project"
    shutil.copytree(proj, old)
    _make_old_format(old)
    assert all(Path(p).is_absolute() for p in _paths_in_store(old / "curator.db"))
    # moved to another place (its absolute paths now point at the first copy's place, then at nothing)
    moved = tmp_path / "moved" / "p"
    shutil.move(str(old), str(moved))
    new_data = tmp_path / "moved" / "dataset"
    shutil.copytree(data, new_data)
    hidden = data.parent / "gone"
    data.rename(hidden)
    try:
        project = Project.open(moved)  # migrated on opening
        assert project.meta["format"] == "mask-curator-project/2"
        curator("relink", moved, new_data)  # no fingerprint: the cases are checked
        assert not any(Path(p).is_absolute() for p in _paths_in_store(moved / "curator.db"))
        curator("export", moved, tmp_path / "out", "-q")
        _check_export(tmp_path / "out", new_data, expected, decisions)
    finally:
        hidden.rename(data)


def test_batch_on_a_moved_project_and_dataset_resumes_instead_of_refusing(reviewed, tmp_path):
    from curator.core.project.folder import Project

    _, data, proj, _, _ = reviewed
    p2, d2 = tmp_path / "p2", tmp_path / "d2"
    shutil.copytree(proj, p2)
    shutil.copytree(data, d2)
    hidden = data.parent / "gone"
    data.rename(hidden)
    try:
        project = Project.create(p2, d2)  # what `curator batch d2 --project p2` does first
        assert project.locate_dataset() == d2.resolve()
    finally:
        hidden.rename(data)
