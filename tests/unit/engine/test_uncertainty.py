"""Uncertainty measures against hand-computed values; streaming equals batch; maps on disk."""

from __future__ import annotations

import math

import numpy as np
import pytest
import torch

from curator.core.engine.uncertainty import UncertaintyAccumulator, UncertaintyMaps, entropy, load_maps, measures_from_sums, save_maps


def _acc(preds):
    acc = UncertaintyAccumulator()
    for p in preds:
        acc.add(p)
    return acc


def test_identical_members_give_zero_mutual_information_and_zero_epistemic_variance():
    p = np.array([[[0.9, 0.3]], [[0.1, 0.7]]])  # (C=2, 1, 2)
    res = _acc([p, p, p]).result()
    np.testing.assert_allclose(res["mutual_info"], 0.0, atol=1e-7)
    np.testing.assert_allclose(res["kwon_epistemic"], 0.0, atol=1e-7)
    np.testing.assert_allclose(res["entropy"], res["aleatoric"], atol=1e-7)
    np.testing.assert_allclose(res["mean_prob"], p)


def test_fifty_fifty_split_gives_entropy_log2():
    a = np.array([[[1.0]], [[0.0]]])
    b = np.array([[[0.0]], [[1.0]]])
    res = _acc([a, b]).result()
    assert res["entropy"][0, 0] == pytest.approx(math.log(2))
    # each member is certain: expected entropy 0, so all of it is epistemic
    assert res["aleatoric"][0, 0] == pytest.approx(0.0, abs=1e-6)
    assert res["mutual_info"][0, 0] == pytest.approx(math.log(2))
    # Kwon: aleatoric trace 0, epistemic trace = var per class summed = 0.25 + 0.25
    assert res["kwon_aleatoric"][0, 0] == pytest.approx(0.0, abs=1e-7)
    assert res["kwon_epistemic"][0, 0] == pytest.approx(0.5)
    assert res["variance"][0, 0] == pytest.approx(0.5)


def test_uniform_single_prediction_is_all_aleatoric():
    p = np.full((4, 3, 3), 0.25)
    res = _acc([p]).result()
    np.testing.assert_allclose(res["entropy"], math.log(4), rtol=1e-6)
    np.testing.assert_allclose(res["mutual_info"], 0, atol=1e-6)
    np.testing.assert_allclose(res["kwon_aleatoric"], 4 * 0.25 * 0.75, rtol=1e-6)


def test_kwon_decomposition_matches_definition():
    rng = np.random.default_rng(0)
    preds = rng.dirichlet([1, 2, 3], size=(7, 5)).transpose(0, 2, 1)  # (T=7, C=3, V=5)
    res = _acc(list(preds)).result()
    mean = preds.mean(0)
    for v in range(5):
        ps = preds[:, :, v]
        ale = np.mean([np.diag(p) - np.outer(p, p) for p in ps], axis=0)
        epi = np.mean([np.outer(p - mean[:, v], p - mean[:, v]) for p in ps], axis=0)
        assert res["kwon_aleatoric"][v] == pytest.approx(np.trace(ale), rel=1e-6)
        assert res["kwon_epistemic"][v] == pytest.approx(np.trace(epi), rel=1e-6)
        assert res["variance"][v] == pytest.approx(np.sum(mean[:, v] * (1 - mean[:, v])), rel=1e-6)
    exp_h = np.mean([entropy(p, 0) for p in preds], axis=0)
    np.testing.assert_allclose(res["aleatoric"], exp_h, rtol=1e-6)


def test_streaming_batches_equal_one_by_one_and_torch_equals_numpy():
    rng = np.random.default_rng(1)
    preds = rng.dirichlet([1, 1], size=(6, 4, 4)).transpose(0, 3, 1, 2).astype(np.float32)  # (6, 2, 4, 4)
    one = _acc(list(preds)).result()
    acc = UncertaintyAccumulator()
    acc.add_batch(preds[:4])
    acc.add_batch(preds[4:])
    two = acc.result()
    tacc = UncertaintyAccumulator()
    tacc.add_batch(torch.from_numpy(preds))
    three = tacc.result()
    for k in one:
        np.testing.assert_allclose(one[k], two[k], rtol=1e-5, atol=1e-6)
        np.testing.assert_allclose(one[k], three[k].numpy(), rtol=1e-5, atol=1e-6)


def test_p_given_picks_the_given_class():
    p = np.array([[[0.9, 0.2]], [[0.1, 0.8]]])
    res = measures_from_sums(p, p * p, entropy(p, 0), 1, given=np.array([[0, 0]]))
    np.testing.assert_allclose(res["p_given"], [[0.9, 0.2]])


def test_maps_round_trip_float16_and_upsample(tmp_path):
    mean = np.stack([np.full((4, 4), 0.75), np.full((4, 4), 0.25)]).astype(np.float32)
    maps = UncertaintyMaps({"mean_prob": mean, "entropy": np.full((4, 4), 0.5, np.float32)},
                           {"orig_shape": [8, 12], "labels": [0, 1]})
    save_maps(tmp_path / "a.npz", maps)
    back = load_maps(tmp_path / "a.npz")
    assert back.maps["entropy"].dtype == np.float16
    up = back.at_original("mean_prob")
    assert up.shape == (2, 8, 12)
    np.testing.assert_allclose(up.sum(0), 1.0, atol=1e-3)
    mask = np.zeros((8, 12), np.uint8)
    mask[:, 6:] = 1
    pg = back.p_given(mask)
    np.testing.assert_allclose(pg[:, :6], 0.75, atol=1e-3)
    np.testing.assert_allclose(pg[:, 6:], 0.25, atol=1e-3)


def test_no_predictions_is_an_error():
    with pytest.raises(ValueError, match="no predictions"):
        UncertaintyAccumulator().result()
