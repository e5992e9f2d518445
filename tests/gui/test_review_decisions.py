"""Review decisions in the panel with a real viewer: each defect of issue 14 that lost or misstated
a decision, reproduced as a reviewer would meet it."""

from __future__ import annotations

import csv
from dataclasses import replace
from pathlib import Path

import numpy as np
import pytest
from qtpy.QtCore import Qt


@pytest.fixture(scope="module")
def template(tmp_path_factory):
    from tests.review_project import make_review_project

    return make_review_project(tmp_path_factory.mktemp("decisions"))


@pytest.fixture
def panel(template, tmp_path, make_napari_viewer):
    """``(viewer, widget, project_dir)``: the panel on a fresh copy of the tiny project, at the
    case with the most change regions (case_1: three)."""
    from curator.gui.main_widget import CuratorWidget
    from tests.review_project import copy_project

    proj = copy_project(template, tmp_path / "proj")
    viewer = make_napari_viewer()
    widget = CuratorWidget(viewer)
    viewer.window.add_dock_widget(widget, name="Mask Curator")
    assert widget._open_project(proj)
    widget.controller.goto("case_1")
    yield viewer, widget, proj
    widget.controller.close()


def _export(proj, tmp_path):
    from curator.core.project.export import iter_export
    from curator.core.io.readers import read_mask
    from curator.core.jobs import run
    from curator.core.project.folder import Project

    out = tmp_path / "out"
    run(iter_export(Project.open(proj), out))
    with open(out / "changes.csv", newline="") as fh:
        rows = {r["case_id"]: r for r in csv.DictReader(fh)}
    return rows, (lambda cid: read_mask(out / "masks" / f"{cid}.png").array)


def test_a_correction_accepted_again_after_reopening_is_not_lost(panel, tmp_path):
    """Accept, move away and back, Reopen, Accept again: the store, the screen and the export all
    hold the whole proposal (they held nothing, the proposal and the original)."""
    viewer, widget, proj = panel
    c = widget.controller
    proposal = c.view.proposal.copy()
    assert len(c.region_infos()) == 3
    c.accept()
    widget.next_case()
    widget.previous_case()
    assert c.case.id == "case_1" and c.locked
    c.reopen()
    c.accept()
    d = c.store.decision("case_1")
    assert d["decision"] == "accepted" and d["regions"] is None
    assert (d["pixels_added"], d["pixels_removed"]) != (0, 0)
    np.testing.assert_array_equal(widget.layers.working_data(), proposal)
    c.close()
    rows, exported = _export(proj, tmp_path)
    assert rows["case_1"]["decision"] == "accepted" and float(rows["case_1"]["dice_to_original"]) < 1.0
    np.testing.assert_array_equal(exported("case_1"), proposal)


def test_after_accept_the_working_layer_shows_the_accepted_mask(panel):
    """With one region unticked in the list, Accept shows (and records) the other two."""
    from curator.core.curation.proposals import Proposal, apply_regions

    viewer, widget, proj = panel
    c = widget.controller
    given = c.view.given.array.copy()
    np.testing.assert_array_equal(widget.layers.working_data(), given)
    from qtpy.QtCore import Qt

    item = widget.panel.regions.item(0)
    item.setCheckState(Qt.Unchecked)  # as a click on the box does
    left_out = int(item.data(Qt.UserRole))
    assert left_out not in c.accepted_regions
    np.testing.assert_array_equal(widget.layers.working_data(), given)  # ticking edits nothing
    assert (widget.layers.layer("proposal").data == 4).any()  # the region left out shows grey
    widget.panel.accept_button.click()
    kept = {r["id"] for r in c.region_infos()} - {left_out}
    want = apply_regions(Proposal(given, c.view.proposal, c.view.regions), kept)
    np.testing.assert_array_equal(widget.layers.working_data(), want)
    assert c.store.decision("case_1")["regions"] == sorted(kept)
    assert not widget.layers.layer("working").editable


def test_undo_is_off_on_a_locked_case_and_cannot_change_the_screen(panel, qtbot):
    viewer, widget, proj = panel
    c = widget.controller
    layer = widget.layers.layer("working")
    layer.selected_label = 1
    layer.paint((2, 44), 1, refresh=True)  # a corner: background before
    qtbot.waitUntil(lambda: c.dirty, timeout=2000)
    assert widget.panel.undo_button.isEnabled()
    widget.panel.save_button.click()
    shown = widget.layers.working_data().copy()
    assert c.locked and not widget.panel.undo_button.isEnabled() and not widget.panel.redo_button.isEnabled()
    assert not c.undo()
    widget._handlers()["Control-Z"]()
    np.testing.assert_array_equal(widget.layers.working_data(), shown)
    c.reopen()
    assert not widget.panel.undo_button.isEnabled()  # the saved edit is the starting point now


def test_an_edited_flagged_case_stays_flagged_with_its_edit(panel, qtbot, tmp_path):
    viewer, widget, proj = panel
    c = widget.controller
    widget.panel.flag_button.click()
    assert c.store.decision("case_1")["decision"] == "flagged" and not c.locked
    layer = widget.layers.layer("working")
    layer.selected_label = 1
    layer.paint((2, 44), 1, refresh=True)
    qtbot.waitUntil(lambda: c.dirty, timeout=2000)
    painted = widget.layers.working_data().copy()
    widget.next_case()
    d = c.store.decision("case_1")
    assert d["decision"] == "flagged" and d["draft_path"], "moving on kept the flag and the edit"
    widget.previous_case()
    np.testing.assert_array_equal(widget.layers.working_data(), painted)
    assert "flagged" in widget.panel.status.text()
    given = c.view.given.array.copy()
    c.close()
    rows, exported = _export(proj, tmp_path)
    assert rows["case_1"]["decision"] == "flagged"
    np.testing.assert_array_equal(exported("case_1"), given)  # undecided: the original


def test_autosave_keeps_a_draft_and_never_locks_the_case(panel, qtbot):
    viewer, widget, proj = panel
    c = widget.controller
    widget._autosave.setInterval(50)
    layer = widget.layers.layer("working")
    layer.selected_label = 1
    layer.paint((2, 44), 1, refresh=True)
    qtbot.waitUntil(lambda: bool(c.store.decision("case_1")["draft_path"]), timeout=3000)
    d = c.store.decision("case_1")
    assert d["decision"] == "unreviewed" and not d["locked"]
    assert layer.editable and not c.locked
    layer.paint((37, 2), 1, refresh=True)  # painting goes on
    qtbot.waitUntil(lambda: c.store.decision("case_1")["version"] > d["version"], timeout=3000)
    row = next(i for i in range(widget.queue.row_count()) if widget.queue.text(i, 1) == "case_1")
    assert "✎" in widget.queue.text(row, 4)
    assert c.store.decision("case_1")["decision"] == "unreviewed"


def test_region_ticks_and_leaving_record_no_edit(panel):
    viewer, widget, proj = panel
    c = widget.controller
    c.toggle_region(c.region_infos()[0]["id"])
    widget.next_case()
    assert c.store.decision("case_1")["decision"] == "unreviewed"


def test_the_slider_starts_where_the_projects_proposals_were_made(template, tmp_path, make_napari_viewer):
    """The user's settings say tau 0.80; the project was proposed at 0.60: the slider says 0.60,
    and a threshold with nothing to propose empties the region list."""
    from curator.gui.main_widget import CuratorWidget
    from tests.review_project import copy_project

    viewer = make_napari_viewer()
    widget = CuratorWidget(viewer)
    c = widget.controller
    assert c.settings.proposal.tau == pytest.approx(0.8)
    widget._open_project(copy_project(template, tmp_path / "p"))
    c.goto("case_1")
    assert widget.panel.tau.value() == 60 and widget.panel.tau_label.text() == "0.60"
    assert c.threshold == pytest.approx(0.6)
    assert c.region_infos()
    c.set_threshold(0.99)  # the models are never that sure
    assert c.region_infos() == []
    listed = [widget.panel.regions.item(i).text() for i in range(widget.panel.regions.count())]
    assert len(listed) == 1 and listed[0].startswith("no change proposed")
    widget.panel.accept_button.click()
    assert c.store.decision("case_1")["decision"] == "unreviewed"
    c.set_threshold(0.6)
    c.accept()
    assert not widget.panel.tau.isEnabled()  # a locked case shows the proposal it was decided on
    assert c.set_threshold(0.9) == 0.0
    c.close()


def test_messages_follow_the_case_and_the_queue_says_when_it_ends(panel):
    viewer, widget, proj = panel
    c = widget.controller
    c.goto("case_3")  # no proposed change
    c.accept()
    assert "no proposed change" in widget.message.text()
    c.goto(c.rows[0]["case_id"])
    assert "no proposed change" not in widget.message.text()
    c.goto(c.rows[-1]["case_id"])
    widget.next_case()
    assert "end of the queue" in widget.message.text()


def test_fixed_counts_accepted_and_edited_not_excluded(panel):
    viewer, widget, proj = panel
    c = widget.controller
    c.accept()
    c.goto("case_0")
    c.exclude()
    text = widget.queue.count.text()
    assert "1 fixed" in text and "1 excluded" in text
    assert "excluded" in widget.queue.count.toolTip()


def test_the_change_column_says_what_it_measures(panel):
    viewer, widget, proj = panel
    assert widget.queue.model.headerData(3, Qt.Horizontal) == "Change"
    assert "share of the given mask" in widget.queue.header_tooltip(3)
    row = next(i for i in range(widget.queue.row_count()) if widget.queue.text(i, 1) == "case_1")
    assert "pixels" in widget.queue.tooltip(row, 3)


def test_label_names_and_colours_are_shown(panel):
    viewer, widget, proj = panel
    legend = widget.panel.label_legend.text()
    assert "label 1" in legend and "■" in legend
    widget.controller.dataset.label_names[1] = "lesion"
    widget.controller.goto("case_0")
    assert "1 lesion" in widget.panel.label_legend.text()
    names = list(widget.layers.layer("working").features["name"])
    assert names[:2] == ["background", "lesion"]


def test_painting_replaced_by_a_decision_is_still_on_disk(panel, qtbot):
    """Painting, then Accept: the screen shows the accepted proposal, and the painting it replaced
    is kept as a file the audit log names."""
    viewer, widget, proj = panel
    c = widget.controller
    layer = widget.layers.layer("working")
    layer.selected_label = 1
    layer.paint((2, 44), 1, refresh=True)
    qtbot.waitUntil(lambda: c.dirty, timeout=2000)
    painted = widget.layers.working_data().copy()
    c.accept()
    np.testing.assert_array_equal(widget.layers.working_data(), c.view.proposal)
    drafts = [e for e in c.store.audit_log("case_1") if e["action"] == "draft"]
    assert len(drafts) == 1 and "kept" in widget.message.text()
    # the audit log names it relative to the project, so the record survives a move
    assert not Path(drafts[0]["detail"]["draft"]).is_absolute()
    np.testing.assert_array_equal(np.load(proj / drafts[0]["detail"]["draft"])["labels"], painted)


def test_the_region_list_says_how_far_to_trust_the_proposals(template, tmp_path, make_napari_viewer):
    """Proposals withheld by the batch: the list says why and the slider brings none back; a
    calibrated gate: the live proposal uses it, and the list's tooltip says how it was set."""
    from curator.core.project.store import Store
    from curator.gui.main_widget import CuratorWidget
    from tests.review_project import copy_project

    proj = copy_project(template, tmp_path / "p")
    why = "the models reach only Dice 0.71 on the cases judged correct (at least 0.8 needed)"
    with Store(proj / "curator.db") as s:  # as a calibrating batch leaves it: gate 0.999, case_1 withheld
        for cid in s.case_ids():
            p = s.proposal(cid)
            cfg = {**p["config"], "min_confidence": None, "region_confidence": 0.999, "calibration": "set from 16 cases"}
            if cid == "case_1":
                s.set_proposal(cid, path=None, regions_path=None, regions=[], added=0, removed=0, change_fraction=0.0,
                               config={**cfg, "region_confidence": None, "withheld": why}, run_id=p["run_id"])
            else:
                s.set_proposal(cid, path=p["path"], regions_path=p["regions_path"], regions=p["regions"],
                               added=p["added"], removed=p["removed"], change_fraction=p["change_fraction"],
                               config=cfg, run_id=p["run_id"])
    viewer = make_napari_viewer()
    widget = CuratorWidget(viewer)
    c = widget.controller
    widget._open_project(proj)
    c.goto("case_1")
    listed = [widget.panel.regions.item(i).text() for i in range(widget.panel.regions.count())]
    assert listed == [f"proposals withheld: {why}; review by ranking only"]
    # nothing to accept and nothing the threshold could bring: both are off, Keep and Edit are not
    assert not widget.panel.accept_button.isEnabled() and not widget.panel.tau.isEnabled()
    assert widget.panel.keep_button.isEnabled() and widget.panel.save_button.isEnabled()
    c.set_threshold(0.5)
    assert c.region_infos() == []  # the slider cannot bring back what the batch withheld
    c.goto("case_2")
    assert c.region_gate == pytest.approx(0.999) and "set from 16 cases" in widget.panel.regions.toolTip()
    assert widget.panel.tau.isEnabled()
    c.set_threshold(0.6)  # the models here are never surer than 0.98: nothing passes the calibrated gate
    assert c.region_infos() == []
    assert not widget.panel.accept_button.isEnabled()  # no region to accept at this gate
    c.set_threshold(0.5)
    c.settings.proposal = replace(c.settings.proposal, min_confidence=0.5)  # a fixed gate, as in Settings
    c.set_threshold(0.5)
    assert c.region_infos() and widget.panel.accept_button.isEnabled()
    c.close()
