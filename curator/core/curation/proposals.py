"""Proposed corrections of a mask, split into regions a reviewer can accept or reject one by one.

:func:`propose` takes a case's given mask and its uncertainty maps (brought to the image's own
grid) and returns a :class:`Proposal`: the corrected mask, a map of the changed regions, and for
every region its size, kind (added, removed, relabelled, class) and mean uncertainty. Steps:

1. **Rules** (combinable, :mod:`curator.core.engine.relabel`): ``confident`` (another class's mean
   out-of-fold probability exceeds ``tau``, as in confident learning) and/or ``uncertainty`` (the
   poster's: uncertainty above ``delta``); optionally only within ``band`` of the mask's edges.
2. **Clean-up** of the corrected mask, per label: fill holes, remove islands smaller than
   ``min_island``, keep the largest component (option), smooth the contour (opening and closing
   with a disc of radius ``smooth``), optionally pull the contour to image edges with a geodesic
   active contour (``refine="contour"``).
3. **Regions**: the change is split into connected regions; regions thinner than ``min_width``
   (boundary slivers where the models' coarser resolution disagrees with a careful outline) or
   smaller than ``min_region`` are dropped, and so are regions where the out-of-fold models' mean
   confidence (their highest class probability) is below ``min_confidence`` (by default
   ``1 - (1 - tau) / 5``: 0.96 at ``tau = 0.8``; a region must leave a fifth of the doubt a single
   pixel may have). The proposal acts only where the models are near-certain (how that holds on
   real data: docs/results.md, "Proposals on clean and corrupted masks"). Regions the models are
   less sure of still show in the uncertainty heatmap.
4. **Class checks** (multi-class masks, ``class_check``; :mod:`curator.core.curation.class_check`):
   a connected component of one label that the models give, by a majority of its pixels, to another
   foreground label (a tumour labelled as liver) is one region of kind ``class``: its outline stays,
   its label changes (when at least ``min_region`` of the smaller of the two labels' areas: a
   tumour is small beside its liver). Its confidence is the models' mean probability of the new
   label there (among the foreground labels), gated like every other region; the pixel-wise rules
   propose nothing inside it (one region per component).

Masks are label maps ``(Y, X)`` / ``(Z, Y, X)``; sizes are in pixels of that grid unless given
as fractions (``< 1``: of the object's equivalent radius for widths, of the mask's area for
sizes).
"""

from __future__ import annotations

from dataclasses import asdict, dataclass, field

import numpy as np

from curator.core.curation.class_check import class_changes
from curator.core.engine.preprocess import labels_to_index
from curator.core.engine.relabel import apply_flips, flip_candidates
from curator.core.metrics import changed_pixels, equivalent_radius

__all__ = ["ProposalConfig", "Region", "Proposal", "propose", "apply_regions", "gate_regions"]


@dataclass
class ProposalConfig:
    rules: tuple[str, ...] = ("confident",)
    tau: float = 0.8
    delta: float = 0.3
    measure: str = "variance"
    band: float | None = None
    fill_holes: bool = True
    min_island: float = 0.01  # fraction of the mask's area (or pixels when >= 1)
    largest_component: bool = False
    smooth: float = 0.02  # opening/closing radius: fraction of the object's radius (or pixels)
    min_width: float = 0.1  # regions thinner than this are dropped (fraction of radius, or px)
    min_region: float = 0.005  # regions smaller than this are dropped (fraction of area, or px)
    min_confidence: float | None = None  # regions less sure than this are dropped; None: calibrated per batch
    refine: str = "none"  # none | contour
    calibration_target: float = 0.005  # batch calibration: false change allowed on cases judged correct
    class_check: bool = True  # multi-class masks: a component whose label the models contradict is one region

    def to_json(self) -> dict:
        d = asdict(self)
        d["rules"] = list(self.rules)
        d["region_confidence"] = self.region_confidence()  # the gate in effect (auto resolves to a number)
        return d

    def region_confidence(self) -> float:
        """The mean confidence a change region needs: ``min_confidence`` when set; for the
        ``confident`` rule alone ``1 - (1 - tau) / 5``; otherwise 0 (the poster's rule acts where
        the models are uncertain, so a confidence gate would silence it)."""
        if self.min_confidence is not None:
            return float(self.min_confidence)
        return 1.0 - (1.0 - self.tau) / 5.0 if tuple(self.rules) == ("confident",) else 0.0

    @classmethod
    def from_json(cls, d: dict) -> "ProposalConfig":
        kw = {k: v for k, v in d.items() if k in cls.__dataclass_fields__}
        if "rules" in kw:
            kw["rules"] = tuple(kw["rules"])
        return cls(**kw)


@dataclass
class Region:
    """One connected change. ``kind``: ``added`` (background → label), ``removed`` (label →
    background), ``relabelled`` (label → another label, where the pixel-wise rules flipped it) or
    ``class`` (a whole component of ``from_label`` proposed as ``to_label``: its outline stays; see
    :mod:`curator.core.curation.class_check`). Regions stored by older versions have the first three."""

    id: int
    kind: str
    size: int
    from_label: int
    to_label: int
    mean_uncertainty: float
    mean_confidence: float
    bbox: tuple[int, ...]
    centroid: tuple[float, ...]

    def to_json(self) -> dict:
        return asdict(self)


@dataclass
class Proposal:
    """A proposed mask and its change regions (``region_map``: region id per pixel, 0 = unchanged)."""

    given: np.ndarray
    mask: np.ndarray
    region_map: np.ndarray
    regions: list[Region] = field(default_factory=list)

    @property
    def changed_pixels(self) -> int:
        return int(np.count_nonzero(self.region_map))

    @property
    def change_fraction(self) -> float:
        """Changed pixels over the given mask's foreground (over the image when it is empty)."""
        fg = int(np.count_nonzero(self.given))
        return self.changed_pixels / max(fg, 1) if fg else self.changed_pixels / self.given.size

    def added_removed(self) -> tuple[int, int]:
        return changed_pixels(self.given, self.mask)

    def outline_changes(self) -> tuple[int, int]:
        """``(added, removed)`` pixels of the foreground's outline, whatever their labels: a label
        change inside the foreground (a tumour labelled as liver) moves no outline. What
        :func:`curator.core.curation.calibration.replaces_mask` asks about (as the calibration's
        estimate already does: only ``added`` and ``removed`` regions count there)."""
        return changed_pixels(self.given > 0, self.mask > 0)


def _abs(value: float, ref: float, floor: float = 0.0) -> float:
    return max(floor, value * ref if value < 1 else value)


def _ball(r: float, ndim: int) -> np.ndarray:
    ri = int(np.ceil(r))
    grids = np.ogrid[tuple(slice(-ri, ri + 1) for _ in range(ndim))]
    return sum(g * g for g in grids) <= r * r + 1e-9


# Radii up to this use a structuring element, larger ones (and anisotropic spacing) a distance
# transform. Both treat the image border alike: erosion does not eat into a mask from the border
# (an object cut by the frame stays cut, not peeled), dilation does not grow from outside.
_SMALL = 4.0


def _structuring(r: float, ndim: int, sampling) -> bool:
    return sampling is None and r <= _SMALL


def _by_offsets(m: np.ndarray, r: float, erode: bool) -> np.ndarray:
    """Erosion (dilation) by a small ball as the AND (OR) of the mask shifted by each of the ball's
    offsets: the same result as ``scipy.ndimage.binary_erosion(m, ball, border_value=1)``
    (``binary_dilation(m, ball)``), 6-8x faster in 2D for the radii used here (a 320 x 320 mask,
    radius 2: 0.4 ms against 2.7 ms; the threshold slider runs four of them per update)."""
    ball = _ball(r, m.ndim)
    ri = ball.shape[0] // 2
    padded = np.pad(m, ri, constant_values=erode)  # beyond the border: foreground for an erosion
    out = np.full(m.shape, erode, bool)
    op = np.logical_and if erode else np.logical_or
    for off in np.argwhere(ball):
        op(out, padded[tuple(slice(o, o + n) for o, n in zip(off, m.shape))], out=out)
    return out


def _erode(m: np.ndarray, r: float, sampling=None) -> np.ndarray:
    """Erosion by a Euclidean ball of radius ``r``."""
    from scipy import ndimage

    if _structuring(r, m.ndim, sampling):
        return _by_offsets(m, r, erode=True)
    if m.all():  # no background: scipy would measure to a phantom point beyond the corner
        return m.copy()
    return ndimage.distance_transform_edt(m, sampling=sampling) > r


def _dilate(m: np.ndarray, r: float, sampling=None) -> np.ndarray:
    from scipy import ndimage

    if _structuring(r, m.ndim, sampling):
        return _by_offsets(m, r, erode=False)
    if not m.any():  # as above: an empty mask would grow a ball at the corner
        return m.copy()
    return ndimage.distance_transform_edt(~m, sampling=sampling) <= r


def _opening(m: np.ndarray, r: float, sampling=None) -> np.ndarray:
    return _dilate(_erode(m, r, sampling), r, sampling)


def _closing(m: np.ndarray, r: float, sampling=None) -> np.ndarray:
    # pad so that the closing does not stick to the image border
    p = int(np.ceil(r)) + 1
    mp = np.pad(m, p)
    out = _erode(_dilate(mp, r, sampling), r, sampling)
    return out[tuple(slice(p, -p) for _ in range(m.ndim))]


def _box(m: np.ndarray, margin: int):
    """Slices of ``m``'s bounding box grown by ``margin`` (clipped to the array); None when empty.
    (From the mask's projections: several times faster than ``find_objects`` or ``nonzero``.)"""
    box = []
    for ax, n in enumerate(m.shape):
        hit = np.flatnonzero(m.any(axis=tuple(a for a in range(m.ndim) if a != ax)))
        if hit.size == 0:
            return None
        box.append(slice(max(0, int(hit[0]) - margin), min(n, int(hit[-1]) + 1 + margin)))
    return tuple(box)


def _has_core(lab: np.ndarray, i: int, sl, r: float) -> bool:
    """Is region ``i`` (bounding box ``sl``) at least ``2 r`` thick somewhere, i.e. does an
    opening by a ball of radius ``r`` leave any of it? Same as: does its erosion leave any of it,
    which needs only the region's box and a 1-pixel rim. A box narrower than the ball cannot,
    unless it touches the image border (beyond which the erosion sees foreground, see _erode)."""
    inside = all(s.start > 0 and s.stop < n for s, n in zip(sl, lab.shape))
    if inside and min(s.stop - s.start for s in sl) < 2 * int(r) + 1:
        return False
    rim = tuple(slice(max(0, s.start - 1), min(n, s.stop + 1)) for s, n in zip(sl, lab.shape))
    return bool(_erode(lab[rim] == i, r).any())


def _clean_label(binary: np.ndarray, cfg: ProposalConfig, radius: float, area: int, image=None) -> np.ndarray:
    """Smooth, fill holes and drop islands of one label's mask. Works on the mask's bounding box
    grown by a margin wider than any smoothing reaches (the same result as on the whole image: an
    opening stays inside the mask, a closing inside its convex hull), unless the contour is refined
    to image edges, which may move it further."""
    r = _abs(cfg.smooth, radius) if cfg.smooth and radius > 0 else 0.0
    if cfg.refine != "contour":
        box = _box(binary, int(np.ceil(2 * r)) + 2)
        out = np.zeros_like(binary)
        if box is not None:
            out[box] = _clean_box(binary[box], cfg, r, area)
        return out
    return _clean_box(binary, cfg, r, area, image)


def _clean_box(binary: np.ndarray, cfg: ProposalConfig, r: float, area: int, image=None) -> np.ndarray:
    from scipy import ndimage

    out = binary
    if r >= 1:
        out = _closing(_opening(out, r), r)
    if cfg.fill_holes:
        if out.ndim == 3:  # holes slice by slice: a 3D cavity fill would also close vessels' tunnels
            out = np.stack([fill_holes_2d(s) for s in out])
        else:
            out = fill_holes_2d(out)
    lab, n = ndimage.label(out)
    if n:
        sizes = np.bincount(lab.ravel())[1:]
        keep = sizes >= _abs(cfg.min_island, area, 1)
        if cfg.largest_component:
            keep = np.zeros_like(keep)
            keep[int(np.argmax(sizes))] = True
        out = keep[lab - 1] & (lab > 0)
    if cfg.refine == "contour" and image is not None and out.any():
        out = _refine_contour(out, image)
    return out


def fill_holes_2d(mask: np.ndarray) -> np.ndarray:
    """``scipy.ndimage.binary_fill_holes`` for one image, five times faster on 512 x 512 (one
    labelling of the background instead of an iterated propagation; same result): background
    components that do not touch the border are holes."""
    from scipy import ndimage

    lab, n = ndimage.label(~mask)
    if n == 0:
        return mask.copy()
    outside = np.zeros(n + 1, bool)
    for ax in range(mask.ndim):
        for end in (0, -1):
            outside[np.take(lab, end, axis=ax)] = True
    outside[0] = True
    return mask | ~outside[lab]


def _refine_contour(binary: np.ndarray, image: np.ndarray, iterations: int = 15) -> np.ndarray:
    """Pull a 2D contour to nearby image edges (morphological geodesic active contour)."""
    from skimage.color import rgb2gray
    from skimage.segmentation import inverse_gaussian_gradient, morphological_geodesic_active_contour

    if binary.ndim != 2:
        return binary
    grey = rgb2gray(image) if image.ndim == 3 else image.astype(float)
    gimage = inverse_gaussian_gradient(grey, alpha=100.0, sigma=2.0)
    return morphological_geodesic_active_contour(gimage, iterations, init_level_set=binary.astype(np.int8),
                                                 smoothing=1, balloon=0).astype(bool)


def propose(given: np.ndarray, mean_prob: np.ndarray, uncertainty: np.ndarray | None = None, *,
            labels: list[int] | None = None, cfg: ProposalConfig | None = None, image: np.ndarray | None = None,
            spacing=None, _cropped: bool = False) -> Proposal:
    """A proposal for one case.

    ``given``: label map ``S`` (label values); ``mean_prob``: ``(C, *S)`` on the same grid,
    class ``i`` meaning label ``labels[i]``; ``uncertainty``: ``S`` (for the ``uncertainty`` rule
    and region statistics); ``image``: the image, for edge-aware refinement.
    """
    from scipy import ndimage

    cfg = cfg or ProposalConfig()
    labels = list(labels if labels is not None else range(mean_prob.shape[0]))
    given = np.asarray(given)
    crop = None if _cropped else _work_box(given, mean_prob, cfg)
    if crop is not None:  # everything happens inside this box: work there, paste back
        inner = propose(given[crop], mean_prob[(slice(None),) + crop],
                        uncertainty[crop] if uncertainty is not None else None, labels=labels,
                        cfg=cfg, image=image[crop] if image is not None else None, spacing=spacing, _cropped=True)
        return _uncrop(inner, given, crop)
    index = labels_to_index(given, labels)
    proposed = index.copy()
    for rule in cfg.rules:  # the union of what the rules flip
        flips = flip_candidates(index, mean_prob, uncertainty, rule=rule, tau=cfg.tau, delta=cfg.delta,
                                band=cfg.band, spacing=spacing)
        proposed = apply_flips(proposed, flips)
    # clean-up per label, higher labels painted last (a lesion stays inside its organ)
    radius = equivalent_radius(index > 0) or equivalent_radius(proposed > 0)
    area = int(np.count_nonzero(index > 0)) or int(np.count_nonzero(proposed > 0))
    cleaned = np.zeros_like(proposed)
    for cls in range(1, len(labels)):
        m = _clean_label(proposed == cls, cfg, radius, area, image)
        cleaned[m] = cls
    min_size = _abs(cfg.min_region, area, 1)
    # components whose class the models contradict: one region each, and the pixel rules' changes
    # inside them give way (independent of the gate, so that gating later is the same as gating now)
    swaps = class_changes(index, mean_prob, min_region=cfg.min_region) \
        if cfg.class_check and len(labels) > 2 else []
    owned = np.zeros(index.shape, bool)
    for ch in swaps:
        owned[ch.box] |= ch.pixels
    # regions of change, confident ones only
    diff = (cleaned != index) & ~owned
    lab, n = ndimage.label(diff)
    if n and cfg.min_width and radius > 0:
        w = _abs(cfg.min_width, radius)
        if w >= 1:
            thin = [i for i, sl in enumerate(ndimage.find_objects(lab), start=1)
                    if sl is None or not _has_core(lab, i, sl, w / 2)]
            lab[np.isin(lab, thin)] = 0
    region_map = np.zeros(index.shape, np.uint16 if n + len(swaps) < 65535 else np.int32)
    regions: list[Region] = []
    final = index.copy()
    gate = cfg.region_confidence()
    _add_pixel_regions(regions, region_map, final, lab, index, cleaned, mean_prob.max(0), uncertainty,
                       min_size=min_size, gate=gate, labels=labels)
    _add_class_regions(regions, region_map, final, swaps, uncertainty, gate=gate, labels=labels)
    dtype = given.dtype if np.issubdtype(given.dtype, np.integer) and max(labels) <= np.iinfo(given.dtype).max \
        else np.uint16  # a dataset label (300) beyond this case's uint8 mask
    lut = np.asarray(labels, dtype=dtype)
    return Proposal(given, lut[final], region_map, regions)


def _add_pixel_regions(regions: list, region_map, final, lab, index, cleaned, p_max, uncertainty, *,
                       min_size: int, gate: float, labels: list[int]) -> None:
    """The connected changes of the pixel rules that are large and confident enough, as regions
    (numbered on from ``regions``; ``region_map`` and ``final`` updated in place)."""
    from scipy import ndimage

    for i, sl in enumerate(ndimage.find_objects(lab), start=1):
        if sl is None:
            continue
        m = lab[sl] == i
        size = int(m.sum())
        if size < min_size:
            continue
        confidence = float(p_max[sl][m].mean())
        if confidence < gate:
            continue
        src = index[sl][m]
        dst = cleaned[sl][m]
        f, t = int(np.bincount(src).argmax()), int(np.bincount(dst).argmax())
        kind = "added" if f == 0 else ("removed" if t == 0 else "relabelled")
        rid = len(regions) + 1
        region_map[sl][m] = rid
        final[sl][m] = dst
        u = float(uncertainty[sl][m].mean()) if uncertainty is not None else float("nan")
        coords = np.argwhere(m) + np.array([s.start for s in sl])
        regions.append(Region(rid, kind, size, labels[f], labels[t], u, confidence,
                              tuple(int(v) for s in sl for v in (s.start, s.stop)),
                              tuple(float(v) for v in coords.mean(0))))


def _add_class_regions(regions: list, region_map, final, swaps, uncertainty, *, gate: float,
                       labels: list[int]) -> None:
    """The components whose class the models contradict confidently enough, one region each."""
    for ch in swaps:
        if ch.confidence < gate:
            continue
        rid = len(regions) + 1
        region_map[ch.box][ch.pixels] = rid
        final[ch.box][ch.pixels] = ch.to_index
        u = float(uncertainty[ch.box][ch.pixels].mean()) if uncertainty is not None else float("nan")
        coords = np.argwhere(ch.pixels) + np.array([s.start for s in ch.box])
        lo, hi = coords.min(0), coords.max(0) + 1
        regions.append(Region(rid, "class", ch.size, labels[ch.from_index], labels[ch.to_index], u, ch.confidence,
                              tuple(int(v) for a, b in zip(lo, hi) for v in (a, b)),
                              tuple(float(v) for v in coords.mean(0))))


def _work_box(given: np.ndarray, mean_prob: np.ndarray, cfg: ProposalConfig):
    """Bounding box (slices) of the given foreground and every pixel another class could win,
    grown by a margin for the clean-up; ``None`` when it is (nearly) the whole image."""
    cand = (given > 0) | (mean_prob[0] < max(0.5, 1 - cfg.tau) + 0.01) if mean_prob.shape[0] > 1 else given > 0
    if cfg.rules != ("confident",):
        return None  # the uncertainty rule may act anywhere
    r = equivalent_radius(given > 0) or 1.0
    box = _box(cand, int(np.ceil(max(8.0, 0.5 * r))))
    if box is None:
        return None
    if np.prod([b.stop - b.start for b in box]) > 0.8 * given.size:
        return None
    return box


def _uncrop(inner: Proposal, given: np.ndarray, box) -> Proposal:
    mask = np.array(given, copy=True)
    mask[box] = inner.mask
    regions = np.zeros(given.shape, inner.region_map.dtype)
    regions[box] = inner.region_map
    offset = [b.start for b in box]
    for r in inner.regions:
        r.bbox = tuple(v + offset[i // 2] for i, v in enumerate(r.bbox))
        r.centroid = tuple(v + o for v, o in zip(r.centroid, offset))
    return Proposal(given, mask, regions, inner.regions)


def gate_regions(given: np.ndarray, mask: np.ndarray, region_map: np.ndarray, regions: list[dict],
                 gate: float) -> Proposal:
    """The proposal that keeps only the regions at least ``gate`` confident, renumbered 1..n (the
    same as proposing with that gate: regions are independent once split)."""
    keep = [r for r in regions if r["mean_confidence"] >= gate]
    lut = np.zeros(int(region_map.max(initial=0)) + 1, region_map.dtype)
    kept = []
    for new_id, r in enumerate(keep, start=1):
        lut[r["id"]] = new_id
        kept.append(Region(**{**r, "id": new_id, "bbox": tuple(r["bbox"]), "centroid": tuple(r["centroid"])}))
    new_map = lut[region_map]
    out = np.array(given, copy=True)
    m = new_map > 0
    out[m] = mask[m]
    return Proposal(np.asarray(given), out, new_map, kept)


def apply_regions(proposal: Proposal, accepted: set[int] | list[int]) -> np.ndarray:
    """The given mask with only the ``accepted`` regions of a proposal applied."""
    out = np.array(proposal.given, copy=True)
    m = np.isin(proposal.region_map, list(accepted)) & (proposal.region_map > 0)
    out[m] = proposal.mask[m]
    return out
