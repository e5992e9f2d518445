"""The one base of the errors Mask Curator expects and can explain to a user in one line.

Every layer raises a subclass of :class:`CuratorError` for a problem with the user's input, files or
project (a file it cannot read, a folder that is not a dataset, a project it cannot open, a
decision it cannot apply). The command line catches :class:`CuratorError` once and prints its
message; anything else is a bug and is reported as one, with the details saved.
"""

from __future__ import annotations

__all__ = ["CuratorError"]


class CuratorError(Exception):
    """A failure to report to the user as one line (the message says what and what to do)."""
