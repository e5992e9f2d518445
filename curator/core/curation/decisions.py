"""What a reviewer decided about a case, and the one rule for the mask a decision stands for.

Decisions are one enum, stored by its value (``"accepted"``, ...).

``Decision`` is a ``str`` enum, so a decision read from a project made by any earlier version (a
plain string) compares equal to its member, and the project folder's contract is unchanged.
"""

from __future__ import annotations

from enum import Enum

import numpy as np

from curator.core.curation.proposals import Proposal, apply_regions
from curator.core.errors import CuratorError

__all__ = ["Decision", "DECISIONS", "FINAL_DECISIONS", "ACTIONS", "DecisionError", "decided_mask", "proposal_mask"]


class Decision(str, Enum):
    UNREVIEWED = "unreviewed"
    ACCEPTED = "accepted"  # the proposal (all of it, or chosen regions) replaces the mask
    KEPT = "kept"  # the given mask is right
    EDITED = "edited"  # the reviewer's own mask replaces it
    EXCLUDED = "excluded"  # leave the case out of the cleaned dataset
    FLAGGED = "flagged"  # for a second look; not final

    def __str__(self) -> str:
        return self.value

    @property
    def final(self) -> bool:
        """A final decision locks the case until it is reopened."""
        return self in (Decision.ACCEPTED, Decision.KEPT, Decision.EDITED, Decision.EXCLUDED)

    @property
    def changes_mask(self) -> bool:
        """The export writes another mask than the given one."""
        return self in (Decision.ACCEPTED, Decision.EDITED)


DECISIONS = tuple(d.value for d in Decision)
FINAL_DECISIONS = tuple(d.value for d in Decision if d.final)
# what a reviewer can do to a case by name (the review session's ``decide``, the command line's)
ACTIONS = ("accept", "keep", "exclude", "flag", "reopen", "note")


class DecisionError(CuratorError, ValueError):
    """A recorded decision cannot be turned into a mask (its mask file or proposal is missing)."""


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
    if kind == Decision.EDITED:
        if decided is None:
            raise DecisionError(f"{cid}: edited, but the edited mask ({decision.get('mask_path')}) is missing")
        return decided
    if kind == Decision.ACCEPTED:
        if decided is not None:
            return decided
        if decision.get("mask_path"):
            raise DecisionError(f"{cid}: accepted, but the accepted mask ({decision['mask_path']}) is missing")
        if proposal is None:
            raise DecisionError(f"{cid}: accepted, but its proposal is missing from the project")
        return proposal_mask(given, proposal, regions, decision.get("regions"))
    return None
