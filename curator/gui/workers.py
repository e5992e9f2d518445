"""Run core jobs (progress generators) in napari generator workers, one at a time.

:class:`JobRunner` wraps a core ``iter_<thing>(...)`` generator in ``napari.qt.threading``'s
generator worker. The app's long jobs (batch, training, uncertainty, export) are
:func:`curator.core.jobs.iter_in_process` generators: the work runs in a process of its own and the
worker thread only relays its events, so the interface never waits for the interpreter. Progress
events arrive on the GUI thread as a signal; the job's return value arrives through ``finished``; a
cancel closes the job in its worker thread at the job's next yield (the core yields after
every batch, patch and case). Workers never touch layers: the handlers connected to these signals
run on the GUI thread and do that.
"""

from __future__ import annotations

import importlib
import threading
import time
import traceback

from qtpy.QtCore import QObject, Signal

__all__ = ["JobRunner", "warm_up", "WARMED"]

# What the interface itself imports on first use (the jobs run in their own process and import
# MONAI, the training code and torch._dynamo there): torch brings the maps to the image's grid when
# the threshold slider first moves (0.5-1.5 s), scipy's and scikit-image's morphology serve the
# proposal and the editing helpers. Imported once, in the background, right after the app starts,
# they do not stall the first use.
HEAVY_MODULES = ("torch", "torch.nn.functional", "scipy.ndimage", "skimage.morphology", "curator.core.engine.uncertainty",
                 "curator.core.curation.proposals", "curator.core.project.review", "curator.core.engine.relabel")
WARMED = threading.Event()
PROGRESS_HZ = 10.0
_CANCELLED = object()  # what a cancelled job returns
_warm_lock = threading.Lock()
_warm_started = False


def warm_up() -> threading.Event:
    """Import the job modules in a background thread (once per process); ``WARMED`` is set when done."""
    global _warm_started
    with _warm_lock:
        if _warm_started:
            return WARMED
        _warm_started = True

    def load() -> None:
        try:
            for name in HEAVY_MODULES:
                try:
                    importlib.import_module(name)
                except Exception:  # noqa: BLE001 - a job that needs it reports the problem itself
                    pass
        finally:
            WARMED.set()

    threading.Thread(target=load, name="curator-warm-up", daemon=True).start()
    return WARMED


class JobRunner(QObject):
    """Runs one job at a time in a background thread."""

    started = Signal(str)
    progress = Signal(int, int, str)  # step, total (0 = unknown), message
    finished = Signal(str, object)  # job name, result
    failed = Signal(str, str)  # job name, message
    cancelled = Signal(str)

    def __init__(self, parent=None):
        super().__init__(parent)
        self._worker = None
        self._name = ""
        self._cancel_requested = False
        self.last_elapsed = 0.0
        self._latest = None
        self._last_emit = 0.0
        self.finished_at = 0.0  # perf_counter() when the last job's result arrived

    @property
    def busy(self) -> bool:
        return self._worker is not None

    @property
    def name(self) -> str:
        return self._name

    def start(self, name: str, job) -> bool:
        """Start ``job`` (a core generator); returns False when another job is running."""
        from napari.qt.threading import create_worker

        if self.busy:
            return False
        self._name = name
        self._cancel_requested = False
        self._latest, self._last_emit = None, 0.0
        t0 = time.perf_counter()

        def work():
            # the job is driven and, on a cancel, closed here in the worker thread: its cleanup (a
            # job in its own process is asked to stop and waited for) never runs on the GUI thread,
            # and never waits for the garbage collector (superqt's quit() only stops pulling)
            try:
                while True:
                    if self._cancel_requested:
                        return _CANCELLED
                    try:
                        event = next(job)
                    except StopIteration as stop:
                        return stop.value
                    yield event  # None: a job in its own process, quiet for now
            finally:
                job.close()

        worker = create_worker(work, _start_thread=False, _ignore_errors=True)  # errors: our failed signal
        worker.yielded.connect(self._on_yield)
        worker.returned.connect(lambda result: self._done(result, t0))
        worker.errored.connect(self._on_error)
        worker.aborted.connect(self._on_abort)
        self._worker = worker
        self.started.emit(name)
        worker.start()
        return True

    def cancel(self) -> None:
        """Ask the running job to stop; it does at its next step, and ``cancelled`` follows."""
        if self._worker is not None:
            self._cancel_requested = True

    def wait(self, timeout_s: float = 30.0) -> bool:
        """Block (processing events) until the running job ends; for closing and tests."""
        from qtpy.QtWidgets import QApplication

        t0 = time.time()
        while self._worker is not None and time.time() - t0 < timeout_s:
            QApplication.processEvents()
            time.sleep(0.01)
        return self._worker is None

    # -- worker signals (GUI thread) ---------------------------------------------------------------
    def _on_yield(self, event) -> None:
        # at most PROGRESS_HZ updates a second: each one repaints the window, and a job can yield
        # hundreds of steps a second (a GPU training run); the latest event is shown when it is time
        if event is not None:  # None: a quiet tick of a job in its own process (lets a cancel through)
            self._latest = event
        now = time.perf_counter()
        if self._latest is None or now - self._last_emit < 1.0 / PROGRESS_HZ:
            return
        event, self._latest, self._last_emit = self._latest, None, now
        step = int(getattr(event, "step", 0) or 0)
        total = int(getattr(event, "total", 0) or 0)
        self.progress.emit(step, total, str(getattr(event, "message", "")))

    def _done(self, result, t0) -> None:
        if result is _CANCELLED:
            self._on_abort()
            return
        self.finished_at = time.perf_counter()
        self.last_elapsed = self.finished_at - t0
        name, self._worker = self._name, None
        self.finished.emit(name, result)

    def _on_error(self, exc) -> None:
        name, self._worker = self._name, None
        ours = type(exc).__module__.startswith("curator.")
        msg = str(exc) if ours and str(exc) else "".join(traceback.format_exception_only(type(exc), exc)).strip()
        self.failed.emit(name, msg)

    def _on_abort(self) -> None:
        name, self._worker = self._name, None
        self.cancelled.emit(name)
