"""curator.core.io.grid: exact moves between voxel grids that differ by axis flips and permutations."""

import numpy as np
import pytest

from curator.core.io import grid
from curator.core.io.types import Geometry


def _flip_y(geom: Geometry, shape):
    """The same voxels stored with the y axis reversed (what a NIfTI writer often does)."""
    d = np.asarray(geom.direction).reshape(3, 3).copy()
    origin = np.asarray(geom.origin) + d[:, 1] * geom.spacing[1] * (shape[1] - 1)
    d[:, 1] *= -1
    return Geometry(geom.spacing, tuple(origin), tuple(d.ravel()))


def test_identity_map():
    g = Geometry((1.0, 1.0, 2.0), (0.0, 0.0, 0.0), tuple(np.eye(3).ravel()))
    amap = grid.axis_map(g, (4, 5, 6), g, (4, 5, 6))
    assert amap is not None and amap.is_identity


def test_flipped_axis_round_trip_is_exact():
    g = Geometry((0.9765625, 0.9765625, 2.0), (-249.5, -437.5, -804.5), tuple(np.eye(3).ravel()))
    shape = (4, 5, 6)
    fg = _flip_y(g, shape)
    arr = np.arange(np.prod(shape)).reshape(shape)
    amap = grid.axis_map(fg, shape, g, shape)
    assert amap is not None and amap.flip == (False, True, False)
    on_image = grid.to_grid(arr, amap)
    np.testing.assert_array_equal(on_image, arr[:, ::-1, :])
    np.testing.assert_array_equal(grid.from_grid(on_image, amap), arr)


def test_permuted_axes_are_matched():
    g = Geometry((1.0, 2.0, 3.0), (10.0, 20.0, 30.0), tuple(np.eye(3).ravel()))
    shape = (4, 5, 6)  # (Z, Y, X)
    # the same grid stored as (X, Y, Z) order: ITK axes x<-z, z<-x
    d = np.zeros((3, 3))
    d[2, 0] = 1  # new x axis points along physical z
    d[1, 1] = 1
    d[0, 2] = 1
    g2 = Geometry((3.0, 2.0, 1.0), (10.0, 20.0, 30.0), tuple(d.ravel()))
    arr = np.random.default_rng(0).integers(0, 5, shape)
    stored = np.transpose(arr, (2, 1, 0))  # (X, Y, Z) in numpy order of g2 = (6, 5, 4)
    amap = grid.axis_map(g2, stored.shape, g, shape)
    assert amap is not None
    np.testing.assert_array_equal(grid.to_grid(stored, amap), arr)
    np.testing.assert_array_equal(grid.from_grid(arr, amap), stored)


@pytest.mark.parametrize("change", ["origin", "spacing", "shape", "rotation"])
def test_non_equivalent_grids_give_none(change):
    g = Geometry((1.0, 1.0, 2.0), (0.0, 0.0, 0.0), tuple(np.eye(3).ravel()))
    shape = (4, 5, 6)
    other, oshape = g, shape
    if change == "origin":
        other = Geometry(g.spacing, (0.4, 0.0, 0.0), g.direction)
    elif change == "spacing":
        other = Geometry((1.0, 1.1, 2.0), g.origin, g.direction)
    elif change == "shape":
        oshape = (4, 5, 7)
    else:
        c, s = np.cos(0.3), np.sin(0.3)
        other = Geometry(g.spacing, g.origin, (c, -s, 0, s, c, 0, 0, 0, 1))
    assert grid.axis_map(other, oshape, g, shape) is None
    assert grid.describe_mismatch(other, oshape, g, shape)
