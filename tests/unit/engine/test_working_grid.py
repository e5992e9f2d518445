"""curator.core.engine.working_grid: the one mapping between the working grid and the image's grid."""

from __future__ import annotations

import numpy as np

from curator.core.engine.preprocess import Preprocessor, PreprocessSpec
from curator.core.engine.uncertainty import UncertaintyMaps
from curator.core.engine.working_grid import WorkingGrid


def test_probabilities_come_back_normalised_on_the_original_grid():
    grid = WorkingGrid.of((90, 120), (32, 32))
    rng = np.random.default_rng(0)
    p = rng.random((3, 32, 32)).astype(np.float32)
    p /= p.sum(0, keepdims=True)
    back = grid.map_to_original(p, probabilities=True)
    assert back.shape == (3, 90, 120)
    assert np.allclose(back.sum(0), 1.0, atol=1e-5) and back.min() >= 0
    one = grid.map_to_original(p[0])
    assert one.shape == (90, 120)


def test_the_preprocessor_and_the_maps_use_the_same_grid():
    pre = Preprocessor(PreprocessSpec(kind="rgb2d", size=(32, 32)), (90, 120))
    p = np.full((2, 32, 32), 0.5, np.float32)
    p[1, :16] = 0.9
    p[0, :16] = 0.1
    maps = UncertaintyMaps({"mean_prob": p, "entropy": p[0]}, {"orig_shape": [90, 120], "labels": [0, 1]})
    assert maps.grid == pre.grid
    assert np.allclose(pre.probs_inverse(p).numpy(), maps.at_original("mean_prob"), atol=1e-6)


def test_a_working_slice_lands_on_the_original_slice_whose_centre_is_nearest():
    grid = WorkingGrid.of((40, 8, 8), (16, 8, 8))
    r = 40 / 16
    for i in range(16):
        centre = (i + 0.5) * r - 0.5  # aligned corners
        assert abs(grid.original_index(i) - centre) <= 0.5
    assert np.allclose(grid.offset[0], 0.5 * r - 0.5) and grid.ratio[1] == 1.0
