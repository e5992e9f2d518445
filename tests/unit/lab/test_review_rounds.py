"""The review-rounds benchmark's summary: the paired difference that says whether a round helped."""

from __future__ import annotations

import math

from curator.lab.review_rounds import found_share, paired_difference


def _run(with_, without):
    return {"with": {"next_share_of_remaining": with_}, "without": {"next_share_of_remaining": without}}


def test_paired_difference_counts_and_standard_error():
    runs = [_run(0.75, 0.5), _run(0.5, 0.5), _run(0.25, 0.5), _run(1.0, 0.5), _run(float("nan"), float("nan"))]
    p = paired_difference(runs)
    assert (p["runs"], p["better"], p["equal"], p["worse"]) == (4, 2, 1, 1)
    assert math.isclose(p["mean"], (0.25 + 0 - 0.25 + 0.5) / 4)
    diffs = [0.25, 0.0, -0.25, 0.5]
    m = sum(diffs) / 4
    se = math.sqrt(sum((d - m) ** 2 for d in diffs) / 3) / 2
    assert math.isclose(p["se"], se)


def test_paired_difference_without_runs_is_undefined():
    p = paired_difference([_run(float("nan"), 0.5)])
    assert p["runs"] == 0 and p["mean"] != p["mean"] and p["se"] != p["se"]


def test_found_share_is_the_share_of_all_wrong_masks_in_the_head():
    truth = {"a": True, "b": False, "c": True, "d": False}
    assert found_share(["a", "b", "c", "d"], truth, 2) == 0.5
    assert found_share(["b", "d", "a", "c"], truth, 2) == 0.0
    assert found_share(["a"], {"a": False}, 1) != found_share(["a"], {"a": False}, 1)  # no wrong masks: NaN
