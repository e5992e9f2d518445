"""``curator bench gui``: responsiveness of the desktop app, measured with a real viewer.

Prints: the longest gap between event-loop ticks (a 10 ms timer) while a Batch relabel job runs in
the background (in its own process, as the app runs it; started once the app has imported what the
interface needs, as it does right after start-up) and for a second after it ends, while the app
draws the case the review starts at; the time to switch cases in 2D (512x512) and for a 512x512x150
CT volume, cold (read from disk) and prefetched (the next case, read in the background while the
reviewer looks at the current one); and the time for the threshold slider to update the proposal
overlay on a 512x512 case. Synthetic data, made on the spot; needs a display (Xvfb is fine).
"""

from __future__ import annotations

import tempfile
import time
from pathlib import Path

import numpy as np

__all__ = ["run_gui_benchmarks"]


def _process(ms: int = 0) -> None:
    from qtpy.QtWidgets import QApplication

    t0 = time.perf_counter()
    QApplication.processEvents()
    while (time.perf_counter() - t0) * 1000 < ms:
        QApplication.processEvents()
        time.sleep(0.005)


def _wait(controller, timeout_s: float = 3600) -> None:
    t0 = time.time()
    while controller.jobs.busy and time.time() - t0 < timeout_s:
        _process()
        time.sleep(0.01)


def _stall_probe():
    from qtpy.QtCore import QTimer

    gaps: list[float] = []
    ends: list[float] = []  # when each gap ended
    last = [time.perf_counter()]

    def tick():
        now = time.perf_counter()
        gaps.append(now - last[0])
        ends.append(now)
        last[0] = now

    timer = QTimer()
    timer.setInterval(10)
    timer.timeout.connect(tick)
    return timer, gaps, ends, last


def _repaint_ms(viewer, n: int = 7) -> float:
    """Median time to redraw the canvas with nothing changed: what the display itself costs (in
    software OpenGL under Xvfb most of a switch or a slider move)."""
    from qtpy.QtWidgets import QApplication

    times = []
    for _ in range(n):
        _process(50)
        t = time.perf_counter()
        viewer.window._qt_viewer.canvas.native.update()
        QApplication.processEvents()
        times.append(1000 * (time.perf_counter() - t))
    return float(np.median(times))


def _make_data(root: Path, n2d: int, n3d: int, quick: bool) -> tuple[Path, Path]:
    from curator.core.io.types import Geometry
    from curator.core.io.writers import write_image, write_mask
    from curator.core.jobs import run
    from curator.lab.synthetic import ct_case, iter_write_isic

    d2 = run(iter_write_isic(root / "derm512", n2d, shape=(512, 512)))
    d3 = root / "ct512"
    (d3 / "imagesTr").mkdir(parents=True)
    (d3 / "labelsTr").mkdir(parents=True)
    shape = (40, 256, 256) if quick else (150, 512, 512)
    spacing = (0.8, 0.8, 2.0)
    for i in range(n3d):
        vol, lab, sp = ct_case([9, i], shape, spacing, lesions=2)
        g = Geometry(sp, (0.0, 0.0, 0.0), tuple(np.eye(3).ravel()))
        write_image(d3 / "imagesTr" / f"liver_{i}.nii.gz", vol, g)
        write_mask(d3 / "labelsTr" / f"liver_{i}.nii.gz", lab, geometry=g)
    return d2, d3


def run_gui_benchmarks(*, quick: bool = False, threads: int | None = None) -> dict:
    """Run the measurements and return them (milliseconds)."""
    import napari

    from curator.core.project.pipeline import UncertaintyConfig
    from curator.core.engine.training import RelabelConfig, TrainConfig
    from curator.gui.main_widget import CuratorWidget
    from curator.gui.workers import WARMED

    out: dict = {"quick": quick}
    with tempfile.TemporaryDirectory(prefix="curator-bench-gui-") as tmp:
        root = Path(tmp)
        d2, d3 = _make_data(root, 6, 2, quick)
        viewer = napari.Viewer(show=True)
        widget = CuratorWidget(viewer)
        viewer.window.add_dock_widget(widget, name="Mask Curator")
        c = widget.controller
        c.settings.train = TrainConfig(folds=3, epochs=2 if quick else 4, size=128, channels=(8, 16, 32, 64),
                                       batch_size=4, threads=threads, relabel=RelabelConfig())
        c.settings.uncertainty = UncertaintyConfig(tta=4, threads=threads)
        widget.open_dataset(d2, root / "p2")
        _process(200)
        t0 = time.perf_counter()
        while not WARMED.is_set() and time.perf_counter() - t0 < 120:  # the app's start-up import of the ML stack
            _process(50)
        out["warm_up_seconds_after_open"] = time.perf_counter() - t0
        out.update(_batch_stall(c))
        out["canvas_repaint_ms"] = _repaint_ms(viewer)
        out.update(_switch_2d(widget))
        out.update(_slider(widget))
        out.update(_switch_3d(widget, d3, root / "p3", threads))
        c.close()
        viewer.close()
    return out


def _batch_stall(c) -> dict:
    """The event loop's longest stalls while Batch relabel runs in the background, and while the
    app draws the case the review starts at once it is done."""
    timer, gaps, ends, last = _stall_probe()
    last[0] = time.perf_counter()
    timer.start()
    t0 = time.perf_counter()
    c.start_batch()
    _wait(c)
    _process(1000)  # the probe goes on while the app draws the case the review starts at
    timer.stop()
    g = np.asarray(gaps[1:] or [0.0]) * 1000
    during = np.asarray([x for x, e in zip(gaps[1:], ends[1:]) if e <= c.jobs.finished_at] or [0.0]) * 1000
    after = np.asarray([x for x, e in zip(gaps[1:], ends[1:]) if e > c.jobs.finished_at] or [0.0]) * 1000
    return {"batch_seconds": c.jobs.finished_at - t0,
            "stall_max_ms": float(during.max()),  # while the job runs
            "stall_p99_ms": float(np.percentile(during, 99)),
            "stall_ticks": int(during.size),
            "stall_at_end_ms": float(after.max()),  # drawing the top case when the job is done
            "stall_max_overall_ms": float(g.max())}


def _switch_2d(widget) -> dict:
    """Switching cases in 2D: cold (nothing kept read) and prefetched (the next case read while the
    reviewer looks at the current one)."""
    c = widget.controller
    cold, warm = [], []
    ids = [r["case_id"] for r in c.rows]
    for cid in ids[1:4]:
        c.forget_read()
        t = time.perf_counter()
        c.goto(cid)
        _process()
        cold.append(1000 * (time.perf_counter() - t))
    c.goto(ids[0])
    for _ in range(3):
        _process(1500)  # the reviewer looks; the next case is read meanwhile
        t = time.perf_counter()
        widget.next_case()
        _process()
        warm.append(1000 * (time.perf_counter() - t))
    return {"switch_2d_cold_ms": float(np.median(cold)), "switch_2d_prefetched_ms": float(np.median(warm))}


def _slider(widget) -> dict:
    """The threshold slider on a 512x512 case: the proposal recomputed, then the canvas redrawn."""
    c = widget.controller
    c.goto(c.rows[0]["case_id"])
    _process()
    times, computed = [], []
    for tau in (0.9, 0.7, 0.6, 0.8, 0.95, 0.65):
        t = time.perf_counter()
        widget.panel.set_tau(tau)
        widget._pending_tau = tau
        widget._apply_threshold()
        computed.append(1000 * (time.perf_counter() - t))  # proposal recomputed, layer and list updated
        _process()
        times.append(1000 * (time.perf_counter() - t))  # ... and the canvas redrawn
    return {"slider_first_ms": float(times[0]),  # includes bringing the maps to full resolution once
            "slider_ms": float(np.median(times[1:])), "slider_compute_ms": float(np.median(computed[1:]))}


def _switch_3d(widget, data: Path, project: Path, threads: int | None) -> dict:
    """Switching cases in 3D (512x512x150), cold and prefetched: a tiny batch gives maps and
    proposals to show."""
    from curator.core.engine.training import TrainConfig
    from curator.core.jobs import run
    from curator.core.project.pipeline import UncertaintyConfig, iter_batch

    c = widget.controller
    run(iter_batch(data, project, train_cfg=TrainConfig(folds=2, epochs=1, channels=(4, 8, 16), patch=(16, 64, 64),
                                                        batch_size=2, threads=threads, relabel=None),
                   unc_cfg=UncertaintyConfig(tta=1, threads=threads)))
    widget._open_project(project)
    _process(300)
    ids3 = [r["case_id"] for r in c.rows]
    c.forget_read()
    t = time.perf_counter()
    c.goto(ids3[1])
    _process()
    out = {"switch_3d_cold_ms": 1000 * (time.perf_counter() - t)}
    c.goto(ids3[0])
    _process(4000)
    t = time.perf_counter()
    widget.next_case()
    _process()
    out["switch_3d_prefetched_ms"] = 1000 * (time.perf_counter() - t)
    out["volume_shape"] = list(c.view.image.array.shape)
    return out
