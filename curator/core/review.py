"""Review logic shared by the desktop app and the command line (3D Slicer's "Logic" half).

Everything a reviewer does to a case: load what the review shows (image, given mask, maps,
proposal and its regions, the current working mask), accept the proposal or some of its regions,
keep the original, save an edit, exclude, flag, note, reopen. Each action is saved at once: mask
files first (atomically, a new version per edit), then one store transaction.

Editing helpers clinicians know from 3D Slicer's Segment Editor, on label maps ``(Y, X)`` /
``(Z, Y, X)``: :func:`remove_islands`, :func:`fill_holes`, :func:`smooth`,
:func:`fill_between_slices`.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from pathlib import Path

import numpy as np

__all__ = ["CaseView", "load_case_view", "accept", "keep", "save_edit", "exclude", "flag", "reopen",
           "remove_islands", "fill_holes", "smooth", "fill_between_slices", "working_mask"]


@dataclass
class CaseView:
    """What the review of one case shows. Arrays on the image grid."""

    case_id: str
    image: object  # ImageData
    given: object  # ImageData (label map)
    maps: object | None = None  # UncertaintyMaps
    proposal: np.ndarray | None = None
    regions: np.ndarray | None = None
    region_info: list[dict] = field(default_factory=list)
    decision: dict = field(default_factory=dict)
    edited: np.ndarray | None = None
    failed: str | None = None
    focus_slice: int | None = None  # 3D: where the review starts (see :func:`most_uncertain_slice`)

    def measure(self, name: str) -> np.ndarray | None:
        if self.maps is None or name not in self.maps.maps:
            return None
        return self.maps.at_original(name)


def load_case_view(project, store, case) -> CaseView:
    """Read everything for one case (raises ``ReadError`` if the image itself cannot be read)."""
    from .pipeline import load_proposal_arrays
    from .uncertainty import load_maps

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
    d = view.decision
    if d.get("decision") == "edited" and d.get("mask_path") and Path(d["mask_path"]).exists():
        with np.load(d["mask_path"]) as z:
            view.edited = z["labels"]
    if given.array.ndim == 3:  # found here, where cases are read ahead, not when one is shown
        view.focus_slice = most_uncertain_slice(view)
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


def working_mask(view: CaseView) -> np.ndarray:
    """The mask as the reviewer should see it now: the edit, the accepted proposal (or regions),
    else the given mask."""
    from .proposals import Proposal, apply_regions

    d = view.decision
    if view.edited is not None:
        return view.edited.copy()
    if d.get("decision") == "accepted" and view.proposal is not None:
        if d.get("regions") is not None:
            return apply_regions(Proposal(view.given.array, view.proposal, view.regions), set(d["regions"]))
        return view.proposal.copy()
    return np.array(view.given.array, copy=True)


def _pixels(given: np.ndarray, new: np.ndarray) -> tuple[int, int]:
    from .metrics import changed_pixels

    return changed_pixels(given, new)


def accept(store, view: CaseView, regions: list[int] | None = None, *, who: str | None = None,
           note: str | None = None) -> dict:
    """Accept the proposal (all of it, or only ``regions``)."""
    from .proposals import Proposal, apply_regions

    if view.proposal is None:
        raise ValueError(f"{view.case_id} has no proposal to accept")
    new = view.proposal if regions is None else apply_regions(
        Proposal(view.given.array, view.proposal, view.regions), set(regions))
    p = store.proposal(view.case_id) or {}
    return store.decide(view.case_id, "accepted", regions=regions, pixels=_pixels(view.given.array, new),
                        model_run=p.get("run_id"), who=who, note=note)


def keep(store, view: CaseView, *, who: str | None = None, note: str | None = None) -> dict:
    return store.decide(view.case_id, "kept", pixels=(0, 0), who=who, note=note)


def exclude(store, view: CaseView, *, who: str | None = None, note: str | None = None) -> dict:
    return store.decide(view.case_id, "excluded", who=who, note=note)


def flag(store, view: CaseView, *, who: str | None = None, note: str | None = None) -> dict:
    return store.decide(view.case_id, "flagged", who=who, note=note)


def reopen(store, view: CaseView, *, who: str | None = None) -> dict:
    return store.reopen(view.case_id, who=who)


def save_edit(project, store, view: CaseView, labels: np.ndarray, *, who: str | None = None,
              note: str | None = None) -> dict:
    """Save an edited mask: a new file version (atomic), then the decision that points at it."""
    from .io import atomic_path
    from .project import safe_name

    labels = np.asarray(labels)
    if labels.shape != view.given.array.shape:
        raise ValueError(f"edited mask {labels.shape} does not match the image grid {view.given.array.shape}")
    version = int(store.decision(view.case_id).get("version") or 0) + 1
    path = project.edits_dir / f"{safe_name(view.case_id)}.v{version}.npz"
    dtype = np.uint8 if labels.max(initial=0) <= 255 else np.uint16
    with atomic_path(path) as tmp:
        np.savez_compressed(tmp, labels=labels.astype(dtype))
    d = store.decide(view.case_id, "edited", mask_path=str(path), pixels=_pixels(view.given.array, labels), who=who,
                     note=note)
    view.edited = labels.astype(dtype)
    view.decision = d
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
    from .proposals import fill_holes_2d

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
