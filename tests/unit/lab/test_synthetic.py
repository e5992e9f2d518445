"""curator.lab.synthetic: realistic-looking, deterministic demo and test data."""

from __future__ import annotations

import numpy as np

from curator.lab import synthetic
from curator.core.jobs import collect


def test_dermoscopy_case_shapes_and_contrast():
    img, mask = synthetic.dermoscopy_case(1, (192, 256))
    assert img.shape == (192, 256, 3) and img.dtype == np.uint8
    assert mask.shape == (192, 256) and set(np.unique(mask)) == {0, 1}
    frac = mask.mean()
    assert 0.03 < frac < 0.6
    # the lesion is darker than the skin around it
    assert img[mask == 1].mean() < img[mask == 0].mean() - 20
    img2, mask2 = synthetic.dermoscopy_case(1, (192, 256))
    np.testing.assert_array_equal(img, img2)
    assert not np.array_equal(mask, synthetic.dermoscopy_case(2, (192, 256))[1])


def test_ct_case_anatomy():
    vol, lab, spacing = synthetic.ct_case(3, (32, 96, 96), lesions=2)
    assert vol.dtype == np.int16 and lab.dtype == np.uint8 and vol.shape == lab.shape == (32, 96, 96)
    assert spacing == (3.0, 3.0, 5.0)
    assert vol.min() <= -990  # air
    assert (vol > 500).any()  # bone
    liver = lab >= 1
    assert liver.sum() > 1000
    assert 30 < np.median(vol[lab == 1]) < 90  # liver HU
    # patient's right = low x (LPS): the liver's centre lies left of the middle column
    assert np.argwhere(liver)[:, 2].mean() < 96 / 2
    if (lab == 2).any():
        assert np.median(vol[lab == 2]) < np.median(vol[lab == 1])  # hypodense lesions


def test_writers_produce_readable_datasets(tmp_path):
    from curator.core.data.discover import open_dataset

    _, root = collect(synthetic.iter_write_isic(tmp_path / "isic", 3, shape=(64, 80)))
    ds = open_dataset(root)
    assert ds.layout == "isic" and len(ds) == 3
    ds.check(deep=True)
    assert all(c.ok for c in ds)
    _, root = collect(synthetic.iter_write_msd(tmp_path / "msd", 2, shape=(12, 40, 40)))
    ds = open_dataset(root)
    assert ds.layout == "msd" and len(ds) == 2 and ds.label_names[1] == "liver"
    ds.check(deep=True)
    assert all(c.ok for c in ds), [c.problems for c in ds]


def test_demo_has_wrong_masks_and_records_them(tmp_path):
    import csv

    events, root = collect(synthetic.iter_write_demo(tmp_path / "demo", n_derm=6, n_ct=2, derm_shape=(64, 80),
                                                      ct_shape=(12, 40, 40)))
    assert events and (root / ".complete").exists()
    rows = list(csv.DictReader(open(root / "derm" / "corruption.csv")))
    assert len(rows) == 6 and sum(r["corrupted"] == "1" for r in rows) == 2
    assert (root / "ct" / "corruption.csv").exists()
    # second call finds it and does nothing
    events2, _ = collect(synthetic.iter_write_demo(tmp_path / "demo"))
    assert events2 == []
