"""Editing helpers (Slicer-style) and review actions saved to the store."""

from __future__ import annotations

import numpy as np
import pytest

from curator.core import review


def test_remove_islands_fill_holes_smooth():
    m = np.zeros((40, 40), np.uint8)
    m[5:30, 5:30] = 1
    m[10:14, 10:14] = 0  # hole
    m[35, 35] = 1  # island
    out = review.remove_islands(m, 5)
    assert out[35, 35] == 0 and out[6, 6] == 1
    out = review.fill_holes(out)
    assert out[12, 12] == 1
    rough = out.copy()
    rough[29, 5:30:2] = 0  # a comb along one edge
    sm = review.smooth(rough, 2)
    assert sm.sum() > 0 and set(np.unique(sm)) <= {0, 1}


def test_smooth_keeps_other_labels():
    m = np.zeros((30, 30), np.uint8)
    m[5:25, 5:25] = 1
    m[10:15, 10:15] = 2
    out = review.smooth(m, 1, label=1)
    assert (out == 2).sum() == 25


def test_fill_between_slices_interpolates():
    v = np.zeros((5, 20, 20), np.uint8)
    v[0, 5:15, 5:15] = 1
    v[4, 7:13, 7:13] = 1
    out = review.fill_between_slices(v)
    assert all(out[z].sum() > 0 for z in range(5))
    assert out[2].sum() < out[0].sum()
    with pytest.raises(ValueError):
        review.fill_between_slices(v[0])
