"""The review session behind the Curator panel: project, queue, current case, decisions, jobs.

:class:`ReviewController` owns no widgets. It opens projects, moves through the review queue,
loads a case (with a small cache and a background prefetch of the next one), recomputes the
proposal live when the threshold moves, records every decision at once through
:mod:`curator.core.review`, keeps an undo/redo history of the working mask, and starts long jobs
(batch relabel, training, uncertainty, export) on its :class:`~curator.gui.workers.JobRunner`.
The panel and the layer adapter listen to its signals.
"""

from __future__ import annotations

import json
import time
from collections import OrderedDict
from dataclasses import replace
from pathlib import Path

import numpy as np
from qtpy.QtCore import QObject, QTimer, Signal

from ..core.proposals import ProposalConfig
from .workers import JobRunner

__all__ = ["ReviewController", "default_project_for", "Settings"]

# Jobs run in their own process at a lower priority: they use the CPU time the interface leaves,
# so painting and input are served first even when a batch keeps every core busy.
BACKGROUND_NICE = 10


def _in_process(target, *args, **kwargs):
    """A core job run in a process of its own, in the background (see BACKGROUND_NICE)."""
    from ..core.jobs import iter_in_process

    return iter_in_process(target, *args, nice=BACKGROUND_NICE, **kwargs)


def _user_dir(kind: str) -> Path:
    import os

    from platformdirs import user_config_dir, user_data_dir

    base = os.environ.get("CURATOR_HOME")
    if base:
        return Path(base) / kind
    return Path(user_config_dir("mask-curator") if kind == "config" else user_data_dir("mask-curator"))


def default_project_for(dataset_path) -> Path:
    """Where a dataset's project lives when the user did not choose one (never inside the dataset)."""
    import hashlib

    p = Path(dataset_path).resolve()
    digest = hashlib.sha256(str(p).encode()).hexdigest()[:8]
    return _user_dir("data") / "projects" / f"{p.name}-{digest}"


class Settings:
    """Job settings the Settings dialog edits (kept per user in JSON)."""

    def __init__(self):
        from ..core.pipeline import UncertaintyConfig
        from ..core.training import RelabelConfig, TrainConfig

        self.train = TrainConfig(relabel=RelabelConfig())
        self.uncertainty = UncertaintyConfig()
        self.proposal = ProposalConfig()
        self.reviewer: str | None = None
        self.executor = "local"  # where Batch relabel trains and scores (an executor plugin's name)
        self.executor_address: str | None = None  # the cluster it joins (ray: auto, HOST:PORT)

    def path(self) -> Path:
        return _user_dir("config") / "settings.json"

    def load(self) -> "Settings":
        from ..core.pipeline import UncertaintyConfig
        from ..core.training import TrainConfig

        p = self.path()
        if p.exists():
            try:
                d = json.loads(p.read_text())
                self.train = TrainConfig.from_json(d.get("train", {})) if d.get("train") else self.train
                u = d.get("uncertainty") or {}
                self.uncertainty = UncertaintyConfig(**{k: v for k, v in u.items() if k in UncertaintyConfig.__dataclass_fields__ and k != "models"})
                self.proposal = ProposalConfig.from_json(d.get("proposal", {})) if d.get("proposal") else self.proposal
                self.reviewer = d.get("reviewer")
                self.executor = str(d.get("executor") or "local")
                self.executor_address = d.get("executor_address") or None
            except (ValueError, TypeError):
                pass  # a damaged settings file falls back to the defaults
        return self

    def save(self) -> None:
        from ..core.io import atomic_write

        doc = {"train": self.train.to_json(), "uncertainty": {**self.uncertainty.to_json(), "device": self.uncertainty.device},
               "proposal": self.proposal.to_json(), "reviewer": self.reviewer, "executor": self.executor,
               "executor_address": self.executor_address}
        atomic_write(self.path(), json.dumps(doc, indent=2))


class ReviewController(QObject):
    """State and actions of one review session (see the module docstring)."""

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
        self.settings = settings or Settings().load()
        self.jobs = JobRunner(self)
        self.project = None
        self.store = None
        self.dataset = None
        self.rows: list[dict] = []
        self.filter: str | None = None
        self.view = None
        self.case = None
        self.preview = None
        self.gate: float | None = None  # the region gate the batch calibrated for the case on screen
        self.withheld: str | None = None  # why the batch proposes nothing for it
        self.trust = ""  # how the gate was set, in words
        self.accepted_regions: set[int] = set()
        self._full_prob: np.ndarray | None = None
        self._full_unc: np.ndarray | None = None
        self._cache: OrderedDict[str, object] = OrderedDict()
        self._undo: list = []
        self._redo: list = []
        self.working: np.ndarray | None = None
        self.dirty = False
        self.jobs.finished.connect(self._job_finished)
        self.jobs.failed.connect(lambda name, msg: self.error.emit(f"{name} failed: {msg}"))
        self.jobs.cancelled.connect(lambda name: self.status.emit(f"{name} cancelled; finished work is kept"))

    # -- projects --------------------------------------------------------------------------------
    def open_dataset(self, path, project_dir=None) -> None:
        """Open a dataset folder with its project (default location unless given)."""
        from ..core.dataset import open_dataset

        ds = open_dataset(path)
        self.open_project(project_dir or default_project_for(ds.root), dataset_path=ds.root)

    def open_project(self, project_dir, *, dataset_path=None) -> None:
        from ..core.project import Project
        from ..core.store import Store

        self.close()
        project = Project.create(project_dir, dataset_path) if dataset_path else Project.open(project_dir)
        self.project = project
        self.dataset = project.open_dataset()
        self.store = Store(project.db_path, reviewer=self.settings.reviewer)
        self.dataset.check()
        self.store.sync_cases(self.dataset.cases)
        for c in self.dataset.cases:
            if not c.ok:
                self.store.set_failed(c.id, "; ".join(p.message for p in c.problems if p.severity == "error"))
        made_with = self.store.proposal_config()
        if made_with:  # the slider starts where the project's proposals were made (this session only)
            self.settings.proposal = ProposalConfig.from_json(made_with)
        self._remember_recent(project.root)
        self.refresh_queue()
        self.project_opened.emit(str(project.root))
        last = self.store.get_state("gui.case")
        ids = [r["case_id"] for r in self.rows]
        target = last if last in ids else (ids[0] if ids else None)
        if target:
            self.goto(target)
        self.status.emit(f"opened {self.dataset.root.name}: {len(self.dataset)} cases ({self.dataset.layout}); "
                         f"project {project.root}")

    def close(self) -> None:
        self.flush()
        if self.store is not None:
            self.store.close()
        self.project = self.store = self.dataset = self.view = self.case = None
        self.rows = []
        self._cache.clear()

    def refresh_queue(self) -> None:
        if self.store is None:
            return
        self.rows = self.store.queue(self.filter)
        self.queue_changed.emit()

    def set_filter(self, status: str | None) -> None:
        self.filter = status or None
        self.refresh_queue()

    # -- navigation ------------------------------------------------------------------------------
    def index(self) -> int:
        if self.case is None:
            return -1
        for i, r in enumerate(self.rows):
            if r["case_id"] == self.case.id:
                return i
        return -1

    def next(self) -> None:
        i = self.index()
        if self.rows and i + 1 < len(self.rows):
            self.goto(self.rows[i + 1]["case_id"])
        elif self.rows:
            self.flush()
            left = sum(1 for r in self.rows if r["decision"] in ("unreviewed", "flagged"))
            self.status.emit("end of the queue" + (f": {left} case(s) still unreviewed or flagged"
                                                   if left else ": every case has a decision"))

    def previous(self) -> None:
        i = self.index()
        if self.rows and i > 0:
            self.goto(self.rows[i - 1]["case_id"])

    def goto(self, case_id: str) -> bool:
        """Show a case; a case that cannot be read is reported and the session goes on."""
        from ..core.io import ReadError
        from ..core.review import load_case_view, refresh_decision, working_mask

        if self.dataset is None:
            return False
        self.flush()
        try:
            case = self.dataset[case_id]
        except KeyError:
            self.error.emit(f"no case '{case_id}' in this dataset")
            return False
        t0 = time.perf_counter()
        view = self._cache.pop(case_id, None)
        try:
            if view is None:
                view = load_case_view(self.project, self.store, case)
            else:
                refresh_decision(view, self.store)
        except (ReadError, OSError, ValueError) as exc:
            self.error.emit(f"{case_id} cannot be shown: {exc}")
            self.store.set_failed(case_id, str(exc))
            return False
        self._cache[case_id] = view
        while len(self._cache) > 3:
            self._cache.popitem(last=False)
        self.case, self.view = case, view
        self._full_prob = None  # brought to full resolution only when the threshold moves
        self._full_unc = None
        self.working = working_mask(view)
        self._undo, self._redo = [], []
        self.dirty = False
        self.preview = None
        if view.proposal is not None:
            from ..core.proposals import Proposal

            # the stored regions (dicts) come along: their boxes tell the overlay where to look
            self.preview = Proposal(view.given.array, view.proposal, view.regions, list(view.region_info))
        self._show_threshold_of(case_id)
        self.accepted_regions = self._chosen_regions(view)
        self.store.set_state("gui.case", case_id)
        self.case_loaded.emit(view)
        self.history_changed.emit()
        self.proposal_changed.emit(self.preview)
        self.last_switch_ms = 1000 * (time.perf_counter() - t0)
        # read the next case once this one is drawn: a reader thread started now would compete
        # with the drawing for the interpreter
        QTimer.singleShot(300, self._prefetch_next)
        return True

    def _prefetch_next(self) -> None:
        """Read the next case in the background so moving on is instant."""
        from napari.qt.threading import create_worker

        from ..core.review import load_case_view

        i = self.index()
        if i < 0 or i + 1 >= len(self.rows):
            return
        nxt = self.rows[i + 1]["case_id"]
        if nxt in self._cache or self.jobs.busy:
            return
        case = self.dataset[nxt]
        project, store = self.project, self.store

        def load():
            from ..core.store import Store

            with Store(store.path) as s:  # its own connection: sqlite objects stay in their thread
                return load_case_view(project, s, case)

        worker = create_worker(load, _start_thread=False, _ignore_errors=True)
        # a case opened meanwhile is newer than what was read ahead
        worker.returned.connect(lambda v: self._cache.setdefault(nxt, v) if self.project is project else None)
        worker.errored.connect(lambda exc: None)  # the case reports its problem when opened
        worker.start()

    # -- live threshold --------------------------------------------------------------------------
    def _show_threshold_of(self, case_id: str) -> None:
        """The slider shows the threshold the case's stored proposal was made with, and the trust
        in it: the region gate the batch calibrated, or why proposals were withheld."""
        stored = self.store.proposal(case_id)
        cfg = (stored or {}).get("config") or {}
        keys = {k: cfg[k] for k in ("rules", "tau", "delta") if k in cfg}
        if keys:
            if "rules" in keys:
                keys["rules"] = tuple(keys["rules"])
            self.settings.proposal = replace(self.settings.proposal, **keys)
        self.gate = cfg.get("region_confidence") if cfg else None
        self.withheld = cfg.get("withheld") if cfg else None
        self.trust = cfg.get("calibration") or ""

    @property
    def region_gate(self) -> float:
        """The model confidence a change region needs here: the user's fixed setting, else the gate
        the batch calibrated for this project, else the rule's default."""
        if self.settings.proposal.min_confidence is not None:
            return float(self.settings.proposal.min_confidence)
        return float(self.gate) if self.gate is not None else self.settings.proposal.region_confidence()

    @staticmethod
    def _chosen_regions(view) -> set[int]:
        """The change regions ticked when a case is shown: those of its accepted decision, else all."""
        ids = {int(r["id"]) for r in view.region_info}
        d = view.decision
        if d.get("decision") == "accepted" and d.get("regions") is not None:
            return {int(r) for r in d["regions"]}
        return ids

    @property
    def threshold_name(self) -> str:
        """The proposal threshold the slider moves: tau (confident rule) or delta (the poster's)."""
        return "tau" if "confident" in self.settings.proposal.rules else "delta"

    @property
    def threshold(self) -> float:
        return float(getattr(self.settings.proposal, self.threshold_name))

    def set_threshold(self, value: float) -> float:
        """Recompute the proposal with a new tau (or delta); returns the milliseconds it took.
        A locked case keeps showing the proposal its decision was made on."""
        from ..core.proposals import Proposal, propose

        if self.view is None or self.view.maps is None or self.locked:
            return 0.0
        t0 = time.perf_counter()
        cfg = replace(self.settings.proposal, **{self.threshold_name: float(value)})
        self.settings.proposal = cfg
        if self.withheld:  # the batch found the models not good enough to propose
            return 0.0
        if self._full_prob is None:
            self._full_prob = self.view.maps.at_original("mean_prob")
        if self._full_unc is None and self.view.maps is not None and cfg.measure in self.view.maps.maps:
            self._full_unc = self.view.maps.at_original(cfg.measure)
        prop = propose(self.view.given.array, self._full_prob, self._full_unc, labels=self.view.maps.labels,
                       cfg=replace(cfg, min_confidence=self.region_gate),
                       spacing=self.view.image.geometry.scale if self.view.image.ndim == 3 else None)
        self.preview = Proposal(prop.given, prop.mask, prop.region_map, prop.regions)
        self.accepted_regions = {r.id for r in prop.regions}
        self.proposal_changed.emit(self.preview)
        return 1000 * (time.perf_counter() - t0)

    def region_infos(self) -> list[dict]:
        """The change regions of the proposal on screen (as dicts), none when there is none."""
        if self.preview is None:
            return []
        return [r if isinstance(r, dict) else r.to_json() for r in (self.preview.regions or [])]

    def toggle_region(self, rid: int, on: bool | None = None) -> None:
        """Tick or untick one change region for Accept (the overlay shows which; nothing is saved
        and the working mask stays as it is until the proposal is accepted)."""
        if self.preview is None or self.locked:
            return
        on = (rid not in self.accepted_regions) if on is None else on
        (self.accepted_regions.add if on else self.accepted_regions.discard)(int(rid))
        self.selection_changed.emit()

    def region_at(self, position) -> int:
        if self.preview is None:
            return 0
        idx = tuple(int(round(p)) for p in position[-self.preview.region_map.ndim:])
        if any(i < 0 or i >= s for i, s in zip(idx, self.preview.region_map.shape)):
            return 0
        return int(self.preview.region_map[idx])

    # -- working mask and its history -----------------------------------------------------------
    @property
    def locked(self) -> bool:
        return bool(self.view is not None and self.view.decision.get("locked"))

    def set_working(self, labels: np.ndarray, *, record: bool = True) -> None:
        if self.working is not None and record:
            self._push(self.working, labels)
        self.working = np.array(labels, copy=True)
        self.dirty = True
        self.working_changed.emit()

    def painted(self, new: np.ndarray) -> None:
        """The user painted on the working layer: remember how to undo it."""
        if self.working is None or self.locked:
            return
        self._push(self.working, new)
        self.working = np.array(new, copy=True)
        self.dirty = True

    def _push(self, before: np.ndarray, after: np.ndarray) -> None:
        diff = np.nonzero(before != after)
        if diff[0].size == 0:
            return
        self._undo.append((diff, before[diff].copy(), after[diff].copy()))
        self._undo = self._undo[-100:]
        self._redo.clear()
        self.history_changed.emit()

    def can_undo(self) -> bool:
        return bool(self._undo) and self.working is not None and not self.locked

    def can_redo(self) -> bool:
        return bool(self._redo) and self.working is not None and not self.locked

    def undo(self) -> bool:
        if not self._undo or self.working is None or self.locked:
            return False
        idx, old, new = self._undo.pop()
        self.working[idx] = old
        self._redo.append((idx, old, new))
        self.dirty = True
        self.working_changed.emit()
        self.history_changed.emit()
        return True

    def redo(self) -> bool:
        if not self._redo or self.working is None or self.locked:
            return False
        idx, old, new = self._redo.pop()
        self.working[idx] = new
        self._undo.append((idx, old, new))
        self.dirty = True
        self.working_changed.emit()
        self.history_changed.emit()
        return True

    def apply_helper(self, name: str, **kw) -> None:
        """Slicer-style editing helpers on the working mask: islands, holes, smooth, between."""
        from ..core import review

        if self.working is None or self.locked:
            return
        fn = {"islands": review.remove_islands, "holes": review.fill_holes, "smooth": review.smooth,
              "between": review.fill_between_slices}[name]
        try:
            self.set_working(fn(self.working, **kw))
        except ValueError as exc:
            self.error.emit(str(exc))

    # -- decisions -------------------------------------------------------------------------------
    def _after_decision(self, d: dict, message: str) -> None:
        """A decision was recorded: the working mask becomes what the record stands for, so what
        the reviewer sees is what the export will write."""
        from ..core.review import working_mask

        self.view.decision = d
        self.working = working_mask(self.view)
        self._undo, self._redo = [], []
        self.dirty = False
        self.working_changed.emit()
        self.history_changed.emit()
        self.decision_changed.emit(self.case.id, d)
        self.refresh_queue()
        self.status.emit(message)

    def _keep_painting(self) -> str:
        """Before a decision replaces the working mask: painting not saved yet is written as a draft
        (its file and audit row stay, for whoever wants it back). Returns a note for the message."""
        from ..core import review

        if not self.dirty or self.working is None or np.array_equal(self.working, review.recorded_mask(self.view)):
            return ""
        review.save_draft(self.project, self.store, self.view, self.working)
        return " (the painting it replaced is kept in the project's edits folder, see the audit log)"

    def accept(self) -> None:
        """Accept the proposal as shown (with the regions left ticked)."""
        from ..core import review

        if not self._ready():
            return
        infos = self.region_infos()
        if self.preview is None or not infos:
            self.error.emit(f"{self.case.id} has no proposed change to accept; use Keep")
            return
        ids = {int(r["id"]) for r in infos}
        chosen = self.accepted_regions & ids
        if not chosen:
            self.error.emit(f"{self.case.id}: every proposed region is unticked, so there is nothing to accept; "
                            "tick a region, or use Keep")
            return
        self._persist_preview()
        regions = None if chosen == ids else sorted(chosen)
        kept = self._keep_painting()
        d = review.accept(self.project, self.store, self.view, regions)
        self.accepted_regions = set(chosen)
        self._after_decision(d, f"{self.case.id}: proposal accepted"
                             + (f" ({len(regions)} of {len(ids)} regions)" if regions else "") + kept)

    def keep(self) -> None:
        from ..core import review

        if self._ready():
            kept = self._keep_painting()
            self._after_decision(review.keep(self.store, self.view), f"{self.case.id}: original kept{kept}")

    def exclude(self) -> None:
        from ..core import review

        if self._ready():
            kept = self._keep_painting()
            self._after_decision(review.exclude(self.store, self.view), f"{self.case.id}: excluded from the export{kept}")

    def flag(self) -> None:
        """Flag for an expert; the mask being edited is kept with the flag (as a draft)."""
        from ..core import review

        if self._ready(allow_locked=False):
            if self.working is not None:
                review.save_draft(self.project, self.store, self.view, self.working)
            self._after_decision(review.flag(self.store, self.view), f"{self.case.id}: flagged for an expert")

    def reopen(self) -> None:
        from ..core import review

        if self.view is not None and self.locked:
            self._after_decision(review.reopen(self.store, self.view), f"{self.case.id}: reopened")

    def save_edit(self) -> None:
        from ..core import review

        if not self._ready() or self.working is None:
            return
        d = review.save_edit(self.project, self.store, self.view, self.working)
        self._after_decision(d, f"{self.case.id}: edit saved (+{d['pixels_added']} / -{d['pixels_removed']} pixels)")

    def set_note(self, text: str) -> None:
        if self.view is None:
            return
        self.store.set_note(self.case.id, text)
        self.view.decision = self.store.decision(self.case.id)
        self.status.emit(f"{self.case.id}: note saved")

    def autosave(self) -> None:
        """Keep the mask being painted as a draft (a crash loses nothing); decides nothing, locks
        nothing."""
        from ..core import review

        if self.view is None or not self.dirty or self.working is None or self.locked:
            return
        d = review.save_draft(self.project, self.store, self.view, self.working)
        self.decision_changed.emit(self.case.id, d)
        self.refresh_queue()  # the queue marks cases with a draft

    def flush(self) -> None:
        """Before leaving a case: changes made to its working mask are saved, as an edit, or as a
        draft kept with the flag of a flagged case (nothing is lost by moving on)."""
        from ..core import review

        if self.view is None or not self.dirty or self.working is None or self.locked:
            return
        if np.array_equal(self.working, review.recorded_mask(self.view)):
            if self.view.draft is not None:  # painted, then undone: the draft goes
                review.save_draft(self.project, self.store, self.view, self.working)
            self.dirty = False
            return
        if self.view.decision.get("decision") == "flagged":
            d = review.save_draft(self.project, self.store, self.view, self.working)
        else:
            d = review.save_edit(self.project, self.store, self.view, self.working)
        self.dirty = False
        self.decision_changed.emit(self.case.id, d)
        self.refresh_queue()

    def _ready(self, allow_locked: bool = False) -> bool:
        if self.view is None:
            self.error.emit("open a dataset or project first")
            return False
        if self.locked and not allow_locked:
            self.error.emit(f"{self.case.id} is locked ({self.view.decision['decision']}); reopen it to change it")
            return False
        return True

    def _persist_preview(self) -> None:
        """Store the proposal as shown (the threshold may have moved since the batch)."""
        from ..core.io import atomic_path
        from ..core.pipeline import regions_path

        stored = self.store.proposal(self.case.id)
        cfg = self.settings.proposal.to_json()
        if stored is not None and stored.get("config") == cfg and self.view.proposal is not None and \
                np.array_equal(self.view.proposal, self.preview.mask):
            return
        rp = regions_path(self.project, self.case.id)
        with atomic_path(rp) as tmp:
            np.savez_compressed(tmp, mask=self.preview.mask, regions=self.preview.region_map)
        added, removed = self.preview.added_removed()
        run = (stored or {}).get("run_id", "") or ""
        self.store.set_proposal(self.case.id, path=(stored or {}).get("path"), regions_path=str(rp),
                                regions=self.region_infos(), added=added, removed=removed,
                                change_fraction=self.preview.change_fraction, config=cfg,
                                run_id=f"{run.split('-')[0]}-gui")
        self.view.proposal, self.view.regions = self.preview.mask, self.preview.region_map
        self.view.region_info = self.region_infos()

    # -- jobs ------------------------------------------------------------------------------------
    def start_batch(self, dataset_path=None) -> bool:
        from ..core.pipeline import iter_batch, training_blocker

        ds = Path(dataset_path) if dataset_path else (self.dataset.root if self.dataset else None)
        if ds is None:
            self.error.emit("open a dataset first (File → Open dataset)")
            return False
        if self.dataset is not None and ds == self.dataset.root:
            why = training_blocker(self.dataset, self.settings.train)
            if why is not None:  # said now, not as a failed job minutes later
                self.error.emit(f"Batch relabel cannot train models here: {why}")
                return False
        project_dir = self.project.root if self.project is not None else default_project_for(ds)
        if self.store is not None:
            self.flush()
        batch = _in_process(iter_batch, ds, project_dir, train_cfg=self.settings.train,
                            unc_cfg=self.settings.uncertainty, proposal_cfg=self.settings.proposal,
                            reviewer=self.settings.reviewer, executor=self.settings.executor,
                            executor_options={"address": self.settings.executor_address},
                            keep=("ranked", "failed"))
        self._pending_project = project_dir
        self._batch_first_view = None
        dataset, project = self.dataset, self.project

        def job():
            result = yield from batch
            # read the case the review starts at in this thread: the interface only draws it
            if dataset is not None and project is not None and result.ranked:
                from ..core.review import load_case_view
                from ..core.store import Store

                cid = result.ranked[0][0]
                try:
                    with Store(project.db_path) as s:
                        self._batch_first_view = (cid, load_case_view(project, s, dataset[cid]))
                except Exception:  # noqa: BLE001 - the case reports its problem when opened
                    self._batch_first_view = None
            return result

        return self._start("Batch relabel", job())

    def start_train(self) -> bool:
        from ..core.training import iter_train

        if not self._need_project():
            return False
        job = _in_process(iter_train, self.project.open_dataset(), self.project.models_dir, self.settings.train,
                          cache_dir=self.project.cache_dir, keep=("failed",))
        return self._start("Train ensemble", job)

    def start_uncertainty(self) -> bool:
        from ..core.pipeline import iter_uncertainty

        if not self._need_project():
            return False
        return self._start("Compute uncertainty", _in_process(iter_uncertainty, self.project, self.settings.uncertainty,
                                                              keep=("failed",)))

    def start_export(self, out, **kw) -> bool:
        from ..core.export import iter_export

        if not self._need_project():
            return False
        self.flush()
        return self._start("Export", _in_process(iter_export, self.project, out, reviewer=self.settings.reviewer, **kw))

    def _need_project(self) -> bool:
        if self.project is None:
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
        if name == "Batch relabel":
            target = getattr(self, "_pending_project", None)
            if self.project is None or (target is not None and Path(target).resolve() != self.project.root):
                self.open_project(target)
            else:
                self._cache.clear()
                first = getattr(self, "_batch_first_view", None)
                if first is not None:
                    self._cache[first[0]] = first[1]
                self.refresh_queue()
            self._batch_first_view = None
            if self.rows:  # start the review at the case most likely wrong
                self.goto(self.rows[0]["case_id"])
            failed = len(getattr(result, "failed", {}) or {})
            self.status.emit(f"Batch relabel done: {len(result.ranked)} cases ranked"
                             + (f", {failed} failed (see the queue's failed filter)" if failed else ""))
        elif name == "Export":
            self.status.emit(f"Exported to {result.out}: {len(result.changed)} changed, "
                             f"{len(result.excluded)} excluded, {len(result.unchanged)} unchanged")
        else:
            self._cache.clear()
            self.refresh_queue()
            self.status.emit(f"{name} done")

    # -- recent ----------------------------------------------------------------------------------
    def recent(self) -> list[str]:
        p = _user_dir("config") / "recent.json"
        try:
            return [r for r in json.loads(p.read_text()) if Path(r).exists()]
        except (OSError, ValueError):
            return []

    def _remember_recent(self, root: Path) -> None:
        from ..core.io import atomic_write

        items = [str(root)] + [r for r in self.recent() if r != str(root)]
        atomic_write(_user_dir("config") / "recent.json", json.dumps(items[:10]))
