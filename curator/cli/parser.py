"""The ``curator`` command line: each subcommand's parser is built by the module that runs it."""

from __future__ import annotations

import argparse

from curator import __version__
from curator.cli import app, batch, bench, data, review, rounds

# the order ``curator --help`` lists them in
SUBCOMMANDS = (
    data.add_info, data.add_corrupt, batch.add_train, batch.add_uncertainty, batch.add_batch,
    review.add_export, review.add_relink, review.add_decide, rounds.add_trust, review.add_queue, rounds.add_rescore,
    bench.add_bench,
    app.add_selftest, app.add_report, app.add_gui, app.add_demo,
)


def build_parser() -> argparse.ArgumentParser:
    p = argparse.ArgumentParser(
        prog="curator",
        description="Mask Curator: find and fix wrong segmentation masks in medical imaging datasets.",
    )
    p.add_argument("--version", action="version", version=f"mask-curator {__version__}")
    sub = p.add_subparsers(dest="command", metavar="COMMAND")
    for add in SUBCOMMANDS:
        add(sub)
    return p
