"""Decoded masks kept between two passes over the same cases, so that a step decodes each once.

A step that must see every mask before it can process any (the training's label scan before its
preprocessing; the proposals' calibration between their candidates and their files) keeps what it
decoded in a :class:`ReadMemo`, up to a memory budget; a case past the budget is simply read again
(large 3D datasets), so memory stays bounded.
"""

from __future__ import annotations

__all__ = ["ReadMemo", "DEFAULT_BUDGET"]

DEFAULT_BUDGET = 512 * 2 ** 20  # bytes of decoded arrays


class ReadMemo:
    """Case id -> decoded :class:`~curator.core.io.types.ImageData`, within ``budget`` bytes."""

    def __init__(self, budget: int = DEFAULT_BUDGET):
        self.budget = int(budget)
        self.used = 0
        self._items: dict[str, object] = {}

    def keep(self, case_id: str, data) -> None:
        size = int(getattr(getattr(data, "array", None), "nbytes", 0))
        if case_id in self._items or self.used + size > self.budget:
            return
        self._items[case_id] = data
        self.used += size

    def take(self, case_id: str):
        """The kept data (removed from the memo), or None."""
        data = self._items.pop(case_id, None)
        if data is not None:
            self.used -= int(getattr(getattr(data, "array", None), "nbytes", 0))
        return data

    def __len__(self) -> int:
        return len(self._items)
