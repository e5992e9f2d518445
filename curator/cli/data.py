"""Dataset commands: ``info`` (what a folder holds, each case's problems) and ``corrupt``."""

from __future__ import annotations

import json
import sys

from curator.cli.common import CliError, add_limit_options, progress_runner


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
    csv_path = progress_runner(args.quiet)(job, "corrupt")
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


def add_info(sub) -> None:
    s = sub.add_parser("info", help="list the cases a dataset folder holds and each case's problems")
    s.add_argument("path", help="dataset folder (PH2, ISIC, image/mask folders, MSD, LiTS, DICOM)")
    s.add_argument("--json", action="store_true", help="print one JSON object instead of a table")
    s.add_argument("--deep", action="store_true", help="decode every image and mask, not only headers")
    s.add_argument("--layout", choices=["ph2", "isic", "msd", "lits", "dicom", "pairs"],
                   help="force a layout instead of detecting it")
    add_limit_options(s)
    s.set_defaults(func=cmd_info)


def add_corrupt(sub) -> None:
    from curator.lab.noise import NOISE_KINDS

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
    add_limit_options(s)
    s.set_defaults(func=cmd_corrupt)
