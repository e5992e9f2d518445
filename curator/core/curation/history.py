"""Undo and redo of a label map, kept as the pixels each change touched (pure numpy).

A change of a few strokes on a 512x512 mask or a 3D volume costs the changed pixels, not a copy of
the mask; the oldest changes go once ``limit`` are kept.
"""

from __future__ import annotations

import numpy as np

__all__ = ["MaskHistory"]


class MaskHistory:
    """The undo and redo stacks of one working mask."""

    def __init__(self, limit: int = 100):
        self.limit = limit
        self._undo: list = []
        self._redo: list = []

    def clear(self) -> None:
        self._undo, self._redo = [], []

    def push(self, before: np.ndarray, after: np.ndarray) -> bool:
        """Remember the change from ``before`` to ``after`` (a new change forgets what was undone).
        Returns False when nothing changed."""
        diff = np.nonzero(before != after)
        if diff[0].size == 0:
            return False
        self._undo = (self._undo + [(diff, before[diff].copy(), after[diff].copy())])[-self.limit:]
        self._redo.clear()
        return True

    @property
    def can_undo(self) -> bool:
        return bool(self._undo)

    @property
    def can_redo(self) -> bool:
        return bool(self._redo)

    def undo(self, mask: np.ndarray) -> None:
        """Put the last change's pixels of ``mask`` (in place) back as they were."""
        idx, old, new = self._undo.pop()
        mask[idx] = old
        self._redo.append((idx, old, new))

    def redo(self, mask: np.ndarray) -> None:
        idx, old, new = self._redo.pop()
        mask[idx] = new
        self._undo.append((idx, old, new))
