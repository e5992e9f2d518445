"""How sure must the models be before a change is proposed? Set per run, from the dataset itself.

Out-of-fold models fail confidently on some correct masks, and how often depends on the dataset,
the models and their training: a constant confidence gate that proposes few false changes on one
dataset paints skin and rulers into correct masks on another. :func:`calibrate_gate` sets the gate
of each batch from the batch's own cases:

* the **reference cases** are those the ranking puts among the most likely correct (the lower half
  by cleanlab's softmin score, which does not depend on the proposals): whatever the proposals
  change there is, to a first approximation, a false change. Masks reviewers vouched for (trusted,
  or kept in review) come first, masks they found wrong never;
* for each candidate gate, the mean share of the reference masks' pixels that regions at least
  that confident would change is an empirical estimate of the false-change rate on correct masks;
* the gate is three levels above the lowest one whose estimate stays under ``target`` (0.5 % of a
  mask's pixels by default): the reference half is the cleanest-looking half, and the correct masks
  ranked higher, which the models doubt more, carry more confident false changes (how many levels,
  and what each costs in repair: docs/results.md, "Three levels of margin");
* a proposal that would replace a mask rather than correct it (Dice to it under 0.4: another
  object, or the same one several times too large) is not offered for that case;
* **withheld**: when no gate meets the target, when the models agree poorly with the reference
  masks (median Dice under ``min_agreement``), or when too few cases can be scored out of fold to
  calibrate, nothing is proposed and the reason is given: the ranking still orders the review.

Records in, decision out (no I/O): see :class:`Calibration`.
"""

from __future__ import annotations

from dataclasses import asdict, dataclass, field

import numpy as np

from curator.core.curation.ranking import reference_agreement, reference_cases

__all__ = ["GATES", "Calibration", "calibrate_gate", "false_change"]

GATES = (0.8, 0.85, 0.9, 0.92, 0.94, 0.95, 0.96, 0.97, 0.98, 0.99, 0.995, 0.999)


@dataclass
class Calibration:
    gate: float | None  # the region confidence a change needs; None: proposals withheld
    withheld: str | None  # why nothing is proposed (None when proposals are made)
    reference_cases: int
    agreement: float  # median Dice of the models' consensus to the reference masks
    false_change: dict = field(default_factory=dict)  # gate -> estimated share of correct masks' pixels changed
    target: float = 0.005

    def to_json(self) -> dict:
        d = asdict(self)
        d["false_change"] = {f"{k:g}": round(v, 6) for k, v in self.false_change.items()}
        return d

    def describe(self) -> str:
        if self.withheld:
            return f"proposals withheld: {self.withheld}; review by ranking only"
        fc = self.false_change.get(self.gate, float("nan"))
        return (f"proposals need a region confidence of {self.gate:g}, set from {self.reference_cases} cases judged "
                f"correct (estimated false change there: {100 * fc:.2f} % of a mask's pixels; models' agreement "
                f"with them: Dice {self.agreement:.2f})")


SAME_OBJECT_DICE = 0.4  # a proposal farther than this from the mask replaces it rather than correcting it


def replaces_mask(area: int, added: int, removed: int) -> bool:
    """Would a proposal that adds ``added`` and removes ``removed`` pixels of a mask of ``area``
    pixels outline another object (Dice to the mask under :data:`SAME_OBJECT_DICE`)? Such a
    proposal is not offered: the ranking sends the case to a reviewer, who redraws it."""
    if area <= 0:
        return False
    kept = area - removed
    return 2.0 * kept / max(area + kept + added, 1) < SAME_OBJECT_DICE


def false_change(regions: list[tuple], area: int, gate: float) -> float:
    """Share of a mask's ``area`` that the ``(confidence, size[, kind])`` regions at or above
    ``gate`` change (nothing when together they would replace the mask, see :func:`replaces_mask`)."""
    kept = [r for r in regions if r[0] >= gate]
    added = sum(r[1] for r in kept if len(r) > 2 and r[2] == "added")
    removed = sum(r[1] for r in kept if len(r) > 2 and r[2] == "removed")
    if replaces_mask(area, added, removed):
        return 0.0
    return sum(r[1] for r in kept) / max(area, 1)


def calibrate_gate(records: list[dict], *, target: float = 0.005, reference_fraction: float = 0.5,
                   min_reference: int = 8, min_agreement: float = 0.8, margin: int = 3,
                   gates=GATES) -> Calibration:
    """The region-confidence gate for one batch (see the module docstring).

    ``records``: one per case scored out of fold: ``{"softmin": score (higher = more likely wrong),
    "agreement": Dice of consensus to mask, "area": mask pixels, "regions": [(confidence, size,
    kind)], "known": 1 / -1 / 0}`` (``known``: a reviewer vouched for the given mask / found it wrong /
    not reviewed; vouched-for masks are reference cases first, wrong ones never). ``margin``: how many levels of ``gates`` above the lowest one that meets the target
    the gate is set (the reference cases are the ones the models agree with most, so their false
    changes understate those of the correct masks ranked higher).
    """
    usable = [r for r in records if np.isfinite(r.get("softmin", np.nan))]
    n_ref = int(np.floor(reference_fraction * len(usable)))
    if n_ref < min_reference:
        return Calibration(None, f"too few cases scored out of fold to calibrate the proposals ({len(usable)}; "
                                 f"{int(np.ceil(min_reference / reference_fraction))} needed)", n_ref, float("nan"),
                           target=target)

    softmin = [r["softmin"] for r in usable]
    known = [r.get("known", 0) for r in usable]
    ref = [usable[i] for i in reference_cases(softmin, known, reference_fraction)]
    n_ref = len(ref)
    agreement = reference_agreement(softmin, [r["agreement"] for r in usable], reference_fraction, known)
    rates = {g: float(np.mean([false_change(r["regions"], r["area"], g) for r in ref])) for g in gates}
    if agreement < min_agreement:
        return Calibration(None, f"the models reach only Dice {agreement:.2f} on the cases judged correct "
                                 f"(at least {min_agreement:g} needed)", n_ref, agreement, rates, target)
    ok = [g for g in gates if rates[g] <= target]
    if not ok:
        worst = gates[-1]
        return Calibration(None, f"no confidence level keeps the changes proposed for the cases judged correct "
                                 f"under {100 * target:g} % of their mask (at {worst:g}: {100 * rates[worst]:.1f} %)",
                           n_ref, agreement, rates, target)
    i = gates.index(min(ok))
    return Calibration(gates[min(i + margin, len(gates) - 1)], None, n_ref, agreement, rates, target)
