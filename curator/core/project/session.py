"""A review session without a GUI: project, queue, current case, live proposal, working mask, decisions.

:class:`ReviewSession` is the "Logic" half of the review (3D Slicer's Logic beside its Widget,
napari's models beside their Qt views). It opens a project, moves through the review queue, loads a
case (keeping the last few read), recomputes the proposal when the threshold moves, lets change
regions be ticked one by one, keeps an undo/redo history of the working mask, and records every
decision at once through :mod:`curator.core.project.review`. It imports no Qt: the desktop app's
:class:`curator.gui.controller.ReviewController` adapts it to Qt signals and adds background
reading and jobs; the command line's ``decide`` drives the same session.

Listeners subscribe with :meth:`ReviewSession.on` to the events in :data:`EVENTS`; a session
reports problems (a locked case, nothing to accept) through the ``error`` event, or raises
:class:`~curator.core.errors.CuratorError` when nobody listens to it.
"""

from __future__ import annotations

import time
from dataclasses import replace
from types import SimpleNamespace
from typing import Callable

import numpy as np

from curator.core.curation import editing
from curator.core.curation.decisions import ACTIONS, Decision
from curator.core.curation.history import MaskHistory
from curator.core.curation.proposals import Proposal, ProposalConfig, propose
from curator.core.errors import CuratorError
from curator.core.io.types import ReadError
from curator.core.project import review
from curator.core.project.folder import Project
from curator.core.project.reader import CaseReader
from curator.core.project.store import Store

__all__ = ["ReviewSession", "EVENTS", "ACTIONS"]

EVENTS = (
    "project_opened",  # (project root as str)
    "queue_changed",
    "case_loaded",  # (CaseView)
    "proposal_changed",  # (Proposal preview or None)
    "working_changed",  # the working mask was replaced (undo, helpers, a decision)
    "selection_changed",  # change regions ticked or unticked
    "history_changed",  # what undo / redo can do changed
    "decision_changed",  # (case id, decision dict)
    "status",  # (message)
    "error",  # (message)
)
HELPERS = {"islands": editing.remove_islands, "holes": editing.fill_holes, "smooth": editing.smooth,
           "between": editing.fill_between_slices}


class ReviewSession:
    """State and actions of one review session (see the module docstring).

    ``settings``: an object with ``proposal`` (:class:`ProposalConfig`) and ``reviewer``; without
    one, the defaults and ``reviewer``.
    """

    def __init__(self, settings=None, *, cache_size: int = 3, reviewer: str | None = None):
        self.settings = settings if settings is not None else SimpleNamespace(proposal=ProposalConfig(),
                                                                              reviewer=reviewer)
        self.listeners: dict[str, list[Callable]] = {name: [] for name in EVENTS}
        self.reader = CaseReader(cache_size)
        self.project = self.store = self.dataset = self.view = self.case = self.preview = None
        self.rows: list[dict] = []
        self.filter: str | None = None
        self.gate: float | None = None  # the region gate the batch calibrated for the case on screen
        self.withheld: str | None = None  # why the batch proposes nothing for it
        self.trust = ""  # how the gate was set, in words
        self.accepted_regions: set[int] = set()
        self.working: np.ndarray | None = None
        self.dirty = False
        self.last_switch_ms = 0.0
        self._full_prob: np.ndarray | None = None
        self._full_unc: np.ndarray | None = None
        self.history = MaskHistory()

    # -- events ----------------------------------------------------------------------------------
    def on(self, event: str, callback: Callable) -> None:
        self.listeners[event].append(callback)  # callback(*args) of the event (see EVENTS)

    def _emit(self, event: str, *args) -> None:
        for callback in list(self.listeners[event]):
            callback(*args)

    def _error(self, message: str) -> None:
        if not self.listeners["error"]:
            raise CuratorError(message)
        self._emit("error", message)

    # -- projects --------------------------------------------------------------------------------
    def open_project(self, project_dir, *, dataset_path=None, goto_last: bool = True, check: bool = True) -> None:
        """Open a project (made from ``dataset_path`` when given). ``check``: read every case's
        headers first and mark the cases that cannot be reviewed (the app's queue shows them);
        a session that decides one case by name (the command line) leaves it out."""
        self.close()
        project = Project.create(project_dir, dataset_path) if dataset_path else Project.open(project_dir)
        self.project = project
        self.dataset = project.open_dataset()
        self.store = Store(project.db_path, reviewer=self.settings.reviewer)
        if check:
            self.dataset.check()
        self.store.sync_cases(self.dataset.cases)
        for c in self.dataset.cases if check else ():
            if not c.ok:
                self.store.set_failed(c.id, "; ".join(p.message for p in c.problems if p.severity == "error"))
        made_with = self.store.proposal_config()
        if made_with:  # the slider starts where the project's proposals were made (this session only)
            self.settings.proposal = ProposalConfig.from_json(made_with)
        self.refresh_queue()
        self._emit("project_opened", str(project.root))
        if goto_last:
            last = self.store.get_state("gui.case")
            ids = [r["case_id"] for r in self.rows]
            target = last if last in ids else (ids[0] if ids else None)
            if target:
                self.goto(target)
        self._emit("status", f"opened {self.dataset.root.name}: {len(self.dataset)} cases ({self.dataset.layout}); "
                             f"project {project.root}")

    def close(self) -> None:
        self.flush()
        if self.store is not None:
            self.store.close()
        self.project = self.store = self.dataset = self.view = self.case = None
        self.rows = []
        self.forget_read()

    def refresh_queue(self) -> None:
        if self.store is None:
            return
        self.rows = self.store.queue(self.filter)
        self._emit("queue_changed")

    def set_filter(self, status: str | None) -> None:
        self.filter = status or None
        self.refresh_queue()

    # -- navigation ------------------------------------------------------------------------------
    def index(self) -> int:
        return -1 if self.case is None else next((i for i, r in enumerate(self.rows) if r["case_id"] == self.case.id), -1)

    def next(self) -> None:
        i = self.index()
        if self.rows and i + 1 < len(self.rows):
            self.goto(self.rows[i + 1]["case_id"])
        elif self.rows:
            self.flush()
            left = sum(1 for r in self.rows if r["decision"] in (Decision.UNREVIEWED, Decision.FLAGGED))
            self._emit("status", "end of the queue" + (f": {left} case(s) still unreviewed or flagged"
                                                       if left else ": every case has a decision"))

    def previous(self) -> None:
        i = self.index()
        if self.rows and i > 0:
            self.goto(self.rows[i - 1]["case_id"])

    def goto(self, case_id: str) -> bool:
        """Show a case; a case that cannot be read is reported and the session goes on."""
        t0 = time.perf_counter()
        if not self._open_case(case_id, read=True, doing="shown"):
            return False
        self.store.set_state("gui.case", case_id)
        self._emit("case_loaded", self.view)
        self._emit("history_changed")
        self._emit("proposal_changed", self.preview)
        self.last_switch_ms = 1000 * (time.perf_counter() - t0)
        return True

    def _open_case(self, case_id: str, *, read: bool, doing: str) -> bool:
        """Make a case the current one: read (image, masks, maps, proposal), or only its record
        (``read=False``: the decisions that need no pixels). Reports what goes wrong."""
        if self.dataset is None:
            self._error("open a dataset or project first")
            return False
        self.flush()
        try:
            case = self.dataset[case_id]
        except KeyError:
            self._error(f"no case '{case_id}' in this dataset")
            return False
        try:
            view = self.reader.view(self.project, self.store, case, read=read)
        except (ReadError, OSError, ValueError) as exc:
            self.store.set_failed(case_id, str(exc))
            self._error(f"{case_id} cannot be {doing}: {exc}")
            return False
        self.case, self.view = case, view
        self._full_prob = self._full_unc = None  # brought to full resolution only when the threshold moves
        self._reset_working()
        # the stored regions (dicts) come along: their boxes tell the overlay where to look
        self.preview = None if view.proposal is None else Proposal(view.given.array, view.proposal, view.regions,
                                                                   list(view.region_info))
        self._show_threshold_of(case_id)
        self.accepted_regions = review.chosen_regions(view)
        return True

    def _reset_working(self) -> None:
        """The working mask becomes what the case's record stands for (none for a view of the
        record only), with no history."""
        self.working = None if self.view.given is None else review.working_mask(self.view)
        self.history.clear()
        self.dirty = False

    def remember(self, case_id: str, view) -> None:
        self.reader.remember(case_id, view)

    def forget_read(self) -> None:
        self.reader.forget()

    def read_ahead(self) -> Callable | None:
        """A function that reads the next case of the queue (in any thread; see
        :meth:`CaseReader.ahead`), None when there is nothing to read."""
        i = self.index()
        if i < 0 or i + 1 >= len(self.rows):
            return None
        return self.reader.ahead(self.project, self.store, self.dataset[self.rows[i + 1]["case_id"]])

    def keep_read_ahead(self, result) -> None:
        self.reader.keep_ahead(result, self.project)

    # -- live threshold --------------------------------------------------------------------------
    def _show_threshold_of(self, case_id: str) -> None:
        """The slider shows the threshold the case's stored proposal was made with, and the trust
        in it: the region gate the batch calibrated, or why proposals were withheld."""
        cfg = (self.store.proposal(case_id) or {}).get("config") or {}
        keys = {k: cfg[k] for k in review.THRESHOLD_KEYS if k in cfg}
        if keys:
            if "rules" in keys:
                keys["rules"] = tuple(keys["rules"])
            self.settings.proposal = replace(self.settings.proposal, **keys)
        self.gate = cfg.get("region_confidence")
        self.withheld = cfg.get("withheld")
        self.trust = cfg.get("calibration") or ""

    @property
    def region_gate(self) -> float:
        """The model confidence a change region needs here: the user's fixed setting, else the gate
        the batch calibrated for this project, else the rule's default."""
        if self.settings.proposal.min_confidence is not None:
            return float(self.settings.proposal.min_confidence)
        return float(self.gate) if self.gate is not None else self.settings.proposal.region_confidence()

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
        if self.view is None or self.view.maps is None or self.locked:
            return 0.0
        t0 = time.perf_counter()
        cfg = replace(self.settings.proposal, **{self.threshold_name: float(value)})
        self.settings.proposal = cfg
        if self.withheld:  # the batch found the models not good enough to propose
            return 0.0
        if self._full_prob is None:
            self._full_prob = self.view.maps.at_original("mean_prob")
        if self._full_unc is None and cfg.measure in self.view.maps.maps:
            self._full_unc = self.view.maps.at_original(cfg.measure)
        prop = propose(self.view.given.array, self._full_prob, self._full_unc, labels=self.view.maps.labels,
                       cfg=replace(cfg, min_confidence=self.region_gate),
                       spacing=self.view.image.geometry.scale if self.view.image.ndim == 3 else None)
        self.preview = Proposal(prop.given, prop.mask, prop.region_map, prop.regions)
        self.accepted_regions = {r.id for r in prop.regions}
        self._emit("proposal_changed", self.preview)
        return 1000 * (time.perf_counter() - t0)

    def region_infos(self) -> list[dict]:
        """The change regions of the proposal on screen (as dicts), none when there is none."""
        if self.preview is None:
            return []
        return [r if isinstance(r, dict) else r.to_json() for r in (self.preview.regions or [])]

    def toggle_region(self, rid: int, on: bool | None = None) -> None:
        """Tick or untick one change region for Accept (nothing is saved and the working mask stays
        as it is until the proposal is accepted)."""
        if self.preview is None or self.locked:
            return
        on = (rid not in self.accepted_regions) if on is None else on
        (self.accepted_regions.add if on else self.accepted_regions.discard)(int(rid))
        self._emit("selection_changed")

    def region_at(self, position) -> int:
        """The change region under a position (array coordinates), 0 for none."""
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
        self._emit("working_changed")

    def painted(self, new: np.ndarray) -> None:
        """The user painted on the working mask: remember how to undo it."""
        if self.working is None or self.locked:
            return
        self._push(self.working, new)
        self.working = np.array(new, copy=True)
        self.dirty = True

    def _push(self, before: np.ndarray, after: np.ndarray) -> None:
        if self.history.push(before, after):
            self._emit("history_changed")

    def can_undo(self) -> bool:
        return self.history.can_undo and self.working is not None and not self.locked

    def can_redo(self) -> bool:
        return self.history.can_redo and self.working is not None and not self.locked

    def undo(self) -> bool:
        return self.can_undo() and self._step(self.history.undo)

    def redo(self) -> bool:
        return self.can_redo() and self._step(self.history.redo)

    def _step(self, move) -> bool:
        move(self.working)
        self.dirty = True
        self._emit("working_changed")
        self._emit("history_changed")
        return True

    def apply_helper(self, name: str, **kw) -> None:
        """Slicer-style editing helpers on the working mask: islands, holes, smooth, between."""
        if self.working is None or self.locked:
            return
        try:
            self.set_working(HELPERS[name](self.working, **kw))
        except ValueError as exc:
            self._error(str(exc))

    # -- decisions -------------------------------------------------------------------------------
    def _after_decision(self, d: dict, message: str) -> None:
        """A decision was recorded: the working mask becomes what the record stands for, so what
        the reviewer sees is what the export will write."""
        self.view.decision = d
        self._reset_working()
        self._emit("working_changed")
        self._emit("history_changed")
        self._emit("decision_changed", self.case.id, d)
        self.refresh_queue()
        self._emit("status", message)

    def _keep_painting(self) -> str:
        """Before a decision replaces the working mask: painting not saved yet is written as a draft
        (its file and audit row stay, for whoever wants it back). Returns a note for the message."""
        if not self.dirty or self.working is None or np.array_equal(self.working, review.recorded_mask(self.view)):
            return ""
        review.save_draft(self.project, self.store, self.view, self.working)
        return " (the painting it replaced is kept in the project's edits folder, see the audit log)"

    def decide(self, case_id: str, action: str, *, regions=None, note: str | None = None) -> dict | None:
        """Record one of :data:`ACTIONS` on a case given by name, through the same actions as the
        app's buttons (the command line's ``decide``). Only ``accept`` reads the case: the accepted
        mask is made from its mask and proposal. The others are records of the store, so a case
        that cannot be read can still be kept, excluded, flagged, reopened or given a note. Returns
        the case's decision record, or None when it was refused (the ``error`` event says why, or
        a :class:`CuratorError` when nobody listens)."""
        if action not in ACTIONS:
            raise ValueError(f"unknown action '{action}'; choose from {', '.join(ACTIONS)}")
        if not self._open_case(case_id, read=action == "accept", doing="accepted"):
            return None
        done = {"accept": lambda: self.accept(regions=regions, note=note), "keep": lambda: self.keep(note=note),
                "exclude": lambda: self.exclude(note=note), "flag": lambda: self.flag(note=note),
                "reopen": lambda: self.reopen() or not self.locked,  # reopening an open case changes nothing
                "note": lambda: self.set_note(note or "") or True}[action]()
        return self.view.decision if done else None

    def accept(self, *, regions: set[int] | None = None, note: str | None = None) -> bool:
        """Accept the proposal as shown, with the regions left ticked (or ``regions``)."""
        if not self._ready():
            return False
        infos = self.region_infos()
        if self.preview is None or not infos:
            self._error(review.nothing_to_accept(self.store, self.view, self.withheld))
            return False
        ids = {int(r["id"]) for r in infos}
        unknown = sorted({int(r) for r in regions or ()} - ids)
        if unknown:
            self._error(f"{self.case.id} has no change region {', '.join(map(str, unknown))}; its regions are "
                        + ", ".join(map(str, sorted(ids))))
            return False
        chosen = (self.accepted_regions if regions is None else {int(r) for r in regions}) & ids
        if not chosen:
            self._error(f"{self.case.id}: every proposed region is unticked, so there is nothing to accept; "
                        "tick a region, or use Keep")
            return False
        review.keep_shown_proposal(self.project, self.store, self.view, self.preview, self.settings.proposal.to_json(),
                                   self.region_infos())
        regions = None if chosen == ids else sorted(chosen)
        kept = self._keep_painting()
        d = review.accept(self.project, self.store, self.view, regions, note=note)
        self.accepted_regions = set(chosen)
        self._after_decision(d, f"{self.case.id}: proposal accepted"
                             + (f" ({len(regions)} of {len(ids)} regions)" if regions else "") + kept)
        return True

    def keep(self, *, note: str | None = None) -> bool:
        return self._decide(review.keep, "original kept", note)

    def exclude(self, *, note: str | None = None) -> bool:
        return self._decide(review.exclude, "excluded from the export", note)

    def _decide(self, action, said: str, note: str | None) -> bool:
        if not self._ready():
            return False
        kept = self._keep_painting()
        self._after_decision(action(self.store, self.view, note=note), f"{self.case.id}: {said}{kept}")
        return True

    def flag(self, *, note: str | None = None) -> bool:
        """Flag for an expert; the mask being edited is kept with the flag (as a draft)."""
        if not self._ready():
            return False
        if self.working is not None:
            review.save_draft(self.project, self.store, self.view, self.working)
        self._after_decision(review.flag(self.store, self.view, note=note), f"{self.case.id}: flagged for an expert")
        return True

    def toggle_trust(self) -> bool:
        """Trust the case's mask, or take the trust back (the store's ``trusted``); decides nothing."""
        if not self._ready(locked_ok=True):
            return False
        trusted = self.case.id not in self.store.trusted()
        self.store.set_trusted(self.case.id, trusted)
        self.refresh_queue()
        self._emit("status", f"{self.case.id}: " + ("mask trusted; Re-score to let the models learn from it"
                                                      if trusted else "trust taken back"))
        return True

    def reopen(self) -> bool:
        if self.view is None or not self.locked:
            return False
        self._after_decision(review.reopen(self.store, self.view), f"{self.case.id}: reopened")
        return True

    def save_edit(self) -> bool:
        if not self._ready() or self.working is None:
            return False
        d = review.save_edit(self.project, self.store, self.view, self.working)
        self._after_decision(d, f"{self.case.id}: edit saved (+{d['pixels_added']} / -{d['pixels_removed']} pixels)")
        return True

    def set_note(self, text: str) -> None:
        if self.view is None:
            return
        self.store.set_note(self.case.id, text)
        self.view.decision = self.store.decision(self.case.id)
        self._emit("status", f"{self.case.id}: note saved")

    def autosave(self) -> None:
        """Keep the mask being painted as a draft (a crash loses nothing); decides nothing, locks
        nothing."""
        if self.view is None or not self.dirty or self.working is None or self.locked:
            return
        d = review.save_draft(self.project, self.store, self.view, self.working)
        self._emit("decision_changed", self.case.id, d)
        self.refresh_queue()  # the queue marks cases with a draft

    def flush(self) -> None:
        """Before leaving a case: changes made to its working mask are saved, as an edit, or as a
        draft kept with the flag of a flagged case (nothing is lost by moving on)."""
        if self.view is None or not self.dirty or self.working is None or self.locked:
            return
        d = review.save_on_leaving(self.project, self.store, self.view, self.working)
        self.dirty = False
        if d is None:
            return
        self._emit("decision_changed", self.case.id, d)
        self.refresh_queue()

    def _ready(self, *, locked_ok: bool = False) -> bool:
        if self.view is None:
            self._error("open a dataset or project first")
            return False
        if self.locked and not locked_ok:
            self._error(f"{self.case.id} is locked ({self.view.decision['decision']}); reopen it to change it")
            return False
        return True
