"""What the trained encoder sees inside a case's mask: a mask-aware embedding for outlier scores.

:func:`mask_embedding` runs a network once on a preprocessed case and pools its deepest feature
map (the encoder's bottleneck, found as the convolution output with the smallest grid and the
most channels) over each
class of the given mask, brought to that grid by area averaging. A mask that covers skin, a
ruler or another organ pools features unlike those of the dataset's other masks, whatever its
shape; an unusual image moves every class's features. :func:`curator.core.curation.ranking.embedding_outliers`
turns a batch's embeddings into an outlier score.

2D inputs, and 3D inputs no larger than the network's patch (larger volumes would be pooled
window by window; they get no embedding for now and the score is left out for them).
"""

from __future__ import annotations

from typing import Sequence

import numpy as np

__all__ = ["mask_embedding"]


def _bottleneck_hooks(net, store: list):
    import torch.nn as nn

    handles = []
    for mod in net.modules():
        if isinstance(mod, (nn.Conv2d, nn.Conv3d)):
            handles.append(mod.register_forward_hook(lambda m, i, o: store.append(o.detach())))
    return handles


def mask_embedding(net, x, index: np.ndarray, n_classes: int, *, patch: Sequence[int] | None = None,
                   device=None) -> np.ndarray | None:
    """Class-pooled bottleneck features of ``net`` on ``x`` ``(C, *S)`` under the class-index mask
    ``index`` ``(*S)``: ``n_classes`` blocks of the bottleneck's channels, each the mean feature
    over that class (zeros where the class is absent). None for a 3D input larger than ``patch``."""
    import torch
    import torch.nn.functional as F

    if patch is not None and any(s > p for s, p in zip(x.shape[1:], patch)):
        return None
    outs: list = []
    handles = _bottleneck_hooks(net, outs)
    was_training = net.training
    net.eval()
    try:
        with torch.no_grad():
            dev = device if device is not None else next(net.parameters()).device
            net(x[None].to(dev).float())
    finally:
        for h in handles:
            h.remove()
        net.train(was_training)
    if not outs:
        return None
    # the bottleneck: the smallest grid, and there the most channels
    feat = min(outs, key=lambda o: (int(np.prod(o.shape[2:])), -int(o.shape[1])))[0].float().cpu()  # (C', *s)
    onehot = F.one_hot(torch.from_numpy(np.asarray(index, np.int64)), n_classes).movedim(-1, 0).float()[None]
    pool = F.adaptive_avg_pool2d if onehot.ndim == 4 else F.adaptive_avg_pool3d
    weights = pool(onehot, feat.shape[1:])[0]  # (K, *s): each class's share of every bottleneck cell
    mass = weights.flatten(1).sum(1)
    pooled = torch.einsum("k...,c...->kc", weights, feat) / mass.clamp(min=1e-6)[:, None]
    pooled[mass <= 1e-6] = 0.0
    return pooled.flatten().numpy().astype(np.float32)
