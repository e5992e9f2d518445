"""The ``curator`` command: headless access to everything Mask Curator does.

Each subcommand parses its options, builds a core job (a generator of progress events) and drives
it with a progress bar on stderr. Heavy libraries are imported inside the subcommands, so
``curator --help`` and ``curator --version`` answer at once. Exit codes: 0 success, 1 the work
failed (the message says why), 2 bad command line, 130 interrupted.

The subcommands live one group to a module: ``data`` (info, corrupt), ``batch`` (train, uncertainty,
batch), ``review`` (export, relink, decide, queue), ``bench`` and ``app`` (gui, demo, selftest,
report); ``parser`` puts them together and ``common`` holds what they share.
"""

from __future__ import annotations

import os
import sys

from curator.cli.common import CliError, apply_limits
from curator.cli.parser import build_parser
from curator.core.errors import CuratorError

__all__ = ["CliError", "build_parser", "main"]


def main(argv: list[str] | None = None) -> int:
    argv = list(sys.argv[1:] if argv is None else argv)
    if argv[:1] == ["--selftest"]:  # the bundled app's spelling
        argv = ["selftest"] + argv[1:]
    parser = build_parser()
    args = parser.parse_args(argv)
    if not getattr(args, "command", None) or not hasattr(args, "func"):
        parser.parse_args([args.command, "--help"] if getattr(args, "command", None) else ["--help"])
        return 2
    apply_limits(args)
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

