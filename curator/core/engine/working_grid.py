"""The model's working grid over an image's own grid, and the one mapping between them.

A case is resampled to a working grid (``Preprocessor``) covering the same field of view: voxel
corners aligned (``align_corners=False``), so working voxel ``i`` along an axis of ratio ``r``
(original voxels per working voxel) is centred on original voxel ``(i + 0.5) * r - 0.5``. Maps
computed on the working grid (probabilities, uncertainty) come back to the original grid through
:meth:`WorkingGrid.to_original`; viewers place a coarse map with :attr:`WorkingGrid.ratio` and
:attr:`WorkingGrid.offset`; a working slice is found on the original grid with
:meth:`WorkingGrid.original_index`. Arrays are ``(C, *S)`` or ``S`` with ``S`` = ``(Y, X)`` or
``(Z, Y, X)``.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Sequence

import numpy as np

EPS = 1e-8  # the floor of a probability sum when renormalising


@dataclass(frozen=True)
class WorkingGrid:
    """``original``: the image's array shape ``S``; ``working``: the working grid's."""

    original: tuple[int, ...]
    working: tuple[int, ...]

    @classmethod
    def of(cls, original: Sequence[int], working: Sequence[int]) -> "WorkingGrid":
        return cls(tuple(int(s) for s in original), tuple(int(s) for s in working))

    @property
    def identity(self) -> bool:
        return self.original == self.working

    @property
    def ratio(self) -> np.ndarray:
        """Original voxels per working voxel, per array axis."""
        return np.asarray(self.original, float) / np.asarray(self.working, float)

    @property
    def offset(self) -> np.ndarray:
        """Where working voxel 0's centre lies, in original voxels, per axis (aligned corners)."""
        return 0.5 * self.ratio - 0.5

    def original_index(self, i: int, axis: int = 0) -> int:
        """The original voxel along ``axis`` whose centre is nearest working voxel ``i``'s."""
        r = self.original[axis] / self.working[axis]
        return int(min(self.original[axis] - 1, round((i + 0.5) * r - 0.5)))

    def to_original(self, t, *, probabilities: bool = False):
        """Resample ``(C, *working)`` (a torch tensor) to ``(C, *original)``: linear
        interpolation; ``probabilities`` are then clamped to [0, 1] and renormalised over ``C``."""
        import torch.nn.functional as F

        if tuple(t.shape[1:]) == self.original:
            return t
        mode = "bilinear" if len(self.original) == 2 else "trilinear"
        out = F.interpolate(t[None], size=self.original, mode=mode, align_corners=False)[0]
        if probabilities:
            out = out.clamp(0, 1)
            out = out / out.sum(0, keepdim=True).clamp(min=EPS)
        return out

    def map_to_original(self, arr: np.ndarray, *, probabilities: bool = False) -> np.ndarray:
        """:meth:`to_original` for numpy: ``(C, *working)`` with ``probabilities``, else ``working``."""
        import torch

        arr = np.asarray(arr, np.float32)
        if arr.shape[-len(self.original):] == self.original:
            return arr
        t = torch.from_numpy(arr)
        out = self.to_original(t if probabilities else t[None]).numpy()
        if not probabilities:
            return out[0]
        out = np.clip(out, 0, 1)
        out /= np.clip(out.sum(0, keepdims=True), EPS, None)
        return out
