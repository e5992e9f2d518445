"""A tiny review project made without training: a 2D dataset whose masks are wrong in known
places, uncertainty maps that know the truth, and the project's own proposals and ranking.

Tests of the review (the store, the controller, the property test) use it: a project is ready in a
fraction of a second and a copy of it costs a few milliseconds.
"""

from __future__ import annotations

import shutil
from pathlib import Path

import numpy as np


def _disc(shape, centre, radius) -> np.ndarray:
    yy, xx = np.ogrid[: shape[0], : shape[1]]
    return (yy - centre[0]) ** 2 + (xx - centre[1]) ** 2 <= radius ** 2


def write_dataset(root: Path, n: int = 4, shape=(40, 48), seed: int = 0) -> dict[str, np.ndarray]:
    """``root/images/case_i.png`` + ``root/masks/case_i.png`` (0/255); each given mask differs from
    the truth by a missing bump, a stray blob and (some cases) nothing."""
    from curator.core.io.writers import write_image, write_mask

    rng = np.random.default_rng(seed)
    truths = {}
    for i in range(n):
        cy, cx = shape[0] // 2 + rng.integers(-3, 4), shape[1] // 2 + rng.integers(-3, 4)
        truth = _disc(shape, (cy, cx), 11)
        given = truth.copy()
        if i % 4 != 3:  # three cases in four are wrong
            given &= ~_disc(shape, (cy - 10, cx), 4)  # a bite out of the top: an "added" region
            given |= _disc(shape, (6, 6 + 4 * (i % 3)), 3)  # a stray blob: a "removed" region
            if i % 2:
                given |= _disc(shape, (shape[0] - 7, shape[1] - 7), 3)  # a second stray blob
        img = (60 + 120 * truth + rng.normal(0, 8, shape)).clip(0, 255).astype(np.uint8)
        write_image(root / "images" / f"case_{i}.png", img)
        write_mask(root / "masks" / f"case_{i}.png", given.astype(np.uint8))
        truths[f"case_{i}"] = truth
    return truths


def _maps_for(truth: np.ndarray, seed: int):
    from scipy import ndimage

    from curator.core.engine.uncertainty import UncertaintyMaps

    inside = ndimage.distance_transform_edt(truth)
    outside = ndimage.distance_transform_edt(~truth)
    sd = inside - outside  # positive inside the truth
    p1 = 1.0 / (1.0 + np.exp(-1.5 * sd))
    rng = np.random.default_rng(seed)
    p1 = np.clip(p1 + rng.normal(0, 0.02, p1.shape), 0.02, 0.98).astype(np.float32)  # never surer than 0.98
    mean = np.stack([1 - p1, p1])
    ent = -(mean * np.log(mean)).sum(0)
    var = (mean * (1 - mean)).sum(0)
    maps = {"mean_prob": mean, "entropy": ent, "mutual_info": 0.2 * ent, "aleatoric": 0.8 * ent,
            "variance": var, "kwon_aleatoric": 0.8 * var, "kwon_epistemic": 0.2 * var, "p_given": p1}
    return UncertaintyMaps(maps, {"orig_shape": list(truth.shape), "labels": [0, 1], "signature": "synthetic"})


def make_review_project(root: Path, *, n: int = 4, shape=(40, 48), seed: int = 0, tau: float = 0.6) -> Path:
    """Dataset under ``root/data``, project under ``root/proj`` (maps, proposals, ranking)."""
    from curator.core.jobs import run
    from curator.core.project.pipeline import iter_proposals, rank_cases
    from curator.core.project.folder import Project
    from curator.core.curation.proposals import ProposalConfig
    from curator.core.project.store import Store
    from curator.core.engine.uncertainty import save_maps

    truths = write_dataset(root / "data", n=n, shape=shape, seed=seed)
    project = Project.create(root / "proj", root / "data")
    ds = project.open_dataset()
    ds.check()
    with Store(project.db_path, reviewer="tester") as store:
        store.sync_cases(ds.cases)
        for i, case in enumerate(ds.cases):
            save_maps(project.map_path(case.id), _maps_for(truths[case.id], seed + i))
        run(iter_proposals(project, store, ProposalConfig(tau=tau, min_confidence=0.5), write_masks=False))
        rank_cases(project, store)
    return root / "proj"


# -- a multi-class variant: liver (1) and tumours (2), some components with the wrong class -----------


def class_truth(shape=(48, 56)) -> np.ndarray:
    """A liver (1) with a tumour (2) inside it, a small liver lobe and a second tumour apart from it."""
    truth = np.zeros(shape, np.uint8)
    truth[_disc(shape, (shape[0] // 2 - 4, shape[1] // 2 - 6), 15)] = 1
    truth[_disc(shape, (shape[0] - 8, 7), 5)] = 1
    truth[_disc(shape, (shape[0] // 2 - 4, shape[1] // 2 - 6), 4)] = 2
    truth[_disc(shape, (shape[0] - 8, shape[1] - 8), 5)] = 2
    return truth


CLASS_ERRORS = {"case_0": "lone tumour labelled liver", "case_1": "liver labelled tumour"}


def write_class_dataset(root: Path, n: int = 4, shape=(48, 56), seed: int = 0) -> dict[str, np.ndarray]:
    """``root/images/case_i.png`` + ``root/masks/case_i.png`` (values 0/1/2); ``case_0``: the lone
    tumour labelled liver; ``case_1``: the liver labelled tumour (its inner tumour too); the rest right."""
    from curator.core.io.writers import write_image, write_mask

    rng = np.random.default_rng(seed)
    truths = {}
    for i in range(n):
        truth = class_truth(shape)
        given = truth.copy()
        if i == 0:
            given[_disc(shape, (shape[0] - 8, shape[1] - 8), 5)] = 1
        elif i == 1:  # (the lobe stays liver: a PNG mask of one value is read as a binary mask)
            given[_disc(shape, (shape[0] // 2 - 4, shape[1] // 2 - 6), 15)] = 2
        img = (40 + 80 * (truth == 1) + 160 * (truth == 2) + rng.normal(0, 6, shape)).clip(0, 255).astype(np.uint8)
        write_image(root / "images" / f"case_{i}.png", img)
        write_mask(root / "masks" / f"case_{i}.png", given)
        truths[f"case_{i}"] = truth
    return truths


def _class_maps_for(truth: np.ndarray, seed: int):
    """Three-class maps that know the truth: one-hot at 0.98, blurred across the boundaries."""
    from scipy import ndimage

    from curator.core.engine.uncertainty import UncertaintyMaps

    rng = np.random.default_rng(seed)
    onehot = np.stack([(truth == c) for c in range(3)]).astype(np.float32) * 0.96 + 0.02
    mean = np.stack([ndimage.gaussian_filter(ch, 0.7) for ch in onehot])
    mean = np.clip(mean + rng.normal(0, 0.005, mean.shape), 0.01, 1.0).astype(np.float32)
    mean /= mean.sum(0, keepdims=True)
    ent = -(mean * np.log(mean)).sum(0)
    var = (mean * (1 - mean)).sum(0)
    maps = {"mean_prob": mean, "entropy": ent, "mutual_info": 0.2 * ent, "aleatoric": 0.8 * ent,
            "variance": var, "kwon_aleatoric": 0.8 * var, "kwon_epistemic": 0.2 * var, "p_given": mean.max(0)}
    return UncertaintyMaps(maps, {"orig_shape": list(truth.shape), "labels": [0, 1, 2], "signature": "synthetic3"})


def make_class_project(root: Path, *, n: int = 4, shape=(48, 56), seed: int = 0) -> Path:
    """A multi-class dataset under ``root/data`` (see :func:`write_class_dataset`) and its project
    under ``root/proj`` with maps, proposals (gate fixed at 0.9) and ranking."""
    from curator.core.jobs import run
    from curator.core.project.pipeline import iter_proposals, rank_cases
    from curator.core.project.folder import Project
    from curator.core.curation.proposals import ProposalConfig
    from curator.core.project.store import Store
    from curator.core.engine.uncertainty import save_maps

    truths = write_class_dataset(root / "data", n=n, shape=shape, seed=seed)
    project = Project.create(root / "proj", root / "data")
    ds = project.open_dataset()
    ds.check()
    with Store(project.db_path, reviewer="tester") as store:
        store.sync_cases(ds.cases)
        for i, case in enumerate(ds.cases):
            save_maps(project.map_path(case.id), _class_maps_for(truths[case.id], seed + i))
        run(iter_proposals(project, store, ProposalConfig(min_confidence=0.9), write_masks=False))
        rank_cases(project, store)
    return root / "proj"


def copy_project(template: Path, dest: Path) -> Path:
    """A copy of a project folder (the dataset it points at is shared: it is only read)."""
    shutil.copytree(template, dest)
    return dest
