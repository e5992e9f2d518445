"""Benchmark (slow): a project of 100,000 cases (synthetic store rows beside a small real dataset)
opens in the app and shows its queue, and `curator queue` lists it; the times go to
docs/results.md. Run: xvfb-run -a python -m pytest tests/gui/test_store_scale.py -m slow -s"""

from __future__ import annotations

import json
import subprocess
import sys
import time

import numpy as np
import pytest

from curator.core.jobs import run
from curator.lab.synthetic import iter_write_demo

N = 100_000


def make_big_project(root, n: int = N):
    """A project over eight demo cases whose store also holds ``n`` synthetic ranked cases with
    scores, proposals and a few decisions (rows as a batch writes them)."""
    from curator.core.project.folder import Project
    from curator.core.project.store import Store

    demo = run(iter_write_demo(root / "demo", n_derm=8, n_ct=1, derm_shape=(64, 80), ct_shape=(8, 32, 32)))
    project = Project.create(root / "proj", demo / "derm")
    rng = np.random.default_rng(0)
    score = rng.random(n)
    order = np.argsort(-score)
    rank = np.empty(n, int)
    rank[order] = np.arange(1, n + 1)
    now = "2026-01-01T00:00:00"
    with Store(project.db_path) as store, store.transaction() as db:
        db.executemany("INSERT INTO cases (case_id, image, mask, ndim, score, rank, added) VALUES (?,?,?,?,?,?,?)",
                       ((f"ct_{i:06d}", f"imagesTr/ct_{i:06d}.nii.gz", f"labelsTr/ct_{i:06d}.nii.gz", 3,
                         float(score[i]), int(rank[i]), now) for i in range(n)))
        db.executemany("INSERT INTO scores VALUES (?,?,?,?)",
                       ((f"ct_{i:06d}", k, float(v), "run") for i in range(n) for k, v in
                        (("softmin", score[i]), ("dice", 1 - score[i]))))
        db.executemany("INSERT INTO proposals (case_id, run_id, regions, added, removed, change_fraction, config, "
                       "created) VALUES (?,?,?,?,?,?,?,?)",
                       ((f"ct_{i:06d}", "run", "[]", 10, 5, float(score[i]) / 10, "{}", now) for i in range(n)))
        db.executemany("INSERT INTO decisions (case_id, decision, locked, updated) VALUES (?,?,?,?)",
                       ((f"ct_{i:06d}", "kept", 1, now) for i in range(0, n, 50)))
    return project


@pytest.fixture(scope="module")
def big_project(tmp_path_factory):
    return make_big_project(tmp_path_factory.mktemp("big"))


@pytest.mark.slow
def test_curator_queue_lists_100000_cases(big_project):
    cmd = [sys.executable, "-m", "curator.cli", "queue", "--project", str(big_project.root)]
    times = []
    for _ in range(3):
        t = time.perf_counter()
        out = subprocess.run(cmd, capture_output=True, text=True, check=True).stdout
        times.append(time.perf_counter() - t)
    assert len(out.splitlines()) == N  # (the demo cases join the store when the app opens the project)
    t = time.perf_counter()
    subprocess.run(cmd + ["--limit", "20"], capture_output=True, text=True, check=True)
    first20 = time.perf_counter() - t
    t = time.perf_counter()
    subprocess.run([sys.executable, "-c", "import curator.cli"], check=True)
    startup = time.perf_counter() - t
    print(f"\n[bench] curator queue, {N} cases: {min(times):.2f} s (all rows), {first20:.2f} s (--limit 20), "
          f"python + import: {startup:.2f} s")
    print(json.dumps({"curator_queue_s": min(times), "curator_queue_limit20_s": first20, "startup_s": startup}))


@pytest.mark.slow
@pytest.mark.gui
def test_the_app_opens_100000_cases_and_shows_the_queue(big_project, make_napari_viewer, qtbot):
    from curator.gui.main_widget import CuratorWidget

    viewer = make_napari_viewer()
    widget = CuratorWidget(viewer)
    viewer.window.add_dock_widget(widget)
    t = time.perf_counter()
    widget.controller.open_project(big_project.root)
    qtbot.waitUntil(lambda: widget.queue.row_count() == N + 8, timeout=60_000)
    widget.queue.table.viewport().repaint()
    opened = time.perf_counter() - t
    t = time.perf_counter()
    widget.controller.set_filter("kept")
    filtered = time.perf_counter() - t
    assert widget.queue.row_count() == N // 50
    t = time.perf_counter()
    widget.controller.set_filter(None)
    widget.queue.select("ct_099999")
    refreshed = time.perf_counter() - t
    print(f"\n[bench] app, {N} cases: project opened and queue shown in {opened:.2f} s; filter to 'kept' "
          f"{filtered:.2f} s; back to all + select the last case {refreshed:.2f} s")
