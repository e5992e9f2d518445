"""Entry point of the bundled app: ``mask-curator [COMMAND ...]``; with no command, the desktop app.

``mask-curator --selftest`` runs the headless self-test (demo data, tiny batch, export) and exits 0.
"""

import multiprocessing
import sys

if __name__ == "__main__":
    multiprocessing.freeze_support()
    from curator.cli import main

    args = sys.argv[1:]
    if not args:
        args = ["gui"]
    sys.exit(main(args))
