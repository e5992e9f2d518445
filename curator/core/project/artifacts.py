"""A project's review artifacts, written and read in one place: proposals, edits, and the mask a
decision stands for.

* **Proposals**: each case's proposed labels and change-region map (``proposals/.regions/ID.npz``,
  :func:`save_proposal`, :func:`load_proposal_arrays`) with its row in the store; the batch's
  ungated candidates beside them (:func:`candidates_path`). The batch and the app's live
  threshold both save through :func:`save_proposal`.
* **Edits**: every accepted, edited or draft mask is a new file version in ``edits/``
  (:func:`save_mask_version`), never written over another, that a decision points at.
* **Decision -> final mask**: :func:`final_mask` reads a case's decision and its files and applies
  the one rule (:func:`curator.core.curation.decisions.decided_mask`), so the review shows, the
  command line records and the export writes the same mask.

Files are written atomically, before the store transaction that refers to them.
"""

from __future__ import annotations

from pathlib import Path

import numpy as np

from curator.core.curation.decisions import Decision, DecisionError, decided_mask
from curator.core.io.files import atomic_path, atomic_write, safe_name
from curator.core.io.masks import read_labels

__all__ = ["regions_path", "candidates_path", "load_proposal_arrays", "save_proposal", "withhold_proposal",
           "read_labels", "save_mask_version", "decision_files", "final_mask", "proposal_row",
           "write_proposals_csv"]


# ----------------------------------------------------------------------------------------------
# Proposals


def regions_path(project, case_id: str) -> Path:
    folder = project.proposals_dir / ".regions"
    folder.mkdir(parents=True, exist_ok=True)
    return folder / f"{safe_name(case_id)}.npz"


def candidates_path(project, case_id: str) -> Path:
    return regions_path(project, case_id).with_suffix(".candidates.npz")


def load_proposal_arrays(path) -> tuple[np.ndarray, np.ndarray]:
    """``(proposed labels, region map)`` saved by :func:`iter_proposals`."""
    with np.load(path) as z:
        return z["mask"], z["regions"]


def save_proposal(project, store, case_id: str, proposal, *, path: str | None, regions: list[dict], config: dict,
                  run_id: str) -> Path:
    """Save a proposal (a :class:`~curator.core.curation.proposals.Proposal`): its arrays
    atomically, then its row in the store (``path``: the proposal written in the dataset's own
    format, if any; ``regions``: the change regions as dicts)."""
    rp = regions_path(project, case_id)
    with atomic_path(rp) as tmp:
        np.savez_compressed(tmp, mask=proposal.mask, regions=proposal.region_map)
    added, removed = proposal.added_removed()
    store.set_proposal(case_id, path=path, regions_path=str(rp), regions=regions, added=added, removed=removed,
                       change_fraction=proposal.change_fraction, config=config, run_id=run_id)
    return rp


def withhold_proposal(project, store, case_id: str, *, config: dict, run_id: str) -> None:
    """Record that the case gets no proposal (``config["withheld"]`` says why); its arrays go."""
    store.set_proposal(case_id, path=None, regions_path=None, regions=[], added=0, removed=0,
                       change_fraction=0.0, config=config, run_id=run_id)
    rp = regions_path(project, case_id)
    if rp.exists():
        rp.unlink()


# ----------------------------------------------------------------------------------------------
# Edits


def save_mask_version(project, case_id: str, version: int, kind: str, labels: np.ndarray) -> Path:
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


def decision_files(d: dict) -> tuple[np.ndarray | None, np.ndarray | None]:
    """The decision's own mask (accepted or edited) and the draft, read from their files."""
    decided = draft = None
    if d.get("decision") in (Decision.ACCEPTED, Decision.EDITED) and d.get("mask_path") and Path(d["mask_path"]).exists():
        decided = read_labels(d["mask_path"])
    if d.get("draft_path") and Path(d["draft_path"]).exists():
        draft = read_labels(d["draft_path"])
    return decided, draft


# ----------------------------------------------------------------------------------------------
# Decision -> final mask


def final_mask(store, case_id: str, given: np.ndarray, *, take_proposal: bool = False) -> tuple[str, np.ndarray | None]:
    """What the export writes for a case: ``(decision, mask)``, ``mask`` None = the original.

    The same rule as the review (:func:`decided_mask`), read from the store; with
    ``take_proposal`` an unreviewed case takes its whole proposal. Raises :class:`DecisionError`.
    """
    d = store.decision(case_id)
    kind = d["decision"]
    if not Decision(kind).changes_mask and not (kind == "unreviewed" and take_proposal):
        return kind, None
    decided, _ = decision_files(d)
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


def proposal_row(case_id: str, p: dict | None, withheld: str | None) -> list:
    """One row of ``proposals.csv``: proposed, no change, or withheld and why."""
    p = p or {}
    n = len(p.get("regions") or [])
    status = "withheld" if withheld else ("proposed" if n else "no change")
    gate = (p.get("config") or {}).get("region_confidence")
    return [case_id, status, n, int(p.get("added") or 0), int(p.get("removed") or 0),
            "" if gate is None else f"{gate:g}", withheld or ""]


def write_proposals_csv(path: Path, rows: list[list]) -> None:
    """``proposals.csv`` beside ``ranking.csv``: what was proposed for each case, or why not."""
    import csv
    import io as _io

    buf = _io.StringIO()
    w = csv.writer(buf, lineterminator="\n")
    w.writerow(["case_id", "status", "regions", "pixels_added", "pixels_removed", "region_confidence", "reason"])
    w.writerows(sorted(rows))
    atomic_write(path, buf.getvalue())
