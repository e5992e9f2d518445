"""The desktop application: a napari viewer titled Mask Curator with the Curator panel and menus.

``launch()`` backs ``curator gui`` and ``curator demo``. With ``screenshot=`` it opens, loads the
first case, saves a picture of the whole window and exits (headless checks); with ``selftest`` it
runs a tiny batch on the demo data, exports, and exits 0 on success.
"""

from __future__ import annotations

import sys
import time
from pathlib import Path

__all__ = ["make_window", "launch", "open_first"]


class _CloseGuard:
    """Asks before closing the window while a job runs, then cancels it cleanly."""

    def __init__(self, widget):
        from qtpy.QtCore import QObject

        class Filter(QObject):
            def eventFilter(inner, obj, event):  # noqa: N802, N805 (Qt API)
                from qtpy.QtCore import QEvent

                if event.type() == QEvent.Close and not self.allow_close():
                    event.ignore()
                    return True
                return False

        self.widget = widget
        self.filter = Filter()

    def allow_close(self) -> bool:
        from qtpy.QtWidgets import QMessageBox

        runner = self.widget.controller.jobs
        if runner.busy:
            answer = QMessageBox.question(
                self.widget, "Mask Curator",
                f"{runner.name} is still running. Stop it and close? Finished work is kept; running it again "
                "resumes where it stopped.", QMessageBox.Yes | QMessageBox.No, QMessageBox.No)
            if answer != QMessageBox.Yes:
                return False
            runner.cancel()
            runner.wait(120)
        self.widget.controller.close()
        return True


def make_window(*, show: bool = True, viewer=None):
    """A viewer (made here, unless given) with the Curator panel docked and the menus installed:
    ``(viewer, widget)``."""
    import napari

    from curator.gui.main_widget import CuratorWidget
    from curator.gui.menus import install_menus

    if viewer is None:
        viewer = napari.Viewer(title="Mask Curator", show=show)
    try:
        # docked the way napari's Plugins menu docks it, so that menu shows this panel instead of
        # adding a second one
        _dock, widget = viewer.window.add_plugin_dock_widget("mask-curator", "Mask Curator")
    except Exception:  # noqa: BLE001 - the plugin is not registered (a bare source tree)
        widget = CuratorWidget(viewer)
        viewer.window.add_dock_widget(widget, name="Mask Curator", area="right")
    window = widget.window()
    install_menus(window, widget)
    guard = _CloseGuard(widget)
    window.installEventFilter(guard.filter)
    widget._close_guard = guard  # keep it alive with the widget
    viewer.window.resize(1500, 950)
    return viewer, widget


def launch(dataset=None, project=None, *, demo: bool = False, screenshot: str | None = None,
           batch: bool = False, startup_time: bool = False) -> int:
    import napari
    from qtpy.QtCore import QTimer

    viewer, widget = make_window()
    if startup_time:
        def report_start():
            import psutil

            started = psutil.Process().create_time()
            print(f"usable window after {time.time() - started:.2f} s (process start to first paint)")

        QTimer.singleShot(0, report_start)
    c = widget.controller
    open_first(widget, dataset=dataset, project=project)
    if demo and c.dataset is not None and not c.store.scores():
        widget._status("demo: running a quick Batch relabel (train, uncertainty, proposals, ranking; "
                       "region confidence 0.80 for these one-minute models) …")
        from dataclasses import replace

        s = c.settings
        s.train = replace(s.train, folds=3, epochs=8, size=96)
        s.uncertainty = replace(s.uncertainty, tta=4)
        # models trained for a minute are sure of little: at the default region confidence (0.96)
        # they would propose nothing, so the demo (only this session, not the saved settings)
        # shows what they are 80 % sure of, false alarms included, for the reviewer to judge
        s.proposal = replace(s.proposal, min_confidence=0.8)
        c.start_batch()
    elif batch:
        c.start_batch()
    if screenshot:
        def shoot():
            if c.jobs.busy:
                QTimer.singleShot(500, shoot)
                return
            _save_window(viewer, screenshot)
            viewer.close()

        QTimer.singleShot(1500, shoot)
    napari.run()
    return 0


def open_first(widget, *, dataset=None, project=None) -> bool:
    """Open the dataset or project the app was started with, once the window is laid out at its
    final size (framed before, the first case was cropped)."""
    from qtpy.QtWidgets import QApplication

    if project is None and dataset is None:
        return False
    QApplication.processEvents()
    if project is not None:
        ok = widget._open_project(project)
    else:
        ok = widget.open_dataset(dataset)
    if not ok:
        print(f"curator gui: cannot open {project if project is not None else dataset}", file=sys.stderr)
    return ok


def _save_window(viewer, path) -> None:
    import imageio.v3 as iio

    img = viewer.screenshot(canvas_only=False, flash=False)
    Path(path).parent.mkdir(parents=True, exist_ok=True)
    iio.imwrite(path, img)
    print(f"screenshot saved: {path}")
