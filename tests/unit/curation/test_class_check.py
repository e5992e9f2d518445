"""Class checks per component (issue 18): a component whose label the models contradict is one
``class`` region; accepting it changes exactly that component's label."""

from __future__ import annotations

import numpy as np
import pytest

from curator.core.curation.class_check import class_changes
from curator.core.curation.decisions import decided_mask, proposal_mask
from curator.core.curation.proposals import ProposalConfig, apply_regions, gate_regions, propose


def _disc(shape, c, r):
    yy, xx = np.mgrid[: shape[0], : shape[1]]
    return (yy - c[0]) ** 2 + (xx - c[1]) ** 2 < r * r


def _liver_and_tumours(shape=(96, 96)):
    """Truth: a liver (1) with a tumour (2) inside it, and a second tumour apart from it."""
    truth = np.zeros(shape, np.uint8)
    truth[_disc(shape, (40, 40), 30)] = 1
    truth[_disc(shape, (40, 40), 8)] = 2
    truth[_disc(shape, (80, 80), 9)] = 2
    return truth


def _probs_of(truth: np.ndarray, conf: float = 0.99, n: int = 3) -> np.ndarray:
    p = np.full((n, *truth.shape), (1 - conf) / (n - 1), np.float32)
    for c in range(n):
        p[c][truth == c] = conf
    return p


def test_a_tumour_labelled_as_liver_is_proposed_as_tumour():
    truth = _liver_and_tumours()
    given = truth.copy()
    lone = _disc(truth.shape, (80, 80), 9)
    given[lone] = 1  # the tumour apart from the liver drawn with the liver's label
    prop = propose(given, _probs_of(truth), labels=[0, 1, 2])
    assert len(prop.regions) == 1
    r = prop.regions[0]
    assert (r.kind, r.from_label, r.to_label, r.size) == ("class", 1, 2, int(lone.sum()))
    assert r.mean_confidence == pytest.approx(0.99 / 0.995, abs=1e-4)
    assert r.to_json()["kind"] == "class"
    # the region is the whole component, one region, nothing else changes
    assert np.array_equal(prop.region_map > 0, lone)
    assert np.array_equal(apply_regions(prop, [r.id]), truth)
    assert np.array_equal(apply_regions(prop, []), given)
    # the review path: an accepted decision with that region chosen is exactly the truth
    accepted = decided_mask({"decision": "accepted", "regions": [r.id]}, given, proposal=prop.mask,
                            regions=prop.region_map)
    assert np.array_equal(accepted, truth)
    assert np.array_equal(proposal_mask(given, prop.mask, prop.region_map, []), given)
    # a label change moves no outline: it does not make the proposal "another object"
    assert prop.outline_changes() == (0, 0) and prop.added_removed() == (r.size, r.size)


def test_a_small_component_blurred_at_its_edge_is_still_a_sure_class_change():
    """The models' blur into the background along a small component's outline says where its edge
    is, not which object it is: the confidence is the new class's share of the foreground."""
    from scipy import ndimage

    truth = _liver_and_tumours()
    given = truth.copy()
    lone = _disc(truth.shape, (80, 80), 5)
    truth[_disc(truth.shape, (80, 80), 9)] = 0
    truth[lone] = 2
    given[_disc(truth.shape, (80, 80), 9)] = 0
    given[lone] = 1
    p = np.stack([ndimage.gaussian_filter(c, 0.8) for c in _probs_of(truth, 0.96)])
    assert p[2][lone].mean() < 0.9  # the plain mean would be held back at a gate of 0.9
    [r] = propose(given, p, labels=[0, 1, 2], cfg=ProposalConfig(min_confidence=0.9)).regions
    assert (r.kind, r.from_label, r.to_label, r.size) == ("class", 1, 2, int(lone.sum()))


def test_a_liver_labelled_as_tumour_changes_class_and_its_tumour_stays():
    truth = _liver_and_tumours()
    given = truth.copy()
    given[truth == 1] = 2  # the whole liver labelled tumour: liver and inner tumour are one component
    prop = propose(given, _probs_of(truth), labels=[0, 1, 2])
    assert [(r.kind, r.from_label, r.to_label) for r in prop.regions] == [("class", 2, 1)]
    assert np.array_equal(prop.mask, truth)  # the inner tumour, which the models call tumour, stays


def test_components_the_models_agree_with_get_no_class_region():
    truth = _liver_and_tumours()
    prop = propose(truth, _probs_of(truth), labels=[0, 1, 2])
    assert prop.regions == []
    assert class_changes(truth.astype(np.int64), _probs_of(truth)) == []


def test_an_unconfident_contradiction_is_not_proposed():
    truth = _liver_and_tumours()
    given = truth.copy()
    lone = _disc(truth.shape, (80, 80), 9)
    given[lone] = 1
    p = _probs_of(truth)
    p[:, lone] = np.array([0.05, 0.3, 0.65])[:, None]  # tumour is the models' best guess, not a sure one
    assert propose(given, p, labels=[0, 1, 2]).regions == []  # gate 0.96
    # ... nor by the pixel-wise rule in pieces: the component is the class check's alone
    low = propose(given, p, labels=[0, 1, 2], cfg=ProposalConfig(min_confidence=0.6))
    assert [(r.kind, round(r.mean_confidence, 3)) for r in low.regions] == [("class", round(0.65 / 0.95, 3))]


def test_no_majority_no_class_change_and_the_pixel_rule_still_acts():
    truth = _liver_and_tumours()
    given = truth.copy()
    lone = _disc(truth.shape, (80, 80), 9)
    given[lone] = 1
    p = _probs_of(truth)
    p[:, lone & (np.arange(96)[None, :] <= 81)] = np.array([0.005, 0.99, 0.005])[:, None]  # left half and more: liver
    assert not [c for c in class_changes(given.astype(np.int64), p) if c.to_index == 2]
    prop = propose(given, p, labels=[0, 1, 2])
    assert [r.kind for r in prop.regions] == ["relabelled"]  # the right part, pixel by pixel


def test_a_component_the_models_call_background_is_not_a_class_question():
    truth = _liver_and_tumours()
    given = truth.copy()
    stray = _disc(truth.shape, (85, 15), 6)
    given[stray] = 2
    prop = propose(given, _probs_of(truth), labels=[0, 1, 2])
    assert [r.kind for r in prop.regions] == ["removed"]


def test_class_regions_gate_like_the_others_and_can_be_turned_off():
    truth = _liver_and_tumours()
    given = truth.copy()
    lone = _disc(truth.shape, (80, 80), 9)
    given[lone] = 1
    given[_disc(truth.shape, (40, 40), 30) & ~_disc(truth.shape, (40, 40), 27) & (truth == 1)] = 0  # liver too thin
    p = _probs_of(truth)
    p[:, lone] = np.array([0.01, 0.076, 0.914])[:, None]  # tumour among the foreground classes: 0.923
    ungated = propose(given, p, labels=[0, 1, 2], cfg=ProposalConfig(min_confidence=0.0))
    assert sorted(r.kind for r in ungated.regions) == ["added", "class"]
    for gate in (0.9, 0.95):  # gating the stored candidates is the same as proposing with the gate
        direct = propose(given, p, labels=[0, 1, 2], cfg=ProposalConfig(min_confidence=gate))
        gated = gate_regions(given, ungated.mask, ungated.region_map, [r.to_json() for r in ungated.regions], gate)
        assert [r.kind for r in gated.regions] == [r.kind for r in direct.regions]
        assert np.array_equal(gated.mask, direct.mask) and np.array_equal(gated.region_map, direct.region_map)
    off = propose(given, p, labels=[0, 1, 2], cfg=ProposalConfig(min_confidence=0.0, class_check=False))
    assert "class" not in {r.kind for r in off.regions}


def test_old_region_records_without_class_kinds_still_gate():
    given = np.zeros((20, 20), np.uint8)
    mask = given.copy()
    mask[5:10, 5:10] = 1
    rmap = (mask > 0).astype(np.uint16)
    old = [{"id": 1, "kind": "added", "size": 25, "from_label": 0, "to_label": 1, "mean_uncertainty": 0.1,
            "mean_confidence": 0.99, "bbox": [5, 10, 5, 10], "centroid": [7.0, 7.0]}]
    assert gate_regions(given, mask, rmap, old, 0.9).regions[0].kind == "added"


def test_a_small_tumour_beside_a_large_liver_is_checked_against_the_tumour_class_size():
    """min_region is a share of the smaller class's area: a tumour of 0.3 % of the mask (under the
    pixel-wise regions' 0.5 % of the whole mask) is still checked."""
    shape = (200, 200)
    truth = np.zeros(shape, np.uint8)
    truth[_disc(shape, (90, 90), 80)] = 1
    truth[_disc(shape, (90, 90), 10)] = 2
    lone = _disc(shape, (190, 190), 4)
    truth[lone] = 2
    given = truth.copy()
    given[lone] = 1
    assert lone.sum() < 0.005 * np.count_nonzero(given)
    [r] = propose(given, _probs_of(truth), labels=[0, 1, 2]).regions
    assert (r.kind, r.from_label, r.to_label, r.size) == ("class", 1, 2, int(lone.sum()))
    # a speck under min_region of the tumour class is not
    assert propose(given, _probs_of(truth), labels=[0, 1, 2], cfg=ProposalConfig(min_region=0.3)).regions == []
