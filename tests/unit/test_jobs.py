"""Jobs run in a process of their own: events, result, errors, cancel with cleanup, a dying child."""

from __future__ import annotations

import os
import time
from pathlib import Path

import pytest

from curator.core.jobs import Cancelled, JobProcessError, Progress, iter_in_process, run
from curator.core.project.folder import ProjectError


def count_job(n: int, pid_file=None):
    if pid_file:
        Path(pid_file).write_text(str(os.getpid()))
    for i in range(n):
        yield Progress(i + 1, n, f"step {i + 1}")
    return {"total": n * (n + 1) // 2, "pid": os.getpid(), "big": list(range(1000))}


def failing_job():
    yield Progress(1, 2, "about to fail")
    raise ProjectError("the project folder is not writable")


def endless_job(marker):
    try:
        i = 0
        while True:
            i += 1
            time.sleep(0.05)
            yield Progress(i, None, "working")
    finally:
        Path(marker).write_text("cleaned up")


def dying_job():
    yield Progress(1, None, "going")
    os._exit(3)


def test_events_and_result_come_from_another_process(tmp_path):
    events = []
    result = run(iter_in_process(count_job, 4, pid_file=tmp_path / "pid"), events.append)
    assert [e.message for e in events] == ["step 1", "step 2", "step 3", "step 4"]
    assert result["total"] == 10 and result["pid"] != os.getpid()
    assert int((tmp_path / "pid").read_text()) == result["pid"]
    slim = run(iter_in_process(count_job, 3, keep=("total",)))
    assert slim.total == 6 and not hasattr(slim, "big")


def test_errors_keep_their_type_and_message():
    with pytest.raises(ProjectError, match="not writable"):
        run(iter_in_process(failing_job))


def test_cancel_stops_the_child_and_runs_its_cleanup(tmp_path):
    marker = tmp_path / "marker"
    seen = []
    t0 = time.perf_counter()
    with pytest.raises(Cancelled):
        run(iter_in_process(endless_job, marker), seen.append, should_stop=lambda: len(seen) >= 3)
    assert time.perf_counter() - t0 < 60
    assert marker.read_text() == "cleaned up"  # the child's finally ran before it exited


def test_a_child_that_dies_is_reported():
    with pytest.raises(JobProcessError, match="exit code 3"):
        run(iter_in_process(dying_job))
