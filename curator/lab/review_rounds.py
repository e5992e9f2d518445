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

import shutil
import time
from pathlib import Path
from typing import Generator

import numpy as np

from curator.core.data.discover import open_dataset
from curator.core.jobs import Progress
from curator.core.metrics import detection_metrics
from curator.core.project.artifacts import save_mask_version
from curator.core.project.folder import Project
from curator.core.project.rounds import iter_rescore
from curator.core.project.store import Store

__all__ = ["iter_rounds_experiment", "found_share"]


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
                           epochs: int | None = None, threads: int | None = None
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
        yield from iter_rescore(proj, epochs=epochs, threads=threads)
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
