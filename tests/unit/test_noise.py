"""curator.core.noise: the poster's mask deteriorations and the morphological ones."""

from __future__ import annotations

import numpy as np
import pytest
from scipy import ndimage
from skimage.draw import disk, ellipse

from curator.core import noise
from curator.core.metrics import dice


def _disc(shape=(200, 200), centre=(100, 100), r=60):
    m = np.zeros(shape, np.uint8)
    rr, cc = disk(centre, r, shape=shape)
    m[rr, cc] = 1
    return m


def _corners(binary: np.ndarray) -> int:
    """Number of vertices of the convex hull polygon of a (convex) rasterised shape."""
    from skimage.measure import approximate_polygon, find_contours

    c = max(find_contours(np.pad(binary, 1).astype(float), 0.5), key=len)
    poly = approximate_polygon(c, tolerance=2.0)[:-1]  # closed: last point repeats the first
    keep = [p for i, p in enumerate(poly) if np.linalg.norm(p - poly[i - 1]) > 4]  # merge pixel steps
    poly = np.array(keep)
    prev, nxt = np.roll(poly, 1, axis=0), np.roll(poly, -1, axis=0)
    a, b = poly - prev, nxt - poly
    cos = (a * b).sum(1) / (np.linalg.norm(a, axis=1) * np.linalg.norm(b, axis=1))
    return int(np.sum(cos < np.cos(np.radians(20))))  # real turns, not the contour's start point


def test_three_vertex_polygon_of_disc_is_a_triangle_well_below_dice_1():
    m = _disc()
    out, kind = noise.corrupt_mask(m, "polygon3", 0)
    assert kind == "polygon3"
    d = dice(m, out)
    # the largest triangle inscribed in a disc covers 41% of it: Dice 0.585
    assert 0.5 < d < 0.65
    assert _corners(out) == 3
    assert not (out & ~m.astype(bool)).any() or (out.astype(bool) & ~m.astype(bool)).sum() < 0.01 * m.sum()


def test_seven_vertex_polygon_is_closer_than_three():
    m = np.zeros((200, 300), np.uint8)
    rr, cc = ellipse(100, 150, 50, 120, rotation=0.4)
    m[rr, cc] = 1
    d3 = dice(m, noise.corrupt_mask(m, "polygon3", 0)[0])
    d7 = dice(m, noise.corrupt_mask(m, "polygon7", 0)[0])
    assert d3 < d7 < 0.99
    assert _corners(noise.polygon_approximation(_disc(), 7)) == 7


def test_smooth_keeps_component_count_and_changes_irregular_outline():
    m = np.zeros((200, 200), np.uint8)
    m[30:70, 30:90] = 1  # a rectangle: corners get rounded
    m[120:180, 110:170] = 1
    m[130:140, 165:190] = 1  # a spur
    out, _ = noise.corrupt_mask(m, "smooth", 0)
    assert ndimage.label(m)[1] == ndimage.label(out)[1] == 2
    assert 0.8 < dice(m, out) < 0.995


def test_polygon_per_component():
    m = _disc()
    rr, cc = disk((30, 30), 15, shape=m.shape)
    m[rr, cc] = 1
    out = noise.polygon_approximation(m, 3)
    assert ndimage.label(out)[1] == 2


@pytest.mark.parametrize("kind", noise.NOISE_KINDS)
def test_every_kind_is_deterministic_under_a_seed_and_changes_the_mask(kind):
    m = np.zeros((120, 140), np.uint8)
    rr, cc = ellipse(60, 70, 30, 45, rotation=0.7)
    m[rr, cc] = 1
    a, ka = noise.corrupt_mask(m, kind, 5)
    b, kb = noise.corrupt_mask(m, kind, 5)
    np.testing.assert_array_equal(a, b)
    assert ka == kb and ka in noise.NOISE_KINDS and ka != "mixed"
    assert dice(m, a) < 0.995
    assert a.dtype == m.dtype


def test_mixed_draws_several_kinds_across_seeds():
    m = _disc((80, 80), (40, 40), 20)
    kinds = {noise.corrupt_mask(m, "mixed", s)[1] for s in range(40)}
    assert len(kinds) >= 5


def test_dilate_grows_erode_shrinks_shift_moves():
    m = _disc((100, 100), (50, 50), 20).astype(bool)
    assert noise.dilate(m, 3).sum() > m.sum()
    assert (noise.dilate(m, 3) | ~m).all() or (noise.dilate(m, 3) >= m).all()
    e = noise.erode(m, 3)
    assert e.sum() < m.sum() and not (e & ~m).any()
    s = noise.shift(m, (5, -7))
    assert s.sum() == m.sum()
    np.testing.assert_array_equal(s[5:, :-7], m[:-5, 7:])


def test_erode_keeps_small_components_alive():
    m = np.zeros((50, 50), bool)
    m[10:13, 10:13] = True
    m[30:45, 30:45] = True
    e = noise.erode(m, 4)
    assert ndimage.label(e)[1] == 2


def test_multiclass_labels_survive_and_tumour_stays_on_top():
    v = np.zeros((12, 60, 60), np.uint8)
    v[2:10, 10:50, 10:50] = 1
    v[4:8, 25:35, 25:35] = 2
    for kind in ("polygon3", "smooth", "dilate", "erode", "shift"):
        out, _ = noise.corrupt_mask(v, kind, 1)
        assert set(np.unique(out)) == {0, 1, 2}, kind


def test_3d_per_slice_and_3d_modes():
    v = np.zeros((10, 50, 50), np.uint8)
    zz, yy, xx = np.mgrid[:10, :50, :50]
    v[((zz - 5) * 4) ** 2 + (yy - 25) ** 2 + (xx - 25) ** 2 < 18 ** 2] = 1
    out, _ = noise.corrupt_mask(v, "polygon3", 0, mode="slice")
    for z in range(10):
        if v[z].any():
            assert out[z].sum() < v[z].sum()  # triangles inscribed slice by slice
    out3, _ = noise.corrupt_mask(v, "dilate", 0, mode="3d", scale=(4.0, 1.0, 1.0))
    assert out3.sum() > v.sum()
    with pytest.raises(ValueError, match="per slice"):
        noise.corrupt_mask(v, "polygon3", 0, mode="3d")
    sm, _ = noise.corrupt_mask(v, "smooth", 0, mode="3d")
    assert ndimage.label(sm)[1] == 1


def test_bad_arguments():
    m = _disc((20, 20), (10, 10), 5)
    with pytest.raises(ValueError, match="unknown noise"):
        noise.corrupt_mask(m, "scribble", 0)
    with pytest.raises(ValueError):
        noise.corrupt_mask(np.zeros((2, 2, 2, 2)), "dilate", 0)


def test_empty_mask_stays_empty():
    z = np.zeros((30, 30), np.uint8)
    for kind in noise.NOISE_KINDS:
        assert not noise.corrupt_mask(z, kind, 0)[0].any()
