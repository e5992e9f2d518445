"""Proposals (rules, clean-up, regions) and ranking (cleanlab softmin, combination, review rounds)."""

from __future__ import annotations

import numpy as np
import pytest

from curator.core.curation.proposals import ProposalConfig, apply_regions, propose
from curator.core.curation.ranking import boundary_distance, case_scores, combine, rank_order, read_ranking, review_rounds, shape_descriptors, softmin_quality, write_ranking


def _disc(shape=(120, 120), c=(60, 60), r=30):
    yy, xx = np.mgrid[: shape[0], : shape[1]]
    return ((yy - c[0]) ** 2 + (xx - c[1]) ** 2 < r * r).astype(np.uint8)


def _probs(fg: np.ndarray, conf: float = 0.99) -> np.ndarray:
    p1 = np.where(fg > 0, conf, 1 - conf).astype(np.float32)
    return np.stack([1 - p1, p1])


def test_proposal_restores_an_eroded_mask_and_reports_one_added_region():
    truth = _disc()
    given = _disc(r=22)
    prop = propose(given, _probs(truth), labels=[0, 1])
    assert len(prop.regions) == 1 and prop.regions[0].kind == "added"
    from curator.core.metrics import dice

    assert dice(prop.mask, truth) > 0.97 > dice(given, truth)
    added, removed = prop.added_removed()
    assert added > 0 and removed == 0
    assert apply_regions(prop, []).tolist() == given.tolist()
    assert dice(apply_regions(prop, [1]), truth) > 0.97


def test_a_clean_mask_with_boundary_slivers_gets_no_proposal():
    truth = _disc()
    # the models' boundary is a pixel off all around: a sliver, not an error
    prop = propose(truth, _probs(_disc(r=31)), labels=[0, 1])
    assert prop.regions == [] and prop.change_fraction == 0.0


def test_unconfident_disagreement_is_not_proposed():
    truth = _disc()
    given = _disc(r=22)
    prop = propose(given, _probs(truth, conf=0.7), labels=[0, 1], cfg=ProposalConfig(tau=0.8))
    assert prop.regions == []


def test_regions_the_models_are_not_near_certain_of_are_held_back():
    truth, given = _disc(), _disc(r=22)
    probs = _probs(truth, conf=0.9)  # every pixel passes tau = 0.8, the region's mean does not pass 0.96
    assert ProposalConfig().region_confidence() == pytest.approx(0.96)
    assert propose(given, probs, labels=[0, 1]).regions == []
    kept = propose(given, probs, labels=[0, 1], cfg=ProposalConfig(min_confidence=0.85)).regions
    assert len(kept) == 1 and kept[0].mean_confidence == pytest.approx(0.9, abs=0.01)
    # a lower tau (the GUI's slider) lowers the gate with it; the poster's rule has none
    assert ProposalConfig(tau=0.6).region_confidence() == pytest.approx(0.92)
    assert ProposalConfig(rules=("uncertainty",)).region_confidence() == 0.0


def test_poster_rule_and_band_and_multiclass():
    given = np.zeros((80, 80), np.uint8)
    given[10:70, 10:70] = 1
    given[30:50, 30:50] = 2
    p = np.zeros((3, 80, 80), np.float32)
    p[0] = 0.01
    p[1, 10:70, 10:70] = 0.99
    p[2, 25:55, 25:55] = 0.99  # the lesion is bigger than drawn
    p[1, 25:55, 25:55] = 0.0
    p /= p.sum(0, keepdims=True)
    prop = propose(given, p, labels=[0, 1, 2])
    assert (prop.mask[25:55, 25:55] == 2).all()
    assert {r.kind for r in prop.regions} == {"relabelled"}
    u = 1 - p.max(0)
    prop2 = propose(given, p, u, labels=[0, 1, 2], cfg=ProposalConfig(rules=("uncertainty",), delta=0.5))
    assert prop2.regions == []  # nothing uncertain


def test_clean_up_fills_holes_and_drops_islands():
    given = _disc()
    p = _probs(_disc())
    p[:, 58:62, 58:62] = np.array([0.99, 0.01])[:, None, None]  # a hole the models see
    p[:, 5:8, 5:8] = np.array([0.01, 0.99])[:, None, None]  # a speck
    prop = propose(given, p, labels=[0, 1])
    assert prop.regions == []  # hole filled back and speck dropped


def test_softmin_matches_cleanlab():
    cleanlab = pytest.importorskip("cleanlab.segmentation.rank")
    rng = np.random.default_rng(0)
    labels = (rng.random((3, 16, 20)) > 0.5).astype(int)
    p1 = np.clip(labels + rng.normal(0, 0.3, labels.shape), 0.01, 0.99)
    probs = np.stack([1 - p1, p1], axis=1)  # (N, K, H, W)
    expected = cleanlab.get_label_quality_scores(labels, probs, method="softmin", verbose=False)[0]
    ours = [softmin_quality(np.take_along_axis(probs[i], labels[i][None], 0)[0]) for i in range(3)]
    np.testing.assert_allclose(ours, expected, rtol=1e-6)


def test_case_scores_order_a_wrong_mask_above_a_right_one():
    truth = _disc()
    probs = _probs(truth, 0.95)
    good = case_scores(truth, probs)
    bad = case_scores(_disc(r=18), probs)
    for k in ("softmin", "dice", "disagreement", "boundary"):
        assert bad[k] > good[k], k
    assert good["boundary"] < 0.05


def test_combine_rank_and_csv_round_trip(tmp_path):
    scores = {"a": {"dice": 0.1, "softmin": 0.2}, "b": {"dice": 0.5, "softmin": 0.6}, "c": {"dice": 0.3, "softmin": 0.1}}
    comb = combine(scores, {"dice": 1.0, "softmin": 1.0})
    ranked = rank_order(comb)
    assert ranked[0][0] == "b" and ranked[0][2] == 1 and [r[2] for r in ranked] == [1, 2, 3]
    write_ranking(tmp_path / "ranking.csv", ranked)
    back = read_ranking(tmp_path / "ranking.csv")
    assert [r[0] for r in back] == [r[0] for r in ranked]
    assert (tmp_path / "ranking.csv").read_text().splitlines()[0] == "case_id,score,rank"


def test_shape_descriptors_tell_a_polygon_from_a_ragged_outline():
    rng = np.random.default_rng(1)
    ragged = _disc()
    ragged[rng.random(ragged.shape) < 0.05] ^= 1
    d_smooth = shape_descriptors(_disc())
    d_ragged = shape_descriptors(ragged)
    assert d_ragged["roughness"] > d_smooth["roughness"]


def test_review_rounds_find_the_plateau():
    order = [f"c{i}" for i in range(40)]
    errors = {c: i < 12 for i, c in enumerate(order)}
    rounds = review_rounds(order, errors, batch=10, plateau_rate=0.1, patience=2)
    assert [r.errors_found for r in rounds] == [10, 2, 0, 0]
    assert [r.plateau for r in rounds] == [False, False, False, True]
    assert rounds[-1].cumulative_errors == 12


def test_fill_holes_2d_matches_scipy():
    from scipy import ndimage

    from curator.core.curation.proposals import fill_holes_2d

    rng = np.random.default_rng(3)
    for _ in range(5):
        m = rng.random((60, 70)) < 0.55
        np.testing.assert_array_equal(fill_holes_2d(m), ndimage.binary_fill_holes(m))
    assert not fill_holes_2d(np.zeros((5, 5), bool)).any()
    assert fill_holes_2d(np.ones((5, 5), bool)).all()


def test_morphology_paths_agree_at_the_image_border():
    """Small radii use a structuring element, large ones a distance transform: the same result,
    also for an object cut by the frame (erosion must not peel it from the border)."""
    from scipy import ndimage

    from curator.core.curation.proposals import _dilate, _erode

    rng = np.random.default_rng(1)
    m = ndimage.binary_opening(rng.random((80, 90)) < 0.6, iterations=2)
    m[:, :20] = True
    for r in (1.0, 2.5, 4.0, 6.0, 8.0):
        np.testing.assert_array_equal(_erode(m, r), ndimage.distance_transform_edt(m) > r)
        np.testing.assert_array_equal(_dilate(m, r), ndimage.distance_transform_edt(~m) <= r)
    assert _erode(m, 3.0)[:, 0].all()  # the frame does not erode an object it cuts
    # nothing to measure from: scipy's distance transform would measure to a point beyond the
    # corner and grow a ball there (an opening of a small object made a blob in the corner)
    for r in (2.0, 8.0):
        assert not _dilate(np.zeros((30, 30), bool), r).any()
        assert _erode(np.ones((30, 30), bool), r).all()


def test_small_ball_morphology_matches_scipy_in_2d_and_3d():
    """The small-radius path shifts the mask by each of the ball's offsets; it must give exactly
    what scipy's binary erosion (border counted as foreground) and dilation give."""
    from scipy import ndimage

    from curator.core.curation.proposals import _ball, _dilate, _erode

    rng = np.random.default_rng(5)
    for shape in ((1, 1), (7, 40), (45, 38), (4, 9, 11), (12, 30, 25)):
        m = ndimage.gaussian_filter(rng.random(shape), 1.2) > 0.5
        m[(0,) * len(shape)] = True  # something touches the border
        for r in (0.5, 1.0, 1.5, 2.0, 3.0, 4.0):
            ball = _ball(r, len(shape))
            np.testing.assert_array_equal(_erode(m, r), ndimage.binary_erosion(m, ball, border_value=1))
            np.testing.assert_array_equal(_dilate(m, r), ndimage.binary_dilation(m, ball))


def test_clean_up_and_width_test_on_boxes_match_the_whole_image():
    """The clean-up works on each label's bounding box and the min-width test on each region's:
    both must give what the whole image gives, for objects inside the frame and cut by it, for
    structuring-element radii and distance-transform radii."""
    from scipy import ndimage

    from curator.core.curation.proposals import _clean_box, _clean_label, _has_core, _opening

    rng = np.random.default_rng(7)
    cfg = ProposalConfig()
    for trial in range(12):
        m = np.zeros((90, 110), bool)
        for _ in range(4):  # a few blobs, some cut by the frame
            cy, cx, r = rng.integers(-5, 95), rng.integers(-5, 115), rng.integers(3, 18)
            yy, xx = np.ogrid[:90, :110]
            m |= (yy - cy) ** 2 + ((xx - cx) * rng.uniform(0.4, 1.6)) ** 2 < r * r
        m ^= rng.random(m.shape) < 0.03  # specks and pinholes
        for r in (1.5, 3.0, 6.0):
            whole = _clean_box(m, cfg, r, area=int(m.sum()))
            boxed = _clean_label(m, ProposalConfig(smooth=r), radius=50.0, area=int(m.sum()))
            np.testing.assert_array_equal(boxed, whole, err_msg=f"trial {trial}, smooth {r}")
            lab, n = ndimage.label(m)
            core = _opening(m, r)
            for i, sl in enumerate(ndimage.find_objects(lab), start=1):
                assert _has_core(lab, i, sl, r) == bool(core[lab == i].any()), (trial, r, i)


def test_edge_scores_weigh_in_as_the_models_weaken():
    from curator.core.curation.ranking import DEFAULT_WEIGHTS, adaptive_weights, reference_agreement

    # the agreement of the half judged correct (lowest softmin), not of the cases the models contradict
    assert reference_agreement([0.1, 0.2, 0.9, 0.8], [0.95, 0.9, 0.3, 0.2]) == pytest.approx(0.925)
    strong, mid, weak = adaptive_weights(0.96), adaptive_weights(0.85), adaptive_weights(0.5)
    sm = DEFAULT_WEIGHTS["softmin"]
    assert strong["edges"] == 0.0 and strong["edge_fit"] == sm  # the model-free fit always counts
    assert mid["edges"] == pytest.approx(0.5 * sm) and mid["edge_fit"] == pytest.approx(1.5 * sm)
    assert weak["edges"] == sm and weak["edge_fit"] == 2 * sm
    nan = adaptive_weights(float("nan"))  # no agreement measured: the models' edge preference not used
    assert nan["edges"] == 0.0 and nan["edge_fit"] == sm
    assert all(strong[k] == v for k, v in DEFAULT_WEIGHTS.items())
    # the batch says which weights it used, and why
    from curator.core.curation.ranking import describe_weights

    line = describe_weights({"agreement": 0.85, "weights": mid})
    assert "Dice 0.85" in line and "edges weighs 1.50 of softmin" in line and "image's edges 0.50" in line
    assert "image's edges 0.00" in describe_weights({"agreement": 0.96, "weights": strong})
    assert "could not be measured" in describe_weights({"agreement": float("nan"), "weights": strong})
    assert describe_weights(None) is None


def test_edge_scores_of_a_case():
    from curator.core.curation.ranking import edge_scores

    yy, xx = np.mgrid[:64, :64]
    disc = (((yy - 32) ** 2 + (xx - 32) ** 2) < 15 ** 2).astype(np.uint8)
    img = np.stack([disc * 200.0 + 20] * 3, -1)
    shifted = np.roll(disc, 8, axis=1)
    wrong = edge_scores(img, shifted, disc)  # the consensus follows the disc, the mask does not
    right = edge_scores(img, disc, disc)
    assert wrong["edges"] > 0.5 and right["edges"] == 0.0
    assert wrong["edge_fit"] > right["edge_fit"]  # higher = more likely wrong


def test_boundary_distance_is_the_mean_outline_distance_over_the_radius_with_spacing():
    square = np.zeros((60, 80), bool)
    square[10:30, 10:30] = True
    moved = np.roll(square, 6, axis=1)  # the outline moves 6 px along x
    brute = []
    ea, eb = [np.argwhere(m & ~np.pad(m, 1)[2:, 1:-1] | m & ~np.pad(m, 1)[:-2, 1:-1]
                          | m & ~np.pad(m, 1)[1:-1, 2:] | m & ~np.pad(m, 1)[1:-1, :-2]) for m in (moved, square)]
    for src, dst, sp in ((ea, eb, (1.0, 1.0)), (ea, eb, (2.0, 0.5))):
        d = np.sqrt((((src[:, None] - dst[None]) * sp) ** 2).sum(-1))
        brute.append(0.5 * (d.min(1).mean() + d.min(0).mean()))
    r = np.sqrt(square.sum() / np.pi)
    assert boundary_distance(moved, square) == pytest.approx(brute[0] / r)
    assert boundary_distance(moved, square, spacing=(2.0, 0.5)) == pytest.approx(brute[1] / r)
    assert boundary_distance(square, square) == 0.0
    assert boundary_distance(square, np.zeros_like(square)) == 1.0
    assert boundary_distance(np.zeros_like(square), np.zeros_like(square)) == 0.0
