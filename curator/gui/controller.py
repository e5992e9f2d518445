"""The Curator panel's review controller: a thin Qt adapter over :class:`~curator.core.project.session.ReviewSession`.

The session (pure, in the core) holds the project, the queue, the case on screen, the live
proposal, the working mask with its undo/redo history and the decisions. This adapter turns the
session's events into Qt signals, reads the next case ahead in a napari worker once the current one
is drawn, and starts long jobs (batch relabel, training, uncertainty, export) in a process of their
own on its :class:`~curator.gui.workers.JobRunner`. It owns no widgets; the panel and the layer
adapter listen to its signals. Attributes and methods not defined here are the session's.
"""

from __future__ import annotations

from pathlib import Path

from napari.qt.threading import create_worker
from qtpy.QtCore import QObject, QTimer, Signal

from curator.core.data.discover import open_dataset
from curator.core.engine.ensemble import iter_train
from curator.core.jobs import iter_in_process
from curator.core.project.export import iter_export
from curator.core.project.pipeline import iter_batch, iter_uncertainty, training_blocker
from curator.core.project.review import load_case_view
from curator.core.project.rounds import iter_rescore
from curator.core.project.session import EVENTS, ReviewSession
from curator.core.project.store import Store
from curator.gui.settings import Settings, default_project_for, recent_projects, remember_recent
from curator.gui.workers import JobRunner

__all__ = ["ReviewController"]

# Jobs run in their own process at a lower priority: they use the CPU time the interface leaves,
# so painting and input are served first even when a batch keeps every core busy.
BACKGROUND_NICE = 10


def _in_process(target, *args, **kwargs):
    """A core job run in a process of its own, in the background (see BACKGROUND_NICE)."""
    return iter_in_process(target, *args, nice=BACKGROUND_NICE, **kwargs)


class ReviewController(QObject):
    """The review session, with Qt signals, read-ahead and jobs (see the module docstring)."""

    project_opened = Signal(str)
    queue_changed = Signal()
    case_loaded = Signal(object)  # CaseView
    proposal_changed = Signal(object)  # Proposal preview (or None)
    working_changed = Signal()  # the working mask was replaced (undo, helpers, accept)
    selection_changed = Signal()  # change regions ticked or unticked (the overlay follows)
    history_changed = Signal()  # what Undo / Redo can do changed
    decision_changed = Signal(str, dict)
    status = Signal(str)
    error = Signal(str)

    def __init__(self, parent=None, *, settings: Settings | None = None):
        super().__init__(parent)
        session = ReviewSession(settings or Settings().load())
        QObject.__setattr__(self, "session", session)
        for name in EVENTS:
            session.on(name, getattr(self, name).emit)
        # read the next case once this one is drawn: a reader thread started now would compete
        # with the drawing for the interpreter
        self.case_loaded.connect(lambda _view: QTimer.singleShot(300, self._prefetch_next))
        self.project_opened.connect(lambda root: remember_recent(Path(root)))
        self.jobs = JobRunner(self)
        self._pending_project = None
        self._batch_first_view = None
        self.jobs.finished.connect(self._job_finished)
        self.jobs.failed.connect(lambda name, msg: self.error.emit(f"{name} failed: {msg}"))
        self.jobs.cancelled.connect(lambda name: self.status.emit(f"{name} cancelled; finished work is kept"))

    def __getattr__(self, name):  # what this adapter does not define is the session's
        if name == "session":
            raise AttributeError(name)
        return getattr(self.session, name)

    def __setattr__(self, name, value):
        if "session" in self.__dict__ and hasattr(self.session, name) and name not in type(self).__dict__:
            setattr(self.session, name, value)
        else:
            super().__setattr__(name, value)

    # -- projects ------------------------------------------------------------------------------
    def open_dataset(self, path, project_dir=None) -> None:
        """Open a dataset folder with its project (default location unless given)."""
        ds = open_dataset(path)
        self.open_project(project_dir or default_project_for(ds.root), dataset_path=ds.root)

    def recent(self) -> list[str]:
        return recent_projects()

    # -- read-ahead ----------------------------------------------------------------------------
    def _prefetch_next(self) -> None:
        """Read the next case in the background so moving on is instant."""
        load = None if self.jobs.busy or self.session.store is None else self.session.read_ahead()
        if load is None:
            return
        worker = create_worker(load, _start_thread=False, _ignore_errors=True)
        worker.returned.connect(self.session.keep_read_ahead)
        worker.errored.connect(lambda exc: None)  # the case reports its problem when opened
        worker.start()

    # -- jobs ----------------------------------------------------------------------------------
    def start_batch(self, dataset_path=None) -> bool:
        s = self.session
        ds = Path(dataset_path) if dataset_path else (s.dataset.root if s.dataset else None)
        if ds is None:
            self.error.emit("open a dataset first (File → Open dataset)")
            return False
        if s.dataset is not None and ds == s.dataset.root:
            why = training_blocker(s.dataset, s.settings.train)
            if why is not None:  # said now, not as a failed job minutes later
                self.error.emit(f"Batch relabel cannot train models here: {why}")
                return False
        project_dir = s.project.root if s.project is not None else default_project_for(ds)
        if s.store is not None:
            s.flush()
        batch = _in_process(iter_batch, ds, project_dir, train_cfg=s.settings.train,
                            unc_cfg=s.settings.uncertainty, proposal_cfg=s.settings.proposal,
                            reviewer=s.settings.reviewer, executor=s.settings.executor,
                            executor_options={"address": s.settings.executor_address},
                            keep=("ranked", "failed"))
        self._pending_project, self._batch_first_view = project_dir, None
        dataset, project = s.dataset, s.project

        def job():
            result = yield from batch
            # read the case the review starts at in this thread: the interface only draws it
            if dataset is not None and project is not None and result.ranked:
                cid = result.ranked[0][0]
                try:
                    with Store(project.db_path) as store:
                        self._batch_first_view = (cid, load_case_view(project, store, dataset[cid]))
                except Exception:  # noqa: BLE001 - the case reports its problem when opened
                    self._batch_first_view = None
            return result

        return self._start("Batch relabel", job())

    def start_train(self) -> bool:
        if not self._need_project():
            return False
        p = self.session.project
        job = _in_process(iter_train, p.open_dataset(), p.models_dir, self.session.settings.train,
                          cache_dir=p.cache_dir, keep=("failed",))
        return self._start("Train ensemble", job)

    def start_uncertainty(self) -> bool:
        if not self._need_project():
            return False
        return self._start("Compute uncertainty", _in_process(iter_uncertainty, self.session.project,
                                                              self.session.settings.uncertainty, keep=("failed",)))

    def start_rescore(self) -> bool:
        """A review round: the models learn from the decisions and trusted cases, then re-rank."""
        if not self._need_project():
            return False
        s = self.session
        s.flush()
        t = s.settings.train
        return self._start("Re-score", _in_process(iter_rescore, s.project.root, trusted_weight=t.trusted_weight,
                                                   device=t.device, executor=s.settings.executor,
                                                   executor_options={"address": s.settings.executor_address},
                                                   reviewer=s.settings.reviewer, keep=("round", "ranked", "evidence")))

    def start_export(self, out, **kw) -> bool:
        if not self._need_project():
            return False
        self.session.flush()
        return self._start("Export", _in_process(iter_export, self.session.project, out,
                                                 reviewer=self.session.settings.reviewer, **kw))

    def _need_project(self) -> bool:
        if self.session.project is None:
            self.error.emit("open a dataset or project first")
            return False
        return True

    def _start(self, name: str, job) -> bool:
        if not self.jobs.start(name, job):
            self.error.emit(f"{self.jobs.name} is still running; wait for it or cancel it")
            return False
        self.status.emit(f"{name} started")
        return True

    def _job_finished(self, name: str, result) -> None:
        s = self.session
        if name == "Batch relabel":
            target = self._pending_project
            if s.project is None or (target is not None and Path(target).resolve() != s.project.root):
                s.open_project(target)
            else:
                s.forget_read()
                if self._batch_first_view is not None:
                    s.remember(*self._batch_first_view)
                s.refresh_queue()
            self._batch_first_view = None
            if s.rows:  # start the review at the case most likely wrong
                s.goto(s.rows[0]["case_id"])
            failed = len(getattr(result, "failed", {}) or {})
            self.status.emit(f"Batch relabel done: {len(result.ranked)} cases ranked"
                             + (f", {failed} failed (see the queue's failed filter)" if failed else ""))
        elif name == "Re-score":
            s.forget_read()
            s.refresh_queue()
            if s.case is not None:
                s.goto(s.case.id)  # its proposal may have changed
            self.status.emit(f"Re-scored (round {result.round}): {len(result.ranked)} cases re-ranked from "
                             f"{result.evidence} reviewed; the queue shows the new order")
        elif name == "Export":
            self.status.emit(f"Exported to {result.out}: {len(result.changed)} changed, "
                             f"{len(result.excluded)} excluded, {len(result.unchanged)} unchanged")
        else:
            s.forget_read()
            s.refresh_queue()
            self.status.emit(f"{name} done")
