"""Prediction with uncertainty: ensemble members x test-time augmentation x MC dropout.

:func:`iter_predict` runs every member on one preprocessed input under every TTA transform and
MC-dropout pass, inverts each prediction's transform, and adds its softmax to a streaming
:class:`~curator.core.engine.uncertainty.UncertaintyAccumulator`; it yields progress between forward
passes (and between sliding-window patches of a 3D volume), so a cancel takes effect within one
step. 3D volumes larger than the patch go through MONAI's ``SlidingWindowSplitter`` and
``AvgMerger``.

Tensors: input ``(C, *S)`` in working space; probabilities ``(K, *S)`` (``K`` classes).
"""

from __future__ import annotations

from typing import Generator, Sequence

from curator.core.engine.augment import TTATransform, tta_transforms
from curator.core.engine.device import autocast
from curator.core.engine.models import enable_mc_dropout
from curator.core.engine.uncertainty import UncertaintyAccumulator
from curator.core.jobs import Progress, run

__all__ = ["iter_predict", "iter_sliding_window", "forward_probs"]


def iter_sliding_window(net, x, patch: Sequence[int], *, overlap: float = 0.25, batch: int | None = None,
                        device=None, amp: bool = False) -> Generator[Progress, None, object]:
    """Logits for a ``(B, C, D, H, W)`` volume by overlapping patches, averaged where they overlap.

    The volume, its patches and the merged logits stay on the compute device (one copy in, none
    per patch: on a GPU the per-patch copies and a CPU-side merge cost more than the network).
    ``batch``: patches per forward pass (default 8 on a GPU, 2 on the CPU). Yields after every
    batch of patches (a cancellation point); returns ``(B, K, D, H, W)`` float32 on the device.
    """
    import torch
    from monai.inferers import AvgMerger, SlidingWindowSplitter

    if device is not None:
        x = x.to(device)
    dev = x.device
    if batch is None:
        batch = 2 if dev.type == "cpu" else 8
    spatial = tuple(x.shape[2:])
    # patches keep the size the network was built for, also along an axis the volume is thinner
    # than: cut to the volume's 3 slices they broke the network's skip connections. Such an axis
    # is padded with zeros (the merged result is cropped back).
    patch = tuple(int(p) for p in patch)
    short = [max(0, p - s) for p, s in zip(patch, spatial)]
    if any(short):
        x = torch.nn.functional.pad(x, tuple(v for q in reversed(short) for v in (0, q)))
    splitter = SlidingWindowSplitter(patch_size=patch, overlap=overlap, pad_mode="constant", pad_value=0.0)
    patches = list(splitter(x))
    total = len(patches)
    # the splitter pads the volume so every patch fits; the merged grid must hold them all
    padded = tuple(max(s, max(int(loc[d]) + patch[d] for _, loc in patches)) for d, s in enumerate(x.shape[2:]))
    merger = None
    b = x.shape[0]
    for i in range(0, total, batch):
        chunk = patches[i:i + batch]
        inp = torch.cat([p for p, _ in chunk])
        with torch.no_grad(), autocast(dev, amp):
            out = net(inp).float()
        for j, (_, loc) in enumerate(chunk):
            piece = out[j * b:(j + 1) * b]
            if merger is None:
                merger = AvgMerger(merged_shape=(b, piece.shape[1]) + padded,
                                   cropped_shape=(b, piece.shape[1]) + spatial, device=dev)
            merger.aggregate(piece, loc)
        yield Progress(min(i + batch, total), total, "patches")
    return merger.finalize()


def forward_probs(net, x, *, patch: Sequence[int] | None = None, device=None, amp: bool = False):
    """Softmax probabilities for a batch ``(B, C, *S)`` (no progress; for training-time use)."""
    import torch

    if patch is not None and tuple(x.shape[2:]) != tuple(patch):
        logits = run(iter_sliding_window(net, x, patch, device=device, amp=amp))
    else:
        with torch.no_grad(), autocast(x.device if device is None else device, amp):
            logits = net(x.to(device) if device is not None else x).float()
    return torch.softmax(logits, dim=1)


def _device_of(net):
    """The device a network's weights are on (None for one without parameters: inputs stay put)."""
    p = next(iter(net.parameters()), None)
    return p.device if p is not None else None


def iter_predict(members, x, *, tta: int | Sequence[TTATransform] = 1, mc: int = 0, device=None,
                 amp: bool = False, tta_intensity: bool = False, seed: int = 0,
                 accumulator: UncertaintyAccumulator | None = None) -> Generator[Progress, None, UncertaintyAccumulator]:
    """Accumulate softmax predictions of ``members`` (networks) on ``x`` ``(C, *S)``.

    ``tta``: number of test-time transforms (or the transforms); ``mc``: MC-dropout passes per
    transform (0 = dropout off, one deterministic pass). ``device``: where to run (default: where
    each network's weights are). Returns the accumulator, its sums on the CPU (they build up on
    the compute device, so only the sums cross back, once).
    """
    import torch

    nsp = x.ndim - 1
    square = nsp != 2 or x.shape[-1] == x.shape[-2]
    transforms = list(tta) if not isinstance(tta, int) else tta_transforms(tta, nsp, intensity=tta_intensity,
                                                                        square=square)
    acc = accumulator or UncertaintyAccumulator()
    passes = max(1, int(mc))
    total = len(members) * passes * (1 if nsp == 2 else len(transforms))
    step = 0
    torch.manual_seed(seed)
    for net, patch in members:
        dev = device if device is not None else _device_of(net)
        enable_mc_dropout(net, mc > 0)
        for _ in range(passes):
            if nsp == 2:
                batch = torch.cat([t.forward(x[None]) for t in transforms])
                probs = forward_probs(net, batch, device=dev, amp=amp)
                probs = torch.cat([t.inverse(probs[i:i + 1]) for i, t in enumerate(transforms)])
                acc.add_batch(probs)
                step += 1
                yield Progress(step, total, "predicting")
            else:
                for t in transforms:
                    inp = t.forward(x[None])
                    if patch is not None and tuple(inp.shape[2:]) != tuple(patch):
                        logits = yield from iter_sliding_window(net, inp, patch, device=dev, amp=amp)
                        probs = torch.softmax(logits, dim=1)
                    else:
                        probs = forward_probs(net, inp, device=dev, amp=amp)
                    acc.add_batch(t.inverse(probs))
                    step += 1
                    yield Progress(step, total, "predicting")
        enable_mc_dropout(net, False)
    acc.to("cpu")
    return acc
