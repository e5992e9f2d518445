"""The ``curator`` command: headless access to everything Mask Curator does.

Each subcommand parses its options, builds a core job (a generator of progress events) and drives
it with a progress bar on stderr. Heavy libraries are imported inside the subcommands, so
``curator --help`` and ``curator --version`` answer at once. Exit codes: 0 success, 1 the work
failed (the message says why), 2 bad command line, 130 interrupted.
"""

from __future__ import annotations

import argparse
import json
import os
import sys
from pathlib import Path

from curator import __version__
from curator.core.errors import CuratorError
from curator.core.curation.decisions import DECISIONS, Decision


# ----------------------------------------------------------------------------------------------
# helpers


class CliError(CuratorError):
    """A failure to report to the user as one line, with exit status 1."""


def _progress_runner(quiet: bool = False):
    """Return ``drive(job)`` that runs a core job with a tqdm bar (or silently)."""
    from curator.core.jobs import run

    def drive(job, desc: str = ""):
        if quiet:
            return run(job)
        from tqdm import tqdm

        bar = tqdm(total=None, desc=desc, unit="step", file=sys.stderr, dynamic_ncols=True, leave=False,
                   disable=not sys.stderr.isatty() and os.environ.get("CURATOR_PROGRESS") != "1")
        try:
            def on(ev):
                if ev.total and bar.total != ev.total:
                    bar.total = ev.total
                bar.n = ev.step
                bar.set_postfix_str(ev.message[:60], refresh=False)
                bar.refresh()
            return run(job, on)
        finally:
            bar.close()

    return drive


def _fmt_spacing(spacing) -> str:
    def one(s: float) -> str:
        text = f"{s:.3f}".rstrip("0")
        return text + "0" if text.endswith(".") else text

    return "(" + ", ".join(one(s) for s in spacing) + ")"


def _describe_shape(case) -> str:
    info = case._image_info
    if info is None:
        return "?"
    if case.ndim == 3:
        z, y, x = info.shape
        return f"{z} slice{'s' if z != 1 else ''} of {y}x{x}"
    y, x = info.shape
    return f"{y}x{x}" + (" RGB" if info.channels >= 3 else " grey")


# ----------------------------------------------------------------------------------------------
# subcommands


def cmd_info(args) -> int:
    from curator.core.data.cases import DatasetError
    from curator.core.data.discover import open_dataset

    try:
        ds = open_dataset(args.path, layout=args.layout)
    except DatasetError as exc:
        if args.json:
            print(json.dumps({"layout": None, "cases": [], "problems": [
                {"code": "not_a_dataset", "severity": "error", "message": str(exc)}]}, indent=2))
        raise CliError(str(exc)) from exc
    drive_bar = None
    if not args.json and sys.stderr.isatty():
        from tqdm import tqdm

        drive_bar = tqdm(total=len(ds), desc="checking", file=sys.stderr, leave=False)
    ds.check(deep=args.deep, progress=(lambda i, n, cid: drive_bar.update(1)) if drive_bar else None)
    if drive_bar:
        drive_bar.close()
    if args.json:
        print(json.dumps(ds.to_json(), indent=2))
        return 0
    n_err = sum(1 for c in ds.cases if any(p.severity == "error" for p in c.problems))
    n_warn = sum(1 for c in ds.cases if c.problems and not any(p.severity == "error" for p in c.problems))
    dims = sorted({c.ndim for c in ds.cases})
    print(f"{ds.root}")
    print(f"layout: {ds.layout}    cases: {len(ds)}    {'/'.join(f'{d}-D' for d in dims)}")
    if ds.label_names:
        print("labels: " + ", ".join(f"{k} {v}" for k, v in sorted(ds.label_names.items())))
    width = max((len(c.id) for c in ds.cases), default=4)
    for c in ds.cases:
        status = "ok" if not c.problems else ("ERROR" if not c.ok else "warning")
        spacing = _fmt_spacing(c._image_info.geometry.spacing) + (" mm" if c.ndim == 3 else "") if c._image_info else ""
        mask = c.mask_rel if c.mask is not None else "(no mask)"
        print(f"  {c.id:<{width}}  {c.ndim}-D  {_describe_shape(c):<22} spacing {spacing:<24} {status:<8} mask {mask}")
        for p in c.problems:
            print(f"  {'':<{width}}    {p.severity}: {p.message}")
    for p in ds.problems:
        print(f"dataset {p.severity}: {p.message}")
    print(f"summary: {len(ds) - n_err - n_warn} ok, {n_warn} with warnings, {n_err} with errors"
          + ("" if args.deep else " (header check; --deep decodes every file)"))
    return 0


def cmd_corrupt(args) -> int:
    from curator.lab.corrupt import iter_corrupt_dataset

    job = iter_corrupt_dataset(args.src, args.out, noise=args.noise, fraction=args.fraction, seed=args.seed,
                               mode=args.mode, beta=args.beta, overwrite=args.overwrite, link_images=args.link)
    csv_path = _progress_runner(args.quiet)(job, "corrupt")
    from curator.core.io.files import read_csv

    rows = read_csv(csv_path)
    corrupted = [float(r["dice_to_original"]) for r in rows if r["corrupted"] == "1"]
    failed = [r["case_id"] for r in rows if r["noise"] == "failed"]
    mean = sum(corrupted) / len(corrupted) if corrupted else float("nan")
    print(f"wrote {args.out}: {len(corrupted)} of {len(rows)} masks corrupted ({args.noise}), "
          f"mean Dice to original {mean:.3f}; record in {csv_path}")
    if failed:
        print(f"{len(failed)} case(s) could not be read and were copied unchanged: {', '.join(failed[:10])}"
              + (" ..." if len(failed) > 10 else ""), file=sys.stderr)
    return 0


def _train_config(args):
    from curator.lab.experiments import parse_relabel_options
    from curator.core.engine.training import RelabelConfig, TrainConfig

    relabel = None
    if args.relabel:
        opts = {"rule": args.relabel_rule, "tau": args.tau, "delta": args.delta,
                "start": args.relabel_start if args.relabel_start == "auto" else int(args.relabel_start),
                "band": None if args.band is not None and args.band <= 0 else args.band}
        if args.relabel_options:
            opts.update(parse_relabel_options(args.relabel_options))
        relabel = RelabelConfig(**{k: v for k, v in opts.items() if v is not None or k == "band"})
    cfg = TrainConfig(
        folds=args.folds, repeats=args.repeats, epochs=args.epochs, batch_size=args.batch_size, lr=args.lr,
        loss=args.loss, size=args.size, seed=args.seed, device=args.device, amp=not args.no_amp, threads=args.threads,
        relabel=relabel, channels=tuple(int(c) for c in args.channels.split(",")), dropout=args.dropout,
        spacing=tuple(float(v) for v in args.spacing.split(",")) if args.spacing else None,
        patch=tuple(int(v) for v in args.patch.split(",")),
    )
    _check_sizes(cfg)
    return cfg


def _check_sizes(cfg) -> None:
    """The network halves its grid once per level: working sizes must divide by 2**(levels - 1)."""
    step = 2 ** (len(cfg.channels) - 1)
    if cfg.size % step or cfg.size <= 0:
        raise CliError(f"--size {cfg.size} must be a positive multiple of {step} for {len(cfg.channels)} levels "
                       f"of --channels (e.g. {max(step, round(cfg.size / step) * step)})")
    if len(cfg.patch) != 3 or any(p % step or p <= 0 for p in cfg.patch):
        raise CliError(f"--patch {','.join(map(str, cfg.patch))} must be three positive multiples of {step} "
                       f"(D,H,W) for {len(cfg.channels)} levels of --channels")


def cmd_train(args) -> int:
    from curator.core.data.discover import open_dataset
    from curator.core.project.folder import Project
    from curator.core.engine.ensemble import iter_train

    try:
        cfg = _train_config(args)
        ds = open_dataset(args.dataset, layout=args.layout)
        project = Project.create(args.project, ds.root, layout=ds.layout)
        result = _progress_runner(args.quiet)(
            iter_train(ds, project.models_dir, cfg, cache_dir=project.cache_dir), "train")
    except ValueError as exc:
        raise CliError(str(exc)) from exc
    print(f"trained {len(result['members'])} member(s) into {project.models_dir}")
    for cid, why in sorted(result["failed"].items()):
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
        result = _progress_runner(args.quiet)(iter_uncertainty(project, cfg), "uncertainty")
    except ValueError as exc:
        raise CliError(str(exc)) from exc
    print(f"uncertainty maps: {len(result['done'])} computed, {len(result['skipped'])} up to date, "
          f"{len(result['failed'])} failed -> {project.maps_dir}")
    if result["in_fold"]:
        print(f"note: {len(result['in_fold'])} case(s) had no held-out model and were scored by models that "
              "trained on them", file=sys.stderr)
    for cid, why in sorted(result["failed"].items()):
        print(f"  failed {cid}: {why}", file=sys.stderr)
    return 0


def cmd_bench_speed(args) -> int:
    from curator.lab.bench import SCENARIOS, run_benchmarks

    names = [n.strip() for n in args.scenarios.split(",") if n.strip()]
    bad = [n for n in names if n not in SCENARIOS]
    if bad:
        raise CliError(f"unknown scenario(s) {', '.join(bad)}; choose from {', '.join(SCENARIOS)}")
    print(f"benchmarking {', '.join(names)} (each in its own process) ...", file=sys.stderr)
    res = run_benchmarks(names, device=args.device, passes=args.passes, threads=args.threads, amp=not args.no_amp)
    if args.json:
        print(json.dumps(res, indent=2))
        return 0
    precision = "mixed precision" if res["amp"] else "float32"
    print(f"device: {res['device']}, {precision}   torch {res['torch']}   "
          f"measured matmul peak: {res['peak_gflops']:.1f} GFLOP/s")
    for r in res["results"]:
        if "error" in r:
            print(f"  {r['scenario']}: failed ({r['error']})")
            continue
        shape = "x".join(str(v) for v in reversed(r["shape"]))
        extra = " (extrapolated from %d measured passes)" % r["measured_passes"] if r.get("ms_per_case_extrapolated") else ""
        print(f"  {r['scenario']:<9} {shape:<12} {r['members']} members x {r['tta']} TTA: "
              f"{r['ms_per_pass']:.1f} ms per forward pass, {r['ms_per_case'] / 1000:.2f} s per case{extra}; "
              f"{r['gflops_achieved']:.1f} GFLOP/s ({100 * r['fraction_of_peak']:.0f}% of peak); "
              f"peak memory {r['peak_memory_mb']:.0f} MB")
    return 0


def cmd_bench_scale(args) -> int:
    from curator.core.project.executors import ExecutorError, executor_class

    try:
        cls = executor_class(args.executor)
    except ExecutorError as exc:
        raise CliError(str(exc)) from exc
    if not hasattr(cls, "scale_benchmark"):
        raise CliError(f"the executor '{args.executor}' has no scale benchmark")
    nodes = args.nodes or (os.cpu_count() or 1) + 1
    print(f"benchmarking {args.executor}: {nodes} one-CPU node(s) on this machine, {args.tasks} tasks ...",
          file=sys.stderr)
    res = cls.scale_benchmark(nodes=nodes, tasks=args.tasks, steps=args.steps,
                              progress=None if args.quiet else (lambda m: print(f"  {m}", file=sys.stderr)))
    if args.json:
        print(json.dumps(res, indent=2))
        return 0
    print(f"{res['nodes_alive']} of {res['nodes']} node(s) joined, on a machine with {res['cores']} core(s); "
          f"started in {res['startup_s']:.1f} s")
    print(f"empty task: {res['roundtrip_ms']:.1f} ms round trip one after another; "
          f"{res['throughput_tasks_per_s']:.0f} tasks/s submitted at once")
    print(f"{res['tasks']} training-like tasks of {res['serial_s'] / res['tasks']:.2f} s each, "
          f"{res['serial_s']:.1f} s in one process without Ray")
    for r in res["rows"]:
        print(f"  {r['workers']} worker(s): {r['wall_s']:6.1f} s  speed-up x{r['speedup']:.2f}  "
              f"task {r['task_s']:.2f} s  overhead/idle per task {r['overhead_per_task_ms']:.0f} ms")
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
        train_cfg = None if (args.model and not args.train) else _train_config(args)
        unc = UncertaintyConfig(tta=args.tta, tta_intensity=args.tta_intensity, mc=args.mc_dropout,
                                device=args.device, amp=not args.no_amp, threads=args.threads,
                                allow_torchscript=args.allow_torchscript)
        job = iter_batch(args.dataset, args.project, train_cfg=train_cfg, unc_cfg=unc,
                         proposal_cfg=_proposal_config(args), layout=args.layout, reviewer=args.reviewer,
                         models=tuple(args.model or ()), executor=args.executor,
                         executor_options={"address": args.address})
        res = _progress_runner(args.quiet)(job, "batch")
    except ValueError as exc:
        raise CliError(str(exc)) from exc
    project = Path(args.project).resolve()
    print(f"ranked {len(res.ranked)} case(s): {project / 'ranking.csv'}; proposals in {project / 'proposals'} "
          f"(each case's status in {project / 'proposals.csv'})")
    calib = (res.proposals or {}).get("calibration")
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


def cmd_export(args) -> int:
    from curator.core.project.export import iter_export
    from curator.core.project.folder import Project

    project = Project.open(args.project)
    res = _progress_runner(args.quiet)(
        iter_export(project, args.out, take_proposals_above=args.accept_proposals_above,
                    take_top=args.accept_top, overwrite=args.overwrite, reviewer=args.reviewer,
                    deidentify_seg=args.deidentify_seg), "export")
    if res.failed_corrections:
        n = len(res.failed_corrections)
        print(f"curator export: error: the export at {res.out} is incomplete: {n} accepted or edited correction(s) "
              "could not be written (their original masks were copied instead):", file=sys.stderr)
        for cid, why in sorted(res.failed_corrections.items()):
            why = str(why)
            print(f"  {why}" if why.startswith(f"{cid}:") else f"  {cid}: {why}", file=sys.stderr)
        print(f"exported {res.out} with {n} correction(s) missing: {len(res.changed)} changed, "
              f"{len(res.unchanged)} unchanged, {len(res.excluded)} excluded; see changes.csv and provenance.json")
        return 1
    print(f"exported {res.out}: {len(res.changed)} changed, {len(res.unchanged)} unchanged, "
          f"{len(res.excluded)} excluded; see changes.csv and provenance.json")
    if res.failed:
        print(f"{len(res.failed)} case(s) with problems were copied as they are:", file=sys.stderr)
        for cid, why in sorted(res.failed.items()):
            print(f"  {cid}: {why}", file=sys.stderr)
    if res.not_copied:
        print(f"{len(res.not_copied)} file(s) of the dataset could not be read and are not in the export:",
              file=sys.stderr)
        for rel, why in sorted(res.not_copied.items()):
            print(f"  {rel}: {why}", file=sys.stderr)
    return 0


def cmd_relink(args) -> int:
    """Point a project at its dataset's new place (after checking it holds the same data)."""
    from curator.core.project.folder import Project

    project = Project.open(args.project)
    done = project.relink(args.dataset, force=args.force)
    checked = "not checked (--force)" if done["forced"] else "the same data"
    print(f"{project.root}: dataset now {done['to']} (was {done['from']}; {checked})")
    return 0


def cmd_decide(args) -> int:
    """Record a review decision from the command line (scripts, tests, quick triage)."""
    from curator.core.project.folder import Project
    from curator.core.project.store import Store

    project = Project.open(args.project)
    with Store(project.db_path, reviewer=args.reviewer) as store:
        if args.decision == "reopen":
            d = store.reopen(args.case)
        elif args.decision == "note":
            store.set_note(args.case, args.note or "")
            d = store.decision(args.case)
        else:
            decision = {"accept": Decision.ACCEPTED, "keep": Decision.KEPT, "exclude": Decision.EXCLUDED,
                        "flag": Decision.FLAGGED}[args.decision]
            regions = [int(r) for r in args.regions.split(",")] if args.regions else None
            if decision is Decision.ACCEPTED:
                d = _accept_from_cli(project, store, args.case, regions, args.note)
            else:
                d = store.decide(args.case, decision, note=args.note, pixels=(0, 0) if decision is Decision.KEPT else None)
    print(f"{args.case}: {d['decision']}{' (locked)' if d['locked'] else ''}")
    return 0


def _accept_from_cli(project, store, case_id: str, regions, note):
    """Accept a proposal the way the app does (the accepted mask is kept as the decision's file)."""
    from curator.core.io.types import ReadError
    from curator.core.curation.decisions import DecisionError
    from curator.core.project.review import accept, load_case_view

    p = store.proposal(case_id)
    if p is None:
        raise CliError(f"{case_id} has no proposal to accept; run `curator batch` first")
    withheld = (p.get("config") or {}).get("withheld")
    if withheld or not p.get("regions"):
        raise CliError(f"{case_id} has no proposed change to accept"
                       + (f" (proposals withheld: {withheld})" if withheld else "")
                       + "; use keep, or edit the mask in the app")
    try:
        case = project.open_dataset()[case_id]
    except KeyError:
        raise CliError(f"no case '{case_id}' in the project's dataset") from None
    try:
        view = load_case_view(project, store, case)
        if view.proposal is None:
            raise CliError(f"{case_id}: its proposal is missing from the project; run `curator batch` again")
        return accept(project, store, view, regions, note=note)
    except (ReadError, DecisionError) as exc:
        raise CliError(f"{case_id} cannot be accepted: {exc}") from exc


def cmd_queue(args) -> int:
    from curator.core.project.folder import Project
    from curator.core.project.store import Store

    project = Project.open(args.project)
    with Store(project.db_path) as store:
        rows = store.queue(args.status, limit=args.limit or None)
        rounds = store.review_rounds(args.rounds) if args.rounds else []
    if rounds:
        print(f"review rounds of {args.rounds}: errors found per round (the DataHeroes loop)")
        for r in rounds:
            print(f"  round {r.round}: {r.errors_found}/{r.reviewed} errors ({100 * r.hit_rate:.0f} %), "
                  f"{r.cumulative_errors} in all{'  <- plateau: further review finds little' if r.plateau else ''}")
        return 0
    if args.json:
        print(json.dumps(rows, indent=2))
        return 0
    lines = []
    for r in rows[: args.limit or None]:
        score = f"{r['score']:.3f}" if r["score"] is not None else "  -  "
        change = f"{100 * r['change_fraction']:.1f}%" if r["change_fraction"] is not None else "-"
        fail = f"  FAILED: {r['failed']}" if r["failed"] else ""
        lines.append(f"{r['rank'] or '-':>5}  {r['case_id']:<24} score {score}  change {change:>6}  {r['decision']}{fail}\n")
    sys.stdout.writelines(lines)  # one write, not one per case (100,000 cases: 0.1 s instead of 1.4 s)
    return 0


def _add_train_options(s) -> None:
    s.add_argument("--folds", type=int, default=5, help="K of K-fold: members per repeat (default 5)")
    s.add_argument("--repeats", type=int, default=1, help="independent K-fold splits; each case is then scored "
                   "out-of-fold by this many members (default 1)")
    s.add_argument("--epochs", type=int, default=40, help="epochs per member (default 40)")
    s.add_argument("--size", type=int, default=128, help="2D working size in pixels (default 128)")
    s.add_argument("--spacing", help="3D working spacing x,y,z in mm (default: from the data)")
    s.add_argument("--patch", default="32,96,96", help="3D patch D,H,W in voxels (default 32,96,96)")
    s.add_argument("--batch-size", type=int, default=16)
    s.add_argument("--lr", type=float, default=2e-3, help="learning rate (AdamW, cosine schedule)")
    s.add_argument("--loss", default="dicece", choices=["dicece", "ce", "dice", "gce"],
                   help="dicece (default) or gce, a noise-robust generalised cross-entropy")
    s.add_argument("--channels", default="16,32,64,128,256", help="U-Net channels per level")
    s.add_argument("--dropout", type=float, default=0.1, help="dropout (needed for MC dropout; default 0.1)")
    s.add_argument("--seed", type=int, default=0)
    s.add_argument("--relabel", action=argparse.BooleanOptionalAction, default=True,
                   help="relabel noisy masks while training (default on; --no-relabel turns it off)")
    s.add_argument("--relabel-rule", default="confident", choices=["confident", "uncertainty", "both", "trimap"],
                   help="confident: flip where the model confidently disagrees (default); uncertainty: the "
                        "poster's rule, flip where uncertainty > delta")
    s.add_argument("--tau", type=float, default=0.5, help="probability of another class needed to flip a "
                   "training label (confident rule; default 0.5: the consensus)")
    s.add_argument("--delta", type=float, default=0.3, help="uncertainty threshold (uncertainty rule)")
    s.add_argument("--relabel-start", default="auto", help="first relabelling epoch, or auto (default)")
    s.add_argument("--band", type=float, default=0.0, help="flip only this close to mask boundaries (fraction "
                   "of object radius, or pixels if >= 1; 0 = anywhere, the default)")
    s.add_argument("--relabel-options", help="more relabel options as key=value,... (e.g. update=cumulative,tta=8)")


def cmd_bench_table1(args) -> int:
    from curator.core.data.discover import open_dataset
    from curator.lab.experiments import iter_noise_experiment, summarise
    from curator.lab.report import table1_report

    base = _train_config(args)
    out = Path(args.out)
    out.mkdir(parents=True, exist_ok=True)
    results = {}
    try:
        ds = open_dataset(args.dataset)
        for noise in [n.strip() for n in args.noises.split(",") if n.strip()]:
            job = iter_noise_experiment(ds, noise=noise, methods=[m.strip() for m in args.methods.split(";") if m.strip()],
                                        seeds=[int(v) for v in args.seeds.split(",")], base=base,
                                        max_cases=args.max_cases, monitor=True)
            results[noise] = _progress_runner(args.quiet)(job, f"table1 {noise}")
            (out / "table1.json").write_text(json.dumps(results, indent=1))
    except ValueError as exc:
        raise CliError(str(exc)) from exc
    report = table1_report(results, out / "table1.html")
    for noise, res in results.items():
        print(f"noise {noise}: Dice (%) vs clean / vs noisy validation masks")
        for row in summarise(res):
            print(f"  {row['method']:<24} {row['dice_clean']:5.1f} / {row['dice_noisy']:5.1f}   "
                  + "  ".join(f"s{a}: {b:.1f}/{c:.1f}" for a, b, c in row["per_seed"]))
    print(f"report: {report}")
    return 0


def cmd_bench_detect(args) -> int:
    from curator.lab.experiments import iter_detect_experiment
    from curator.core.project.pipeline import UncertaintyConfig
    from curator.lab.report import detect_report

    out = Path(args.out)
    try:
        job = iter_detect_experiment(args.dataset, out, noise=args.noise, fraction=args.fraction, seed=args.seed,
                                     train_cfg=_train_config(args),
                                     unc_cfg=UncertaintyConfig(tta=args.tta, mc=args.mc_dropout, device=args.device,
                                                               threads=args.threads),
                                     single_model=args.single_model)
        res = _progress_runner(args.quiet)(job, "detect")
    except ValueError as exc:
        raise CliError(str(exc)) from exc
    (out / "detect.json").write_text(json.dumps(res, indent=1))
    from curator.core.project.folder import Project
    from curator.lab.report import project_report

    project_report(Project.open(out / "project"))  # the ranked cases as thumbnails
    report = detect_report(res, out / "detect.html", project_link="project/report.html")
    print(f"{'ranking':<28} {'AUROC':>6} {'AP':>6} {'P@k':>6}")
    for name, m in res["detection"].items():
        print(f"{name:<28} {m['auroc']:6.3f} {m['average_precision']:6.3f} "
              f"{m.get('precision_at_%d' % m['wrong'], float('nan')):6.3f}")
    rep = res["repair"]
    print(f"repair: Dice to clean {rep['dice_given_to_clean']:.3f} (given) -> {rep['dice_proposal_to_clean']:.3f} "
          f"(proposed), gap closed {100 * rep['gap_closed']:.0f} %; clean cases changed "
          f"{100 * rep['change_on_clean_cases']:.2f} % of mask pixels")
    print(f"report: {report}")
    return 0


def cmd_bench_suite(args) -> int:
    from curator.lab.report import suite_report
    from curator.lab.suite import iter_suite

    profile = "quick" if args.quick else ("full" if args.full else ("wide" if args.wide else "default"))

    def split(v):
        return [x.strip() for x in v.split(",") if x.strip()]

    data_root = Path(args.data or os.environ.get("CURATOR_TEST_DATA") or "../shared/data")
    if not data_root.is_dir():
        raise CliError(f"no data folder at {data_root}; give --data (the folder of shared/data's layout)")
    out = Path(args.out)
    try:
        job = iter_suite(out, data_root=data_root, profile=profile,
                         datasets=split(args.datasets) if args.datasets else None,
                         noises=split(args.noises) if args.noises else None,
                         seeds=[int(v) for v in split(args.seeds)] if args.seeds else None, cases=args.cases,
                         relabel_baseline=not args.no_baseline)
        res = _progress_runner(args.quiet)(job, "suite")
    except ValueError as exc:
        raise CliError(str(exc)) from exc
    report = suite_report(res, out / "suite.html")
    ov = res["summary"]
    print(f"{'dataset':<14} {'runs':>4} {'AUROC':>6} {'softmin':>7} {'top30':>6} {'gap':>6} {'clean':>6} "
          f"{'withheld':>8} {'model':>6} | {'AUROC':>6} {'gap':>6} {'model':>6} (relabelling off)")
    for name, row in list(ov["datasets"].items()) + [("MEAN", ov["overall"]), ("WORST", {
            k[:-6]: v for k, v in ov["overall"].items() if k.endswith(":worst")})]:
        g = lambda v, m: row.get(f"{v}:{m}", float("nan"))  # noqa: E731
        print(f"{name:<14} {row.get('runs', ''):>4} {g('relabel', 'auroc_combined'):6.3f} "
              f"{g('relabel', 'auroc_softmin'):7.3f} {100 * g('relabel', 'top30'):5.0f}% "
              f"{100 * g('relabel', 'gap_closed'):5.0f}% {100 * g('relabel', 'clean_changed'):5.2f}% "
              f"{100 * g('relabel', 'withheld'):7.0f}% {g('relabel', 'model_dice'):6.3f} | "
              f"{g('no-relabel', 'auroc_combined'):6.3f} {100 * g('no-relabel', 'gap_closed'):5.0f}% "
              f"{g('no-relabel', 'model_dice'):6.3f}")
    print(f"results: {out / 'suite.json'}; report: {report}")
    return 0


def cmd_bench_gui(args) -> int:
    if not _gui_available():
        raise CliError("the GUI benchmark needs napari and PySide6 (pip install 'mask-curator[gui]')")
    from curator.gui.bench import run_gui_benchmarks

    res = run_gui_benchmarks(quick=args.quick, threads=args.threads)
    if args.json:
        print(json.dumps(res, indent=2))
        return 0
    print(f"event loop while Batch relabel runs ({res['batch_seconds']:.0f} s, {res['stall_ticks']} ticks): "
          f"longest stall {res['stall_max_ms']:.0f} ms, 99th percentile {res['stall_p99_ms']:.0f} ms (target < 100); "
          f"drawing the top case when it is done: {res['stall_at_end_ms']:.0f} ms")
    print(f"canvas redraw with nothing changed: {res['canvas_repaint_ms']:.0f} ms (part of every switch and slider move)")
    print(f"switch case 2D 512x512: {res['switch_2d_cold_ms']:.0f} ms from disk, "
          f"{res['switch_2d_prefetched_ms']:.0f} ms prefetched (target < 150)")
    shape = "x".join(str(v) for v in reversed(res["volume_shape"]))
    print(f"switch case 3D {shape}: {res['switch_3d_cold_ms']:.0f} ms from disk, "
          f"{res['switch_3d_prefetched_ms']:.0f} ms prefetched (target < 500)")
    print(f"threshold slider on 512x512: {res['slider_ms']:.0f} ms per update (first {res['slider_first_ms']:.0f} ms; "
          f"{res['slider_compute_ms']:.0f} ms before the redraw) (target < 100)")
    return 0


def cmd_selftest(args) -> int:
    from curator.lab.selftest import run_selftest

    return run_selftest()


def cmd_report(args) -> int:
    from curator.core.project.folder import Project
    from curator.lab.report import project_report

    path = project_report(Project.open(args.project), args.out, top=args.top)
    print(f"report: {path}")
    return 0


def _add_device_options(s) -> None:
    s.add_argument("--device", default="auto", help="auto (CUDA, then MPS, then CPU), cpu, cuda, cuda:N or mps")
    s.add_argument("--threads", type=int, default=None, help="CPU threads for torch (default: all cores)")
    s.add_argument("--no-amp", action="store_true", help="no mixed precision on CUDA")
    s.add_argument("-q", "--quiet", action="store_true", help="no progress bar")


def cmd_demo(args) -> int:
    from curator.lab.synthetic import demo_root, iter_write_demo

    root = Path(args.root) if args.root else demo_root()
    _progress_runner(args.quiet)(iter_write_demo(root), "demo data")
    if args.no_gui or not _gui_available():
        if not args.no_gui:
            print("(the desktop app is not installed here; showing the demo dataset instead)", file=sys.stderr)
        ns = argparse.Namespace(path=str(root / "derm"), layout=None, json=False, deep=False)
        return cmd_info(ns)
    from curator.gui.app import launch

    return launch(dataset=root / "derm", demo=True, screenshot=args.screenshot, startup_time=args.startup_time)


def cmd_gui(args) -> int:
    if not _gui_available():
        raise CliError("the desktop app needs napari and PySide6: pip install 'mask-curator[gui]' "
                       "(the README's setup installs them)")
    from curator.core.project.folder import Project
    from curator.gui.app import launch

    dataset = project = None
    if args.path:
        if Project.is_project(args.path):
            project = args.path
        else:
            dataset = args.path
    return launch(dataset=dataset, project=project, screenshot=args.screenshot, batch=args.batch,
                  startup_time=args.startup_time)


def _gui_available() -> bool:
    import importlib.util

    return all(importlib.util.find_spec(m) is not None for m in ("napari", "qtpy")) and \
        importlib.util.find_spec("curator.gui.app") is not None


# ----------------------------------------------------------------------------------------------
# parser


def build_parser() -> argparse.ArgumentParser:
    from curator.lab.noise import NOISE_KINDS

    p = argparse.ArgumentParser(
        prog="curator",
        description="Mask Curator: find and fix wrong segmentation masks in medical imaging datasets.",
    )
    p.add_argument("--version", action="version", version=f"mask-curator {__version__}")
    sub = p.add_subparsers(dest="command", metavar="COMMAND")

    s = sub.add_parser("info", help="list the cases a dataset folder holds and each case's problems")
    s.add_argument("path", help="dataset folder (PH2, ISIC, image/mask folders, MSD, LiTS, DICOM)")
    s.add_argument("--json", action="store_true", help="print one JSON object instead of a table")
    s.add_argument("--deep", action="store_true", help="decode every image and mask, not only headers")
    s.add_argument("--layout", choices=["ph2", "isic", "msd", "lits", "dicom", "pairs"],
                   help="force a layout instead of detecting it")
    _add_limit_options(s)
    s.set_defaults(func=cmd_info)

    s = sub.add_parser("corrupt", help="write a copy of a dataset with deliberately wrong masks")
    s.add_argument("src", help="source dataset folder (only read)")
    s.add_argument("out", help="output folder for the copy")
    s.add_argument("--noise", default="polygon3", choices=NOISE_KINDS, help="kind of mask error (default polygon3)")
    s.add_argument("--fraction", type=float, default=1.0, help="fraction of cases to corrupt, 0..1 (default 1)")
    s.add_argument("--seed", type=int, default=0, help="random seed (default 0)")
    s.add_argument("--beta", type=float, default=0.5, help="li noise: share of each chosen mask's foreground that "
                   "changes (Li et al.: 0.3, 0.5 or 0.7; default 0.5)")
    s.add_argument("--mode", default="auto", choices=["auto", "slice", "3d"],
                   help="3-D masks: per slice or in 3-D (default: slices for polygons/smooth, 3-D otherwise)")
    s.add_argument("--overwrite", action="store_true", help="replace OUT if it exists")
    s.add_argument("--link", action="store_true", help="symlink unchanged files instead of copying them")
    s.add_argument("-q", "--quiet", action="store_true", help="no progress bar")
    _add_limit_options(s)
    s.set_defaults(func=cmd_corrupt)

    s = sub.add_parser("train", help="train an out-of-fold ensemble on a dataset (resumable)")
    s.add_argument("dataset", help="dataset folder")
    s.add_argument("--project", required=True, help="project folder (created if needed; never inside the dataset)")
    s.add_argument("--layout", choices=["ph2", "isic", "msd", "lits", "dicom", "pairs"], help="force a layout")
    _add_train_options(s)
    _add_device_options(s)
    _add_limit_options(s)
    s.set_defaults(func=cmd_train)

    s = sub.add_parser("uncertainty", help="compute per-case uncertainty maps with the project's ensemble")
    s.add_argument("--project", required=True, help="project folder (made by `curator train`)")
    s.add_argument("--tta", type=int, default=8, help="test-time augmentations per member (1 = none; default 8)")
    s.add_argument("--tta-intensity", action="store_true", help="add mild intensity changes to the augmentations")
    s.add_argument("--mc-dropout", type=int, default=0, metavar="N", help="MC-dropout passes per augmentation")
    s.add_argument("--model", action="append", metavar="SPEC.json",
                   help="your own trained model (state dict + spec, or TorchScript) to add to the ensemble")
    s.add_argument("--overwrite", action="store_true", help="recompute maps that are up to date")
    s.add_argument("--allow-torchscript", action="store_true", help="load TorchScript models given with --model "
                   "(a TorchScript file is a program that can do anything: only for files you trust, whose sha256 "
                   "the spec gives)")
    _add_device_options(s)
    _add_limit_options(s)
    s.set_defaults(func=cmd_uncertainty)

    s = sub.add_parser("batch", help="Batch relabel: train -> uncertainty -> proposals -> ranking (resumable)")
    s.add_argument("dataset", help="dataset folder")
    s.add_argument("--project", required=True, help="project folder (created if needed; never inside the dataset)")
    s.add_argument("--layout", choices=["ph2", "isic", "msd", "lits", "dicom", "pairs"], help="force a layout")
    _add_train_options(s)
    s.add_argument("--model", action="append", metavar="SPEC.json",
                   help="score with your own trained model(s) instead of training (add --train to do both)")
    s.add_argument("--train", action="store_true", help="train even when --model is given")
    s.add_argument("--allow-torchscript", action="store_true", help="load TorchScript models given with --model "
                   "(a TorchScript file is a program that can do anything: only for files you trust, whose sha256 "
                   "the spec gives)")
    s.add_argument("--tta", type=int, default=8, help="test-time augmentations per member (default 8)")
    s.add_argument("--tta-intensity", action="store_true", help="add mild intensity changes to the augmentations")
    s.add_argument("--mc-dropout", type=int, default=0, metavar="N", help="MC-dropout passes per augmentation")
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
    s.add_argument("--executor", default="local", metavar="NAME",
                   help="where training and scoring run: local (default, this process) or an installed executor "
                   "plugin, e.g. ray (plugins/mask-curator-ray; the dataset and project must be on storage every "
                   "worker sees at the same path)")
    s.add_argument("--address", metavar="auto|HOST:PORT",
                   help="the cluster a plugin executor joins (ray: 'auto' = the running cluster; default: start a "
                   "local one sized to this machine)")
    _add_device_options(s)
    _add_limit_options(s)
    s.set_defaults(func=cmd_batch)

    s = sub.add_parser("export", help="write the cleaned dataset with changes.csv and provenance.json")
    s.add_argument("project", help="project folder")
    s.add_argument("out", help="output folder (must not exist, or be empty, unless --overwrite)")
    s.add_argument("--accept-proposals-above", type=float, metavar="SCORE",
                   help="unreviewed cases scoring at least this take their proposals")
    s.add_argument("--accept-top", type=int, metavar="N", help="unreviewed cases ranked 1..N take their proposals")
    s.add_argument("--overwrite", action="store_true", help="replace OUT")
    s.add_argument("--deidentify-seg", action="store_true",
                   help="DICOM SEG masks leave out the patient's name, ID, birth date and sex (by default they "
                        "carry them, to be returned to the same study)")
    s.add_argument("--reviewer", help="name recorded in the audit log")
    s.add_argument("-q", "--quiet", action="store_true", help="no progress bar")
    _add_limit_options(s)
    s.set_defaults(func=cmd_export)

    s = sub.add_parser("relink", help="point a project at its dataset's new place (checks it holds the same data)")
    s.add_argument("project", help="project folder")
    s.add_argument("dataset", help="where the dataset is now")
    s.add_argument("--force", action="store_true", help="relink even where files differ from when the project was made")
    s.set_defaults(func=cmd_relink)

    s = sub.add_parser("decide", help="record a review decision for one case (accept, keep, exclude, flag, ...)")
    s.add_argument("--project", required=True)
    s.add_argument("case", help="case id")
    s.add_argument("decision", choices=["accept", "keep", "exclude", "flag", "reopen", "note"])
    s.add_argument("--regions", help="accept only these proposal regions (comma list of region ids)")
    s.add_argument("--note", help="a note kept with the decision")
    s.add_argument("--reviewer", help="name recorded in the audit log")
    s.set_defaults(func=cmd_decide)

    s = sub.add_parser("queue", help="the review queue: cases by score with their decisions")
    s.add_argument("--project", required=True)
    s.add_argument("--status", choices=[*DECISIONS, "failed"])
    s.add_argument("--limit", type=int, default=0)
    s.add_argument("--json", action="store_true")
    s.add_argument("--rounds", type=int, default=0, metavar="N",
                   help="instead: errors found per round of N reviews, and whether they have reached a plateau")
    s.set_defaults(func=cmd_queue)

    s = sub.add_parser("bench", help="benchmarks: speed (and, later, detection and Table 1 experiments)")
    bsub = s.add_subparsers(dest="bench_command", metavar="BENCH")
    b = bsub.add_parser("speed", help="forward passes, ms per case (5 members x 8 TTA), GFLOP/s vs peak, peak memory")
    b.add_argument("--scenarios", default="2d,3d", help="comma list of 2d, 3d, 3d-large (default 2d,3d)")
    b.add_argument("--passes", type=int, default=None, help="3D: passes to measure before extrapolating "
                   "to members x TTA (default 2)")
    b.add_argument("--json", action="store_true", help="print the numbers as JSON")
    _add_device_options(b)
    b.set_defaults(func=cmd_bench_speed)

    b = bsub.add_parser("scale", help="an executor plugin's scheduling overhead and speed-up against the number "
                        "of workers (ray: one-CPU nodes started on loopback)")
    b.add_argument("--executor", default="ray", help="the executor plugin to measure (default ray)")
    b.add_argument("--nodes", type=int, default=None, help="nodes to start (default: this machine's cores + 1, "
                   "to show where it stops scaling)")
    b.add_argument("--tasks", type=int, default=8, help="equal tasks of training-like work (default 8)")
    b.add_argument("--steps", type=int, default=100, help="forward/backward passes per task (default 100)")
    b.add_argument("--json", action="store_true", help="print the numbers as JSON")
    b.add_argument("-q", "--quiet", action="store_true", help="no progress lines")
    b.set_defaults(func=cmd_bench_scale)
    b = bsub.add_parser("table1", help="the poster's Table 1: train on corrupted masks with and without correction")
    b.add_argument("dataset", help="a dataset with clean masks")
    b.add_argument("--out", required=True, help="folder for table1.json and table1.html")
    b.add_argument("--noises", default="polygon3,polygon7,smooth", help="noise kinds (comma list)")
    b.add_argument("--methods", default="clean;none;reweight;relabel;gce;mixup",
                   help="methods (semicolon list): clean, none, reweight, relabel, relabel-poster, gce, mixup, "
                        "or relabel:key=value,...")
    b.add_argument("--seeds", default="0,1,2", help="training seeds (comma list)")
    b.add_argument("--max-cases", type=int, default=None, help="use only the first N cases (quick runs)")
    _add_train_options(b)
    _add_device_options(b)
    b.set_defaults(func=cmd_bench_table1, epochs=80)

    b = bsub.add_parser("detect", help="corrupt some masks, run Batch relabel, and measure how well they are found")
    b.add_argument("dataset", help="a dataset with clean masks")
    b.add_argument("--out", required=True, help="work folder (noisy copy, project, detect.json, detect.html)")
    b.add_argument("--noise", default="mixed", help="noise kind (default mixed)")
    b.add_argument("--fraction", type=float, default=0.3, help="fraction of cases corrupted (default 0.3)")
    b.add_argument("--tta", type=int, default=8)
    b.add_argument("--mc-dropout", type=int, default=0)
    b.add_argument("--single-model", action="store_true", help="also rank with one model trained on every case")
    _add_train_options(b)
    _add_device_options(b)
    b.set_defaults(func=cmd_bench_detect)

    b = bsub.add_parser("suite", help="the development suite: Batch relabel on several real datasets x noise "
                        "settings x seeds; per dataset, mean and worst (docs/results.md)")
    b.add_argument("--out", required=True, help="work folder (resumable: finished runs are kept); suite.json, suite.html")
    b.add_argument("--data", help="folder holding the datasets in shared/data's layout (default: $CURATOR_TEST_DATA "
                   "or ../shared/data)")
    g = b.add_mutually_exclusive_group()
    g.add_argument("--quick", action="store_true", help="a smoke run: two datasets, tiny models (minutes)")
    g.add_argument("--wide", action="store_true", help="every real 2D dataset at the default's size (about two "
                   "hours on 2 cores; the default runs four of them in about an hour)")
    g.add_argument("--full", action="store_true", help="every dataset, more cases, noise settings and seeds (hours)")
    b.add_argument("--datasets", help="comma list (default: the profile's); ph2, kvasir, cvc, msd-liver, ircadb, "
                   "chaos, lits, ham10000, synthetic-ct")
    b.add_argument("--noises", help="comma list of NOISE:ALPHA[:BETA], e.g. li:0.3:0.5,annotator:0.3")
    b.add_argument("--seeds", help="comma list of seeds")
    b.add_argument("--cases", type=int, help="cases per dataset (a fixed subsample; default: the profile's)")
    b.add_argument("--no-baseline", action="store_true", help="do not also run each setting with relabelling off")
    b.add_argument("-q", "--quiet", action="store_true", help="no progress bar")
    b.set_defaults(func=cmd_bench_suite)

    b = bsub.add_parser("gui", help="responsiveness of the app: event-loop stall during a job, case switch, slider")
    b.add_argument("--quick", action="store_true", help="smaller volumes and fewer epochs (a smoke run)")
    b.add_argument("--threads", type=int, default=None, help="torch threads for the background job")
    b.add_argument("--json", action="store_true")
    b.set_defaults(func=cmd_bench_gui)

    s = sub.add_parser("selftest", help="a quick end-to-end check: demo data, tiny batch, export (exit 0 = fine)")
    s.set_defaults(func=cmd_selftest)

    s = sub.add_parser("report", help="an HTML report of a project: scores, proposals, decisions, thumbnails")
    s.add_argument("project", help="project folder")
    s.add_argument("--out", help="where to write (default PROJECT/report.html)")
    s.add_argument("--top", type=int, default=12, help="thumbnails of the N highest-ranked cases")
    _add_limit_options(s)
    s.set_defaults(func=cmd_report)

    s = sub.add_parser("gui", help="open the desktop app (optionally on a dataset or project folder)")
    s.add_argument("path", nargs="?", help="dataset folder or project folder")
    s.add_argument("--batch", action="store_true", help="start Batch relabel right away")
    s.add_argument("--screenshot", metavar="PNG", help="save a screenshot of the window and exit")
    s.add_argument("--startup-time", action="store_true", help="print the time from start to a usable window")
    _add_limit_options(s)
    s.set_defaults(func=cmd_gui)

    s = sub.add_parser("demo", help="open the built-in synthetic demo dataset (generated on first use)")
    s.add_argument("--root", help="where to keep the demo data (default: the user data folder)")
    s.add_argument("--no-gui", action="store_true", help="only generate the data and list it")
    s.add_argument("--screenshot", metavar="PNG", help="open the app, save a screenshot of the window and exit")
    s.add_argument("--startup-time", action="store_true", help="print the time from start to a usable window")
    s.add_argument("-q", "--quiet", action="store_true", help="no progress bar")
    s.set_defaults(func=cmd_demo)
    return p


def main(argv: list[str] | None = None) -> int:
    argv = list(sys.argv[1:] if argv is None else argv)
    if argv[:1] == ["--selftest"]:  # the bundled app's spelling
        argv = ["selftest"] + argv[1:]
    parser = build_parser()
    args = parser.parse_args(argv)
    if not getattr(args, "command", None) or not hasattr(args, "func"):
        parser.parse_args([args.command, "--help"] if getattr(args, "command", None) else ["--help"])
        return 2
    _apply_limits(args)
    try:
        return int(args.func(args) or 0)
    except CuratorError as exc:  # every error the core expects (unreadable file, not a dataset, ...)
        print(f"curator {args.command}: error: {exc}", file=sys.stderr)
        return 1
    except KeyboardInterrupt:
        print(f"curator {args.command}: interrupted", file=sys.stderr)
        return 130
    except OSError as exc:  # a full or read-only disk, a vanished folder: say which and what to do
        from curator.core.io.files import explain_os_error

        print(f"curator {args.command}: error: {explain_os_error(exc)}", file=sys.stderr)
        return 1
    except Exception as exc:  # noqa: BLE001 - the last resort: one line, the details kept for a report
        import sqlite3

        if isinstance(exc, sqlite3.OperationalError) and _is_disk_problem(exc):
            print(f"curator {args.command}: error: the project's database cannot be written ({exc}); "
                  "free some space or choose a project folder you can write to", file=sys.stderr)
            return 1
        where = _save_traceback(exc)
        print(f"curator {args.command}: unexpected error: {type(exc).__name__}: {exc} (this is a bug in Mask "
              f"Curator; please report it with the details saved in {where})", file=sys.stderr)
        return 1


def _is_disk_problem(exc) -> bool:
    text = str(exc).lower()
    return any(w in text for w in ("disk is full", "readonly", "read-only", "unable to open", "disk i/o"))


def _save_traceback(exc: BaseException) -> str:
    import tempfile
    import time
    import traceback

    text = "".join(traceback.format_exception(type(exc), exc, exc.__traceback__))
    try:
        fd, path = tempfile.mkstemp(prefix=f"curator-error-{time.strftime('%Y%m%d-%H%M%S')}-", suffix=".txt")
        with os.fdopen(fd, "w") as fh:
            fh.write(text)
        return path
    except OSError:
        return "(could not be saved)"


def _apply_limits(args) -> None:
    """The size limits asked for on the command line, for this process and the jobs it starts."""
    for opt, env in (("max_megapixels", "CURATOR_MAX_MEGAPIXELS"), ("max_megavoxels", "CURATOR_MAX_MEGAVOXELS")):
        value = getattr(args, opt, None)
        if value is not None:
            os.environ[env] = str(value)


def _add_limit_options(s) -> None:
    s.add_argument("--max-megapixels", type=float, metavar="N", help="largest 2-D image read, in millions of "
                   "pixels (default 64, or CURATOR_MAX_MEGAPIXELS); bigger files are refused, not decoded")
    s.add_argument("--max-megavoxels", type=float, metavar="N", help="largest 3-D volume read, in millions of "
                   "voxels (default 512, or CURATOR_MAX_MEGAVOXELS)")


if __name__ == "__main__":  # pragma: no cover
    sys.exit(main())
