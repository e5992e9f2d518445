"""curator.core.engine.evidence: which of two outlines follows the image's edges, and the sign test."""

from __future__ import annotations

import numpy as np

from curator.core.engine.evidence import boundary, edge_alignment, edge_preference, gradient_magnitude, relabel_evidence


def _scene(seed=0):
    """A bright disc on a noisy background: its true mask, a shifted one and a triangle inside it."""
    rng = np.random.default_rng(seed)
    yy, xx = np.mgrid[:96, :96]
    disc = ((yy - 48) ** 2 + (xx - 50) ** 2) < 25 ** 2
    image = np.stack([disc * 1.0 + rng.normal(0, 0.15, disc.shape) for _ in range(3)]).astype(np.float32)
    shifted = np.roll(disc, 9, axis=1)
    from skimage.draw import polygon

    tri = np.zeros_like(disc)
    rr, cc = polygon([26, 66, 60], [50, 30, 72], disc.shape)
    tri[rr, cc] = True
    return image, disc.astype(np.uint8), shifted.astype(np.uint8), tri.astype(np.uint8)


def test_the_true_outline_is_preferred_over_wrong_ones():
    image, truth, shifted, tri = _scene()
    g = gradient_magnitude(image)
    for wrong in (shifted, tri):
        assert edge_preference(g, wrong, truth) > 0.5  # the truth lies on much stronger edges
        assert edge_preference(g, truth, wrong) < -0.5
    assert edge_preference(g, truth, truth) is None  # nothing differs
    assert edge_alignment(image, truth, channels_first=True) > 2 * edge_alignment(image, tri, channels_first=True)
    assert edge_alignment(image, shifted, channels_first=True) < 0.5 * edge_alignment(image, truth, channels_first=True)


def test_edge_alignment_judges_by_the_objects_scale_not_the_edges_strength():
    """A correctly drawn outline on a faint, blurred border scores as high as one on a sharp
    border; an outline drawn a fifth of the radius outside scores low on both. The same scene
    at four times the resolution (the shrunk-image path) gives about the same values."""
    from scipy import ndimage

    rng = np.random.default_rng(1)

    def scene(n, contrast, blur):
        yy, xx = np.mgrid[:n, :n]
        r = 0.3 * n
        disc = ((yy - n / 2) ** 2 + (xx - n / 2) ** 2) < r ** 2
        wide = ((yy - n / 2) ** 2 + (xx - n / 2) ** 2) < (1.2 * r) ** 2
        img = ndimage.gaussian_filter(disc * contrast, blur * n / 100) + rng.normal(0, 0.01, disc.shape)
        return img.astype(np.float32), disc.astype(np.uint8), wide.astype(np.uint8)

    sharp, truth, wide = scene(100, 1.0, 0.5)
    faint = scene(100, 0.1, 2.0)[0]
    for img in (sharp, faint):
        assert edge_alignment(img, truth) > 0.85 and edge_alignment(img, wide) < 0.5
    assert abs(edge_alignment(sharp, truth) - edge_alignment(faint, truth)) < 0.1
    big, big_truth, big_wide = scene(400, 1.0, 0.5)
    assert abs(edge_alignment(big, big_truth) - edge_alignment(sharp, truth)) < 0.1
    assert abs(edge_alignment(big, big_wide) - edge_alignment(sharp, wide)) < 0.1
    assert np.isnan(edge_alignment(sharp, np.zeros_like(truth)))


def test_boundary_marks_both_sides_of_every_outline():
    m = np.zeros((6, 6), np.uint8)
    m[2:4, 2:4] = 1
    b = boundary(m)
    assert b[2:4, 2:4].all() and b[1, 2] and b[2, 1] and not b[0, 0] and not b[5, 5]


def test_single_channel_images_and_3d():
    image, truth, shifted, _ = _scene()
    g2 = gradient_magnitude(image[0], channels_first=False)
    assert edge_preference(g2, shifted, truth) > 0.5
    vol = np.repeat(image[:1, None], 5, axis=1)  # (C, Z, Y, X)
    g3 = gradient_magnitude(vol)
    assert g3.shape == (5, 96, 96)
    assert edge_preference(g3, np.repeat(shifted[None], 5, 0), np.repeat(truth[None], 5, 0)) > 0.3


def test_sign_test_needs_a_clear_majority_of_enough_cases():
    assert relabel_evidence([0.5] * 6).holds
    assert not relabel_evidence([0.5] * 4).holds  # 4 of 4: p = 0.0625
    assert not relabel_evidence([0.5] * 6 + [-0.5] * 4).holds  # 6 of 10: no clear majority
    assert not relabel_evidence([0.05] * 10).holds  # a majority, but too small a difference
    ev = relabel_evidence([0.4] * 9 + [-0.2, None, None])
    assert ev.holds and ev.cases == 12 and ev.disagreeing == 10 and ev.network_better == 9
    assert "9 of 10 held-out cases" in ev.describe()
    assert not relabel_evidence([None, None]).holds and "agrees with the masks" in relabel_evidence([None]).describe()
