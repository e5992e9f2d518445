"""Pixel-wise uncertainty from many stochastic predictions, accumulated in a streaming way.

Predictions come from deep-ensemble members x test-time augmentations x MC-dropout passes; each is
a softmax probability map ``p_t`` of shape ``(C, *S)`` (``S`` = ``(Y, X)`` or ``(Z, Y, X)``).
Holding all ``T`` of them would cost ``T x C x voxels``; :class:`UncertaintyAccumulator` keeps only
``sum_t p_t``, ``sum_t p_t^2`` (both ``(C, *S)``) and ``sum_t H(p_t)`` (``S``), from which every
measure follows:

* ``mean_prob``    ``p̄ = (1/T) sum p_t``                                   ``(C, *S)``
* ``entropy``      predictive entropy ``H(p̄)`` (total uncertainty, nats)     ``S``
* ``aleatoric``    expected entropy ``(1/T) sum H(p_t)``                      ``S``
* ``mutual_info``  ``H(p̄) - (1/T) sum H(p_t)`` (epistemic, BALD)             ``S``
* ``kwon_aleatoric`` trace of ``(1/T) sum diag(p_t) - p_t p_tᵀ`` (Kwon et al. 2018)  ``S``
* ``kwon_epistemic`` trace of ``(1/T) sum (p_t - p̄)(p_t - p̄)ᵀ``               ``S``
* ``variance``     ``kwon_aleatoric + kwon_epistemic`` (the poster's ``U_p``), equal to
  ``sum_c p̄_c (1 - p̄_c)``                                                    ``S``
* ``p_given``      ``p̄`` of the label the mask gives each pixel                ``S``

Pure functions (:func:`entropy`, :func:`measures_from_sums`) do the work; the accumulator only
keeps the sums (MONAI's ``compute_variance`` / ``VarianceMetric`` split). Works on numpy arrays
or torch tensors (on any device).
"""

from __future__ import annotations

from dataclasses import dataclass, field
from pathlib import Path

import numpy as np

from curator.core.engine.preprocess import labels_to_index
from curator.core.engine.working_grid import WorkingGrid
from curator.core.io.files import atomic_write

__all__ = [
    "MEASURES",
    "entropy",
    "measures_from_sums",
    "UncertaintyAccumulator",
    "UncertaintyMaps",
    "save_maps",
    "load_maps",
]

MEASURES = ("entropy", "mutual_info", "aleatoric", "kwon_aleatoric", "kwon_epistemic", "variance", "p_given")
_EPS = 1e-8


def _lib(x):
    """numpy or torch namespace for ``x``."""
    if isinstance(x, np.ndarray):
        return np
    import torch

    return torch


def entropy(p, axis: int = 0):
    """Shannon entropy (nats) of categorical distributions along ``axis`` (the class axis)."""
    lib = _lib(p)
    if lib is np:
        return -(p * np.log(np.clip(p, _EPS, 1.0))).sum(axis=axis)
    return -(p * p.clamp(min=_EPS, max=1.0).log()).sum(dim=axis)


def measures_from_sums(s1, s2, sum_h, n: int, given=None) -> dict:
    """All measures from the streaming sums over ``n`` predictions.

    ``s1`` = sum of ``p_t`` and ``s2`` = sum of ``p_t**2``, both ``(C, *S)``; ``sum_h`` = sum of
    ``H(p_t)``, ``S``. ``given``: optional integer class-index map ``S`` for ``p_given``.
    """
    if n <= 0:
        raise ValueError("no predictions were accumulated")
    lib = _lib(s1)
    mean = s1 / n
    mean_sq = s2 / n
    h = entropy(mean, 0)
    exp_h = sum_h / n
    mi = h - exp_h
    mi = mi.clip(0, None) if lib is np else mi.clamp(min=0)  # rounding can go a hair below zero
    kwon_ale = (mean - mean_sq).sum(0)
    kwon_epi = (mean_sq - mean * mean).sum(0)
    if lib is np:
        kwon_ale, kwon_epi = kwon_ale.clip(0, None), kwon_epi.clip(0, None)
    else:
        kwon_ale, kwon_epi = kwon_ale.clamp(min=0), kwon_epi.clamp(min=0)
    out = {
        "mean_prob": mean,
        "entropy": h,
        "aleatoric": exp_h,
        "mutual_info": mi,
        "kwon_aleatoric": kwon_ale,
        "kwon_epistemic": kwon_epi,
        "variance": kwon_ale + kwon_epi,
    }
    if given is not None:
        if lib is np:
            idx = np.asarray(given, np.int64)[None]
            out["p_given"] = np.take_along_axis(mean, idx, axis=0)[0]
        else:
            import torch

            idx = torch.as_tensor(given, device=mean.device).long()[None]
            out["p_given"] = torch.gather(mean, 0, idx)[0]
    return out


class UncertaintyAccumulator:
    """Streaming sums of probability maps ``(C, *S)``; memory ``(2C + 1) x voxels`` floats."""

    def __init__(self):
        self.n = 0
        self.s1 = self.s2 = self.sum_h = None

    def add(self, probs) -> None:
        """Add one prediction ``(C, *S)``."""
        self.add_batch(probs[None])

    def add_batch(self, probs) -> None:
        """Add ``B`` predictions stacked as ``(B, C, *S)`` (torch tensors are moved to the device
        of the sums so far, if another)."""
        if self.s1 is not None and hasattr(self.s1, "to") and probs.device != self.s1.device:
            probs = probs.to(self.s1.device)
        s1 = probs.sum(0)
        s2 = (probs * probs).sum(0)
        h = entropy(probs, 1).sum(0)
        if self.s1 is None:
            self.s1, self.s2, self.sum_h = s1, s2, h
        else:
            self.s1 += s1
            self.s2 += s2
            self.sum_h += h
        self.n += int(probs.shape[0])

    def to(self, device) -> "UncertaintyAccumulator":
        """Move torch sums to ``device`` (in place; numpy sums stay as they are)."""
        if self.s1 is not None and hasattr(self.s1, "to"):
            self.s1, self.s2, self.sum_h = (t.to(device) for t in (self.s1, self.s2, self.sum_h))
        return self

    def result(self, given=None) -> dict:
        return measures_from_sums(self.s1, self.s2, self.sum_h, self.n, given)


# ----------------------------------------------------------------------------------------------
# Per-case maps on disk


@dataclass
class UncertaintyMaps:
    """One case's uncertainty maps at the model's working resolution.

    ``maps`` holds ``mean_prob`` ``(C, *S)`` and the scalar maps of :data:`MEASURES` (``S``).
    ``meta`` records the original grid (``orig_shape``), label values per class (``labels``),
    members, TTA and MC settings and model hashes. :meth:`at_original` brings any map to the
    image's own grid (linear interpolation; ``mean_prob`` renormalised).
    """

    maps: dict
    meta: dict = field(default_factory=dict)

    @property
    def labels(self) -> list[int]:
        return list(self.meta.get("labels", list(range(self.maps["mean_prob"].shape[0]))))

    def at_original(self, name: str) -> np.ndarray:
        return self.grid.map_to_original(self.maps[name], probabilities=name == "mean_prob")

    @property
    def grid(self) -> WorkingGrid:
        """The working grid the maps were computed on, over the image's own grid."""
        work = np.shape(self.maps["mean_prob"])[1:] if "mean_prob" in self.maps else np.shape(next(iter(self.maps.values())))
        return WorkingGrid.of(self.meta.get("orig_shape", work), work)

    def p_given(self, mask: np.ndarray) -> np.ndarray:
        """Probability of the given mask's label at every pixel, on the original grid."""
        mean = self.at_original("mean_prob")
        idx = labels_to_index(np.asarray(mask), self.labels)
        return np.take_along_axis(mean, idx[None], axis=0)[0]


def save_maps(path, maps: UncertaintyMaps) -> Path:
    """Write maps compressed as float16 (``.npz``), atomically; ``meta`` as JSON inside."""
    import io as _io
    import json

    arrays = {k: np.asarray(v, np.float16) for k, v in maps.maps.items()}
    buf = _io.BytesIO()
    np.savez_compressed(buf, __meta__=np.frombuffer(json.dumps(maps.meta).encode(), np.uint8), **arrays)
    atomic_write(path, buf.getvalue())
    return Path(path)


def load_maps(path) -> UncertaintyMaps:
    import json

    with np.load(path) as z:
        meta = json.loads(bytes(z["__meta__"]).decode())
        maps = {k: z[k] for k in z.files if k != "__meta__"}
    return UncertaintyMaps(maps, meta)
