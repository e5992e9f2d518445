"""curator.core.project.session: the review session runs without Qt, tells its listeners what
changed, and what it records is what the export writes."""

from __future__ import annotations

import numpy as np
import pytest

from curator.core.errors import CuratorError
from curator.core.project import artifacts
from curator.core.project.session import EVENTS, ReviewSession


@pytest.fixture(scope="module")
def template(tmp_path_factory):
    from tests.review_project import make_review_project

    return make_review_project(tmp_path_factory.mktemp("session"))


@pytest.fixture
def session(template, tmp_path):
    from tests.review_project import copy_project

    s = ReviewSession()
    heard = {name: [] for name in EVENTS}
    for name in EVENTS:
        s.on(name, lambda *args, name=name: heard[name].append(args))
    s.open_project(copy_project(template, tmp_path / "proj"))
    yield s, heard
    s.close()


def test_no_gui_library_is_needed():
    import subprocess
    import sys

    code = ("import sys, curator.core.project.session\n"
            "print(sorted(m for m in sys.modules if m.split('.')[0] in ('qtpy', 'PySide6', 'napari')))")
    out = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, check=True)
    assert out.stdout.strip() == "[]"


def test_opening_shows_a_case_and_navigation_follows_the_queue(session):
    s, heard = session
    assert heard["project_opened"] and heard["case_loaded"] and s.view is not None
    first = s.case.id
    s.next()
    assert s.case.id != first and s.index() == 1
    s.previous()
    assert s.case.id == first


def test_undo_redo_and_a_decision_that_records_what_was_shown(session):
    s, heard = session
    s.goto("case_1")
    before = s.working.copy()
    painted = before.copy()
    painted[:3, :3] = 1
    s.painted(painted)
    assert s.can_undo() and s.undo() and np.array_equal(s.working, before)
    assert s.redo() and np.array_equal(s.working, painted)
    assert s.save_edit() and s.locked
    assert heard["decision_changed"][-1][0] == "case_1"
    kind, mask = artifacts.final_mask(s.store, "case_1", s.view.given.array)
    assert kind == "edited" and np.array_equal(mask, painted)


def test_accepting_some_regions_and_the_lock(session):
    s, heard = session
    s.goto("case_1")
    ids = {int(r["id"]) for r in s.region_infos()}
    assert len(ids) >= 2
    keep_one = min(ids)
    for rid in ids - {keep_one}:
        s.toggle_region(rid, False)
    assert s.accept()
    shown = s.working.copy()
    kind, mask = artifacts.final_mask(s.store, "case_1", s.view.given.array)
    assert kind == "accepted" and np.array_equal(mask, shown)
    assert not s.keep() and "locked" in heard["error"][-1][0]
    assert s.reopen() and s.keep()


def test_without_an_error_listener_a_refusal_raises(template, tmp_path):
    from tests.review_project import copy_project

    s = ReviewSession()
    s.open_project(copy_project(template, tmp_path / "p2"))
    s.goto("case_1")
    s.keep()
    with pytest.raises(CuratorError, match="locked"):
        s.exclude()
    s.close()
