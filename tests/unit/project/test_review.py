"""Editing helpers (Slicer-style) and review actions saved to the store."""

from __future__ import annotations

import numpy as np
import pytest

from curator.core.curation import editing
from curator.core.curation.decisions import DecisionError
from curator.core.project import artifacts, review


def test_remove_islands_fill_holes_smooth():
    m = np.zeros((40, 40), np.uint8)
    m[5:30, 5:30] = 1
    m[10:14, 10:14] = 0  # hole
    m[35, 35] = 1  # island
    out = editing.remove_islands(m, 5)
    assert out[35, 35] == 0 and out[6, 6] == 1
    out = editing.fill_holes(out)
    assert out[12, 12] == 1
    rough = out.copy()
    rough[29, 5:30:2] = 0  # a comb along one edge
    sm = editing.smooth(rough, 2)
    assert sm.sum() > 0 and set(np.unique(sm)) <= {0, 1}


def test_smooth_keeps_other_labels():
    m = np.zeros((30, 30), np.uint8)
    m[5:25, 5:25] = 1
    m[10:15, 10:15] = 2
    out = editing.smooth(m, 1, label=1)
    assert (out == 2).sum() == 25


def test_fill_between_slices_interpolates():
    v = np.zeros((5, 20, 20), np.uint8)
    v[0, 5:15, 5:15] = 1
    v[4, 7:13, 7:13] = 1
    out = editing.fill_between_slices(v)
    assert all(out[z].sum() > 0 for z in range(5))
    assert out[2].sum() < out[0].sum()
    with pytest.raises(ValueError):
        editing.fill_between_slices(v[0])


# ----------------------------------------------------------------------------------------------
# Decisions: what is recorded is what was shown, and what the export writes


@pytest.fixture(scope="module")
def template(tmp_path_factory):
    from tests.review_project import make_review_project

    return make_review_project(tmp_path_factory.mktemp("review"))


@pytest.fixture
def session(template, tmp_path):
    """``(project, store, dataset)`` on a fresh copy of the tiny review project."""
    from curator.core.project.folder import Project
    from curator.core.project.store import Store
    from tests.review_project import copy_project

    project = Project.open(copy_project(template, tmp_path / "proj"))
    ds = project.open_dataset()
    ds.check()
    store = Store(project.db_path, reviewer="tester")
    yield project, store, ds
    store.close()


def _view(session, case_id="case_1"):
    project, store, ds = session
    return review.load_case_view(project, store, ds[case_id])


def test_an_accepted_proposal_is_kept_with_its_decision(session):
    """A later batch that replaces the proposal does not change what an accepted case exports."""
    from curator.core.project.artifacts import regions_path

    project, store, ds = session
    view = _view(session)
    d = review.accept(project, store, view)
    assert d["decision"] == "accepted" and d["regions"] is None and d["mask_path"]
    np.testing.assert_array_equal(review.working_mask(view), view.proposal)
    assert (d["pixels_added"], d["pixels_removed"]) == review._pixels(view.given.array, view.proposal)
    # a new batch proposes something else for this case
    rp = regions_path(project, "case_1")
    np.savez_compressed(rp, mask=view.given.array, regions=np.zeros_like(view.given.array))
    store.set_proposal("case_1", path=None, regions_path=str(rp), regions=[], added=0, removed=0, change_fraction=0.0,
                       config={}, run_id="rerun")
    kind, mask = artifacts.final_mask(store, "case_1", view.given.array)
    assert kind == "accepted"
    np.testing.assert_array_equal(mask, view.proposal)
    again = _view(session)
    np.testing.assert_array_equal(review.working_mask(again), view.proposal)


def test_a_partial_accept_is_the_chosen_regions_only(session):
    from curator.core.curation.proposals import Proposal, apply_regions

    project, store, ds = session
    view = _view(session)
    ids = [r["id"] for r in view.region_info]
    assert len(ids) >= 2
    d = review.accept(project, store, view, [ids[0]])
    want = apply_regions(Proposal(view.given.array, view.proposal, view.regions), {ids[0]})
    assert d["regions"] == [ids[0]]
    np.testing.assert_array_equal(artifacts.final_mask(store, "case_1", view.given.array)[1], want)
    assert not np.array_equal(want, view.proposal)  # it is a part, not the whole


def test_an_accepted_decision_from_an_older_project_still_reads(session):
    """Decisions recorded before accepted masks were kept (no mask file): proposal + regions."""
    project, store, ds = session
    view = _view(session)
    store.decide("case_1", "accepted", regions=None)
    np.testing.assert_array_equal(artifacts.final_mask(store, "case_1", view.given.array)[1], view.proposal)
    store.reopen("case_1")
    store.decide("case_1", "accepted", regions=[])  # the lost correction's record: nothing applied
    np.testing.assert_array_equal(artifacts.final_mask(store, "case_1", view.given.array)[1], view.given.array)


def test_a_missing_mask_file_is_an_error_not_the_original(session):
    import os

    project, store, ds = session
    view = _view(session)
    d = review.save_edit(project, store, view, 1 - view.given.array)
    os.remove(d["mask_path"])
    with pytest.raises(DecisionError, match="missing"):
        artifacts.final_mask(store, "case_1", view.given.array)
    assert "missing" in (_view(session).failed or "")


def test_drafts_decide_nothing_flags_keep_them_decisions_supersede_them(session):
    from curator.core.project.store import LockedError

    project, store, ds = session
    view = _view(session)
    painted = view.given.array.copy()
    painted[:5, :5] = 1
    d = review.save_draft(project, store, view, painted)
    assert d["decision"] == "unreviewed" and not d["locked"] and d["draft_path"]
    np.testing.assert_array_equal(review.working_mask(_view(session)), painted)  # survives a restart
    assert artifacts.final_mask(store, "case_1", view.given.array) == ("unreviewed", None)
    d = review.flag(store, view)
    assert d["decision"] == "flagged" and d["draft_path"]  # the flag keeps the work in progress
    np.testing.assert_array_equal(review.working_mask(_view(session)), painted)
    d = review.save_edit(project, store, view, painted)
    assert d["decision"] == "edited" and d["draft_path"] is None and d["locked"]
    with pytest.raises(LockedError):
        review.save_draft(project, store, view, view.given.array)
    review.reopen(store, view)
    d = review.save_draft(project, store, view, painted)  # the same as the record: no draft
    assert d["draft_path"] is None
    assert [e["action"] for e in store.audit_log("case_1")].count("draft") == 1


def test_the_store_gains_the_draft_column_on_an_older_project(tmp_path):
    import sqlite3

    from curator.core.project.store import Store

    db = sqlite3.connect(tmp_path / "curator.db")
    db.executescript("""
        CREATE TABLE cases (case_id TEXT PRIMARY KEY, image TEXT, mask TEXT, ndim INTEGER, failed TEXT,
                            score REAL, rank INTEGER, added TEXT NOT NULL);
        CREATE TABLE decisions (case_id TEXT PRIMARY KEY, decision TEXT NOT NULL, reviewer TEXT, note TEXT,
                                mask_path TEXT, regions TEXT, pixels_added INTEGER, pixels_removed INTEGER,
                                model_run TEXT, locked INTEGER NOT NULL DEFAULT 0,
                                version INTEGER NOT NULL DEFAULT 1, updated TEXT NOT NULL);
        INSERT INTO cases VALUES ('a', 'a.png', 'a_mask.png', 2, NULL, NULL, NULL, 'then');
        INSERT INTO decisions VALUES ('a', 'kept', 'bob', NULL, NULL, NULL, 0, 0, NULL, 1, 1, 'then');
    """)
    db.close()
    with Store(tmp_path / "curator.db") as s:
        assert s.decision("a")["decision"] == "kept" and s.decision("a")["draft_path"] is None
        s.reopen("a")
        assert s.save_draft("a", "/p/a.v2.draft.npz")["draft_path"] == "/p/a.v2.draft.npz"


def test_the_project_proposal_settings_are_known(session):
    project, store, ds = session
    cfg = store.proposal_config()
    assert cfg["tau"] == 0.6 and cfg["min_confidence"] == 0.5
