"""The review's promise, tested on random sessions: what a reviewer was shown when deciding is what
is stored and what the export writes.

Hundreds of seeded random sequences of accept, partial accept, region toggles, reopen, painting,
keep, exclude, flag, undo/redo, autosave, read-ahead, navigation and threshold moves drive the
session controller on a tiny project (no training), then the project is exported. For every case:

* a case with a final decision (accepted, edited, kept) exports exactly what the working mask
  showed right after that decision; an excluded case is left out; an undecided one (unreviewed,
  flagged) exports its original mask;
* a case opened again shows what it showed when it was left (nothing is lost by moving on);
* ``changes.csv`` agrees with the store (decision and changed pixels).

``CURATOR_PROPERTY_SEQUENCES`` sets how many sequences run (default 200). A second test runs a few
sequences with the real panel and viewer and checks that the working layer on screen is the
controller's working mask after every step.
"""

from __future__ import annotations

import csv
import os
from pathlib import Path

import numpy as np
import pytest

SEQUENCES = int(os.environ.get("CURATOR_PROPERTY_SEQUENCES", "200"))
STEPS = 24
FINAL = ("accepted", "edited", "kept")
ACTIONS = ["accept", "accept_part", "toggle", "reopen", "paint", "save", "keep", "exclude", "flag", "undo", "redo",
           "autosave", "next", "previous", "goto", "threshold", "prefetch"]
WEIGHTS = [3, 2, 3, 3, 4, 2, 2, 1, 2, 2, 1, 1, 3, 2, 3, 2, 1]


@pytest.fixture(scope="module")
def template(tmp_path_factory):
    from tests.review_project import make_review_project

    return make_review_project(tmp_path_factory.mktemp("reviewprop"), n=4)


class Session:
    """One random review session and what the reviewer saw."""

    def __init__(self, controller, seed: int, paint):
        self.c = controller
        self.paint = paint
        self.rng = np.random.default_rng(seed)
        self.at_decision: dict[str, np.ndarray] = {}  # case -> working mask right after its last final decision
        self.left_with: dict[str, np.ndarray] = {}  # case -> working mask when last left
        self.log: list[str] = []

    def record(self, d: dict) -> tuple:
        return d["decision"], d["version"]

    def step(self, qtbot) -> None:
        c = self.c
        action = self.rng.choice(ACTIONS, p=np.asarray(WEIGHTS) / sum(WEIGHTS))
        here = c.case.id
        before = {cid: self.record(c.store.decision(cid)) for cid in self.ids}
        leaving = c.working.copy()
        getattr(self, f"do_{action}")(qtbot)
        self.log.append(f"{here}:{action}")
        after = {cid: self.record(c.store.decision(cid)) for cid in self.ids}
        for cid in self.ids:
            if after[cid] != before[cid] and after[cid][0] in FINAL + ("excluded",):
                # decided now: on screen (the case shown) or on leaving it (the case left)
                self.at_decision[cid] = (c.working if cid == c.case.id else leaving).copy()
        if c.case.id != here:
            self.left_with[here] = leaving
            if c.case.id in self.left_with:
                np.testing.assert_array_equal(
                    c.working, self.left_with[c.case.id],
                    err_msg=f"{c.case.id} reopened shows something else than when it was left; {self.log}")

    def close(self, project_dir: Path) -> None:
        """Close the session (the app quitting): the case on screen is saved like moving on would."""
        from curator.core.project.store import Store

        here, leaving = self.c.case.id, self.c.working.copy()
        before = self.record(self.c.store.decision(here))
        self.c.close()
        with Store(project_dir / "curator.db") as store:
            after = self.record(store.decision(here))
        if after != before and after[0] in FINAL + ("excluded",):
            self.at_decision[here] = leaving
        self.log.append(f"{here}:close")

    # -- the reviewer's actions -------------------------------------------------------------------
    @property
    def ids(self) -> list[str]:
        return [r["case_id"] for r in self.c.rows]

    def do_accept(self, qtbot):
        self.c.accept()

    def do_accept_part(self, qtbot):
        ids = [r["id"] for r in self.c.region_infos()]
        for rid in ids:
            if self.rng.random() < 0.5:
                self.c.toggle_region(rid, False)
        self.c.accept()

    def do_toggle(self, qtbot):
        ids = [r["id"] for r in self.c.region_infos()]
        if ids:
            self.c.toggle_region(int(self.rng.choice(ids)))

    def do_reopen(self, qtbot):
        self.c.reopen()

    def do_paint(self, qtbot):
        if self.c.locked:
            return  # the layer is read-only on a locked case
        new = self.c.working.copy()
        h, w = new.shape
        y, x = self.rng.integers(0, h - 4), self.rng.integers(0, w - 4)
        new[y:y + int(self.rng.integers(1, 6)), x:x + int(self.rng.integers(1, 6))] = int(self.rng.integers(0, 2))
        self.paint(new)

    def do_save(self, qtbot):
        self.c.save_edit()

    def do_keep(self, qtbot):
        self.c.keep()

    def do_exclude(self, qtbot):
        self.c.exclude()

    def do_flag(self, qtbot):
        self.c.flag()

    def do_undo(self, qtbot):
        self.c.undo()

    def do_redo(self, qtbot):
        self.c.redo()

    def do_autosave(self, qtbot):
        getattr(self.c, "autosave", self.c.flush)()  # the panel's 3 s timer

    def do_next(self, qtbot):
        self.c.next()

    def do_previous(self, qtbot):
        self.c.previous()

    def do_goto(self, qtbot):
        self.c.goto(str(self.rng.choice(self.ids)))

    def do_threshold(self, qtbot):
        self.c.set_threshold(float(self.rng.choice([0.5, 0.6, 0.75, 0.9, 0.97])))

    def do_prefetch(self, qtbot):
        i = self.c.index()
        if i + 1 < len(self.c.rows):
            nxt = self.c.rows[i + 1]["case_id"]
            self.c.reader.cache.pop(nxt, None)
            self.c._prefetch_next()
            qtbot.waitUntil(lambda: nxt in self.c.reader.cache, timeout=5000)


def _exported(out: Path, case) -> np.ndarray | None:
    from curator.core.io.readers import read_mask

    path = out / case.mask_dest_rel()
    return read_mask(path).array if path.exists() else None


def _run(template, tmp_path, qtbot, seed: int, make_controller):
    from curator.core.project.export import iter_export
    from curator.core.jobs import run
    from curator.core.metrics import changed_pixels
    from curator.core.project.folder import Project
    from curator.core.project.store import Store
    from tests.review_project import copy_project

    proj = copy_project(template, tmp_path / f"s{seed}")
    c, check, paint = make_controller()
    c.open_project(proj)
    s = Session(c, seed, paint)
    for _ in range(STEPS):
        s.step(qtbot)
        check()
    s.close(proj)
    out = tmp_path / f"out{seed}"
    run(iter_export(Project.open(proj), out))
    with open(out / "changes.csv", newline="") as fh:
        rows = {r["case_id"]: r for r in csv.DictReader(fh)}
    ds = Project.open(proj).open_dataset()
    with Store(proj / "curator.db") as store:
        for case in ds.cases:
            d = store.decision(case.id)
            given = case.read_mask().array
            got = _exported(out, case)
            where = f"seed {seed}, {case.id} ({d['decision']}); actions: {s.log}"
            assert rows[case.id]["decision"] == d["decision"], where
            if d["decision"] == "excluded":
                assert got is None, where
                continue
            if d["decision"] in FINAL:
                np.testing.assert_array_equal(got, s.at_decision[case.id], err_msg=where)
            else:
                np.testing.assert_array_equal(got, given, err_msg=where)
            added, removed = changed_pixels(given, got)
            assert (int(rows[case.id]["pixels_added"]), int(rows[case.id]["pixels_removed"])) == (added, removed), where
            if d["decision"] in ("accepted", "edited"):
                assert (d["pixels_added"], d["pixels_removed"]) == (added, removed), where


def test_random_review_sessions_export_what_the_reviewer_was_shown(template, tmp_path, qtbot, monkeypatch):
    from curator.gui.controller import ReviewController

    # what is under test is what gets recorded, not that it reaches the disk platter: files are
    # still written and renamed atomically, without waiting for each flush (half the time)
    monkeypatch.setattr(os, "fsync", lambda fd: None)

    def make():
        c = ReviewController()
        return c, (lambda: None), c.painted

    for seed in range(SEQUENCES):
        _run(template, tmp_path, qtbot, seed, make)


def test_the_working_layer_on_screen_follows_the_session(template, tmp_path, qtbot, make_napari_viewer, monkeypatch):
    """Sessions with the panel in a viewer: after every step the working layer shows the
    controller's working mask, editable exactly when the case is open to changes."""
    from curator.gui.main_widget import CuratorWidget

    monkeypatch.setattr(os, "fsync", lambda fd: None)

    viewer = make_napari_viewer()

    def make():
        widget = CuratorWidget(viewer)
        c = widget.controller

        def check():
            layer = widget.layers.layer("working")
            np.testing.assert_array_equal(widget.layers.working_data(), c.working)
            assert layer.editable == (not c.locked)
            assert widget.panel.undo_button.isEnabled() == c.can_undo()
            assert widget.panel.redo_button.isEnabled() == c.can_redo()

        def paint(new):  # as napari's brush does: into the layer, then the panel hears of it
            layer = widget.layers.layer("working")
            layer.data[...] = widget.layers.to_display(new)
            layer.refresh()
            widget._sync_painted()

        return c, check, paint

    for seed in range(1000, 1004):
        _run(template, tmp_path, qtbot, seed, make)
