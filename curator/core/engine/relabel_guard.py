"""Relabelling while training that cannot do harm: it starts only on evidence, case by case.

The poster's relabelling replaces a training mask's labels by the network's consensus wherever
they disagree. That repairs coarse masks when the network is better than them, and trains the
network on its own mistakes when it is not (a weak network early in training, or masks that were
right). :class:`RelabelGuard` decides when and where relabelling may act, from evidence measured
on data the network did not fit:

* **when**: after each epoch (and, for large datasets, every ``check_steps`` optimiser steps, so a
  network that fits the noise within its first epoch is caught in time) the member predicts its
  *held-out* cases (the fold it will later score; never trained on) and compares, where its
  candidate labels disagree with the given mask, which outline follows the image's edges better
  (:mod:`curator.core.engine.evidence`). Relabelling starts the first time the network's outlines are
  better on a clear majority of those cases (a sign test), and never after ``max_start`` of the
  training. Without that evidence nothing is relabelled, and the member's record says why.
  A held-out case whose candidate shares too little with the mask (Dice under 0.4) is not a
  correction of the same object: it counts against the network.
* **where**: once started, each epoch every training case gets its candidate labels (test-time
  augmented consensus, the confident-learning rule), and only the cases whose candidate differs
  materially from the mask, outlines the same object *and* follows the image's edges better are
  relabelled; a clean mask that a network draws differently keeps its outline.
* **stop**: the evidence is checked again every epoch; two failed checks in a row, or the drift
  brake (the labels running away from the given masks), stop relabelling for good and the given
  masks come back.

Labels are class-index maps at the working resolution; flips are always computed from the given
mask (never accumulated).
"""

from __future__ import annotations

import numpy as np

from curator.core.engine.evidence import EdgeEvidence, edge_preference, gradient_magnitude, relabel_evidence
from curator.core.engine.inference import iter_predict
from curator.core.engine.relabel import apply_flips, flip_candidates
from curator.core.jobs import run
from curator.core.metrics import foreground_dice

__all__ = ["RelabelGuard", "DISAGREE_DICE"]

DISAGREE_DICE = 0.95  # candidate labels closer than this (Dice) to the mask are agreement, not a correction
# candidate labels farther than this from the mask outline another object: not a correction of this
# one, and comparing the two outlines' edges says nothing about which is right (a weak network's
# blobs find the strong edges of the lumen or the vignette); such a case counts against the network
SAME_OBJECT_DICE = 0.4
ANOTHER_OBJECT = -10.0


class RelabelGuard:
    """State of evidence-guarded relabelling for one member (see the module docstring).

    ``items``: the training cases (``PreparedCase``, labels = given masks); ``probe``: held-out
    cases with their given masks (may be empty: then relabelling never starts).
    """

    def __init__(self, items, probe, spec, rc, device, amp, *, epochs: int, batches_per_epoch: int,
                 check_steps: int = 25, max_probe: int = 48, seed: int = 0):
        self.items = items
        rng = np.random.default_rng([seed, 31337])
        probe = list(probe or [])
        if len(probe) > max_probe:
            probe = [probe[i] for i in sorted(rng.choice(len(probe), max_probe, replace=False))]
        self.probe = probe
        self.spec, self.rc, self.device, self.amp = spec, rc, device, amp
        self.epochs, self.batches_per_epoch = epochs, batches_per_epoch
        self.check_steps = check_steps
        self._grads: dict[str, np.ndarray] = {}
        self.started: int | None = None  # epoch (1-based) of the first relabelling
        self.stopped: int | None = None
        self.failures = 0
        self.last: EdgeEvidence | None = None
        self.decision = ("not relabelled: no held-out cases to measure the network against"
                         if not self.probe else "not relabelled: the network was never shown to be better than "
                         "the masks")

    # -- state (checkpoints) ---------------------------------------------------------------------
    def state(self) -> dict:
        return {"started": self.started, "stopped": self.stopped, "failures": self.failures, "decision": self.decision}

    def restore(self, d: dict) -> None:
        self.started, self.stopped = d.get("started"), d.get("stopped")
        self.failures, self.decision = int(d.get("failures", 0)), d.get("decision", self.decision)

    @property
    def active(self) -> bool:
        return self.started is not None and self.stopped is None

    # -- evidence --------------------------------------------------------------------------------
    def _grad(self, item) -> np.ndarray:
        g = self._grads.get(item.case_id)
        if g is None:
            g = self._grads[item.case_id] = gradient_magnitude(item.image)
        return g

    def _predict(self, net, items, tta: int) -> dict[str, np.ndarray]:
        """Mean probabilities of ``items`` (TTA), without touching the training's random state."""
        import torch

        patch = self.spec.preprocess.patch if self.spec.spatial_dims == 3 else None
        out = {}
        was_training = net.training
        with torch.random.fork_rng(devices=[]):
            for it in items:
                x = torch.from_numpy(it.image.astype(np.float32))
                acc = run(iter_predict([(net, patch)], x, tta=tta, device=self.device, amp=self.amp))
                out[it.case_id] = acc.result()["mean_prob"].numpy()
        net.train(was_training)
        return out

    def _candidate(self, given: np.ndarray, mean_prob: np.ndarray) -> np.ndarray:
        rc = self.rc
        flips = flip_candidates(given, mean_prob, rule="confident", tau=rc.tau, band=rc.band)
        return apply_flips(given, flips).astype(given.dtype)

    def _preference(self, item, cand: np.ndarray) -> float | None:
        """Edge preference of the candidate over the given mask; None when they agree,
        ``ANOTHER_OBJECT`` when the candidate is not a correction of the same object."""
        d = foreground_dice(cand, item.labels)
        if d >= DISAGREE_DICE:
            return None
        if d < SAME_OBJECT_DICE:
            return ANOTHER_OBJECT
        return edge_preference(self._grad(item), item.labels, cand)

    def check(self, net) -> EdgeEvidence:
        """The held-out evidence now (small TTA: it runs often)."""
        preds = self._predict(net, self.probe, tta=2)
        prefs = [self._preference(it, self._candidate(it.labels, preds[it.case_id])) for it in self.probe]
        self.last = relabel_evidence(prefs)
        return self.last

    # -- the schedule ----------------------------------------------------------------------------
    def may_start(self, epoch: int) -> bool:
        """Before relabelling has started, and early enough in the training (``epoch`` 1-based)."""
        latest = max(1, int(round(self.rc.max_auto_start * self.epochs)))
        return bool(self.probe) and self.started is None and self.stopped is None and epoch <= latest

    def mid_epoch_check_due(self, step_in_epoch: int, epoch: int) -> bool:
        """Large datasets (many steps per epoch) are also checked within the epoch."""
        return (self.batches_per_epoch >= 2 * self.check_steps and step_in_epoch % self.check_steps == 0
                and step_in_epoch < self.batches_per_epoch and self.may_start(epoch))

    def try_start(self, net, labels: dict, original: dict, epoch: int) -> dict | None:
        """Check the evidence; when it holds, relabel now. Returns the relabelling record or None."""
        ev = self.check(net)
        if not ev.holds:
            return None
        self.started = epoch
        self.decision = f"relabelled from epoch {epoch}: {ev.describe()}"
        return self.relabel(net, labels, original)

    def epoch_end(self, net, labels: dict, original: dict, epoch: int) -> dict:
        """After an epoch: start (on evidence) or go on relabelling; updates ``labels`` in place.
        Returns what is recorded in the member's history."""
        if self.started is None:
            if not self.may_start(epoch):
                return {}
            rec = self.try_start(net, labels, original, epoch)
            out = {"evidence": self.last.to_json()} if self.last is not None else {}
            return {**out, **(rec or {})}
        if not self.active:
            return {}
        ev = self.check(net)
        self.failures = 0 if ev.holds else self.failures + 1
        rec = {"evidence": ev.to_json()}
        if self.failures >= 2:
            self.stop(labels, original, epoch, "the held-out evidence failed twice in a row")
            return {**rec, "relabel_stopped": True}
        if (epoch - self.started) % max(1, self.rc.every) == 0:
            rec.update(self.relabel(net, labels, original))
        return rec

    def stop(self, labels: dict, original: dict, epoch: int, why: str) -> None:
        self.stopped = epoch
        self.decision += f"; stopped at epoch {epoch}: {why}"
        labels.update(original)

    def relabel(self, net, labels: dict, original: dict) -> dict:
        """Candidate labels for every training case; the ones that follow the image's edges better
        than a materially different mask replace it."""
        preds = self._predict(net, self.items, tta=self.rc.tta)
        flipped = chosen = 0
        agree = []
        for it in self.items:
            given = original[it.case_id]
            cand = self._candidate(given, preds[it.case_id])
            agree.append(foreground_dice(cand, given))
            pref = self._preference(it, cand)
            new = cand if pref is not None and pref > 0.1 else given
            chosen += new is cand
            flipped += int(np.count_nonzero(new != labels[it.case_id]))
            labels[it.case_id] = new
        # the drift brake watches what relabelling would make of every mask, chosen or not
        return {"flipped_pixels": flipped, "relabelled_cases": int(chosen),
                "labels_dice_to_given": float(np.mean(agree)) if agree else 1.0}


def drifted(history: list[dict], max_drift: float | None) -> bool:
    """True when the relabelled labels' agreement with the given masks (mean Dice) has fallen more
    than ``max_drift`` below its value at the first relabelling: the network is training on its own
    errors (confirmation bias), not correcting the masks."""
    if max_drift is None:
        return False
    a = [h["labels_dice_to_given"] for h in history if h.get("labels_dice_to_given") is not None]
    return len(a) >= 2 and a[0] - a[-1] > max_drift


def auto_start(history: list[dict], epochs: int, max_fraction: float) -> int | None:
    """The poster's start epoch: where the relative change of the mean cumulative uncertainty
    is smallest. Online: once the relative change rises again after falling, the epoch of its
    minimum is the start; at the latest ``max_fraction`` of the epochs."""
    u = [h.get("mean_uncertainty") for h in history if h.get("mean_uncertainty") is not None]
    n = len(u)
    latest = max(2, int(round(max_fraction * epochs)))
    if n >= 3:
        # rel[j]: relative change from epoch j+1 to epoch j+2 (1-based), attributed to epoch j+2
        rel = [abs(u[i] - u[i - 1]) / max(abs(u[i - 1]), 1e-12) for i in range(1, n)]
        for j in range(1, len(rel)):
            if rel[j] > rel[j - 1]:
                return min(j + 1, latest)  # epoch of the minimum (relabelling starts now)
    if n >= latest:
        return latest
    return None
