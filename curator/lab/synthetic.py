"""Built-in synthetic data: dermoscopy-like photographs and CT-like volumes with exact masks.

Used for the demo, the tests, and 3D training experiments (no multi-volume liver CT set ships with
the product). Everything is generated from a seed; nothing is downloaded or read from disk.

* :func:`dermoscopy_case` → ``(image (Y, X, 3) uint8, mask (Y, X) uint8)``: skin with colour
  variation and pores, an irregular pigmented lesion with a fuzzy border, reticular network and
  darker blotches, hairs, air bubbles and the dark vignette of a dermatoscope's round field of view.
* :func:`ct_case` → ``(volume (Z, Y, X) int16 HU, labels (Z, Y, X) uint8, spacing (x, y, z))``:
  an abdomen with air, skin, subcutaneous fat, muscle, spine, aorta, kidneys, a liver (label 1)
  on the patient's right and optional hypodense lesions (label 2), with CT-like noise.
* :func:`iter_write_isic` / :func:`iter_write_msd`: whole datasets in ISIC and Medical
  Segmentation Decathlon layouts; :func:`iter_write_demo` adds copies with deliberately wrong masks
  (via :mod:`curator.lab.corrupt`) and the record of which are wrong.
"""

from __future__ import annotations

import json
from dataclasses import dataclass
from pathlib import Path
from typing import Generator

import numpy as np

from curator.core.io.files import atomic_write
from curator.core.io.types import Geometry
from curator.core.io.writers import write_image, write_mask
from curator.core.jobs import Progress
from curator.lab.corrupt import iter_corrupt_dataset

__all__ = ["dermoscopy_case", "ct_case", "iter_write_isic", "iter_write_msd", "iter_write_demo", "demo_root"]


# ----------------------------------------------------------------------------------------------
# Random fields


def _smooth_noise(rng: np.random.Generator, shape, sigma: float) -> np.ndarray:
    """Zero-mean, unit-std Gaussian-filtered noise with correlation length ``sigma`` pixels."""
    from scipy import ndimage

    f = ndimage.gaussian_filter(rng.standard_normal(shape).astype(np.float32), sigma, mode="wrap")
    f -= f.mean()
    return f / (f.std() + 1e-8)


def _radial_profile(rng: np.random.Generator, n_harmonics: int, roughness: float) -> tuple[np.ndarray, np.ndarray]:
    """Random star-shaped radius modulation: amplitudes and phases of harmonics 2..n."""
    k = np.arange(2, n_harmonics + 2)
    amp = roughness * rng.uniform(0.3, 1.0, len(k)) / k ** 1.1
    phase = rng.uniform(0, 2 * np.pi, len(k))
    return amp, phase


def _star_shape(yy, xx, cy, cx, r0, amp, phase, angle_scale=(1.0, 1.0)) -> np.ndarray:
    """Normalised radius (<1 inside) of a star-shaped region at every pixel."""
    dy, dx = (yy - cy) / angle_scale[0], (xx - cx) / angle_scale[1]
    theta = np.arctan2(dy, dx)
    r = np.sqrt(dy ** 2 + dx ** 2)
    k = np.arange(2, len(amp) + 2)
    mod = 1.0 + np.tensordot(np.cos(np.multiply.outer(theta, k) + phase), amp, axes=([-1], [0]))
    return r / (r0 * np.maximum(mod, 0.3))


# ----------------------------------------------------------------------------------------------
# Dermoscopy


def dermoscopy_case(seed=None, shape: tuple[int, int] = (384, 512)) -> tuple[np.ndarray, np.ndarray]:
    """A dermoscopy-like RGB image ``(Y, X, 3)`` uint8 and its lesion mask ``(Y, X)`` uint8 (0/1).

    Drawn in layers, each from the same generator in turn (the order fixes the picture a seed
    gives): skin, the lesion's outline, its pigment, hairs, air bubbles, the dermatoscope's field.
    """
    from scipy import ndimage

    rng = np.random.default_rng(seed)
    h, w = shape
    yy, xx = np.mgrid[0:h, 0:w].astype(np.float32)
    skin = _skin(rng, h, w)
    rho, alpha, mask = _lesion_outline(rng, yy, xx)
    img = skin * (1 - alpha[..., None]) + _pigment(rng, yy, xx, rho) * alpha[..., None]
    img = _hairs(rng, img)
    img = _bubbles(rng, img, yy, xx)
    img = _field_of_view(rng, img, yy, xx)
    img = ndimage.gaussian_filter(img, (0.7, 0.7, 0))
    img += rng.normal(0, 2.0, img.shape)
    return np.clip(img, 0, 255).astype(np.uint8), mask


def _skin(rng: np.random.Generator, h: int, w: int) -> np.ndarray:
    """Skin: a tone between pale and tan, low-frequency blotchiness and fine pores."""
    m = min(h, w)
    pale, tan = np.array([236, 196, 178], np.float32), np.array([196, 140, 108], np.float32)
    tone = pale + (tan - pale) * rng.uniform(0, 1)
    skin = tone[None, None, :] * (1 + 0.04 * _smooth_noise(rng, (h, w), m / 8)[..., None])
    skin *= 1 + 0.02 * _smooth_noise(rng, (h, w), 1.2)[..., None]
    redness = _smooth_noise(rng, (h, w), m / 5)
    skin[..., 1:] *= (1 - 0.03 * np.clip(redness, 0, None))[..., None]
    return skin


def _lesion_outline(rng: np.random.Generator, yy, xx) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    """The lesion: an irregular star-shaped region with a fuzzy border. Returns its normalised
    radius (< 1 inside), its opacity and its mask (one component, no holes)."""
    from scipy import ndimage

    h, w = yy.shape
    m = min(h, w)
    cy = h / 2 + rng.uniform(-0.12, 0.12) * h
    cx = w / 2 + rng.uniform(-0.12, 0.12) * w
    r0 = m * rng.uniform(0.16, 0.34)
    amp, phase = _radial_profile(rng, 8, rng.uniform(0.15, 0.45))
    elong = rng.uniform(0.75, 1.3)
    rot = rng.uniform(0, np.pi)
    ry, rx = (yy - cy), (xx - cx)
    y2 = cy + ry * np.cos(rot) - rx * np.sin(rot)
    x2 = cx + ry * np.sin(rot) + rx * np.cos(rot)
    rho = _star_shape(y2, x2, cy, cx, r0, amp, phase, (elong, 1 / elong))
    rho = rho + 0.06 * _smooth_noise(rng, (h, w), m / 30)  # ragged edge
    softness = rng.uniform(0.04, 0.15)  # melanomas have fuzzier borders than naevi
    alpha = 1 / (1 + np.exp((rho - 1) / softness))
    mask = (rho < 1).astype(np.uint8)
    mask = ndimage.binary_fill_holes(ndimage.binary_opening(mask, iterations=1)).astype(np.uint8)
    lab, n = ndimage.label(mask)
    if n > 1:
        sizes = ndimage.sum(mask, lab, range(1, n + 1))
        mask = (lab == 1 + int(np.argmax(sizes))).astype(np.uint8)
    return rho, alpha, mask


def _pigment(rng: np.random.Generator, yy, xx, rho) -> np.ndarray:
    """The lesion's colour: brown with a darker centre, reticular network and blotches,
    sometimes a blue-white veil."""
    from scipy import ndimage

    h, w = yy.shape
    m = min(h, w)
    light_brown = np.array([150, 95, 65], np.float32) * rng.uniform(0.85, 1.1)
    dark_brown = np.array([70, 42, 32], np.float32) * rng.uniform(0.7, 1.2)
    depth = np.clip(1 - rho, 0, 1) ** rng.uniform(0.4, 1.2)
    blotch = np.clip(_smooth_noise(rng, (h, w), m / 18), 0, None)
    period = rng.uniform(5, 11)
    net = (np.sin(xx / period + 2 * _smooth_noise(rng, (h, w), 6)) * np.sin(yy / period)) > 0.3
    net = ndimage.gaussian_filter(net.astype(np.float32), 0.8)
    mix = np.clip(0.45 * depth + 0.35 * blotch + 0.25 * net * rng.uniform(0.3, 1.0), 0, 1)
    lesion = light_brown + (dark_brown - light_brown) * mix[..., None]
    if rng.uniform() < 0.35:  # blue-white veil
        veil = np.clip(_smooth_noise(rng, (h, w), m / 12) - 0.6, 0, 1)[..., None] * depth[..., None]
        lesion = lesion * (1 - 0.6 * veil) + np.array([110, 120, 150], np.float32) * 0.6 * veil
    return lesion


def _hairs(rng: np.random.Generator, img: np.ndarray) -> np.ndarray:
    """Dark thin curves over everything."""
    from scipy import ndimage

    h, w = img.shape[:2]
    m = min(h, w)
    for _ in range(int(rng.integers(0, 14)) if rng.uniform() < 0.7 else 0):
        p0 = rng.uniform([0, 0], [h, w])
        p2 = p0 + rng.normal(0, m * 0.45, 2)
        p1 = (p0 + p2) / 2 + rng.normal(0, m * 0.12, 2)
        t = np.linspace(0, 1, 400)[:, None]
        pts = (1 - t) ** 2 * p0 + 2 * (1 - t) * t * p1 + t ** 2 * p2
        width = rng.uniform(0.6, 1.8)
        canvas = np.zeros((h, w), np.float32)
        ri, ci = np.round(pts[:, 0]).astype(int), np.round(pts[:, 1]).astype(int)
        ok = (ri >= 0) & (ri < h) & (ci >= 0) & (ci < w)
        canvas[ri[ok], ci[ok]] = 1.0
        canvas = np.clip(ndimage.gaussian_filter(canvas, width) * width * 4, 0, 1)
        hair_col = np.array([40, 28, 22], np.float32) * rng.uniform(0.6, 1.4)
        img = img * (1 - canvas[..., None]) + hair_col * canvas[..., None]
    return img


def _bubbles(rng: np.random.Generator, img: np.ndarray, yy, xx) -> np.ndarray:
    """Air bubbles and specular highlights."""
    h, w = yy.shape
    for _ in range(int(rng.integers(0, 4))):
        by, bx = rng.uniform(0, h), rng.uniform(0, w)
        br = rng.uniform(2, max(3.0, min(h, w) * 0.03))
        d = np.sqrt((yy - by) ** 2 + (xx - bx) ** 2)
        ring = np.exp(-((d - br) ** 2) / 2.0) * 0.5 + (d < br * 0.4) * 0.6
        img = img * (1 - ring[..., None]) + 250 * ring[..., None]
    return img


def _field_of_view(rng: np.random.Generator, img: np.ndarray, yy, xx) -> np.ndarray:
    """The dermatoscope's field of view: vignetting, sometimes a black circular border."""
    h, w = yy.shape
    dist = np.sqrt(((yy - h / 2) / (h / 2)) ** 2 + ((xx - w / 2) / (w / 2)) ** 2)
    img *= (1 - rng.uniform(0.1, 0.35) * np.clip(dist - 0.5, 0, None) ** 2)[..., None]
    if rng.uniform() < 0.4:
        rim = 1 / (1 + np.exp((dist - rng.uniform(1.05, 1.3)) / 0.02))
        img *= rim[..., None]
    return img


# ----------------------------------------------------------------------------------------------
# CT


def ct_case(seed=None, shape: tuple[int, int, int] = (40, 128, 128), spacing: tuple[float, float, float] = (3.0, 3.0, 5.0),
            lesions: int | None = None) -> tuple[np.ndarray, np.ndarray, tuple[float, float, float]]:
    """A CT-like abdominal volume ``(Z, Y, X)`` in HU (int16) and labels (1 liver, 2 lesion).

    ``spacing`` is ``(x, y, z)`` in mm. The liver lies on the patient's right, i.e. at low ``x``
    in LPS coordinates (the left of the screen in radiological display). ``lesions`` sets the number
    of liver lesions (default: 0-3 at random). The anatomy is drawn part by part from the same
    generator in turn (the order fixes the volume a seed gives).
    """
    from scipy import ndimage

    rng = np.random.default_rng(seed)
    g = _CtGrid.make(shape, spacing)
    vol = np.full(shape, -1000.0, np.float32)
    body = _ct_body(rng, vol, g)
    spine = _ct_spine_and_vessels(vol, g, body)
    liver, liver_hu = _ct_liver(rng, vol, g, body, spine)
    labels = liver.astype(np.uint8)
    _ct_lesions(rng, vol, labels, g, liver, liver_hu, body.texture, lesions)
    # a patient table under the body
    table = (g.Y > body.b0 * 1.08) & (g.Y < body.b0 * 1.12) & (np.abs(g.X) < g.fov * 0.45)
    vol[table] = 300
    vol = ndimage.gaussian_filter(vol, (0.5, 0.7, 0.7))
    vol += rng.normal(0, 12, shape).astype(np.float32)
    sx, sy, sz = spacing
    return np.clip(vol, -1024, 3071).astype(np.int16), labels, (float(sx), float(sy), float(sz))


@dataclass
class _CtGrid:
    """Millimetre coordinates of a CT volume's voxels (centred), per axis and as full grids."""

    shape: tuple[int, int, int]
    spacing: tuple[float, float, float]  # (x, y, z)
    z: np.ndarray
    y: np.ndarray
    x: np.ndarray
    Z: np.ndarray
    Y: np.ndarray
    X: np.ndarray
    fov: float
    zfrac: np.ndarray  # 0 = caudal (feet), 1 = cranial (head)

    @classmethod
    def make(cls, shape, spacing) -> "_CtGrid":
        nz, ny, nx = shape
        sx, sy, sz = spacing
        z = (np.arange(nz) - nz / 2) * sz
        y = (np.arange(ny) - ny / 2) * sy
        x = (np.arange(nx) - nx / 2) * sx
        Z, Y, X = np.meshgrid(z, y, x, indexing="ij")
        return cls(tuple(shape), tuple(spacing), z, y, x, Z, Y, X, min(nx * sx, ny * sy),
                   (np.arange(nz) / max(nz - 1, 1))[:, None, None])

    @property
    def depth(self) -> float:
        return self.shape[0] * self.spacing[2]


@dataclass
class _CtBody:
    radius: np.ndarray  # normalised elliptic radius (< 1 inside the body)
    b0: float  # the body's antero-posterior half-axis, mm
    fat_thick: float
    texture: np.ndarray


def _ct_body(rng: np.random.Generator, vol: np.ndarray, g: _CtGrid) -> _CtBody:
    """Body outline (an ellipse that changes a little along z), subcutaneous fat, the muscle wall,
    bowel and mesenteric fat, skin."""
    a0, b0 = g.fov * rng.uniform(0.40, 0.46), g.fov * rng.uniform(0.29, 0.34)
    a = a0 * (1 + 0.04 * np.sin(g.zfrac * np.pi))
    b = b0 * (1 + 0.03 * np.cos(g.zfrac * np.pi))
    body_r = np.sqrt((g.X / a) ** 2 + (g.Y / b) ** 2)
    body = body_r < 1
    fat_thick = rng.uniform(0.06, 0.14)
    vol[body] = -95
    muscle_wall = (body_r < 1 - fat_thick) & (body_r > 1 - fat_thick - 0.07)
    vol[muscle_wall] = 50
    inner = body_r <= 1 - fat_thick - 0.07
    texture = _smooth_noise(rng, g.shape, 3)
    vol[inner] = np.where(texture[inner] > 0.2, 35, -60)  # bowel and mesenteric fat
    vol[body_r > 0.985] = np.where(body[body_r > 0.985], 40, -1000)  # skin
    return _CtBody(body_r, b0, fat_thick, texture)


def _ct_spine_and_vessels(vol: np.ndarray, g: _CtGrid, body: _CtBody) -> tuple[np.ndarray, float, np.ndarray]:
    """Spine (posterior midline: cortical shell, cancellous core, spinal canal), the aorta and both
    kidneys. Returns the distance to the spine's axis, the spine's radius and the aorta."""
    X, Y, Z, fov = g.X, g.Y, g.Z, g.fov
    spine_y = body.b0 * 0.62
    rs = fov * 0.05
    d_sp = np.sqrt(X ** 2 + (Y - spine_y) ** 2)
    vol[d_sp < rs] = 700
    vol[d_sp < rs * 0.8] = 230
    canal = np.sqrt(X ** 2 + (Y - spine_y - rs * 1.6) ** 2) < rs * 0.45
    vol[canal] = 20
    vol[(np.sqrt(X ** 2 + (Y - spine_y - rs * 1.6) ** 2) < rs * 0.75) & ~canal] = 600
    # aorta (contrast-enhanced), anterior-left of the spine
    aorta = np.sqrt((X - rs * 0.6) ** 2 + (Y - spine_y + rs * 1.9) ** 2) < fov * 0.03
    vol[aorta] = 170
    # kidneys in the lower half, both sides of the spine
    for side in (-1, 1):
        kc = (side * fov * 0.17, spine_y - rs * 0.5, -g.depth * 0.15)
        kd = ((X - kc[0]) / (fov * 0.06)) ** 2 + ((Y - kc[1]) / (fov * 0.09)) ** 2 + ((Z - kc[2]) / (g.depth * 0.25)) ** 2
        vol[kd < 1] = 150
        vol[kd < 0.45] = 35
    return d_sp, rs, aorta


def _ct_liver(rng: np.random.Generator, vol: np.ndarray, g: _CtGrid, body: _CtBody, spine) -> tuple[np.ndarray, float]:
    """The liver: patient's right (low x), upper abdomen, a deformed ellipsoid clipped by the body
    wall, with bright hepatic vessels (still labelled liver). Returns its mask and its HU."""
    from scipy import ndimage

    X, Y, Z, fov, b0 = g.X, g.Y, g.Z, g.fov, body.b0
    d_sp, rs, aorta = spine
    lc = np.array([-fov * rng.uniform(0.13, 0.19), -b0 * rng.uniform(0.0, 0.15), g.depth * rng.uniform(0.05, 0.2)])
    ax = np.array([fov * rng.uniform(0.18, 0.24), b0 * rng.uniform(0.55, 0.7), g.depth * rng.uniform(0.35, 0.45)])
    dl = np.sqrt(((X - lc[0]) / ax[0]) ** 2 + ((Y - lc[1]) / ax[1]) ** 2 + ((Z - lc[2]) / ax[2]) ** 2)
    # left lobe tapering towards the patient's left
    taper = np.clip((X - lc[0]) / (ax[0] * 1.8), 0, 1)
    dl = dl + 0.5 * taper ** 2 * (1 + np.clip(Y / b0, -1, 1))
    dl = dl + 0.12 * _smooth_noise(rng, g.shape, 6)
    liver = (dl < 1) & (body.radius < 1 - body.fat_thick - 0.08) & (d_sp > rs * 1.4) & ~aorta
    liver = ndimage.binary_opening(liver, iterations=1)
    lab, n = ndimage.label(liver)
    if n > 1:
        sizes = ndimage.sum(liver, lab, range(1, n + 1))
        liver = lab == 1 + int(np.argmax(sizes))
    liver_hu = rng.uniform(50, 70)
    vol[liver] = liver_hu + 6 * body.texture[liver]
    vessels = (np.abs(_smooth_noise(rng, g.shape, 4)) < 0.08) & liver
    vol[vessels] = liver_hu + 60
    return liver, liver_hu


def _ct_lesions(rng: np.random.Generator, vol: np.ndarray, labels: np.ndarray, g: _CtGrid, liver: np.ndarray,
                liver_hu: float, texture: np.ndarray, lesions: int | None) -> None:
    """Hypodense spheres with an enhancing rim inside the liver (label 2)."""
    from scipy import ndimage

    n_les = int(rng.integers(0, 4)) if lesions is None else int(lesions)
    coords = np.argwhere(ndimage.binary_erosion(liver, iterations=2))
    for _ in range(n_les if len(coords) else 0):
        c = coords[rng.integers(len(coords))]
        r = rng.uniform(10, 25)  # mm
        d = np.sqrt(((g.Z - g.z[c[0]])) ** 2 + ((g.Y - g.y[c[1]])) ** 2 + ((g.X - g.x[c[2]])) ** 2)
        d = d * (1 + 0.15 * _smooth_noise(rng, g.shape, 3))
        les = (d < r) & liver
        vol[les] = liver_hu - rng.uniform(25, 45) + 5 * texture[les]
        vol[(d >= r) & (d < r + 2.5) & liver] = liver_hu + 15  # enhancing rim
        labels[les] = 2


# ----------------------------------------------------------------------------------------------
# Writers


def iter_write_isic(root, n: int = 24, *, seed: int = 0, shape: tuple[int, int] = (384, 512)) -> Generator[Progress, None, Path]:
    """Write ``n`` synthetic dermoscopy cases in ISIC layout: ``ISIC_xxxxxxx.jpg`` +
    ``ISIC_xxxxxxx_segmentation.png`` (0/255) in one folder. Returns the folder."""
    root = Path(root)
    root.mkdir(parents=True, exist_ok=True)
    for i in range(n):
        cid = f"ISIC_{9000000 + i:07d}"
        yield Progress(i, n, f"dermoscopy case {cid}")
        image, mask = dermoscopy_case([seed, i], shape)
        write_image(root / f"{cid}.jpg", image, quality=92)
        write_mask(root / f"{cid}_segmentation.png", mask)
    yield Progress(n, n, "done")
    return root


def iter_write_msd(root, n: int = 8, *, seed: int = 0, shape: tuple[int, int, int] = (40, 128, 128),
                   spacing: tuple[float, float, float] = (3.0, 3.0, 5.0)) -> Generator[Progress, None, Path]:
    """Write ``n`` synthetic CT volumes in Medical Segmentation Decathlon layout (``imagesTr/``,
    ``labelsTr/``, ``dataset.json``; liver = 1, lesion = 2). Returns the folder."""
    root = Path(root)
    (root / "imagesTr").mkdir(parents=True, exist_ok=True)
    (root / "labelsTr").mkdir(parents=True, exist_ok=True)
    training = []
    for i in range(n):
        name = f"liver_{i:03d}.nii.gz"
        yield Progress(i, n, f"CT volume {name}")
        vol, labels, sp = ct_case([seed, i], shape, spacing)
        geom = Geometry(sp, (-shape[2] * sp[0] / 2, -shape[1] * sp[1] / 2, -shape[0] * sp[2] / 2),
                        (1.0, 0.0, 0.0, 0.0, 1.0, 0.0, 0.0, 0.0, 1.0))
        write_image(root / "imagesTr" / name, vol, geom)
        write_mask(root / "labelsTr" / name, labels, geometry=geom)
        training.append({"image": f"./imagesTr/{name}", "label": f"./labelsTr/{name}"})
    spec = {
        "name": "SyntheticLiver",
        "description": "Synthetic CT-like abdominal volumes generated by Mask Curator",
        "tensorImageSize": "3D",
        "reference": "curator.lab.synthetic",
        "licence": "CC0",
        "modality": {"0": "CT"},
        "labels": {"0": "background", "1": "liver", "2": "lesion"},
        "numTraining": n,
        "numTest": 0,
        "training": training,
        "test": [],
    }
    atomic_write(root / "dataset.json", json.dumps(spec, indent=2))
    yield Progress(n, n, "done")
    return root


def demo_root() -> Path:
    """Where ``curator demo`` keeps its generated data (per user; ``CURATOR_HOME`` overrides)."""
    import os

    from platformdirs import user_data_dir

    base = os.environ.get("CURATOR_HOME")
    return Path(base) / "demo" if base else Path(user_data_dir("mask-curator")) / "demo"


def iter_write_demo(root=None, *, n_derm: int = 24, n_ct: int = 6, wrong_fraction: float = 0.3, seed: int = 0,
                    derm_shape=(384, 512), ct_shape=(40, 128, 128)) -> Generator[Progress, None, Path]:
    """The demo data: ``derm-clean/`` (ISIC) and ``ct-clean/`` (MSD), and ``derm/`` and ``ct/``, the
    same with ``wrong_fraction`` of the masks deliberately wrong (``corruption.csv`` says which).
    Written once; later calls find it and return at once."""
    root = Path(root) if root is not None else demo_root()
    stamp = root / ".complete"
    if stamp.exists():
        return root
    root.mkdir(parents=True, exist_ok=True)
    steps = 4
    yield Progress(0, steps, "writing synthetic dermoscopy cases")
    yield from iter_write_isic(root / "derm-clean", n_derm, seed=seed, shape=derm_shape)
    yield Progress(1, steps, "writing synthetic CT volumes")
    yield from iter_write_msd(root / "ct-clean", n_ct, seed=seed + 1, shape=ct_shape)
    yield Progress(2, steps, "making some dermoscopy masks wrong")
    yield from iter_corrupt_dataset(root / "derm-clean", root / "derm", noise="mixed",
                                         fraction=wrong_fraction, seed=seed, overwrite=True)
    yield Progress(3, steps, "making some CT masks wrong")
    yield from iter_corrupt_dataset(root / "ct-clean", root / "ct", noise="mixed",
                                         fraction=wrong_fraction, seed=seed + 1, overwrite=True)
    stamp.write_text("ok\n")
    yield Progress(steps, steps, "demo data ready")
    return root

