"""Does a review round that learns find the remaining wrong masks sooner? (``curator bench rounds``)

On a finished batch of a corrupted dataset (a suite run: :mod:`curator.lab.suite`), a reviewer is
simulated from the known clean masks: the first ``first`` share of the queue is reviewed (a
corrupted mask is edited to its clean mask, a correct one is kept). Then the queue goes on two
ways: as it was, and after :func:`curator.core.project.rounds.iter_rescore` (the ensemble
fine-tuned on those decisions, the cases re-scored). Measured on both: the share of the wrong
masks found after reviewing 10 / 30 / 50 % of the cases and in the ``first``-sized stretch right
after the round (of the wrong masks still unreviewed), and the AUROC of the unreviewed cases.
The batch's project is copied first; the original stays as it was.
"""

from __future__ import annotations

import json
import shutil
import time
from pathlib import Path
from typing import Generator

import numpy as np

from curator.core.data.discover import open_dataset
from curator.core.io.files import atomic_write, read_csv
from curator.core.jobs import Progress
from curator.core.metrics import detection_metrics
from curator.core.project.artifacts import save_mask_version
from curator.core.project.folder import Project
from curator.core.project.rounds import iter_rescore
from curator.core.project.store import Store

__all__ = ["iter_rounds_experiment", "iter_rounds_on_suite", "summarise_rounds", "paired_difference", "found_share"]


def found_share(order: list[str], truth: dict[str, bool], reviewed: int) -> float:
    """Share of all wrong masks among the first ``reviewed`` cases of ``order``."""
    wrong = sum(truth.values())
    return sum(truth[c] for c in order[:reviewed]) / wrong if wrong else float("nan")


def _queue(store) -> list[str]:
    return [r["case_id"] for r in store.queue() if r.get("rank") is not None]


def _simulate_review(project, store, order: list[str], truth: dict[str, bool], clean) -> None:
    """Decide the cases of ``order`` as a reviewer with the clean masks would."""
    for cid in order:
        if truth[cid]:
            path = save_mask_version(project, cid, 1, "edited", clean[cid].read_mask().array)
            store.decide(cid, "edited", mask_path=str(path), who="simulated")
        else:
            store.decide(cid, "kept", who="simulated")


def iter_rounds_experiment(project_dir, clean_root, truth: dict[str, bool], work, *, first: float = 0.2,
                           mode: str = "finetune", epochs: int | None = None, threads: int | None = None
                           ) -> Generator[Progress, None, dict]:
    """Review the first ``first`` of the queue, re-score in a copy of the project, compare the
    orders (see the module docstring)."""
    work = Path(work)
    proj = work / "project"
    if not proj.exists():
        tmp = work / "project.tmp"
        if tmp.exists():
            shutil.rmtree(tmp)
        shutil.copytree(project_dir, tmp, ignore=shutil.ignore_patterns("*.ckpt", "cache"))
        tmp.rename(proj)
    project = Project.open(proj)
    clean = open_dataset(clean_root)
    with Store(project.db_path) as store:
        before = [c for c in _queue(store) if c in truth]
        n = len(before)
        k = max(1, int(round(first * n)))
        reviewed = before[:k]
        if not project.rounds():
            _simulate_review(project, store, [c for c in reviewed if store.decision(c)["decision"] == "unreviewed"],
                             truth, clean)
    t0 = time.perf_counter()
    if not project.rounds() or project.rounds()[-1].get("status") != "scored":
        yield from iter_rescore(proj, mode=mode, epochs=epochs, threads=threads)
    seconds = round(time.perf_counter() - t0, 1)
    with Store(project.db_path) as store:
        after_rest = [c for c in _queue(store) if c in truth and c not in set(reviewed)]
    before_rest = [c for c in before if c not in set(reviewed)]
    orders = {"without": reviewed + before_rest, "with": reviewed + after_rest}
    wrong_left = sum(truth[c] for c in before_rest)
    out = {"cases": n, "wrong": sum(truth[c] for c in before), "reviewed": k, "found_in_review": sum(truth[c] for c in reviewed),
           "seconds": seconds}
    for name, order in orders.items():
        rest = order[k:]
        res = {f"found@{int(round(100 * s))}": found_share(order, truth, int(round(s * n))) for s in (0.1, 0.3, 0.5)}
        res["next_share_of_remaining"] = (sum(truth[c] for c in rest[:k]) / wrong_left) if wrong_left else float("nan")
        y = [truth[c] for c in rest]
        res["auroc_unreviewed"] = (detection_metrics(list(range(len(rest), 0, -1)), y)["auroc"]
                                   if 0 < sum(y) < len(y) else float("nan"))
        out[name] = res
    return out


def iter_rounds_on_suite(suite_dir, out, *, datasets=None, first: float = 0.2, mode: str = "finetune",
                         epochs: int | None = None, threads: int | None = None) -> Generator[Progress, None, dict]:
    """:func:`iter_rounds_experiment` on every finished run of a suite folder (``curator bench
    suite``; its relabelling-on projects), one ``rounds.json`` per run under ``out``; resumable.
    Returns ``{"runs": [...], "summary": summarise_rounds(runs), "paired": paired_difference(runs)}``
    and writes ``out/rounds.json``."""
    suite_dir, out = Path(suite_dir), Path(out)
    plan = sorted(p for p in suite_dir.glob("*/*/seed*") if (p / "result.json").exists()
                  and (p / "project-relabel").is_dir() and (datasets is None or p.parts[-3] in datasets))
    runs = []
    for k, run_dir in enumerate(plan):
        ds, noise, seed = run_dir.parts[-3:]
        path = out / ds / noise / seed / "rounds.json"
        if path.exists():
            runs.append(json.loads(path.read_text()))
            continue
        yield Progress(k, len(plan), f"{ds} {noise} {seed}")
        truth = {r["case_id"]: r["corrupted"] == "1" for r in read_csv(run_dir / "noisy" / "corruption.csv")}
        res = yield from iter_rounds_experiment(run_dir / "project-relabel", suite_dir / ds / "clean", truth,
                                                path.parent, first=first, mode=mode, epochs=epochs, threads=threads)
        res.update(dataset=ds, noise=noise, seed=seed)
        atomic_write(path, json.dumps(res, indent=1))
        runs.append(res)
    result = {"first": first, "runs": runs, "summary": summarise_rounds(runs), "paired": paired_difference(runs)}
    atomic_write(out / "rounds.json", json.dumps(result, indent=1))
    return result


METRICS = ("found@10", "found@30", "found@50", "next_share_of_remaining", "auroc_unreviewed")


def summarise_rounds(runs: list[dict]) -> list[dict]:
    """Per dataset and over all runs: the mean of each measure with and without re-scoring, and
    the worst dataset's difference."""
    by: dict[str, list[dict]] = {}
    for r in runs:
        by.setdefault(r["dataset"], []).append(r)
    rows = []
    for name, rs in sorted(by.items()) + [("mean", runs)]:
        row = {"dataset": name, "runs": len(rs)}
        for m in METRICS:
            for v in ("with", "without"):
                row[f"{m} {v}"] = float(np.nanmean([r[v][m] for r in rs])) if rs else float("nan")
        rows.append(row)
    per = [r for r in rows if r["dataset"] != "mean"]
    if per:
        rows[-1]["worst dataset: next share, with - without"] = min(
            r["next_share_of_remaining with"] - r["next_share_of_remaining without"] for r in per)
    return rows


def paired_difference(runs: list[dict], metric: str = "next_share_of_remaining") -> dict:
    """Run by run, ``metric`` with the round minus without it: the mean, its standard error and how
    many runs got better, stayed equal or got worse (runs where the metric is undefined, such as no
    wrong mask left to find, are left out). A mean within a standard error or two of zero is no
    evidence either way: at 20-100 cases a run's share moves by a whole case's worth."""
    d = np.array([r["with"][metric] - r["without"][metric] for r in runs
                  if np.isfinite(r["with"][metric]) and np.isfinite(r["without"][metric])], float)
    n = int(d.size)
    return {"metric": metric, "runs": n, "mean": float(d.mean()) if n else float("nan"),
            "se": float(d.std(ddof=1) / np.sqrt(n)) if n > 1 else float("nan"),
            "better": int(np.count_nonzero(d > 0)), "equal": int(np.count_nonzero(d == 0)),
            "worse": int(np.count_nonzero(d < 0))}
