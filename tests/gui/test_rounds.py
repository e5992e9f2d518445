"""Trust (Shift+T) and Re-score in the app: the queue marks trusted masks, a review round runs as a
job, the queue says which round ranked it, and a trusted mask gets no proposal."""

from __future__ import annotations

from tests.gui.test_app import _wait_job


def test_trust_key_and_rescore_round(curator_widget, demo_project, fresh_copy, qtbot):
    viewer, widget = curator_widget
    c = widget.controller
    proj = fresh_copy(demo_project)
    widget.controller.open_project(proj)
    first = c.case.id
    widget._handlers()["Shift-T"]()  # the key's handler, as the viewer and the panel bind it
    assert first in c.store.trusted()
    assert widget.queue.count.text()  # the queue was refreshed
    row = next(r for r in c.rows if r["case_id"] == first)
    assert row["trusted"]
    c.next()
    second = c.case.id
    assert c.keep()
    assert "Re-score from reviews" in [a.text() for a in widget._build_menu().actions()]
    assert c.start_rescore()
    _wait_job(qtbot, c, timeout_s=900)
    assert [r["round"] for r in c.project.rounds()] == [1]
    assert "round 1" in widget.queue.count.text()
    assert "fine-tuned on 2 reviewed case(s)" in widget.queue.count.toolTip()
    withheld = (c.store.proposal(first)["config"] or {}).get("withheld", "")
    assert "trusts this mask" in withheld
    assert c.store.decision(second)["decision"] == "kept"  # decisions untouched by the round
    assert c.case.id == second  # the review stays where it was
    widget._handlers()["Shift-T"]()  # a locked (kept) case can be trusted too: trust decides nothing
    assert c.store.trusted() == {first, second}
    widget._handlers()["Shift-T"]()
    assert c.store.trusted() == {first}
