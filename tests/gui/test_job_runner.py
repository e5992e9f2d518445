"""The app's job runner with a job in its own process: progress arrives, Cancel stops the child
and runs its cleanup, the result of a finished job arrives."""

from __future__ import annotations

import time

from curator.core.jobs import iter_in_process
from curator.gui.workers import JobRunner
from tests.unit.test_jobs import count_job, endless_job


def test_cancel_stops_the_job_process_and_runs_its_cleanup(qtbot, tmp_path):
    runner = JobRunner()
    marker = tmp_path / "marker"
    events, cancelled = [], []
    runner.progress.connect(lambda step, total, msg: events.append(msg))
    runner.cancelled.connect(cancelled.append)
    assert runner.start("endless", iter_in_process(endless_job, marker, nice=5))
    qtbot.waitUntil(lambda: bool(events), timeout=60000)
    t0 = time.perf_counter()
    runner.cancel()
    assert runner.wait(60)
    assert cancelled == ["endless"] and not runner.busy
    assert marker.read_text() == "cleaned up"  # the child's cleanup ran before the runner reported
    assert time.perf_counter() - t0 < 30


def test_a_finished_job_reports_its_result(qtbot):
    runner = JobRunner()
    results = []
    runner.finished.connect(lambda name, result: results.append((name, result)))
    assert runner.start("count", iter_in_process(count_job, 5, keep=("total",)))
    assert runner.wait(60)
    assert results and results[0][0] == "count" and results[0][1].total == 15
