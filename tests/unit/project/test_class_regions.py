"""Class changes through the project (issue 18): proposed by the batch, accepted through the
review path, written and named by the export."""

from __future__ import annotations

import csv
import json

import numpy as np
import pytest


@pytest.fixture(scope="module")
def template(tmp_path_factory):
    from tests.review_project import make_class_project

    return make_class_project(tmp_path_factory.mktemp("classes"))


@pytest.fixture
def session(template, tmp_path):
    from curator.core.project.folder import Project
    from curator.core.project.store import Store
    from tests.review_project import copy_project

    project = Project.open(copy_project(template, tmp_path / "proj"))
    ds = project.open_dataset()
    ds.check()
    store = Store(project.db_path, reviewer="tester")
    yield project, store, ds
    store.close()


def _kinds(store, cid):
    p = store.proposal(cid) or {}
    return [(r["kind"], r["from_label"], r["to_label"]) for r in p.get("regions") or []], \
        (p.get("config") or {}).get("withheld")


def test_the_batch_proposes_class_changes_and_nothing_on_right_masks(session):
    project, store, ds = session
    assert _kinds(store, "case_0") == ([("class", 1, 2)], None)  # a tumour labelled as liver
    # the liver labelled tumour: its outline stays, so the proposal corrects the mask, not replaces it
    assert _kinds(store, "case_1") == ([("class", 2, 1)], None)
    assert _kinds(store, "case_2") == ([], None) and _kinds(store, "case_3") == ([], None)
    rows = {r["case_id"]: r for r in csv.DictReader(open(project.root / "proposals.csv"))}
    assert (rows["case_0"]["status"], rows["case_0"]["regions"]) == ("proposed", "1")


def test_accepting_a_class_change_gives_the_right_classes_and_the_export_names_it(session, tmp_path):
    from curator.core.jobs import run
    from curator.core.project import artifacts, review
    from curator.core.project.export import iter_export
    from tests.review_project import class_truth

    project, store, ds = session
    truth = class_truth()
    for cid in ("case_0", "case_1"):
        view = review.load_case_view(project, store, ds[cid])
        [region] = view.region_info
        d = review.accept(project, store, view, [region["id"]])
        assert d["decision"] == "accepted"
        kind, mask = artifacts.final_mask(store, cid, view.given.array)
        np.testing.assert_array_equal(mask, truth)
    res = run(iter_export(project, tmp_path / "out"))
    assert sorted(res.changed) == ["case_0", "case_1"]
    from curator.core.io.readers import read_mask

    np.testing.assert_array_equal(read_mask(tmp_path / "out" / "masks" / "case_0.png").array, truth)
    prov = json.loads((tmp_path / "out" / "provenance.json").read_text())
    changes = prov["decisions"]["case_0"]["changes"]
    assert [(c["kind"], c["from_label"], c["to_label"], c["size"]) for c in changes] == [("class", 1, 2, 81)]
    assert prov["decisions"]["case_1"]["changes"][0]["kind"] == "class"
    # a later batch replaced the proposal: its regions are not what was accepted, so none are named
    from curator.core.project.export import _region_changes

    p = store.proposal("case_0")
    store.set_proposal("case_0", path=None, regions_path=p["regions_path"], regions=p["regions"], added=0, removed=0,
                       change_fraction=0.0, config={}, run_id="a later run")
    assert _region_changes(store, "case_0", store.decision("case_0")) is None
