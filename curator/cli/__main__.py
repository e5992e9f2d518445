"""``python -m curator.cli``: the same as the ``curator`` command."""

import sys

from curator.cli import main

sys.exit(main())
