"""Review actions shared by the desktop app, the command line and the export (3D Slicer's "Logic" half).

What the review of a case shows (:class:`CaseView`: image, given mask, maps, proposal and its
regions, the decision and its files) and everything a reviewer does to it: accept the proposal or
some of its regions, keep the original, save an edit, exclude, flag, reopen, keep a draft. Each
action is saved at once: mask files first (atomically, a new version per change, never
overwritten: :mod:`curator.core.project.artifacts`), then one store transaction.

One rule says which mask a decision stands for (:func:`curator.core.curation.decisions.decided_mask`);
the review shows it (:func:`working_mask`) and the export writes it
(:func:`curator.core.project.artifacts.final_mask`), so what was shown is what is written. The
session that drives these actions for the app and the command line:
:mod:`curator.core.project.session`; the editing helpers: :mod:`curator.core.curation.editing`.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from pathlib import Path

import numpy as np

from curator.core.curation.decisions import Decision, DecisionError, decided_mask, proposal_mask
from curator.core.engine.uncertainty import load_maps
from curator.core.metrics import changed_pixels
from curator.core.project.artifacts import decision_files, load_proposal_arrays, save_mask_version, save_proposal
from curator.core.project.store import LockedError

__all__ = ["CaseView", "load_case_view", "record_view", "refresh_decision", "working_mask", "recorded_mask",
           "chosen_regions", "most_uncertain_slice", "accept", "keep", "save_edit", "save_draft", "save_on_leaving",
           "exclude", "flag", "reopen", "keep_shown_proposal", "nothing_to_accept"]

THRESHOLD_KEYS = ("rules", "tau", "delta")  # the proposal settings the review's slider moves


@dataclass
class CaseView:
    """What the review of one case shows. Arrays on the image grid.

    ``decided``: the mask file the decision points at (accepted or edited), ``draft``: the mask
    being edited (saved, not decided). A view of the record only (:func:`record_view`) has no
    image and no masks.
    """

    case_id: str
    image: object  # ImageData, None in a view of the record only
    given: object  # ImageData (label map), None in a view of the record only
    maps: object | None = None  # UncertaintyMaps
    proposal: np.ndarray | None = None
    regions: np.ndarray | None = None
    region_info: list[dict] = field(default_factory=list)
    decision: dict = field(default_factory=dict)
    decided: np.ndarray | None = None
    draft: np.ndarray | None = None
    failed: str | None = None
    focus_slice: int | None = None  # 3D: where the review starts (see :func:`most_uncertain_slice`)

    def measure(self, name: str) -> np.ndarray | None:
        if self.maps is None or name not in self.maps.maps:
            return None
        return self.maps.at_original(name)


def load_case_view(project, store, case) -> CaseView:
    """Read everything for one case (raises ``ReadError`` if the image itself cannot be read)."""
    image = case.read_image()
    given = case.read_mask(image)
    view = CaseView(case.id, image, given, decision=store.decision(case.id))
    mp = project.map_path(case.id)
    if mp.exists():
        try:
            view.maps = load_maps(mp)
        except Exception as exc:  # damaged maps: show the case without them
            view.failed = f"uncertainty maps unreadable ({exc})"
    p = store.proposal(case.id)
    if p is not None and p.get("regions_path") and Path(p["regions_path"]).exists():
        view.proposal, view.regions = load_proposal_arrays(p["regions_path"])
        view.region_info = p["regions"]
    view.decided, view.draft = decision_files(view.decision)
    try:
        decided_mask(view.decision, view.given.array, proposal=view.proposal, regions=view.regions,
                     decided=view.decided)
    except DecisionError as exc:
        view.failed = str(exc)
    if given.array.ndim == 3:  # found here, where cases are read ahead, not when one is shown
        view.focus_slice = most_uncertain_slice(view)
    return view


def record_view(store, case_id: str) -> CaseView:
    """A case as the store records it, nothing read from the dataset: enough to keep, exclude,
    flag, reopen or note it (those decisions need no pixels), even when its files cannot be read."""
    return CaseView(case_id, None, None, decision=store.decision(case_id))


def refresh_decision(view: CaseView, store) -> CaseView:
    """Bring a view read earlier (cached, read ahead) up to the store's record of the case."""
    d = store.decision(view.case_id)
    if d.get("version") != view.decision.get("version") or d.get("updated") != view.decision.get("updated"):
        view.decided, view.draft = decision_files(d)
    view.decision = d
    return view


def most_uncertain_slice(view: CaseView) -> int:
    """Index (original grid) of the slice holding the most entropy, or the most mask without maps."""
    maps = view.maps
    if maps is not None and "entropy" in maps.maps:
        u = np.asarray(maps.maps["entropy"])
        zw = int(np.argmax(u.reshape(u.shape[0], -1).sum(1, dtype=np.float64)))
        return min(view.given.array.shape[0] - 1, maps.grid.original_index(zw))
    m = np.count_nonzero(view.given.array.reshape(view.given.array.shape[0], -1), axis=1)
    return int(np.argmax(m))


def working_mask(view: CaseView) -> np.ndarray:
    """The mask as the reviewer should see it now: the draft being edited, else
    :func:`recorded_mask`. A copy."""
    if view.draft is not None:
        return np.array(view.draft, copy=True)
    return recorded_mask(view)


def recorded_mask(view: CaseView) -> np.ndarray:
    """What the case's decision stands for (:func:`decided_mask`), else the given mask; drafts
    left aside. A copy."""
    try:
        m = decided_mask(view.decision, view.given.array, proposal=view.proposal, regions=view.regions,
                         decided=view.decided)
    except DecisionError:
        m = None  # view.failed says why; the given mask is shown
    return np.array(view.given.array if m is None else m, copy=True)


def chosen_regions(view: CaseView) -> set[int]:
    """The change regions ticked when a case is shown: those of its accepted decision, else all."""
    d = view.decision
    if d.get("decision") == Decision.ACCEPTED and d.get("regions") is not None:
        return {int(r) for r in d["regions"]}
    return {int(r["id"]) for r in view.region_info}


def _pixels(given: np.ndarray, new: np.ndarray) -> tuple[int, int]:
    return changed_pixels(given, new)


def _label_array(labels: np.ndarray) -> np.ndarray:
    labels = np.asarray(labels)
    return labels.astype(np.uint8 if labels.max(initial=0) <= 255 else np.uint16, copy=False)


def _check_grid(view: CaseView, labels: np.ndarray) -> None:
    if labels.shape != view.given.array.shape:
        raise ValueError(f"mask {labels.shape} does not match the image grid {view.given.array.shape}")


def _check_unlocked(store, view: CaseView) -> int:
    d = store.decision(view.case_id)
    if d.get("locked"):
        raise LockedError(f"{view.case_id} is locked ({d['decision']}); reopen it to change it")
    return int(d.get("version") or 0) + 1


def _recorded(view: CaseView, d: dict, decided: np.ndarray | None) -> dict:
    view.decision = d
    view.decided = decided
    if d.get("locked") or not d.get("draft_path"):
        view.draft = None
    return d


def accept(project, store, view: CaseView, regions: list[int] | None = None, *, who: str | None = None,
           note: str | None = None) -> dict:
    """Accept the proposal (all of it, or only the change ``regions``); the accepted mask is kept
    as a file the decision points at."""
    if view.proposal is None:
        raise ValueError(f"{view.case_id} has no proposal to accept")
    version = _check_unlocked(store, view)
    new = _label_array(proposal_mask(view.given.array, view.proposal, view.regions, regions))
    path = save_mask_version(project, view.case_id, version, "accepted", new)
    p = store.proposal(view.case_id) or {}
    d = store.decide(view.case_id, Decision.ACCEPTED, regions=None if regions is None else sorted(int(r) for r in regions),
                     mask_path=str(path), pixels=_pixels(view.given.array, new), model_run=p.get("run_id"),
                     who=who, note=note)
    return _recorded(view, d, new)


def keep(store, view: CaseView, *, who: str | None = None, note: str | None = None) -> dict:
    return _recorded(view, store.decide(view.case_id, Decision.KEPT, pixels=(0, 0), who=who, note=note), None)


def exclude(store, view: CaseView, *, who: str | None = None, note: str | None = None) -> dict:
    return _recorded(view, store.decide(view.case_id, "excluded", who=who, note=note), None)


def flag(store, view: CaseView, *, who: str | None = None, note: str | None = None) -> dict:
    """Flag for an expert: no decision on the mask (the export keeps the original); a draft stays."""
    return _recorded(view, store.decide(view.case_id, Decision.FLAGGED, who=who, note=note), None)


def reopen(store, view: CaseView, *, who: str | None = None) -> dict:
    d = store.reopen(view.case_id, who=who)
    view.decision = d
    return d


def save_edit(project, store, view: CaseView, labels: np.ndarray, *, who: str | None = None,
              note: str | None = None) -> dict:
    """Save an edited mask: a new file version (atomic), then the decision that points at it."""
    labels = np.asarray(labels)
    _check_grid(view, labels)
    version = _check_unlocked(store, view)
    labels = _label_array(labels)
    path = save_mask_version(project, view.case_id, version, "edited", labels)
    d = store.decide(view.case_id, Decision.EDITED, mask_path=str(path), pixels=_pixels(view.given.array, labels), who=who,
                     note=note)
    return _recorded(view, d, labels)


def save_draft(project, store, view: CaseView, labels: np.ndarray, *, who: str | None = None) -> dict:
    """Keep the mask being edited without deciding anything (autosave; a flagged case left with
    changes). A draft equal to what the record shows anyway is forgotten instead."""
    labels = np.asarray(labels)
    _check_grid(view, labels)
    version = _check_unlocked(store, view)
    if np.array_equal(labels, recorded_mask(view)):
        if view.draft is None and not view.decision.get("draft_path"):
            return view.decision
        d = store.save_draft(view.case_id, None, who=who)
        view.decision, view.draft = d, None
        return d
    labels = _label_array(labels)
    path = save_mask_version(project, view.case_id, version, "draft", labels)
    d = store.save_draft(view.case_id, str(path), pixels=_pixels(view.given.array, labels), who=who)
    view.decision, view.draft = d, labels
    return d


def save_on_leaving(project, store, view: CaseView, labels: np.ndarray) -> dict | None:
    """Leaving a case whose working mask changed: saved as an edit, or as a draft kept with the flag
    of a flagged case, so nothing is lost by moving on. Returns the new record, or None when the
    mask is what the record shows anyway (a draft painted, then undone, is forgotten)."""
    if np.array_equal(labels, recorded_mask(view)):
        if view.draft is not None:
            save_draft(project, store, view, labels)
        return None
    if view.decision.get("decision") == Decision.FLAGGED:
        return save_draft(project, store, view, labels)
    return save_edit(project, store, view, labels)


def keep_shown_proposal(project, store, view: CaseView, shown, config: dict, regions: list[dict]) -> None:
    """Before accepting: store the proposal as shown (``shown``, made with ``config``) when the
    threshold moved since the batch; the batch's own proposal, shown as it was made, stays as it
    is (its run and its notes on calibration with it)."""
    stored = store.proposal(view.case_id)
    made = (stored or {}).get("config") or {}
    if stored is not None and all(made.get(k) == config.get(k) for k in THRESHOLD_KEYS) and \
            view.proposal is not None and np.array_equal(view.proposal, shown.mask):
        return
    run = (stored or {}).get("run_id", "") or ""
    save_proposal(project, store, view.case_id, shown, path=(stored or {}).get("path"), regions=regions,
                  config=config, run_id=f"{run.split('-')[0]}-gui")
    view.proposal, view.regions, view.region_info = shown.mask, shown.region_map, list(regions)


def nothing_to_accept(store, view: CaseView, withheld: str | None) -> str:
    """Why a case shows no proposed change to accept, in words."""
    cid = view.case_id
    if withheld:
        return f"{cid} has no proposed change to accept (proposals withheld: {withheld}); use Keep"
    if store.proposal(cid) is None:
        return f"{cid} has no proposal to accept; run Batch relabel first"
    if view.proposal is None:
        return f"{cid}: its proposal is missing from the project; run Batch relabel again"
    return f"{cid} has no proposed change to accept; use Keep"
