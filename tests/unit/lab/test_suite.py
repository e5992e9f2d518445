"""The development suite's bookkeeping: noise settings, profiles, and the per-dataset summary
(mean over a dataset's runs, its worst run, then mean and worst over datasets)."""

from __future__ import annotations

import math

import pytest

from curator.lab.suite import DATASETS, PROFILES, parse_noise, summarise_suite


def _run(dataset, seed, auroc, gap, clean, *, softmin=0.5, no_relabel=None):
    res = {"detection": {"combined": {"auroc": auroc}, "cleanlab softmin": {"auroc": softmin},
                         "random order": {"auroc": 0.5}},
           "top30": 0.5, "repair": {"gap_closed": gap, "change_on_clean_cases": clean, "withheld_share": 0.0},
           "models": {"dice_to_clean": 0.8}}
    return {"dataset": dataset, "noise": "li-a0.3-b0.5", "seed": seed, "relabel": res, "no-relabel": no_relabel}


def test_noise_settings_parse_with_their_defaults():
    s = parse_noise("li:0.3:0.5")
    assert (s.noise, s.fraction, s.beta) == ("li", 0.3, 0.5)
    assert parse_noise("annotator").fraction == 0.3
    with pytest.raises(ValueError, match="unknown noise"):
        parse_noise("nonsense:0.3")


def test_profiles_name_only_known_datasets_and_keep_at_least_two_seeds():
    for name, prof in PROFILES.items():
        assert set(prof["datasets"]) <= set(DATASETS), name
        if name != "quick":
            assert len(prof["seeds"]) >= 2 and len(prof["noises"]) >= 2 and len(prof["datasets"]) >= 4, name


def test_summary_gives_each_dataset_its_mean_and_worst_run_then_the_mean_and_worst_dataset():
    runs = [_run("a", 0, 0.9, 0.6, 0.001), _run("a", 1, 0.7, 0.2, 0.003),
            _run("b", 0, 0.6, -0.1, 0.02), {"dataset": "c", "noise": "x", "seed": 0, "error": "missing"}]
    s = summarise_suite(runs)
    assert set(s["datasets"]) == {"a", "b"}  # a dataset that could not run is not averaged as zeros
    a, b = s["datasets"]["a"], s["datasets"]["b"]
    assert a["runs"] == 2 and a["relabel:auroc_combined"] == pytest.approx(0.8)
    assert a["relabel:auroc_combined:worst"] == pytest.approx(0.7)  # higher is better: the lowest
    assert a["relabel:clean_changed:worst"] == pytest.approx(0.003)  # lower is better: the highest
    assert s["overall"]["relabel:auroc_combined"] == pytest.approx((0.8 + 0.6) / 2)
    assert s["overall"]["relabel:auroc_combined:worst"] == pytest.approx(0.6)
    assert s["overall"]["relabel:gap_closed:worst"] == pytest.approx(-0.1)
    # a variant that was not run is missing, not zero
    assert math.isnan(b["no-relabel:auroc_combined"])


def test_the_synthetic_ct_set_is_written_once_as_a_dataset(tmp_path):
    """`--full` includes the synthetic CT (it used to call a generator that did not exist)."""
    from curator.core.data.discover import open_dataset
    from curator.core.jobs import run
    from curator.lab.suite import _iter_synthetic

    root = run(_iter_synthetic(tmp_path, 0, n=2))
    ds = open_dataset(root)
    assert len(ds.cases) == 2 and ds.cases[0].read_image().ndim == 3
    stamp = (root / "dataset.json").stat().st_mtime_ns
    assert run(_iter_synthetic(tmp_path, 0, n=2)) == root and (root / "dataset.json").stat().st_mtime_ns == stamp
