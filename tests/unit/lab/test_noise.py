"""curator.lab.noise: the poster's mask deteriorations and the morphological ones."""

from __future__ import annotations

import numpy as np
import pytest
from scipy import ndimage
from skimage.draw import disk, ellipse

from curator.lab import noise
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


@pytest.mark.parametrize("kind", [k for k in noise.NOISE_KINDS if k != "swap_classes"])
def test_every_kind_is_deterministic_under_a_seed_and_changes_the_mask(kind):
    m = np.zeros((120, 140), np.uint8)
    rr, cc = ellipse(60, 70, 30, 45, rotation=0.7)
    m[rr, cc] = 1
    other = _disc((60, 70), (20, 20), 12)  # another case's mask, on another grid
    image = np.random.default_rng(0).random((120, 140, 3)).astype(np.float32)
    a, ka = noise.corrupt_mask(m, kind, 5, other=other, image=image)
    b, kb = noise.corrupt_mask(m, kind, 5, other=other, image=image)
    np.testing.assert_array_equal(a, b)
    assert ka == kb and ka.split(":")[0] in noise.NOISE_KINDS and ka not in ("mixed", "annotator", "li")
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
        if kind != "other_case":  # (another case's mask replaces this one, empty or not)
            assert not noise.corrupt_mask(z, kind, 0)[0].any(), kind


def test_li_protocol_changes_the_share_beta_of_the_foreground():
    m = np.zeros((160, 160), np.uint8)
    rr, cc = ellipse(80, 80, 35, 50, rotation=0.3)
    m[rr, cc] = 1
    seen = set()
    for seed in range(20):
        for beta in (0.3, 0.5, 0.7):
            out, kind = noise.corrupt_mask(m, "li", seed, beta=beta)
            seen.add(kind)
            share = np.count_nonzero(out != m) / m.sum()
            assert abs(share - beta) < 0.06, (kind, beta, share)
            if kind == "li:dilate":
                assert (out >= m).all()
            if kind == "li:erode":
                assert (out <= m).all()
    assert seen == {"li:dilate", "li:erode", "li:affine"}


def test_annotator_errors_do_what_they_say():
    from curator.lab import annotation_errors as ae

    rng = np.random.default_rng(0)
    m = np.zeros((160, 160), bool)
    rr, cc = ellipse(80, 70, 30, 40, rotation=0.3)
    m[rr, cc] = True
    miss = ae.miss_part(m, rng)
    assert (miss <= m).all() and 0.55 * m.sum() < miss.sum() < 0.9 * m.sum()
    added = ae.add_neighbour(m, rng, image=np.random.default_rng(1).random((160, 160, 3)))
    assert (added >= m).all() and added.sum() > 1.1 * m.sum()
    assert ndimage.label(added)[1] == 1  # attached to the object, not floating
    box = ae.box(m)
    assert box.sum() > m.sum() and (box >= m).all()
    assert ae.coarse(m, rng).sum() > 0 and dice(m, ae.coarse(m, rng)) < 0.99
    w = ae.wobbly(m, rng)
    assert 0.8 < dice(m, w) < 0.995
    two = ae.second_object(m, rng)
    assert ndimage.label(two)[1] == 2 and (two >= m).all()
    assert ndimage.label(ae.second_object(two, rng))[1] == 1  # a second object missed
    multi = np.zeros((80, 80), np.uint8)
    multi[10:70, 10:70] = 1
    multi[30:40, 30:40] = 2
    swapped, kind = noise.corrupt_mask(multi, "swap_classes", 0)
    assert kind == "swap_classes" and not np.array_equal(swapped, multi)
    assert set(np.unique(swapped)) <= {0, 1, 2} and np.array_equal(swapped > 0, multi > 0)
    # the annotator mix draws only what applies: no class swap in a binary mask, no other case without one
    kinds = {noise.corrupt_mask(m.astype(np.uint8), "annotator", s)[1] for s in range(60)}
    assert "swap_classes" not in kinds and "other_case" not in kinds and len(kinds) >= 5
