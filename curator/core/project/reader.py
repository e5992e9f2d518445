"""The review session's reading side: a case read once, kept for a quick return, read ahead.

:class:`CaseReader` hands the session a case's :class:`~curator.core.project.review.CaseView`:
from the few kept in memory (brought up to the store's record), else read from the dataset and the
project; or only its record, for the decisions that need no pixels. It also gives the function that
reads the next case in another thread (the desktop app runs it in a worker).
"""

from __future__ import annotations

from collections import OrderedDict
from typing import Callable

from curator.core.project import review
from curator.core.project.store import Store

__all__ = ["CaseReader"]


class CaseReader:
    """The cases read for a review session, the ``size`` most recent kept."""

    def __init__(self, size: int = 3):
        self.size = size
        self.cache: OrderedDict[str, review.CaseView] = OrderedDict()

    def view(self, project, store, case, *, read: bool = True) -> review.CaseView:
        """The case as the review shows it; ``read=False``: its record only (no image, no masks).
        Raises ``ReadError`` (or ``OSError``, ``ValueError``) when the case cannot be read."""
        if not read:
            return review.record_view(store, case.id)
        view = self.cache.pop(case.id, None)
        if view is None:
            view = review.load_case_view(project, store, case)
        else:
            review.refresh_decision(view, store)
        self.remember(case.id, view)
        return view

    def remember(self, case_id: str, view) -> None:
        """Keep a case read (shown, or read ahead) for a quick return; the oldest goes."""
        self.cache[case_id] = view
        while len(self.cache) > self.size:
            self.cache.popitem(last=False)

    def forget(self) -> None:
        """Drop the cases kept (a job rewrote what they show)."""
        self.cache.clear()

    def ahead(self, project, store, case) -> Callable | None:
        """A function that reads ``case`` with its own store connection (so it may run in another
        thread) and returns ``(case id, project, view)`` for :meth:`keep_ahead`; None when the
        case is kept already."""
        if case.id in self.cache:
            return None
        db = store.path

        def load():
            with Store(db) as s:  # sqlite objects stay in their thread
                return case.id, project, review.load_case_view(project, s, case)

        return load

    def keep_ahead(self, result, project) -> None:
        """Keep what :meth:`ahead`'s function read, unless it was read for another project or the
        case was opened meanwhile (then what was opened is newer)."""
        case_id, read_for, view = result
        if read_for is project:
            self.cache.setdefault(case_id, view)
