"""Test-time augmentation (invertible transforms) and training augmentation, on torch tensors.

TTA transforms act on batches ``(B, C, *S)``: flips and 90-degree rotations in 2D, flips in 3D,
optionally with a mild intensity change. Every transform's ``inverse`` undoes its spatial part
exactly, so predictions are brought back to the input's orientation before they are combined.
Training augmentation adds random rotation, scaling and intensity jitter (``random_augment``).
"""

from __future__ import annotations

import math
from dataclasses import dataclass

__all__ = ["TTATransform", "tta_transforms", "random_augment"]


@dataclass(frozen=True)
class TTATransform:
    """A spatial transform (flips along ``flip`` axes, then ``rot`` quarter turns in the last two
    axes) plus an intensity change ``x * gain + bias`` applied before the network."""

    name: str
    flip: tuple[int, ...] = ()  # spatial axes (0 = first spatial axis)
    rot: int = 0
    gain: float = 1.0
    bias: float = 0.0

    def forward(self, x):
        """``x``: ``(B, C, *S)``."""
        import torch

        if self.flip:
            x = torch.flip(x, dims=[2 + a for a in self.flip])
        if self.rot:
            x = torch.rot90(x, self.rot, dims=(x.ndim - 2, x.ndim - 1))
        if self.gain != 1.0 or self.bias != 0.0:
            x = x * self.gain + self.bias
        return x

    def inverse(self, y):
        """Undo the spatial part on a prediction ``(B, C, *S')``."""
        import torch

        if self.rot:
            y = torch.rot90(y, -self.rot, dims=(y.ndim - 2, y.ndim - 1))
        if self.flip:
            y = torch.flip(y, dims=[2 + a for a in self.flip])
        return y


def tta_transforms(n: int, ndim: int, *, intensity: bool = False, square: bool = True) -> list[TTATransform]:
    """The first ``n`` test-time transforms for ``ndim``-D inputs (``n = 1``: identity only).

    2D order: identity, flips, 180° rotation, then 90°/270° rotations and transposes (those only
    when ``square``, since they swap height and width). 3D: the 8 flip combinations. With
    ``intensity``, every second transform also changes contrast by ±8 % (gain 0.92 / 1.08).
    """
    if ndim == 2:
        base = [
            TTATransform("identity"),
            TTATransform("flip_x", flip=(1,)),
            TTATransform("flip_y", flip=(0,)),
            TTATransform("rot180", rot=2),
        ]
        if square:
            base += [
                TTATransform("rot90", rot=1),
                TTATransform("rot270", rot=3),
                TTATransform("transpose", flip=(1,), rot=1),
                TTATransform("antitranspose", flip=(0,), rot=1),
            ]
    else:
        base = [
            TTATransform("identity"),
            TTATransform("flip_x", flip=(2,)),
            TTATransform("flip_y", flip=(1,)),
            TTATransform("flip_z", flip=(0,)),
            TTATransform("flip_xy", flip=(1, 2)),
            TTATransform("flip_xz", flip=(0, 2)),
            TTATransform("flip_yz", flip=(0, 1)),
            TTATransform("flip_xyz", flip=(0, 1, 2)),
        ]
    n = max(1, int(n))
    out = []
    i = 0
    while len(out) < n:
        t = base[i % len(base)]
        cycle = i // len(base)
        if intensity and (i % 2 == 1 or cycle > 0):
            gain = 1.08 if (i // 2 + cycle) % 2 == 0 else 0.92
            t = TTATransform(f"{t.name}*{gain:g}", t.flip, t.rot, gain, 0.0)
        elif cycle > 0:
            raise ValueError(f"only {len(base)} distinct test-time transforms exist for {ndim}-D input; "
                             f"use --tta-intensity for more")
        out.append(t)
        i += 1
    return out


def random_augment(x, y, generator, *, rotate: bool = True, scale: tuple[float, float] = (0.85, 1.15),
                   intensity: float = 0.1, weights=None):
    """Random flips, rotation, scaling and intensity jitter for a training batch.

    ``x``: ``(B, C, *S)`` float; ``y``: ``(B, *S)`` class indices (nearest-neighbour); ``weights``:
    optional ``(B, *S)`` per-pixel loss weights moved like ``y``. 2D batches get arbitrary
    rotations and scaling (one affine per sample); 3D batches get flips only, plus intensity.
    """
    import torch
    import torch.nn.functional as F

    b = x.shape[0]
    nsp = x.ndim - 2
    dev = x.device
    if nsp == 2 and rotate:
        angle = torch.rand(b, generator=generator) * 2 * math.pi
        s = torch.empty(b).uniform_(*scale, generator=generator)
        flip = (torch.rand(b, generator=generator) < 0.5).float() * 2 - 1
        cos, sin = torch.cos(angle) / s, torch.sin(angle) / s
        theta = torch.zeros(b, 2, 3)
        theta[:, 0, 0] = cos * flip
        theta[:, 0, 1] = -sin
        theta[:, 1, 0] = sin * flip
        theta[:, 1, 1] = cos
        theta = theta.to(dev)
        grid = F.affine_grid(theta, list(x.shape), align_corners=False)
        x = F.grid_sample(x, grid, mode="bilinear", padding_mode="reflection", align_corners=False)
        y = F.grid_sample(y[:, None].float(), grid, mode="nearest", padding_mode="reflection",
                          align_corners=False)[:, 0].round().long()
        if weights is not None:
            weights = F.grid_sample(weights[:, None].float(), grid, mode="nearest", padding_mode="reflection",
                                    align_corners=False)[:, 0]
    else:
        for axis in range(nsp):
            m = torch.rand(b, generator=generator) < 0.5
            if m.any():
                idx = m.nonzero()[:, 0].to(dev)
                x[idx] = torch.flip(x[idx], dims=[2 + axis])
                y[idx] = torch.flip(y[idx], dims=[1 + axis])
                if weights is not None:
                    weights[idx] = torch.flip(weights[idx], dims=[1 + axis])
    if intensity:
        gain = 1 + (torch.rand((b,) + (1,) * (x.ndim - 1), generator=generator) * 2 - 1) * intensity
        bias = (torch.rand((b,) + (1,) * (x.ndim - 1), generator=generator) * 2 - 1) * intensity
        x = x * gain.to(dev) + bias.to(dev)
    return x, y, weights
