"""``curator bench``: speed, scale, Table 1, detection, the development suite and the GUI's responsiveness."""

from __future__ import annotations

import json
import os
import sys
from pathlib import Path

from curator.cli.common import (CliError, add_device_options, add_train_options, gui_available, progress_runner,
                                 train_config)


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


def cmd_bench_table1(args) -> int:
    from curator.core.data.discover import open_dataset
    from curator.lab.experiments import iter_noise_experiment, summarise
    from curator.lab.report import table1_report

    base = train_config(args)
    out = Path(args.out)
    out.mkdir(parents=True, exist_ok=True)
    results = {}
    try:
        ds = open_dataset(args.dataset)
        for noise in [n.strip() for n in args.noises.split(",") if n.strip()]:
            job = iter_noise_experiment(ds, noise=noise, methods=[m.strip() for m in args.methods.split(";") if m.strip()],
                                        seeds=[int(v) for v in args.seeds.split(",")], base=base,
                                        max_cases=args.max_cases, monitor=True)
            results[noise] = progress_runner(args.quiet)(job, f"table1 {noise}")
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
                                     train_cfg=train_config(args),
                                     unc_cfg=UncertaintyConfig(tta=args.tta, mc=args.mc_dropout, device=args.device,
                                                               threads=args.threads),
                                     single_model=args.single_model)
        res = progress_runner(args.quiet)(job, "detect")
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
                         datasets=[d.strip() for d in args.datasets.split(",") if d.strip()] if args.datasets else None,
                         noises=split(args.noises) if args.noises else None,
                         seeds=[int(v) for v in split(args.seeds)] if args.seeds else None, cases=args.cases,
                         relabel_baseline=not args.no_baseline)
        res = progress_runner(args.quiet)(job, "suite")
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


def cmd_bench_rounds(args) -> int:
    from curator.lab.review_rounds import METRICS, iter_rounds_on_suite

    try:
        job = iter_rounds_on_suite(args.suite, args.out, datasets=[d.strip() for d in args.datasets.split(",") if d.strip()] if args.datasets else None,
                                   first=args.first, mode=args.mode, epochs=args.epochs, threads=args.threads)
        res = progress_runner(args.quiet)(job, "rounds")
    except ValueError as exc:
        raise CliError(str(exc)) from exc
    if not res["runs"]:
        raise CliError(f"{args.suite}: no finished suite runs (run `curator bench suite --out {args.suite}` first)")
    print(f"review the first {100 * args.first:g} % of the queue, then go on with (+) or without (-) a re-scoring round")
    print(f"{'dataset':<12} {'runs':>4} " + " ".join(f"{m:>16}" for m in METRICS))
    for row in res["summary"]:
        print(f"{row['dataset']:<12} {row['runs']:>4} " + " ".join(
            f"{row[f'{m} with']:7.3f}/{row[f'{m} without']:<8.3f}" for m in METRICS))
    p = res["paired"]
    print(f"paired by run, {p['metric']} with - without: {p['mean']:+.3f} (standard error {p['se']:.3f}; "
          f"{p['better']} better, {p['equal']} equal, {p['worse']} worse of {p['runs']} runs)")
    print(f"results: {Path(args.out) / 'rounds.json'}")
    return 0


def cmd_bench_embeddings(args) -> int:
    from curator.lab.embeddings import iter_embedding_eval, summarise_embeddings

    datasets = [d.strip() for d in args.datasets.split(",") if d.strip()] if args.datasets else None
    rows = progress_runner(args.quiet)(iter_embedding_eval(args.suite, datasets=datasets), "embeddings")
    if not rows:
        raise CliError(f"{args.suite}: no finished 2D suite runs (run `curator bench suite --out {args.suite}` first)")
    if args.out:
        Path(args.out).write_text(json.dumps({"runs": rows, "summary": summarise_embeddings(rows)}, indent=1))
    summary = summarise_embeddings(rows)
    cols = [k for k in summary[0] if k not in ("dataset", "runs")]
    print("ranking AUROC of the encoder-embedding outlier score, alone and added to the combined score")
    print(f"{'dataset':<12} {'runs':>4} " + " ".join(f"{c:>{max(9, len(c))}}" for c in cols))
    for row in summary:
        print(f"{row['dataset']:<12} {row['runs']:>4} " + " ".join(f"{row[c]:>{max(9, len(c))}.3f}" for c in cols))
    return 0


def cmd_bench_gui(args) -> int:
    if not gui_available():
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


def add_bench(sub) -> None:
    s = sub.add_parser("bench", help="benchmarks: speed (and, later, detection and Table 1 experiments)")
    bsub = s.add_subparsers(dest="bench_command", metavar="BENCH")
    _add_bench_speed(bsub)
    _add_bench_scale(bsub)
    _add_bench_table1(bsub)
    _add_bench_detect(bsub)
    _add_bench_suite(bsub)
    _add_bench_rounds(bsub)
    _add_bench_embeddings(bsub)
    _add_bench_gui(bsub)


def _add_bench_speed(bsub) -> None:
    b = bsub.add_parser("speed", help="forward passes, ms per case (5 members x 8 TTA), GFLOP/s vs peak, peak memory")
    b.add_argument("--scenarios", default="2d,3d", help="comma list of 2d, 3d, 3d-large (default 2d,3d)")
    b.add_argument("--passes", type=int, default=None, help="3D: passes to measure before extrapolating "
                   "to members x TTA (default 2)")
    b.add_argument("--json", action="store_true", help="print the numbers as JSON")
    add_device_options(b)
    b.set_defaults(func=cmd_bench_speed)


def _add_bench_scale(bsub) -> None:
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


def _add_bench_table1(bsub) -> None:
    b = bsub.add_parser("table1", help="the poster's Table 1: train on corrupted masks with and without correction")
    b.add_argument("dataset", help="a dataset with clean masks")
    b.add_argument("--out", required=True, help="folder for table1.json and table1.html")
    b.add_argument("--noises", default="polygon3,polygon7,smooth", help="noise kinds (comma list)")
    b.add_argument("--methods", default="clean;none;reweight;relabel;gce;sce;mixup",
                   help="methods (semicolon list): clean, none, reweight, relabel, relabel-poster, gce, sce, ce, "
                        "dice, mixup, or relabel:key=value,...")
    b.add_argument("--seeds", default="0,1,2", help="training seeds (comma list)")
    b.add_argument("--max-cases", type=int, default=None, help="use only the first N cases (quick runs)")
    add_train_options(b)
    add_device_options(b)
    b.set_defaults(func=cmd_bench_table1, epochs=80)


def _add_bench_detect(bsub) -> None:
    b = bsub.add_parser("detect", help="corrupt some masks, run Batch relabel, and measure how well they are found")
    b.add_argument("dataset", help="a dataset with clean masks")
    b.add_argument("--out", required=True, help="work folder (noisy copy, project, detect.json, detect.html)")
    b.add_argument("--noise", default="mixed", help="noise kind (default mixed)")
    b.add_argument("--fraction", type=float, default=0.3, help="fraction of cases corrupted (default 0.3)")
    b.add_argument("--tta", type=int, default=8)
    b.add_argument("--mc-dropout", type=int, default=0)
    b.add_argument("--single-model", action="store_true", help="also rank with one model trained on every case")
    add_train_options(b)
    add_device_options(b)
    b.set_defaults(func=cmd_bench_detect)


def _add_bench_suite(bsub) -> None:
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


def _add_bench_rounds(bsub) -> None:
    b = bsub.add_parser("rounds", help="review rounds that learn: on a finished suite, simulate reviewing the top "
                        "of the queue, re-score, and compare the rest of the queue with and without the round")
    b.add_argument("suite", help="a folder `curator bench suite` finished runs in")
    b.add_argument("--out", required=True, help="work folder (copies of the projects; resumable); rounds.json")
    b.add_argument("--datasets", help="comma list (default: every dataset of the suite folder)")
    b.add_argument("--first", type=float, default=0.2, help="share of the queue reviewed before the round (default 0.2)")
    b.add_argument("--mode", default="finetune", choices=["finetune", "retrain"],
                   help="how the round trains (as `curator rescore --mode`)")
    b.add_argument("--epochs", type=int, default=None, help="fine-tuning epochs (default: a quarter of the batch's)")
    b.add_argument("--threads", type=int, default=None, help="torch threads")
    b.add_argument("-q", "--quiet", action="store_true", help="no progress bar")
    b.set_defaults(func=cmd_bench_rounds)


def _add_bench_embeddings(bsub) -> None:
    b = bsub.add_parser("embeddings", help="on a finished suite: do outlier scores from the trained encoder's "
                        "embeddings find wrong masks (alone, and added to the combined score)?")
    b.add_argument("suite", help="a folder `curator bench suite` finished runs in")
    b.add_argument("--datasets", help="comma list (default: every dataset of the suite folder)")
    b.add_argument("--out", help="write the per-run figures and the summary to this JSON file")
    b.add_argument("-q", "--quiet", action="store_true", help="no progress bar")
    b.set_defaults(func=cmd_bench_embeddings)


def _add_bench_gui(bsub) -> None:
    b = bsub.add_parser("gui", help="responsiveness of the app: event-loop stall during a job, case switch, slider")
    b.add_argument("--quick", action="store_true", help="smaller volumes and fewer epochs (a smoke run)")
    b.add_argument("--threads", type=int, default=None, help="torch threads for the background job")
    b.add_argument("--json", action="store_true")
    b.set_defaults(func=cmd_bench_gui)
