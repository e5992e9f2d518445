"""`curator bench suite` end to end on a small slice of real data: one table per dataset with its
mean and worst, as JSON and HTML, and a rerun that reads finished runs back instead of redoing them."""

from __future__ import annotations

import json
import time

import pytest

from tests.integration.test_cli import curator

pytestmark = pytest.mark.data


def test_bench_suite_quick_writes_the_table_and_resumes(shared_data, tmp_path):
    out = tmp_path / "suite"
    args = ["bench", "suite", "--quick", "--data", shared_data, "--datasets", "ph2,chaos", "--cases", "10",
            "--seeds", "0", "--out", out, "-q"]
    first = curator(*args, timeout=1200)
    res = json.loads((out / "suite.json").read_text())
    assert res["profile"] == "quick" and [r["dataset"] for r in res["runs"]] == ["ph2", "chaos"]
    for run in res["runs"]:
        assert run["cases"] == 10 and 0 < run["wrong"] < 10
        rel = run["relabel"]
        assert 0.0 <= rel["detection"]["combined"]["auroc"] <= 1.0
        assert {c["case_id"] for c in rel["cases"]} and len(rel["cases"]) == 10
        assert run["no-relabel"]  # the baseline: trained, or reused because nothing was relabelled
    for d in ("ph2", "chaos"):
        row = res["summary"]["datasets"][d]
        assert row["runs"] == 1 and "relabel:auroc_combined:worst" in row
    assert "relabel:gap_closed:worst" in res["summary"]["overall"]
    html = (out / "suite.html").read_text()
    assert "ph2" in html and "chaos" in html
    assert "MEAN" in first.stdout and "WORST" in first.stdout
    t0 = time.perf_counter()
    curator(*args)
    assert time.perf_counter() - t0 < 60, "finished runs are read back, not trained again"
    assert json.loads((out / "suite.json").read_text())["runs"] == res["runs"]
    # review rounds on the finished runs: the first 30 % reviewed from the clean masks, one round
    rounds = curator("bench", "rounds", out, "--out", tmp_path / "rounds", "--first", "0.3", "--epochs", "1",
                     "--threads", "2", "-q", timeout=900)
    doc = json.loads((tmp_path / "rounds" / "rounds.json").read_text())
    assert [(r["dataset"], r["reviewed"]) for r in doc["runs"]] == [("chaos", 3), ("ph2", 3)]
    for r in doc["runs"]:
        assert r["with"]["found@10"] == r["without"]["found@10"]  # the same reviewed head of the queue
        share = r["with"]["next_share_of_remaining"]
        if r["without"]["found@30"] == 1.0:  # the reviewed 30 % held every wrong mask: none left to find
            assert share != share
        else:
            assert 0.0 <= share <= 1.0
    assert [row["dataset"] for row in doc["summary"]] == ["chaos", "ph2", "mean"]
    assert "mean" in rounds.stdout and "found@30" in rounds.stdout
    assert "paired by run" in rounds.stdout and doc["paired"]["runs"] <= 2
    assert doc["paired"]["better"] + doc["paired"]["equal"] + doc["paired"]["worse"] == doc["paired"]["runs"]
    # the suite's own projects were copied, not changed
    for d in ("ph2", "chaos"):
        assert not (out / d / "li-a0.3-b0.5" / "seed0" / "project-relabel" / "models" / "round-1").exists()
    # the encoder-embedding measurement on the same finished runs
    emb = curator("bench", "embeddings", out, "--out", tmp_path / "emb.json", "-q", timeout=600)
    doc = json.loads((tmp_path / "emb.json").read_text())
    assert [r["dataset"] for r in doc["runs"]] == ["chaos", "ph2"]
    assert all(0.0 <= r["embedding"] <= 1.0 and 0.0 <= r["combined + 0.25 embedding"] <= 1.0 for r in doc["runs"])
    assert "mean" in emb.stdout
