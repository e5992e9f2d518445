"""Review rounds that learn: what reviewers decided feeds the models, the ranking and the proposals.

The cleaning loop of the noisy-label literature (review the top of the queue, re-score, stop
when the review stops finding errors) with the decisions used as labels. :func:`iter_rescore`
(``curator rescore --project DIR``, the app's Re-score) takes the reviewers' evidence from the
store (:meth:`curator.core.project.store.Store.evidence`: trusted and kept cases keep their given
mask, accepted and edited ones train on the decided mask; all of them are never relabelled),
fine-tunes every member of the current ensemble from its weights on those labels for a few
epochs (same folds: a case is still scored only by the members that never trained on its mask,
and its own decision never scores it), then recomputes uncertainty, proposals (calibrated with
the vouched-for masks first) and the ranking. Each round is a folder ``models/round-N/``;
``models/rounds.json`` records the finished ones, so an interrupted round resumes and the
project is scored by the last finished round. Decisions are untouched: a round only reorders
and re-proposes what is still unreviewed.

The review's yield (errors found per round of reviews, the plateau) comes from the store's review
order (:meth:`Store.review_rounds`); :func:`describe_rounds` says which re-scoring rounds ran.
"""

from __future__ import annotations

import json
import time
from dataclasses import dataclass, replace
from typing import Generator

from curator.core.curation.decisions import Decision
from curator.core.curation.proposals import ProposalConfig
from curator.core.engine.ensemble import iter_train
from curator.core.engine.training import TrainConfig
from curator.core.io.files import atomic_write
from curator.core.jobs import Progress
from curator.core.project.executors import ExecutorError, executor_class
from curator.core.project.folder import Project
from curator.core.project.pipeline import (ProposalsResult, UncertaintyConfig, iter_proposals, iter_uncertainty,
                                           rank_cases)
from curator.core.project.scoring import PipelineError
from curator.core.project.store import Store

__all__ = ["RescoreResult", "iter_rescore", "describe_rounds", "rescore_config"]


@dataclass
class RescoreResult:
    round: int
    evidence: int  # cases whose labels reviewers vouched for
    corrected: int  # of them, trained on a decided mask instead of the given one
    members: list
    ranked: list
    proposals: ProposalsResult


MODES = ("finetune", "retrain")


def rescore_config(base: TrainConfig, *, mode: str = "finetune", epochs: int | None = None,
                   trusted_weight: float | None = None) -> TrainConfig:
    """A round's training settings, from the batch's (``base``).

    ``finetune``: every member goes on from its weights for ``epochs`` (default a quarter of the
    batch's, at least 2) at half the learning rate, on all its cases, without relabelling (the
    reviewed labels are the evidence now; relabelling would need its held-out check again).
    ``retrain``: the batch's own training from scratch, with the reviewed labels.
    """
    if mode not in MODES:
        raise PipelineError(f"unknown re-scoring mode '{mode}'; choose from {', '.join(MODES)}")
    weight = base.trusted_weight if trusted_weight is None else trusted_weight
    if mode == "retrain":
        return replace(base, epochs=int(epochs or base.epochs), trusted_weight=weight)
    n = int(epochs or max(2, base.epochs // 4))
    return replace(base, epochs=n, lr=base.lr / 2, relabel=None, trusted_weight=weight, pretrain_epochs=0)


def _batch_settings(store) -> tuple[UncertaintyConfig, ProposalConfig | None]:
    """The uncertainty and proposal settings of the project's last batch."""
    unc, prop = UncertaintyConfig(), None
    detail = store.last_log("batch:start")
    if detail is not None:
        d = detail.get("uncertainty") or {}
        unc = UncertaintyConfig(tta=d.get("tta", unc.tta), tta_intensity=d.get("tta_intensity", False),
                                mc=d.get("mc", 0), models=tuple(d.get("models") or ()))
        if detail.get("proposals"):
            prop = ProposalConfig.from_json(detail["proposals"])
    return unc, prop


def iter_rescore(project_dir, *, mode: str = "finetune", epochs: int | None = None, trusted_weight: float | None = None,
                 device: str | None = None, threads: int | None = None, executor: str | None = None,
                 executor_options: dict | None = None, reviewer: str | None = None
                 ) -> Generator[Progress, None, RescoreResult]:
    """One review round: fine-tune on the reviewed labels, then re-score and re-propose; resumable."""
    project = Project.open(project_dir)
    base_plan_path = project.models_dir / "train.json"
    if not base_plan_path.exists():
        raise PipelineError(f"{project.root}: no trained ensemble to fine-tune; run `curator batch` first "
                            "(a project scored only by supplied models cannot learn from its reviews)")
    base_plan = json.loads(base_plan_path.read_text())
    options = {k: v for k, v in (executor_options or {}).items() if v is not None}
    try:
        runner = executor_class(executor)(**options)
    except ExecutorError as exc:
        raise PipelineError(str(exc)) from exc
    ds = project.open_dataset()
    with Store(project.db_path, reviewer=reviewer) as store:
        done = project.rounds()
        resume = done[-1] if done and done[-1].get("status") != "scored" else None  # trained, not yet scored
        evidence = store.evidence()
        if not evidence and resume is None:
            raise PipelineError("nothing reviewed or trusted yet: a new round would only repeat the last one "
                                "(keep, accept, edit or trust some cases first)")
        cfg = rescore_config(TrainConfig.from_json(base_plan["config"]), mode=mode, epochs=epochs,
                             trusted_weight=trusted_weight)
        cfg = replace(cfg, device=device or cfg.device, threads=threads if threads is not None else cfg.threads)
        unc_cfg, prop_cfg = _batch_settings(store)
        unc_cfg = replace(unc_cfg, device=cfg.device, threads=cfg.threads)
        members = []
        with runner:
            if resume is None:
                n = (int(done[-1]["round"]) + 1) if done else 1
                corrected = sum(1 for p in evidence.values() if p)
                store.log("rescore:start", {"round": n, "evidence": len(evidence), "corrected": corrected,
                                            "train": cfg.to_json()})
                excluded = {c for c, d in store.review_order() if d == Decision.EXCLUDED}
                usable = [c.id for c in ds.usable() if c.id not in excluded]
                yield Progress(0, 4, f"round {n}: fine-tuning on {len(evidence)} reviewed case(s)")
                res = yield from iter_train(ds, project.round_dir(n), cfg, cache_dir=project.cache_dir, cases=usable,
                                            executor=runner, evidence=evidence, base_plan=base_plan,
                                            init_dir=None if mode == "retrain" else project.current_models_dir)
                members = res.members
                resume = {"round": n, "evidence": len(evidence), "corrected": corrected,
                          "reviewed": len(store.review_order()), "epochs": cfg.epochs, "mode": mode,
                          "status": "trained"}
                done = done + [resume]
                atomic_write(project.rounds_path, json.dumps({"rounds": done}, indent=1))
            n = int(resume["round"])
            yield Progress(1, 4, f"round {n}: computing uncertainty")
            unc = yield from iter_uncertainty(project, unc_cfg, dataset=ds, executor=runner)
        for cid, why in unc.failed.items():
            store.set_failed(cid, why)
        yield Progress(2, 4, f"round {n}: proposing corrections")
        props = yield from iter_proposals(project, store, prop_cfg, dataset=ds)
        yield Progress(3, 4, f"round {n}: ranking")
        ranked = rank_cases(project, store)
        done[-1] = {**resume, "status": "scored", "finished": time.strftime("%Y-%m-%dT%H:%M:%S")}
        atomic_write(project.rounds_path, json.dumps({"rounds": done}, indent=1))
        store.log("rescore:done", {"round": n, "ranked": len(ranked)})
    yield Progress(4, 4, f"round {n} done")
    return RescoreResult(n, int(resume["evidence"]), int(resume["corrected"]),
                         members or [str(p) for p in project.member_specs()], ranked, props)


def describe_rounds(project) -> list[str]:
    """One line per re-scoring round: after how many reviews, on what evidence, finished or not."""
    lines = []
    for r in project.rounds():
        state = "" if r.get("status") == "scored" else " (trained; scoring unfinished: run rescore again)"
        how = "retrained" if r.get("mode") == "retrain" else "fine-tuned"
        lines.append(f"re-scored round {r['round']} after {r.get('reviewed', '?')} review(s): {how} on "
                     f"{r.get('evidence', '?')} reviewed case(s), {r.get('corrected', '?')} with a corrected mask{state}")
    return lines
