"""The project store: decisions with audit rows, locking, append-only log, persistence."""

from __future__ import annotations

import sqlite3
from dataclasses import dataclass
from pathlib import Path

import pytest

from curator.core.project.store import LockedError, Store, StoreError


@dataclass
class FakeCase:
    id: str
    image: Path = Path("/data/x.png")
    mask: Path | None = Path("/data/x_mask.png")
    ndim: int = 2


def _store(tmp_path, **kw):
    s = Store(tmp_path / "curator.db", reviewer="alice", **kw)
    s.sync_cases([FakeCase("a"), FakeCase("b"), FakeCase("c")])
    return s


def test_decisions_are_recorded_with_audit_and_locking(tmp_path):
    with _store(tmp_path) as s:
        assert s.decision("a")["decision"] == "unreviewed"
        d = s.decide("a", "accepted", pixels=(10, 2), regions=[1, 3], model_run="run1")
        assert d["decision"] == "accepted" and d["locked"] == 1 and d["reviewer"] == "alice"
        assert d["regions"] == [1, 3]
        with pytest.raises(LockedError):
            s.decide("a", "kept")
        s.reopen("a")
        s.decide("a", "kept", note="boundary looks right", who="bob")
        log = s.audit_log("a")
        assert [e["action"] for e in log] == ["decide:accepted", "reopen", "decide:kept"]
        assert log[0]["pixels_added"] == 10 and log[0]["pixels_removed"] == 2 and log[0]["model_run"] == "run1"
        assert log[2]["who"] == "bob"
        with pytest.raises(StoreError):
            s.decide("zzz", "kept")
        with pytest.raises(StoreError):
            s.decide("b", "maybe")


def test_flag_does_not_lock_and_notes_survive(tmp_path):
    with _store(tmp_path) as s:
        s.set_note("b", "ask Dr. Chen")
        s.decide("b", "flagged")
        s.decide("b", "edited", mask_path="/p/edits/b.v2.npz")
        d = s.decision("b")
        assert d["decision"] == "edited" and d["note"] == "ask Dr. Chen" and d["mask_path"].endswith("b.v2.npz")


def test_audit_log_is_append_only(tmp_path):
    with _store(tmp_path) as s:
        s.decide("a", "excluded")
        with pytest.raises(sqlite3.DatabaseError, match="append-only"):
            s.db.execute("UPDATE audit SET who = 'mallory'")
        with pytest.raises(sqlite3.DatabaseError, match="append-only"):
            s.db.execute("DELETE FROM audit")


def test_everything_persists_across_reopen(tmp_path):
    with _store(tmp_path) as s:
        s.set_scores("a", {"softmin": 0.4, "dice": 0.1})
        s.set_ranking([("a", 0.9, 1), ("c", 0.5, 2), ("b", 0.1, 3)])
        s.set_proposal("a", path="/p/a.png", regions_path="/p/.regions/a.npz", regions=[{"id": 1}], added=5,
                       removed=1, change_fraction=0.02, config={"tau": 0.8}, run_id="r1")
        s.decide("c", "kept")
        s.set_state("gui.position", {"case": "c"})
    with Store(tmp_path / "curator.db") as s:
        assert [r["case_id"] for r in s.queue()] == ["a", "c", "b"]
        assert s.queue("kept")[0]["case_id"] == "c"
        assert s.scores()["a"]["softmin"] == pytest.approx(0.4)
        assert s.proposal("a")["regions"] == [{"id": 1}]
        assert s.get_state("gui.position") == {"case": "c"}
        assert s.decision("c")["locked"] == 1


def test_wal_mode_and_concurrent_reader(tmp_path):
    with _store(tmp_path) as s:
        assert s.db.execute("PRAGMA journal_mode").fetchone()[0] == "wal"
        other = Store(tmp_path / "curator.db")
        s.decide("a", "flagged")
        assert other.decision("a")["decision"] == "flagged"
        other.close()


def test_review_rounds_follow_the_order_of_decisions(tmp_path):
    with Store(tmp_path / "db", reviewer="r") as s:
        s.sync_cases([FakeCase(f"c{i}") for i in range(6)])
        for cid, d in [("c3", "accepted"), ("c1", "kept"), ("c0", "edited"), ("c5", "kept")]:
            s.decide(cid, d)
        assert [c for c, _ in s.review_order()] == ["c3", "c1", "c0", "c5"]
        rounds = s.review_rounds(2)
        assert [(r.errors_found, r.reviewed) for r in rounds] == [(1, 2), (1, 2)]


def test_trusted_cases_and_reviewed_decisions_are_the_evidence(tmp_path):
    with _store(tmp_path) as s:
        assert s.evidence() == {} and s.trusted() == set()
        s.set_trusted("a")
        s.decide("b", "edited", mask_path=str(tmp_path / "edits" / "b.v1.npz"))
        s.decide("c", "flagged")  # no decision on the mask yet: no evidence
        ev = s.evidence()
        assert ev["a"] is None and Path(ev["b"]).name == "b.v1.npz" and "c" not in ev
        assert s.decision("a")["decision"] == "unreviewed" and not s.decision("a")["locked"]  # trust decides nothing
        s.decide("c", "kept", force=True)
        assert s.evidence()["c"] is None
        s.set_trusted("a", False)
        assert "a" not in s.evidence()
        assert [e["action"] for e in s.audit_log("a")] == ["trust", "untrust"]
    with Store(tmp_path / "curator.db") as again:  # persisted
        assert set(again.evidence()) == {"b", "c"}
    with pytest.raises(StoreError):
        with _store(tmp_path) as s:
            s.set_trusted("nope")
