"""Mask-aware encoder embeddings and the outlier score built on them."""

from __future__ import annotations

import numpy as np
import torch

from curator.lab.embeddings import embedding_outliers, mask_embedding
from curator.core.engine.models import ModelSpec, build_network
from curator.core.engine.preprocess import PreprocessSpec


def _net():
    torch.manual_seed(0)
    spec = ModelSpec(spatial_dims=2, in_channels=3, channels=[4, 8, 16], strides=[2, 2], num_res_units=0,
                     norm="batch", preprocess=PreprocessSpec("rgb2d", (32, 32)))
    return build_network(spec)


def test_the_embedding_pools_the_bottleneck_per_class_of_the_mask():
    net = _net()
    x = torch.randn(3, 32, 32)
    left = np.zeros((32, 32), np.int64)
    left[:, :16] = 1
    e = mask_embedding(net, x, left, 2)
    assert e.shape == (2 * 16,) and np.isfinite(e).all()  # two classes x the bottleneck's 16 channels
    right = 1 - left
    assert not np.allclose(e, mask_embedding(net, x, right, 2))  # another region pools other features
    empty = mask_embedding(net, x, np.zeros((32, 32), np.int64), 2)
    assert np.all(empty[16:] == 0)  # an absent class gives zeros
    assert net.training  # the network's mode is left as it was
    big = torch.randn(1, 16, 64, 64)  # a 3D volume larger than the patch: no embedding
    assert mask_embedding(net, big, np.zeros((16, 64, 64), np.int64), 2, patch=(8, 32, 32)) is None


def test_embedding_outliers_put_the_unusual_case_first():
    rng = np.random.default_rng(0)
    e = rng.normal(0, 1, (30, 8))
    e[7] += 12
    score = embedding_outliers(e)
    assert int(np.argmax(score)) == 7
    few = embedding_outliers(e[:6])
    assert np.all(few == 0)
    e[3] = np.nan  # a case without an embedding keeps no score
    assert np.isnan(embedding_outliers(e)[3])
