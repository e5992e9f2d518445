"""Every TTA transform is inverted exactly; preprocessing and its inverse keep the grid."""

from __future__ import annotations

import numpy as np
import pytest
import torch

from curator.core.engine.augment import random_augment, tta_transforms
from curator.core.engine.preprocess import Preprocessor, PreprocessSpec, labels_to_index


@pytest.mark.parametrize("ndim,shape", [(2, (6, 6)), (3, (4, 5, 6))])
def test_every_tta_transform_is_inverted_exactly(ndim, shape):
    n = 8
    x = torch.arange(2 * int(np.prod(shape)), dtype=torch.float32).reshape((1, 2) + shape)
    ts = tta_transforms(n, ndim)
    assert len(ts) == n and len({t.name for t in ts}) == n
    outs = set()
    for t in ts:
        y = t.forward(x)
        outs.add(tuple(y.flatten().tolist()))
        torch.testing.assert_close(t.inverse(y), x, rtol=0, atol=0)
    assert len(outs) == n  # all transforms differ


def test_non_square_2d_skips_quarter_turns_and_intensity_extends():
    ts = tta_transforms(4, 2, square=False)
    assert all(t.rot in (0, 2) for t in ts)
    x = torch.rand(1, 3, 4, 6)
    for t in ts:
        assert t.inverse(t.forward(x)).shape == x.shape
    with pytest.raises(ValueError):
        tta_transforms(6, 2, square=False)
    more = tta_transforms(12, 2, intensity=True)
    assert len(more) == 12 and any(t.gain != 1.0 for t in more)
    x = torch.rand(1, 3, 5, 5)
    for t in more:  # intensity changes the input, the spatial inverse is still exact
        torch.testing.assert_close(t.inverse(t.forward(x)) / t.gain, x, rtol=1e-6, atol=1e-6)


def test_rgb2d_preprocess_resizes_standardises_and_inverts_to_original_grid():
    img = (np.random.default_rng(0).random((50, 70, 3)) * 255).astype(np.uint8)
    pre = Preprocessor(PreprocessSpec("rgb2d", (32, 32)), img.shape[:2])
    x = pre.image_forward(img)
    assert tuple(x.shape) == (3, 32, 32)
    assert abs(float(x.mean())) < 1e-4 and abs(float(x.std()) - 1) < 0.05
    probs = torch.softmax(torch.randn(2, 32, 32), 0)
    back = pre.probs_inverse(probs)
    assert tuple(back.shape) == (2, 50, 70)
    torch.testing.assert_close(back.sum(0), torch.ones(50, 70), rtol=1e-5, atol=1e-5)
    grey = pre.image_forward(img[..., 0])
    assert tuple(grey.shape) == (3, 32, 32)


def test_labels_forward_is_area_majority_and_round_trip_of_constant_regions():
    lab = np.zeros((40, 40), np.int64)
    lab[:, 20:] = 1
    pre = Preprocessor(PreprocessSpec("rgb2d", (10, 10)), lab.shape)
    down = pre.labels_forward(lab, 2)
    assert down.dtype == np.uint8
    np.testing.assert_array_equal(down[:, :5], 0)
    np.testing.assert_array_equal(down[:, 5:], 1)


def test_ct_window_and_spacing_resample_and_back():
    vol = np.full((10, 20, 20), -1000, np.int16)
    vol[3:7, 5:15, 5:15] = 60
    spec = PreprocessSpec("ct", window=(-200, 300), spacing=(2.0, 2.0, 4.0))
    pre = Preprocessor(spec, vol.shape, (1.0, 1.0, 2.0))
    assert pre.work_shape == (5, 10, 10)
    x = pre.image_forward(vol)
    assert tuple(x.shape) == (1, 5, 10, 10) and float(x.min()) >= 0 and float(x.max()) <= 1
    probs = torch.softmax(torch.randn(3, 5, 10, 10), 0)
    assert tuple(pre.probs_inverse(probs).shape) == (3, 10, 20, 20)


def test_labels_to_index_maps_values():
    lab = np.array([[0, 5, 9]])
    np.testing.assert_array_equal(labels_to_index(lab, [0, 5, 9]), [[0, 1, 2]])


def test_random_augment_moves_labels_with_images():
    g = torch.Generator().manual_seed(0)
    x = torch.zeros(2, 1, 32, 32)
    x[:, :, 8:20, 4:12] = 1.0
    y = (x[:, 0] > 0.5).long()
    xa, ya, _ = random_augment(x.clone(), y.clone(), g, intensity=0.0)
    agree = ((xa[:, 0] > 0.5).long() == ya).float().mean()
    assert agree > 0.97
