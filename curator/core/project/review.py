"""Review logic shared by the desktop app, the command line and the export (3D Slicer's "Logic" half).

Everything a reviewer does to a case: load what the review shows (image, given mask, maps,
proposal and its regions, the current working mask), accept the proposal or some of its regions,
keep the original, save an edit, exclude, flag, note, reopen, keep a draft. Each action is saved at
once: mask files first (atomically, a new version per change, never overwritten), then one store
transaction.

One rule says which mask a decision stands for, :func:`decided_mask`; the review shows it
(:func:`working_mask`) and the export writes it (:func:`final_mask`), so what was shown is what is
written. An accepted or edited decision points at the mask file it was made with, so a later
batch that replaces the proposals cannot change a decision already taken.

Editing helpers clinicians know from 3D Slicer's Segment Editor, on label maps ``(Y, X)`` /
``(Z, Y, X)``: :func:`remove_islands`, :func:`fill_holes`, :func:`smooth`,
:func:`fill_between_slices`.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from pathlib import Path

import numpy as np

from curator.core.curation.proposals import Proposal, apply_regions, fill_holes_2d
from curator.core.engine.uncertainty import load_maps
from curator.core.io.files import atomic_path, safe_name
from curator.core.metrics import changed_pixels
from curator.core.project.pipeline import load_proposal_arrays
from curator.core.project.store import LockedError

__all__ = ["CaseView", "DecisionError", "load_case_view", "refresh_decision", "decided_mask", "working_mask", "recorded_mask",
           "final_mask", "proposal_mask", "accept", "keep", "save_edit", "save_draft", "exclude", "flag", "reopen",
           "remove_islands", "fill_holes", "smooth", "fill_between_slices"]


class DecisionError(ValueError):
    """A recorded decision cannot be turned into a mask (its mask file or proposal is missing)."""


@dataclass
class CaseView:
    """What the review of one case shows. Arrays on the image grid.

    ``decided``: the mask file the decision points at (accepted or edited), ``draft``: the mask
    being edited (saved, not decided).
    """

    case_id: str
    image: object  # ImageData
    given: object  # ImageData (label map)
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


def _read_labels(path) -> np.ndarray:
    with np.load(path) as z:
        return z["labels"]


def _decision_files(d: dict) -> tuple[np.ndarray | None, np.ndarray | None]:
    """The decision's own mask (accepted or edited) and the draft, read from their files."""
    decided = draft = None
    if d.get("decision") in ("accepted", "edited") and d.get("mask_path") and Path(d["mask_path"]).exists():
        decided = _read_labels(d["mask_path"])
    if d.get("draft_path") and Path(d["draft_path"]).exists():
        draft = _read_labels(d["draft_path"])
    return decided, draft


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
    view.decided, view.draft = _decision_files(view.decision)
    try:
        decided_mask(view.decision, view.given.array, proposal=view.proposal, regions=view.regions,
                     decided=view.decided)
    except DecisionError as exc:
        view.failed = str(exc)
    if given.array.ndim == 3:  # found here, where cases are read ahead, not when one is shown
        view.focus_slice = most_uncertain_slice(view)
    return view


def refresh_decision(view: CaseView, store) -> CaseView:
    """Bring a view read earlier (cached, read ahead) up to the store's record of the case."""
    d = store.decision(view.case_id)
    if d.get("version") != view.decision.get("version") or d.get("updated") != view.decision.get("updated"):
        view.decided, view.draft = _decision_files(d)
    view.decision = d
    return view


def most_uncertain_slice(view: CaseView) -> int:
    """Index (original grid) of the slice holding the most entropy, or the most mask without maps."""
    maps = view.maps
    if maps is not None and "entropy" in maps.maps:
        u = np.asarray(maps.maps["entropy"])
        zw = int(np.argmax(u.reshape(u.shape[0], -1).sum(1, dtype=np.float64)))
        ratio = maps.meta.get("orig_shape", u.shape)[0] / u.shape[0]
        return int(min(view.given.array.shape[0] - 1, round((zw + 0.5) * ratio - 0.5)))
    m = np.count_nonzero(view.given.array.reshape(view.given.array.shape[0], -1), axis=1)
    return int(np.argmax(m))


def proposal_mask(given: np.ndarray, proposal: np.ndarray, regions: np.ndarray | None,
                  chosen: list[int] | set[int] | None) -> np.ndarray:
    """The given mask with the proposal applied: all of it (``chosen`` = None) or only the
    ``chosen`` change regions."""
    if chosen is None:
        return np.array(proposal, copy=True)
    if regions is None:
        raise DecisionError("the proposal's change regions are missing; accept all of it or rerun the batch")
    return apply_regions(Proposal(given, proposal, regions), set(chosen))


def decided_mask(decision: dict, given: np.ndarray, *, proposal: np.ndarray | None = None,
                 regions: np.ndarray | None = None, decided: np.ndarray | None = None) -> np.ndarray | None:
    """The mask a decision stands for; ``None`` when it leaves the given mask as it is (kept,
    flagged, unreviewed) or leaves the case out (excluded).

    ``decided`` is the mask file the decision points at (accepted and edited decisions); an accepted
    decision recorded without one (older projects) is the stored proposal with its chosen regions.
    Raises :class:`DecisionError` when what the decision needs is missing.
    """
    kind = decision.get("decision")
    cid = decision.get("case_id", "this case")
    if kind == "edited":
        if decided is None:
            raise DecisionError(f"{cid}: edited, but the edited mask ({decision.get('mask_path')}) is missing")
        return decided
    if kind == "accepted":
        if decided is not None:
            return decided
        if decision.get("mask_path"):
            raise DecisionError(f"{cid}: accepted, but the accepted mask ({decision['mask_path']}) is missing")
        if proposal is None:
            raise DecisionError(f"{cid}: accepted, but its proposal is missing from the project")
        return proposal_mask(given, proposal, regions, decision.get("regions"))
    return None


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


def final_mask(store, case_id: str, given: np.ndarray, *, take_proposal: bool = False) -> tuple[str, np.ndarray | None]:
    """What the export writes for a case: ``(decision, mask)``, ``mask`` None = the original.

    The same rule as the review (:func:`decided_mask`), read from the store; with
    ``take_proposal`` an unreviewed case takes its whole proposal. Raises :class:`DecisionError`.
    """
    d = store.decision(case_id)
    kind = d["decision"]
    if kind not in ("accepted", "edited") and not (kind == "unreviewed" and take_proposal):
        return kind, None
    decided, _ = _decision_files(d)
    proposal = regions = None
    if kind == "unreviewed" and not (store.proposal(case_id) or {}).get("regions"):
        return kind, None  # nothing proposed, or proposals withheld: the original stays
    if decided is None and kind != "edited":
        p = store.proposal(case_id)
        if p is None or not p.get("regions_path") or not Path(p["regions_path"]).exists():
            raise DecisionError(f"{case_id}: {'accepted' if kind == 'accepted' else 'to take its proposal'}, "
                                "but its proposal is missing from the project")
        proposal, regions = load_proposal_arrays(p["regions_path"])
    if kind == "unreviewed":
        return "proposal (unreviewed)", proposal
    return kind, decided_mask(d, given, proposal=proposal, regions=regions, decided=decided)


def _pixels(given: np.ndarray, new: np.ndarray) -> tuple[int, int]:
    return changed_pixels(given, new)


def _save_labels(project, case_id: str, version: int, kind: str, labels: np.ndarray) -> Path:
    """Write a mask version atomically into the project's edits folder (never over another)."""
    suffix = "" if kind == "edited" else f".{kind}"
    path = project.edits_dir / f"{safe_name(case_id)}.v{version}{suffix}.npz"
    n = 1
    while path.exists():  # a file left by an action that did not commit: keep it, use another name
        n += 1
        path = project.edits_dir / f"{safe_name(case_id)}.v{version}{suffix}-{n}.npz"
    with atomic_path(path) as tmp:
        np.savez_compressed(tmp, labels=labels)
    return path


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
    path = _save_labels(project, view.case_id, version, "accepted", new)
    p = store.proposal(view.case_id) or {}
    d = store.decide(view.case_id, "accepted", regions=None if regions is None else sorted(int(r) for r in regions),
                     mask_path=str(path), pixels=_pixels(view.given.array, new), model_run=p.get("run_id"),
                     who=who, note=note)
    return _recorded(view, d, new)


def keep(store, view: CaseView, *, who: str | None = None, note: str | None = None) -> dict:
    return _recorded(view, store.decide(view.case_id, "kept", pixels=(0, 0), who=who, note=note), None)


def exclude(store, view: CaseView, *, who: str | None = None, note: str | None = None) -> dict:
    return _recorded(view, store.decide(view.case_id, "excluded", who=who, note=note), None)


def flag(store, view: CaseView, *, who: str | None = None, note: str | None = None) -> dict:
    """Flag for an expert: no decision on the mask (the export keeps the original); a draft stays."""
    return _recorded(view, store.decide(view.case_id, "flagged", who=who, note=note), None)


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
    path = _save_labels(project, view.case_id, version, "edited", labels)
    d = store.decide(view.case_id, "edited", mask_path=str(path), pixels=_pixels(view.given.array, labels), who=who,
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
    path = _save_labels(project, view.case_id, version, "draft", labels)
    d = store.save_draft(view.case_id, str(path), pixels=_pixels(view.given.array, labels), who=who)
    view.decision, view.draft = d, labels
    return d


# ----------------------------------------------------------------------------------------------
# Editing helpers (Segment Editor style), label maps in, label maps out


def remove_islands(labels: np.ndarray, min_size: int = 50, *, label: int | None = None) -> np.ndarray:
    """Remove connected pieces smaller than ``min_size`` pixels (of ``label``, or of every label)."""
    from scipy import ndimage

    out = np.array(labels, copy=True)
    targets = [label] if label is not None else [int(v) for v in np.unique(out) if v != 0]
    for lab in targets:
        comp, n = ndimage.label(out == lab)
        if n == 0:
            continue
        sizes = np.bincount(comp.ravel())
        small = sizes < min_size
        small[0] = False
        out[small[comp]] = 0
    return out


def fill_holes(labels: np.ndarray, *, label: int | None = None) -> np.ndarray:
    """Fill holes inside each label (slice by slice in 3D)."""
    out = np.array(labels, copy=True)
    targets = [label] if label is not None else [int(v) for v in np.unique(out) if v != 0]
    for lab in targets:
        m = out == lab
        filled = np.stack([fill_holes_2d(s) for s in m]) if m.ndim == 3 else fill_holes_2d(m)
        out[filled & (out == 0)] = lab
    return out


def smooth(labels: np.ndarray, radius: float = 2.0, *, label: int | None = None) -> np.ndarray:
    """Smooth each label's outline: morphological opening then closing with a disc/ball."""
    from scipy import ndimage

    r = int(np.ceil(radius))
    grids = np.ogrid[tuple(slice(-r, r + 1) for _ in range(labels.ndim))]
    ball = sum(g * g for g in grids) <= radius * radius
    out = np.array(labels, copy=True)
    targets = [label] if label is not None else [int(v) for v in np.unique(labels) if v != 0]
    for lab in targets:
        m = labels == lab
        sm = ndimage.binary_closing(ndimage.binary_opening(m, ball), ball)
        out[m & ~sm] = 0
        out[sm & (out == 0)] = lab
    return out


def fill_between_slices(labels: np.ndarray, *, label: int = 1) -> np.ndarray:
    """Fill the slices between annotated ones by interpolating signed distances (3D, along Z)."""
    from scipy import ndimage

    if labels.ndim != 3:
        raise ValueError("fill between slices needs a 3-D mask")
    out = np.array(labels, copy=True)
    m = labels == label
    annotated = [z for z in range(m.shape[0]) if m[z].any()]
    for a, b in zip(annotated, annotated[1:]):
        if b - a < 2:
            continue
        da = ndimage.distance_transform_edt(m[a]) - ndimage.distance_transform_edt(~m[a])
        db = ndimage.distance_transform_edt(m[b]) - ndimage.distance_transform_edt(~m[b])
        for z in range(a + 1, b):
            t = (z - a) / (b - a)
            fill = (1 - t) * da + t * db > 0
            out[z][fill & (out[z] == 0)] = label
    return out
