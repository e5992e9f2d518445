"""How likely is each case's mask wrong? Per-case scores, a combined score, and the review loop.

Scores (higher = more likely wrong), from the out-of-fold predictions and the given mask:

* ``softmin``: 1 - cleanlab's segmentation label-quality score (softmin of the probability of
  the given label over pixels, temperature 0.1; Lad & Mueller 2023).
* ``dice``: 1 - Dice between the consensus (argmax of the mean probability) and the given mask.
* ``disagreement``: uncertainty-weighted mass of the pixels where consensus and mask disagree,
  relative to the mask's size: ``sum (1 - p_given) [consensus != given] / foreground``.
* ``boundary``: mean symmetric distance between the outlines of the consensus and of the mask,
  over the object's equivalent radius (shape errors that barely move the area, such as polygon
  or over-smooth outlines, still move the boundary).
* ``change``: the proposal's changed pixels over the mask's foreground.
* ``outlier``: how unusual the case is among its dataset, by an isolation forest on per-case
  descriptors (mask area, shape compactness and boundary roughness, component count, the mask's
  contrast with the image, and the model-based scores above), as the noisy-label survey suggests.
* ``edges`` (2D): how much better the consensus outline follows the image's edges than the mask's.
* ``edge_fit`` (2D, model-free): how far the mask's outline lies from the strongest edges near it,
  at a scale set by the object's size.

The combined score is a weighted mean of the components after each is mapped to ``[0, 1]`` by its
rank within the dataset, so no component dominates by its units. The default weights rest on the
two scores that look only at *confident* contradictions: ``softmin`` (the most contradicted pixels)
and ``change`` (the proposal, which acts only where the models are near-certain). ``dice``,
``disagreement`` and ``boundary`` count every pixel where consensus and mask differ, including the
ordinary boundary offsets between a model at working resolution and a careful annotator, so on
their own they rank worse (PH2, 30 % mixed noise: AUROC 0.75-0.80 against 0.89-0.90) and weigh in
only as tie-breakers, as does ``outlier``. The image-edge scores weigh by :func:`adaptive_weights`:
``edge_fit`` always (as much as softmin, up to twice as much as the models weaken), ``edges`` as the
models weaken. Measured: docs/results.md. ``ranking.csv`` orders the review
queue by it. :func:`review_rounds` supports the iterative loop of the DataHeroes cleaning study:
review the next ``N`` highest, re-score the rest, and stop when a round finds (almost) no errors.
"""

from __future__ import annotations

from dataclasses import dataclass, field

import numpy as np

from curator.core.engine.evidence import edge_alignment, edge_preference, gradient_magnitude
from curator.core.io.files import read_csv, write_csv
from curator.core.metrics import equivalent_radius, foreground_dice

__all__ = ["SCORES_VERSION", "COMPONENTS", "DEFAULT_WEIGHTS", "softmin_quality", "case_scores", "edge_scores", "shape_descriptors",
           "reference_agreement", "adaptive_weights", "describe_weights", "combine",
           "rank_order", "write_ranking", "read_ranking", "review_rounds", "RoundStats"]

# Bumped when a score's definition changes: a project's saved per-case scores from before are
# recomputed rather than ranked together with the new ones (2: edge_fit at the object's scale).
SCORES_VERSION = 2
COMPONENTS = ("softmin", "dice", "disagreement", "boundary", "change", "outlier", "edges", "edge_fit")
DEFAULT_WEIGHTS = {"softmin": 1.0, "change": 1.0, "dice": 0.1, "disagreement": 0.1, "boundary": 0.1, "outlier": 0.05}


def softmin_quality(p_given: np.ndarray, temperature: float = 0.1) -> float:
    """cleanlab's softmin label-quality score of one image: ``sum s_i w_i`` with
    ``w = softmax((1 - s) / T)`` over its pixel scores ``s`` (``p_given``). 0 = bad, 1 = good."""
    s = np.asarray(p_given, np.float64).ravel()
    z = (1.0 - s) / temperature
    z -= z.max()
    w = np.exp(z)
    return float((s * w).sum() / w.sum())


def case_scores(given_index: np.ndarray, mean_prob: np.ndarray, p_given: np.ndarray | None = None,
                proposal_change: float | None = None) -> dict:
    """Model-based scores of one case (numpy in, numpy out). ``given_index``: class-index map
    ``S``; ``mean_prob``: ``(C, *S)`` on the same grid."""
    given_index = np.asarray(given_index)
    if p_given is None:
        p_given = np.take_along_axis(mean_prob, given_index[None].astype(np.int64), axis=0)[0]
    consensus = mean_prob.argmax(0)
    fg = max(int(np.count_nonzero(given_index)), int(np.count_nonzero(consensus)), 1)
    per_label = []
    for c in range(1, mean_prob.shape[0]):
        a, b = consensus == c, given_index == c
        if a.any() or b.any():
            per_label.append(foreground_dice(a, b))
    disagree = consensus != given_index
    out = {
        "boundary": boundary_distance(consensus > 0, given_index > 0),
        "softmin": 1.0 - softmin_quality(p_given),
        "dice": 1.0 - (float(np.mean(per_label)) if per_label else 1.0),
        "disagreement": float(((1.0 - p_given) * disagree).sum() / fg),
    }
    if proposal_change is not None:
        out["change"] = float(proposal_change)
    return out


def edge_scores(image: np.ndarray, given_index: np.ndarray, consensus: np.ndarray) -> dict:
    """Image-edge scores of one 2D case (higher = more likely wrong): ``edges``, how much better
    the models' consensus outline follows the image's edges than the mask's (log-ratio of the mean
    gradient along the parts of the outlines that differ; 0 when they agree); ``edge_fit``, how
    far the mask's own outline lies from the strongest edges near it (model-free: minus
    :func:`~curator.core.engine.evidence.edge_alignment`, at a scale set by the object's size).
    ``image``: ``(Y, X[, C])``; label maps ``(Y, X)``."""
    img = np.asarray(image, np.float32)
    grad = gradient_magnitude(np.moveaxis(img, -1, 0)) if img.ndim == 3 else gradient_magnitude(img, channels_first=False)
    pref = edge_preference(grad, given_index, consensus)
    fit = edge_alignment(img, given_index)
    return {"edges": 0.0 if pref is None else float(pref), "edge_fit": -fit if np.isfinite(fit) else 0.0}


def boundary_distance(a: np.ndarray, b: np.ndarray, spacing=None) -> float:
    """Mean symmetric distance between the outlines of two binary masks, over the equivalent radius
    of ``b`` (0 = same outline). One mask empty and the other not: 1.0. The distances are the
    exact Euclidean ones between outline pixels (a k-d tree over the outlines, not a distance
    transform of the whole image: an outline has far fewer pixels than the image)."""
    from scipy import ndimage
    from scipy.spatial import cKDTree

    if not a.any() and not b.any():
        return 0.0
    if not a.any() or not b.any():
        return 1.0
    scale = np.ones(a.ndim) if spacing is None else np.asarray(spacing, float)
    pa = np.argwhere(a & ~ndimage.binary_erosion(a)) * scale
    pb = np.argwhere(b & ~ndimage.binary_erosion(b)) * scale
    mean = 0.5 * (cKDTree(pa).query(pb)[0].mean() + cKDTree(pb).query(pa)[0].mean())
    return float(mean / max(equivalent_radius(b), 1.0))


def shape_descriptors(mask: np.ndarray, image: np.ndarray | None = None) -> dict:
    """Per-case descriptors for outlier detection: area fraction, components, compactness,
    boundary roughness (perimeter against the smoothed perimeter) and image contrast."""
    from scipy import ndimage

    fg = np.asarray(mask) > 0
    n = int(fg.sum())
    d = {"area": n / fg.size, "components": 0.0, "compactness": 0.0, "roughness": 0.0, "contrast": 0.0}
    if n == 0:
        return d
    d["components"] = float(ndimage.label(fg)[1])
    surface = fg & ~ndimage.binary_erosion(fg)
    perim = float(surface.sum())
    if fg.ndim == 2:
        d["compactness"] = 4 * np.pi * n / max(perim, 1) ** 2
    else:
        d["compactness"] = (36 * np.pi * n ** 2) ** (1 / 3) / max(perim, 1)
    smooth = ndimage.gaussian_filter(fg.astype(np.float32), 2.0) > 0.5
    perim_s = float((smooth & ~ndimage.binary_erosion(smooth)).sum())
    d["roughness"] = perim / max(perim_s, 1.0)
    if image is not None:
        img = np.asarray(image, np.float32)
        if img.ndim == fg.ndim + 1:
            img = img.mean(-1)
        inside, outside = img[fg], img[~fg]
        if inside.size and outside.size:
            d["contrast"] = float(abs(inside.mean() - outside.mean()) / (img.std() + 1e-6))
    return d


def reference_cases(softmin, known=None, fraction: float = 0.5) -> np.ndarray:
    """Indices of the cases taken as correct: the ``fraction`` of cases with the lowest softmin
    score, where reviewers have vouched for masks (``known`` 1: the given mask is right; -1: it was
    wrong; 0: not reviewed) those first, as many as there are, and never a mask found wrong."""
    sm = np.asarray(softmin, float)
    k = np.zeros(sm.size) if known is None else np.asarray(known, float)
    n = max(int(np.floor(fraction * sm.size)), int(np.count_nonzero(k > 0)))
    order = np.lexsort((sm, -k))  # vouched for first, then by softmin; found wrong last
    return order[k[order] >= 0][:n]


def reference_agreement(softmin, agreement, fraction: float = 0.5, known=None) -> float:
    """How well the models reproduce the masks judged correct: the median of ``agreement`` (Dice
    of the consensus to the mask) over the :func:`reference_cases`. NaN without cases."""
    idx = reference_cases(softmin, known, fraction)
    if idx.size < 1:
        return float("nan")
    return float(np.median(np.asarray(agreement, float)[idx]))


def adaptive_weights(agreement: float, base: dict | None = None, *, trusted: float = 0.95,
                     weak: float = 0.75) -> dict:
    """Weights of the combined score for a batch whose models reproduce the masks judged correct
    at Dice ``agreement`` (:func:`reference_agreement`). Model-based scores rank well when the
    models are good and poorly when they are weak, so the image-edge scores weigh in as the models
    weaken, by ``e``: 0 from ``trusted`` up, 1 from ``weak`` down, linear between. ``edges`` (the
    models' outline against the mask's, on the image) weighs ``e`` times softmin; ``edge_fit``
    (the mask's outline against the image alone, model-free) weighs ``1 + e`` times softmin: it
    does not depend on the models at all (the rules compared: docs/results.md, "The outline's fit
    to the image's edges")."""
    w = dict(base or DEFAULT_WEIGHTS)
    e = float(np.clip((trusted - agreement) / (trusted - weak), 0.0, 1.0)) if np.isfinite(agreement) else 0.0
    w["edges"] = e * w.get("softmin", 1.0)
    w["edge_fit"] = (1.0 + e) * w.get("softmin", 1.0)
    return w


def describe_weights(state: dict | None) -> str | None:
    """One line saying how the batch weighed the ranking's scores (the store's ``ranking`` state)."""
    if not state or not state.get("weights"):
        return None
    w, q = state["weights"], state.get("agreement")
    sm = max(float(w.get("softmin", 1.0)), 1e-9)
    edge, fit = float(w.get("edges", 0.0)) / sm, float(w.get("edge_fit", 0.0)) / sm
    how = (f"the mask outline's fit to the image's edges weighs {fit:.2f} of softmin, the models' outline "
           f"against the mask's on the image's edges {edge:.2f} (image-edge scores weigh more as the models weaken)")
    if q is None or not np.isfinite(q):
        return f"ranking: the models' agreement with the masks could not be measured; {how}"
    return f"ranking: the models reach Dice {q:.2f} on the cases judged correct; {how}"


def _ranks01(values: np.ndarray) -> np.ndarray:
    """Rank-transform to [0, 1] (ties share their mean rank); NaN → 0.5."""
    from scipy.stats import rankdata

    v = np.asarray(values, float)
    out = np.full(v.shape, 0.5)
    ok = np.isfinite(v)
    if ok.sum() > 1:
        out[ok] = (rankdata(v[ok]) - 1) / (ok.sum() - 1)
    return out


def outlier_scores(features: list[dict], *, seed: int = 0) -> np.ndarray:
    """Isolation-forest outlier score per case (higher = more unusual), from descriptor dicts."""
    from sklearn.ensemble import IsolationForest
    from sklearn.preprocessing import RobustScaler

    if len(features) < 8:
        return np.zeros(len(features))
    keys = sorted(features[0])
    x = np.array([[f.get(k, 0.0) for k in keys] for f in features], float)
    x = np.nan_to_num(x)
    x = RobustScaler().fit_transform(x)
    forest = IsolationForest(n_estimators=300, random_state=seed).fit(x)
    return -forest.score_samples(x)


def combine(scores: dict[str, dict], weights: dict | None = None) -> dict[str, float]:
    """Combined score per case: weighted mean of rank-normalised components present."""
    weights = weights or DEFAULT_WEIGHTS
    ids = list(scores)
    if not ids:
        return {}
    total = np.zeros(len(ids))
    wsum = 0.0
    for comp, w in weights.items():
        vals = np.array([scores[c].get(comp, np.nan) for c in ids], float)
        if w <= 0 or not np.isfinite(vals).any():
            continue
        total += w * _ranks01(vals)
        wsum += w
    total = total / wsum if wsum else total
    return {c: float(v) for c, v in zip(ids, total)}


def rank_order(combined: dict[str, float]) -> list[tuple[str, float, int]]:
    """``(case_id, score, rank)`` sorted by score, rank 1 = most likely wrong (ties by id)."""
    order = sorted(combined.items(), key=lambda kv: (-kv[1], kv[0]))
    return [(cid, score, i + 1) for i, (cid, score) in enumerate(order)]


def write_ranking(path, ranked: list[tuple[str, float, int]]) -> None:
    write_csv(path, ["case_id", "score", "rank"], ((cid, f"{score:.6f}", rank) for cid, score, rank in ranked))


def read_ranking(path) -> list[tuple[str, float, int]]:
    return [(r["case_id"], float(r["score"]), int(r["rank"])) for r in read_csv(path)]


# ----------------------------------------------------------------------------------------------
# The iterative review loop


@dataclass
class RoundStats:
    round: int
    reviewed: int
    errors_found: int
    hit_rate: float
    cumulative_errors: int
    plateau: bool = False
    cases: list[str] = field(default_factory=list)


def review_rounds(order: list[str], is_error: dict[str, bool], batch: int = 10, *, plateau_rate: float = 0.1,
                  patience: int = 2) -> list[RoundStats]:
    """Rounds of ``batch`` reviews down a ranked queue and whether the running error rate has
    reached a plateau (the DataHeroes loop): a round is a plateau when its hit rate and the
    previous ``patience - 1`` rounds' are all below ``plateau_rate``.

    ``order``: case ids in review order (re-scored between rounds by the caller if wanted);
    ``is_error``: reviewed cases' verdicts (changed, edited or excluded = an error found).
    """
    rounds: list[RoundStats] = []
    cumulative = 0
    reviewed = [c for c in order if c in is_error]
    for r, start in enumerate(range(0, len(reviewed), batch), start=1):
        cases = reviewed[start:start + batch]
        hits = sum(bool(is_error[c]) for c in cases)
        cumulative += hits
        rate = hits / len(cases)
        recent = [x.hit_rate for x in rounds[-(patience - 1):]] if patience > 1 else []
        plateau = len(recent) == patience - 1 and all(x < plateau_rate for x in recent + [rate])
        rounds.append(RoundStats(r, len(cases), hits, rate, cumulative, plateau, cases))
    return rounds
