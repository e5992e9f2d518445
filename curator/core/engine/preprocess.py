"""Per-modality preprocessing into the model's working space, and its exact inverse.

* ``rgb2d`` (dermoscopy, photographs, any 2D image): resize to the working size (antialiased),
  grey images repeated to three channels, each channel standardised per image. Predictions are
  resized back to the image's own resolution.
* ``ct`` (3D, Hounsfield units): clip to an intensity window and scale to ``[0, 1]``, resample to a
  working spacing. Predictions are resampled back onto the original voxel grid.
* ``scalar3d`` (3D, other modalities): percentile normalisation, resampling as for CT.

Arrays in: ``(Y, X[, C])`` / ``(Z, Y, X)``; tensors out: ``(C, H, W)`` / ``(1, D, H, W)``.
Masks go through :meth:`Preprocessor.labels_forward` (area-weighted, majority label per working
voxel) and probability maps back through :meth:`Preprocessor.probs_inverse`.
"""

from __future__ import annotations

from dataclasses import asdict, dataclass, field
from typing import Sequence

import numpy as np

from curator.core.engine.working_grid import WorkingGrid

__all__ = ["PreprocessSpec", "Preprocessor", "working_shape", "labels_to_index"]


@dataclass
class PreprocessSpec:
    """How images enter the model. Saved with every model so inference repeats it exactly."""

    kind: str = "rgb2d"  # rgb2d | ct | scalar3d
    size: tuple[int, ...] = (128, 128)  # rgb2d: working (H, W)
    window: tuple[float, float] = (-200.0, 300.0)  # ct: HU window
    spacing: tuple[float, ...] | None = None  # 3D: working spacing (x, y, z) mm; None = as stored
    patch: tuple[int, ...] = (32, 96, 96)  # 3D: training / sliding-window patch (D, H, W)

    def to_json(self) -> dict:
        d = asdict(self)
        return {k: (list(v) if isinstance(v, tuple) else v) for k, v in d.items()}

    @classmethod
    def from_json(cls, d: dict) -> "PreprocessSpec":
        kw = dict(d)
        for k in ("size", "window", "spacing", "patch"):
            if kw.get(k) is not None:
                kw[k] = tuple(kw[k])
        return cls(**{k: v for k, v in kw.items() if k in cls.__dataclass_fields__})

    @property
    def ndim(self) -> int:
        return 2 if self.kind == "rgb2d" else 3


def working_shape(orig_shape: Sequence[int], orig_spacing: Sequence[float] | None, spec: PreprocessSpec) -> tuple[int, ...]:
    """Shape of the working grid for an image of ``orig_shape`` (array order)."""
    if spec.kind == "rgb2d":
        return tuple(int(s) for s in spec.size)
    if spec.spacing is None or orig_spacing is None:
        return tuple(int(s) for s in orig_shape)
    # spacing is (x, y, z); shape is (Z, Y, X)
    scale = np.asarray(tuple(reversed(orig_spacing)), float) / np.asarray(tuple(reversed(spec.spacing)), float)
    return tuple(max(1, int(round(n * s))) for n, s in zip(orig_shape, scale))


def labels_to_index(labels: np.ndarray, label_values: Sequence[int]) -> np.ndarray:
    """Map label values to class indices (values not in ``label_values`` go to class 0)."""
    lut = np.zeros(max(int(labels.max()) if labels.size else 0, max(label_values)) + 1, np.int64)
    for i, v in enumerate(label_values):
        lut[int(v)] = i
    return lut[np.asarray(labels, np.int64)]


@dataclass
class Preprocessor:
    """Forward and inverse mapping between one image's grid and the working grid."""

    spec: PreprocessSpec
    orig_shape: tuple[int, ...]
    orig_spacing: tuple[float, ...] | None = None
    work_shape: tuple[int, ...] = field(init=False)

    def __post_init__(self):
        self.orig_shape = tuple(int(s) for s in self.orig_shape)
        self.work_shape = working_shape(self.orig_shape, self.orig_spacing, self.spec)

    # -- images ----------------------------------------------------------------------------------
    def image_forward(self, array: np.ndarray):
        """Image ``(Y, X[, C])`` / ``(Z, Y, X)`` → float32 tensor ``(C, *work_shape)``."""
        import torch

        arr = np.asarray(array)
        if self.spec.kind == "rgb2d":
            if arr.ndim == 2:
                arr = np.repeat(arr[..., None], 3, axis=2)
            if arr.shape[2] == 4:
                arr = arr[..., :3]
            if arr.shape[2] == 1:
                arr = np.repeat(arr, 3, axis=2)
            t = torch.from_numpy(np.ascontiguousarray(arr.transpose(2, 0, 1)).astype(np.float32))
            t = _resize(t, self.work_shape, "bilinear", antialias=True)
            mean = t.mean(dim=(1, 2), keepdim=True)
            std = t.std(dim=(1, 2), keepdim=True).clamp(min=1.0)
            return (t - mean) / std
        vol = arr.astype(np.float32)
        if self.spec.kind == "ct":
            lo, hi = self.spec.window
            vol = (np.clip(vol, lo, hi) - lo) / (hi - lo)
        else:
            lo, hi = np.percentile(vol, [0.5, 99.5])
            vol = (np.clip(vol, lo, hi) - lo) / max(hi - lo, 1e-6)
        t = torch.from_numpy(np.ascontiguousarray(vol))[None]
        return _resize(t, self.work_shape, "trilinear")

    # -- labels ----------------------------------------------------------------------------------
    def labels_forward(self, index: np.ndarray, n_classes: int) -> np.ndarray:
        """Class-index map on the original grid → class-index map ``work_shape`` (uint8),
        each working voxel taking the class covering most of its area."""
        import torch
        import torch.nn.functional as F

        idx = torch.from_numpy(np.asarray(index, np.int64))
        if tuple(idx.shape) == self.work_shape:
            return idx.numpy().astype(np.uint8)
        onehot = F.one_hot(idx, n_classes).movedim(-1, 0).float()
        mode = "area" if all(w <= o for w, o in zip(self.work_shape, self.orig_shape)) else "nearest"
        down = _resize(onehot, self.work_shape, mode)
        return down.argmax(0).numpy().astype(np.uint8)

    # -- predictions -----------------------------------------------------------------------------
    def probs_inverse(self, probs):
        """Probabilities ``(C, *work_shape)`` → ``(C, *orig_shape)`` on the original grid."""
        import torch

        t = probs if isinstance(probs, torch.Tensor) else torch.from_numpy(np.asarray(probs, np.float32))
        if tuple(t.shape[1:]) == self.orig_shape:
            return t
        return self.grid.to_original(t.float(), probabilities=True)

    @property
    def grid(self) -> WorkingGrid:
        """The working grid over this image's grid."""
        return WorkingGrid.of(self.orig_shape, self.work_shape)


def _resize(t, size: Sequence[int], mode: str, antialias: bool = False):
    """Resize a ``(C, *S)`` tensor to ``size``."""
    import torch.nn.functional as F

    size = tuple(int(s) for s in size)
    if tuple(t.shape[1:]) == size:
        return t
    kwargs = {}
    if mode in ("bilinear", "trilinear", "bicubic"):
        kwargs["align_corners"] = False
        if antialias and mode == "bilinear":
            kwargs["antialias"] = True
    return F.interpolate(t[None], size=size, mode=mode, **kwargs)[0]
