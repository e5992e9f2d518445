"""What the subcommands share: the error they raise, the progress bar, option groups, configs."""

from __future__ import annotations

import argparse
import os
import sys

from curator.core.errors import CuratorError


class CliError(CuratorError):
    """A failure to report to the user as one line, with exit status 1."""


def progress_runner(quiet: bool = False):
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


def add_limit_options(s) -> None:
    s.add_argument("--max-megapixels", type=float, metavar="N", help="largest 2-D image read, in millions of "
                   "pixels (default 64, or CURATOR_MAX_MEGAPIXELS); bigger files are refused, not decoded")
    s.add_argument("--max-megavoxels", type=float, metavar="N", help="largest 3-D volume read, in millions of "
                   "voxels (default 512, or CURATOR_MAX_MEGAVOXELS)")


def apply_limits(args) -> None:
    """The size limits asked for on the command line, for this process and the jobs it starts."""
    for opt, env in (("max_megapixels", "CURATOR_MAX_MEGAPIXELS"), ("max_megavoxels", "CURATOR_MAX_MEGAVOXELS")):
        value = getattr(args, opt, None)
        if value is not None:
            os.environ[env] = str(value)


def add_device_options(s) -> None:
    s.add_argument("--device", default="auto", help="auto (CUDA, then MPS, then CPU), cpu, cuda, cuda:N or mps")
    s.add_argument("--threads", type=int, default=None, help="CPU threads for torch (default: all cores)")
    s.add_argument("--no-amp", action="store_true", help="no mixed precision on CUDA")
    s.add_argument("-q", "--quiet", action="store_true", help="no progress bar")


def add_train_options(s) -> None:
    s.add_argument("--folds", type=int, default=5, help="K of K-fold: members per repeat (default 5)")
    s.add_argument("--repeats", type=int, default=1, help="independent K-fold splits; each case is then scored "
                   "out-of-fold by this many members (default 1)")
    s.add_argument("--epochs", type=int, default=40, help="epochs per member (default 40)")
    s.add_argument("--size", type=int, default=128, help="2D working size in pixels (default 128)")
    s.add_argument("--spacing", help="3D working spacing x,y,z in mm (default: from the data)")
    s.add_argument("--patch", default="32,96,96", help="3D patch D,H,W in voxels (default 32,96,96)")
    s.add_argument("--batch-size", type=int, default=16, help="the most cases (3D: patches) per step (default 16)")
    s.add_argument("--min-steps", type=int, default=6, metavar="N", help="an epoch takes at least N steps: small "
                   "folds train in smaller batches, down to 4 (default 6; 0 = always --batch-size)")
    s.add_argument("--lr", type=float, default=2e-3, help="learning rate (AdamW, cosine schedule)")
    s.add_argument("--loss", default="dicece", choices=["dicece", "ce", "dice", "gce", "sce"],
                   help="dicece: Dice + cross-entropy (default); ce: cross-entropy (BCE for one object class); "
                   "dice; gce: generalised cross-entropy; sce: symmetric cross-entropy (gce and sce are robust to "
                   "wrong masks; docs/results.md compares them)")
    s.add_argument("--reweight", action="store_true", help="down-weight the pixels the network is unsure of in "
                   "the loss, from the relabel start on (Mirikharaji et al. 2019)")
    s.add_argument("--mixup", type=float, default=0.0, metavar="A", help="MixUp of training images, Beta(A, A) "
                   "(0 = off, the default; 0.4 is usual)")
    s.add_argument("--trusted-weight", type=float, default=1.0, metavar="W", help="loss weight of the cases a "
                   "reviewer trusted or decided (default 1)")
    s.add_argument("--pretrain-epochs", type=int, default=0, metavar="N", help="first train N epochs on the "
                   "trusted and reviewed cases alone, then on all (default 0)")
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


def train_config(args):
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
        folds=args.folds, repeats=args.repeats, epochs=args.epochs, batch_size=args.batch_size,
        min_steps=args.min_steps, lr=args.lr,
        loss=args.loss, size=args.size, seed=args.seed, device=args.device, amp=not args.no_amp, threads=args.threads,
        relabel=relabel, channels=tuple(int(c) for c in args.channels.split(",")), dropout=args.dropout,
        spacing=tuple(float(v) for v in args.spacing.split(",")) if args.spacing else None,
        patch=tuple(int(v) for v in args.patch.split(",")),
        reweight=args.reweight, mixup=args.mixup, trusted_weight=args.trusted_weight,
        pretrain_epochs=args.pretrain_epochs,
    )
    _check_sizes(cfg)
    _check_options(cfg)
    return cfg


def _check_options(cfg) -> None:
    if cfg.mixup < 0 or cfg.trusted_weight <= 0 or cfg.pretrain_epochs < 0 or cfg.pretrain_epochs >= cfg.epochs > 0:
        raise CliError("--mixup must be >= 0, --trusted-weight > 0, and --pretrain-epochs between 0 and --epochs - 1")


def _check_sizes(cfg) -> None:
    """The network halves its grid once per level: working sizes must divide by 2**(levels - 1)."""
    step = 2 ** (len(cfg.channels) - 1)
    if cfg.size % step or cfg.size <= 0:
        raise CliError(f"--size {cfg.size} must be a positive multiple of {step} for {len(cfg.channels)} levels "
                       f"of --channels (e.g. {max(step, round(cfg.size / step) * step)})")
    if len(cfg.patch) != 3 or any(p % step or p <= 0 for p in cfg.patch):
        raise CliError(f"--patch {','.join(map(str, cfg.patch))} must be three positive multiples of {step} "
                       f"(D,H,W) for {len(cfg.channels)} levels of --channels")


def gui_available() -> bool:
    import importlib.util

    return all(importlib.util.find_spec(m) is not None for m in ("napari", "qtpy")) and \
        importlib.util.find_spec("curator.gui.app") is not None
