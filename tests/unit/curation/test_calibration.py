"""curator.core.curation.calibration: the region gate set per batch from its own cases, or withheld with a reason."""

from __future__ import annotations

import json

import numpy as np

from curator.core.curation.calibration import calibrate_gate, false_change, replaces_mask
from curator.core.curation.proposals import Proposal, ProposalConfig, gate_regions, propose


def _records(n_clean=30, n_wrong=12, clean_fail_conf=0.93, seed=0, agreement=0.92):
    """Cases judged by softmin; clean ones carry a few false regions at ``clean_fail_conf``,
    wrong ones large true regions at 0.99."""
    rng = np.random.default_rng(seed)
    recs = []
    for i in range(n_clean):
        regions = [(clean_fail_conf, 80)] if i % 3 == 0 else []
        recs.append({"softmin": float(rng.uniform(0.0, 0.4)), "agreement": agreement, "area": 1000, "regions": regions})
    for _ in range(n_wrong):
        recs.append({"softmin": float(rng.uniform(0.5, 1.0)), "agreement": 0.6, "area": 1000,
                     "regions": [(0.99, 300)]})
    return recs


def test_gate_is_the_lowest_level_that_keeps_false_changes_under_target():
    calib = calibrate_gate(_records())
    assert calib.withheld is None
    # the clean cases' failures at 0.93 are gated out from 0.94 on; three levels of margin above that
    assert calib.false_change[0.92] > 0.005 >= calib.false_change[0.94] and calib.gate == 0.97
    assert "region confidence of 0.97" in calib.describe()
    assert calibrate_gate(_records(), margin=0).gate == 0.94
    assert calibrate_gate(_records(), margin=2).gate == 0.96
    # a dataset whose models fail less confidently gets a lower gate: the gate follows the data
    assert calibrate_gate(_records(clean_fail_conf=0.82)).gate == 0.94


def test_withheld_when_too_few_cases_weak_models_or_no_safe_level():
    few = calibrate_gate(_records(n_clean=6, n_wrong=4))
    assert few.gate is None and "too few cases" in few.withheld and "review by ranking only" in few.describe()
    weak = calibrate_gate(_records(agreement=0.71))
    assert weak.gate is None and "Dice 0.71" in weak.withheld
    hopeless = calibrate_gate(_records(clean_fail_conf=0.9995))
    assert hopeless.gate is None and "no confidence level" in hopeless.withheld


def test_masks_reviewers_vouched_for_are_the_reference_first_and_masks_found_wrong_never():
    from curator.core.curation.ranking import reference_cases

    softmin = [0.1, 0.2, 0.3, 0.9, 0.8, 0.7]
    # unreviewed: the lower half by softmin
    assert sorted(reference_cases(softmin)) == [0, 1, 2]
    # a kept mask ranked as likely wrong joins (first), a mask found wrong leaves, however low its score
    assert list(reference_cases(softmin, [0, -1, 0, 1, 0, 0])) == [3, 0, 2]
    # more vouched-for masks than half the batch: all of them, and only them
    assert sorted(reference_cases(softmin, [1, 1, 1, 1, 0, 0])) == [0, 1, 2, 3]

    recs = _records()
    # the reference half looks clean, but reviewers kept masks whose false regions are confident at 0.97
    for r in recs[:10]:
        r["known"] = 1
        r["regions"] = [(0.97, 80)]
    assert calibrate_gate(_records()).gate == 0.97
    assert calibrate_gate(recs).gate > 0.98


def test_false_change_counts_regions_at_or_above_the_gate():
    assert false_change([(0.9, 10), (0.97, 20)], 100, 0.95) == 0.2
    assert false_change([], 0, 0.5) == 0.0
    # a proposal that would replace the mask (another object, or the same several times too large)
    # is not offered, so it changes nothing
    assert replaces_mask(100, 400, 0) and replaces_mask(100, 0, 80) and not replaces_mask(100, 60, 20)
    assert false_change([(0.97, 400, "added")], 100, 0.95) == 0.0


def test_gating_candidates_equals_proposing_with_that_gate():
    rng = np.random.default_rng(1)
    given = np.zeros((80, 80), np.uint8)
    given[20:50, 20:50] = 1
    p1 = np.zeros((80, 80), np.float32)
    p1[22:58, 18:50] = 0.99  # a confident addition below
    p1[5:15, 60:75] = 0.85  # a less confident island
    p1 += rng.uniform(0, 0.01, p1.shape).astype(np.float32)
    probs = np.stack([1 - p1, p1])
    ungated = propose(given, probs, labels=[0, 1], cfg=ProposalConfig(min_confidence=0.0))
    for gate in (0.0, 0.9, 0.999):
        direct = propose(given, probs, labels=[0, 1], cfg=ProposalConfig(min_confidence=gate))
        gated = gate_regions(given, ungated.mask, ungated.region_map, [r.to_json() for r in ungated.regions], gate)
        np.testing.assert_array_equal(gated.mask, direct.mask)
        np.testing.assert_array_equal(gated.region_map, direct.region_map)
        assert json.dumps([r.to_json() for r in gated.regions]) == json.dumps([r.to_json() for r in direct.regions])
    assert isinstance(gated, Proposal)
