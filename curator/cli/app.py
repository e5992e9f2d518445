"""The desktop app and its companions: ``gui``, ``demo``, ``selftest`` and ``report``."""

from __future__ import annotations

import argparse
import sys
from pathlib import Path

from curator.cli.common import CliError, add_limit_options, gui_available, progress_runner
from curator.cli.data import cmd_info


def cmd_selftest(args) -> int:
    from curator.lab.selftest import run_selftest

    return run_selftest()


def cmd_report(args) -> int:
    from curator.core.project.folder import Project
    from curator.lab.report import project_report

    path = project_report(Project.open(args.project), args.out, top=args.top)
    print(f"report: {path}")
    return 0


def cmd_demo(args) -> int:
    from curator.lab.synthetic import demo_root, iter_write_demo

    root = Path(args.root) if args.root else demo_root()
    progress_runner(args.quiet)(iter_write_demo(root), "demo data")
    if args.no_gui or not gui_available():
        if not args.no_gui:
            print("(the desktop app is not installed here; showing the demo dataset instead)", file=sys.stderr)
        ns = argparse.Namespace(path=str(root / "derm"), layout=None, json=False, deep=False)
        return cmd_info(ns)
    from curator.gui.app import launch

    return launch(dataset=root / "derm", demo=True, screenshot=args.screenshot, startup_time=args.startup_time)


def cmd_gui(args) -> int:
    if not gui_available():
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


def add_selftest(sub) -> None:
    s = sub.add_parser("selftest", help="a quick end-to-end check: demo data, tiny batch, export (exit 0 = fine)")
    s.set_defaults(func=cmd_selftest)


def add_report(sub) -> None:
    s = sub.add_parser("report", help="an HTML report of a project: scores, proposals, decisions, thumbnails")
    s.add_argument("project", help="project folder")
    s.add_argument("--out", help="where to write (default PROJECT/report.html)")
    s.add_argument("--top", type=int, default=12, help="thumbnails of the N highest-ranked cases")
    add_limit_options(s)
    s.set_defaults(func=cmd_report)


def add_gui(sub) -> None:
    s = sub.add_parser("gui", help="open the desktop app (optionally on a dataset or project folder)")
    s.add_argument("path", nargs="?", help="dataset folder or project folder")
    s.add_argument("--batch", action="store_true", help="start Batch relabel right away")
    s.add_argument("--screenshot", metavar="PNG", help="save a screenshot of the window and exit")
    s.add_argument("--startup-time", action="store_true", help="print the time from start to a usable window")
    add_limit_options(s)
    s.set_defaults(func=cmd_gui)


def add_demo(sub) -> None:
    s = sub.add_parser("demo", help="open the built-in synthetic demo dataset (generated on first use)")
    s.add_argument("--root", help="where to keep the demo data (default: the user data folder)")
    s.add_argument("--no-gui", action="store_true", help="only generate the data and list it")
    s.add_argument("--screenshot", metavar="PNG", help="open the app, save a screenshot of the window and exit")
    s.add_argument("--startup-time", action="store_true", help="print the time from start to a usable window")
    s.add_argument("-q", "--quiet", action="store_true", help="no progress bar")
    s.set_defaults(func=cmd_demo)
