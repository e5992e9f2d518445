"""Small versions of every benchmark and report, so they cannot rot (the real runs are `-m slow`)."""

from __future__ import annotations

import json

import pytest

from curator.core.jobs import run
from curator.lab.synthetic import iter_write_isic, iter_write_msd
from tests.integration.test_cli import curator


def test_bench_speed_small_scenarios():
    from curator.lab.bench import run_benchmarks

    res = run_benchmarks(("tiny2d", "tiny3d"), threads=2)
    assert res["peak_gflops"] > 0
    for r in res["results"]:
        assert "error" not in r, r
        assert r["ms_per_pass"] > 0 and r["ms_per_case"] >= r["ms_per_pass"]
        # peak memory: process RSS on the CPU (python + torch alone exceed 50 MB), allocator peak on CUDA
        assert 0 < r["gflops_achieved"] and r["peak_memory_mb"] > (50 if r["device"].startswith("cpu") else 0)
    assert res["results"][1]["patches_per_pass"] >= 1


def test_bench_table1_small(tmp_path):
    data = run(iter_write_isic(tmp_path / "isic", 8, shape=(64, 80)))
    out = curator("bench", "table1", data, "--out", tmp_path / "t1", "--noises", "polygon3", "--methods",
                  "clean;none;relabel;reweight;gce;mixup;relabel-poster", "--seeds", "0", "--epochs", "2",
                  "--size", "32", "--channels", "4,8,16", "--batch-size", "4", "--threads", "2", "-q")
    assert "noise polygon3" in out.stdout and "relabel" in out.stdout
    res = json.loads((tmp_path / "t1" / "table1.json").read_text())
    methods = [r["method"] for r in res["polygon3"]["runs"]]
    assert methods == ["clean", "none", "relabel", "reweight", "gce", "mixup", "relabel-poster"]
    assert all(0 <= r["dice_clean"] <= 100 for r in res["polygon3"]["runs"])
    assert (tmp_path / "t1" / "table1.html").read_text().count("<table>") == 1


def test_bench_detect_small_and_project_report(tmp_path):
    data = run(iter_write_isic(tmp_path / "isic", 10, shape=(64, 80)))
    out = curator("bench", "detect", data, "--out", tmp_path / "det", "--folds", "2", "--epochs", "1", "--size", "32",
                  "--channels", "4,8,16", "--batch-size", "4", "--tta", "2", "--threads", "2", "--single-model", "-q")
    res = json.loads((tmp_path / "det" / "detect.json").read_text())
    for name in ("combined", "cleanlab softmin", "random order", "single model (in-fold)"):
        assert name in res["detection"], name
        assert 0 <= res["detection"][name]["auroc"] <= 1
    assert res["repair"]["corrupted_cases"] == 3
    assert "AUROC" in out.stdout and (tmp_path / "det" / "detect.html").exists()
    rep = curator("report", tmp_path / "det" / "project")
    html = (tmp_path / "det" / "project" / "report.html").read_text()
    assert "Highest-ranked cases" in html and "data:image/png;base64" in html
    assert "report.html" in rep.stdout


@pytest.mark.slow
def test_bench_speed_full():
    """The real numbers: `bash installer/test.sh -m slow -k bench_speed_full -s`."""
    out = curator("bench", "speed", "--scenarios", "2d,3d,3d-large", timeout=7200)
    print(out.stdout)
    assert "GFLOP/s" in out.stdout
