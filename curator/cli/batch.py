"""The learning commands: ``train``, ``uncertainty`` and ``batch`` (Batch relabel)."""

from __future__ import annotations

import sys
from pathlib import Path

from curator.cli.rounds import read_case_list
from curator.cli.common import (CliError, add_device_options, add_limit_options, add_train_options,
                                 progress_runner, train_config)


def cmd_train(args) -> int:
    from curator.core.data.discover import open_dataset
    from curator.core.project.folder import Project
    from curator.core.engine.ensemble import iter_train

    try:
        cfg = train_config(args)
        ds = open_dataset(args.dataset, layout=args.layout)
        project = Project.create(args.project, ds.root, layout=ds.layout)
        result = progress_runner(args.quiet)(
            iter_train(ds, project.models_dir, cfg, cache_dir=project.cache_dir), "train")
    except ValueError as exc:
        raise CliError(str(exc)) from exc
    print(f"trained {len(result.members)} member(s) into {project.models_dir}")
    for cid, why in sorted(result.failed.items()):
        print(f"  skipped {cid}: {why}", file=sys.stderr)
    return 0


def cmd_uncertainty(args) -> int:
    from curator.core.project.pipeline import UncertaintyConfig, iter_uncertainty
    from curator.core.project.folder import Project

    cfg = UncertaintyConfig(tta=args.tta, tta_intensity=args.tta_intensity, mc=args.mc_dropout, device=args.device,
                            amp=not args.no_amp, threads=args.threads, overwrite=args.overwrite,
                            models=tuple(args.model or ()), allow_torchscript=args.allow_torchscript)
    try:
        project = Project.open(args.project)
        result = progress_runner(args.quiet)(iter_uncertainty(project, cfg), "uncertainty")
    except ValueError as exc:
        raise CliError(str(exc)) from exc
    print(f"uncertainty maps: {len(result.done)} computed, {len(result.skipped)} up to date, "
          f"{len(result.failed)} failed -> {project.maps_dir}")
    if result.in_fold:
        print(f"note: {len(result.in_fold)} case(s) had no held-out model and were scored by models that "
              "trained on them", file=sys.stderr)
    for cid, why in sorted(result.failed.items()):
        print(f"  failed {cid}: {why}", file=sys.stderr)
    return 0


def _proposal_config(args):
    from curator.core.curation.proposals import ProposalConfig

    rules = tuple(r.strip() for r in args.rules.split(",") if r.strip())
    return ProposalConfig(rules=rules, tau=args.proposal_tau, delta=args.proposal_delta,
                          band=args.proposal_band if args.proposal_band and args.proposal_band > 0 else None,
                          largest_component=args.largest_component, refine=args.refine,
                          min_confidence=args.proposal_min_confidence, calibration_target=args.proposal_target)


def cmd_batch(args) -> int:
    from curator.core.project.pipeline import UncertaintyConfig, iter_batch

    try:
        train_cfg = None if (args.model and not args.train) else train_config(args)
        unc = UncertaintyConfig(tta=args.tta, tta_intensity=args.tta_intensity, mc=args.mc_dropout,
                                device=args.device, amp=not args.no_amp, threads=args.threads,
                                allow_torchscript=args.allow_torchscript)
        job = iter_batch(args.dataset, args.project, train_cfg=train_cfg, unc_cfg=unc,
                         proposal_cfg=_proposal_config(args), layout=args.layout, reviewer=args.reviewer,
                         models=tuple(args.model or ()), executor=args.executor,
                         executor_options={"address": args.address},
                         trusted=read_case_list(args.trusted) if args.trusted else ())
        res = progress_runner(args.quiet)(job, "batch")
    except ValueError as exc:
        raise CliError(str(exc)) from exc
    project = Path(args.project).resolve()
    print(f"ranked {len(res.ranked)} case(s): {project / 'ranking.csv'}; proposals in {project / 'proposals'} "
          f"(each case's status in {project / 'proposals.csv'})")
    calib = res.proposals.calibration if res.proposals is not None else None
    if calib is not None:
        print(calib.describe())
    for line in res.relabel_notes:
        print(line)
    from curator.core.curation.ranking import describe_weights
    from curator.core.project.store import Store

    with Store(project / "curator.db") as store:
        line = describe_weights(store.get_state("ranking"))
    if line:
        print(line)
    for cid, score, rank in res.ranked[: min(10, len(res.ranked))]:
        print(f"  {rank:>4}  {cid:<24} score {score:.3f}")
    if res.failed:
        print(f"{len(res.failed)} case(s) failed:", file=sys.stderr)
        for cid, why in sorted(res.failed.items()):
            print(f"  {cid}: {why}", file=sys.stderr)
    return 0


ALLOW_TORCHSCRIPT_HELP = ("load TorchScript models given with --model (a TorchScript file is a program that can do "
                          "anything: only for files you trust, whose sha256 the spec gives)")


def _add_dataset_and_project(s) -> None:
    s.add_argument("dataset", help="dataset folder")
    s.add_argument("--project", required=True, help="project folder (created if needed; never inside the dataset)")
    s.add_argument("--layout", choices=["ph2", "isic", "msd", "lits", "dicom", "pairs"], help="force a layout")


def _add_scoring_options(s) -> None:
    """How each case is scored: test-time augmentation and MC dropout."""
    s.add_argument("--tta", type=int, default=8, help="test-time augmentations per member (1 = none; default 8)")
    s.add_argument("--tta-intensity", action="store_true", help="add mild intensity changes to the augmentations")
    s.add_argument("--mc-dropout", type=int, default=0, metavar="N", help="MC-dropout passes per augmentation")


def add_train(sub) -> None:
    s = sub.add_parser("train", help="train an out-of-fold ensemble on a dataset (resumable)")
    _add_dataset_and_project(s)
    add_train_options(s)
    add_device_options(s)
    add_limit_options(s)
    s.set_defaults(func=cmd_train)


def add_uncertainty(sub) -> None:
    s = sub.add_parser("uncertainty", help="compute per-case uncertainty maps with the project's ensemble")
    s.add_argument("--project", required=True, help="project folder (made by `curator train`)")
    _add_scoring_options(s)
    s.add_argument("--model", action="append", metavar="SPEC.json",
                   help="your own trained model (state dict + spec, or TorchScript) to add to the ensemble")
    s.add_argument("--overwrite", action="store_true", help="recompute maps that are up to date")
    s.add_argument("--allow-torchscript", action="store_true", help=ALLOW_TORCHSCRIPT_HELP)
    add_device_options(s)
    add_limit_options(s)
    s.set_defaults(func=cmd_uncertainty)


def add_batch(sub) -> None:
    s = sub.add_parser("batch", help="Batch relabel: train -> uncertainty -> proposals -> ranking (resumable)")
    _add_dataset_and_project(s)
    add_train_options(s)
    s.add_argument("--model", action="append", metavar="SPEC.json",
                   help="score with your own trained model(s) instead of training (add --train to do both)")
    s.add_argument("--train", action="store_true", help="train even when --model is given")
    s.add_argument("--allow-torchscript", action="store_true", help=ALLOW_TORCHSCRIPT_HELP)
    _add_scoring_options(s)
    s.add_argument("--rules", default="confident", help="proposal rules, comma list of confident, uncertainty")
    s.add_argument("--proposal-tau", type=float, default=0.8, help="confidence needed to propose a change")
    s.add_argument("--proposal-delta", type=float, default=0.3, help="uncertainty threshold (uncertainty rule)")
    s.add_argument("--proposal-min-confidence", type=float, default=None, metavar="P",
                   help="mean model confidence a change region needs to be proposed (default: calibrated on the "
                   "batch's own cases, see --proposal-target; proposals are withheld, with the reason, when no "
                   "level is safe)")
    s.add_argument("--proposal-target", type=float, default=0.005, metavar="F",
                   help="calibration: the share of a mask's pixels proposals may change on the cases judged "
                   "correct (default 0.005)")
    s.add_argument("--proposal-band", type=float, default=0.0, help="only change pixels this close to the mask's "
                   "edges (fraction of object radius, or px; 0 = anywhere)")
    s.add_argument("--largest-component", action="store_true", help="keep only the largest component per label")
    s.add_argument("--refine", default="none", choices=["none", "contour"],
                   help="pull proposed contours to image edges (2D; geodesic active contour)")
    s.add_argument("--reviewer", help="name recorded in the audit log (default: the login name)")
    s.add_argument("--trusted", metavar="LIST", help="a file of case ids whose masks are known to be right (one per "
                   "line, or a CSV's first column): never relabelled or proposed for change")
    s.add_argument("--executor", default="local", metavar="NAME",
                   help="where training and scoring run: local (default, this process) or an installed executor "
                   "plugin, e.g. ray (plugins/mask-curator-ray; the dataset and project must be on storage every "
                   "worker sees at the same path)")
    s.add_argument("--address", metavar="auto|HOST:PORT",
                   help="the cluster a plugin executor joins (ray: 'auto' = the running cluster; default: start a "
                   "local one sized to this machine)")
    add_device_options(s)
    add_limit_options(s)
    s.set_defaults(func=cmd_batch)
