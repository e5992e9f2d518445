"""A Ray worker killed with SIGKILL mid-batch (a member's training task, then a scoring actor): Ray
runs the task again, the batch completes, and nothing is duplicated or lost."""

from __future__ import annotations

import csv
import os
import signal
import sqlite3
import threading
import time

from curator.core.jobs import run
from curator.core.project.pipeline import UncertaintyConfig, iter_batch
from curator.core.curation.proposals import ProposalConfig
from curator.core.engine.training import TrainConfig


def _wait_for(find, prefix, timeout=180.0):
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        procs = find(prefix)
        if procs:
            return procs
        time.sleep(0.05)
    raise AssertionError(f"no process {prefix} within {timeout} s")


def test_sigkilled_workers_are_retried_and_nothing_is_lost_or_doubled(ray_session, ray_processes, tiny_demo, tmp_path):
    proj = tmp_path / "p"
    job = iter_batch(tiny_demo, proj, train_cfg=TrainConfig(folds=2, epochs=3, size=32, channels=(4, 8, 16),
                                                            batch_size=4, threads=1),
                     unc_cfg=UncertaintyConfig(tta=2, threads=1), proposal_cfg=ProposalConfig(min_confidence=0.5),
                     executor="ray")
    box = {}

    def drive():
        try:
            box["result"] = run(job)
        except BaseException as exc:  # noqa: BLE001 - reported by the test below
            box["error"] = exc

    th = threading.Thread(target=drive, daemon=True)
    th.start()
    # a member's training task, while it runs
    _wait_for(ray_processes, "ray::_train_member")
    time.sleep(1.0)
    trainers = ray_processes("ray::_train_member")  # both members run at once (two CPUs)
    victim = min(trainers)
    os.kill(victim, signal.SIGKILL)
    # Ray runs the killed member's task again, in a new worker
    retried = _wait_for(lambda prefix: {p: t for p, t in ray_processes(prefix).items() if p not in trainers},
                        "ray::_train_member")
    assert retried
    # a scoring actor, while the batch scores (if Ray did not restart it and run its shard again,
    # the batch would fail with the actor's death)
    scorers = _wait_for(ray_processes, "ray::_ScorerActor")
    os.kill(min(scorers), signal.SIGKILL)
    th.join(600)
    assert not th.is_alive(), "the batch did not finish"
    assert "error" not in box, box.get("error")
    res = box["result"]

    cases = sorted(p.name.removesuffix("_segmentation.png") for p in tiny_demo.glob("*_segmentation.png"))
    assert len(cases) == 8
    # every case ranked once, none failed
    with open(proj / "ranking.csv", newline="") as fh:
        ranked = [r["case_id"] for r in csv.DictReader(fh)]
    assert sorted(ranked) == cases and not res.failed
    # exactly the two members, no checkpoint or temporary file left behind
    assert sorted(p.name for p in (proj / "models").iterdir()) == [
        "member-r0-f0.json", "member-r0-f0.pt", "member-r0-f1.json", "member-r0-f1.pt", "train.json"]
    # one map per case, each complete and made by the final members
    maps = sorted((proj / "maps").iterdir())
    assert [p.name for p in maps] == [f"{c}.npz" for c in cases]
    # the store holds each case once, with its scores and one proposal
    db = sqlite3.connect(proj / "curator.db")
    assert db.execute("SELECT COUNT(*), COUNT(DISTINCT case_id) FROM proposals").fetchone() == (8, 8)
    assert db.execute("SELECT COUNT(DISTINCT case_id) FROM scores WHERE name='softmin'").fetchone() == (8,)
    assert db.execute("SELECT COUNT(*) FROM cases").fetchone() == (8,)
