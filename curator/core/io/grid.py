"""Voxel grids in physical space: compare them and move label maps between equivalent grids.

Masks are often stored on the same voxels as their image but with axes flipped or permuted (a
NIfTI written by one tool for a DICOM series read by another). :func:`axis_map` finds such an exact
correspondence from the two geometries, and :func:`to_grid` / :func:`from_grid` move arrays across
it without interpolation, so labels survive bit for bit in both directions.

Arrays are in numpy order (``(Z, Y, X)`` / ``(Y, X)``); geometry as in :mod:`curator.core.io.readers`.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Sequence

import numpy as np

from curator.core.io.types import Geometry

__all__ = ["AxisMap", "affine", "axis_map", "to_grid", "from_grid", "describe_mismatch", "display_map",
           "display_geometry", "map_index", "unmap_index", "ORIENTATION_LETTERS"]

# The ends of each array axis of a volume shown radiologically (see :func:`display_map`):
# (Z, Y, X) run inferior -> superior, anterior -> posterior, right -> left.
ORIENTATION_LETTERS = (("I", "S"), ("A", "P"), ("R", "L"))


def affine(geometry: Geometry) -> np.ndarray:
    """4x4 (or 3x3 in 2D) matrix mapping an ITK index ``(x, y[, z], 1)`` to physical LPS mm."""
    n = geometry.ndim
    d = np.asarray(geometry.direction, float).reshape(n, n)
    a = np.eye(n + 1)
    a[:n, :n] = d * np.asarray(geometry.spacing, float)[None, :]
    a[:n, n] = geometry.origin
    return a


@dataclass(frozen=True)
class AxisMap:
    """Exact correspondence from a source array to a destination array.

    ``perm[i]`` is the source array axis that becomes destination axis ``i``; ``flip[i]`` says
    whether that axis is reversed. Identity when ``perm`` is ``(0, 1, ...)`` and nothing flips.
    """

    perm: tuple[int, ...]
    flip: tuple[bool, ...]

    @property
    def is_identity(self) -> bool:
        return self.perm == tuple(range(len(self.perm))) and not any(self.flip)


def axis_map(src: Geometry, src_shape: Sequence[int], dst: Geometry, dst_shape: Sequence[int],
             *, tol: float = 1e-3) -> AxisMap | None:
    """The exact axis permutation/flip taking the ``src`` grid onto ``dst``, or ``None``.

    Both grids must hold the same voxel centres (to ``tol`` voxels): same spacing up to axis order,
    same extent, directions that differ by a signed permutation.
    """
    n = src.ndim
    if dst.ndim != n or len(src_shape) != n or len(dst_shape) != n:
        return None
    m = np.linalg.solve(affine(dst), affine(src))  # src ITK index -> dst ITK index
    lin, t = m[:n, :n], m[:n, n]
    r = np.round(lin)
    if not np.allclose(lin, r, atol=tol) or not np.allclose(np.abs(r).sum(axis=0), 1) or \
            not np.allclose(np.abs(r).sum(axis=1), 1):
        return None
    src_size = list(reversed(src_shape))  # ITK order (x, y, z)
    dst_size = list(reversed(dst_shape))
    perm_itk, flip_itk = [0] * n, [False] * n
    for j in range(n):  # dst ITK axis j
        i = int(np.nonzero(r[j])[0][0])  # comes from src ITK axis i
        sign = r[j, i]
        if src_size[i] != dst_size[j]:
            return None
        expected = 0.0 if sign > 0 else float(src_size[i] - 1)
        if abs(t[j] - expected) > tol:
            return None
        perm_itk[j], flip_itk[j] = i, bool(sign < 0)
    # convert ITK axis numbering (x=0) to numpy axis numbering (x = n-1)
    perm = tuple(n - 1 - perm_itk[n - 1 - a] for a in range(n))
    flip = tuple(flip_itk[n - 1 - a] for a in range(n))
    return AxisMap(perm, flip)


def to_grid(arr: np.ndarray, amap: AxisMap) -> np.ndarray:
    """Move a source-grid array onto the destination grid (exact, no interpolation)."""
    if amap.is_identity:
        return arr
    out = np.transpose(arr, amap.perm + tuple(range(len(amap.perm), arr.ndim)))
    flips = tuple(i for i, f in enumerate(amap.flip) if f)
    return np.ascontiguousarray(np.flip(out, axis=flips) if flips else out)


def from_grid(arr: np.ndarray, amap: AxisMap) -> np.ndarray:
    """Inverse of :func:`to_grid`: a destination-grid array back onto the source grid."""
    if amap.is_identity:
        return arr
    flips = tuple(i for i, f in enumerate(amap.flip) if f)
    out = np.flip(arr, axis=flips) if flips else arr
    inv = tuple(int(i) for i in np.argsort(amap.perm))
    return np.ascontiguousarray(np.transpose(out, inv + tuple(range(len(inv), arr.ndim))))


def describe_mismatch(a: Geometry, a_shape: Sequence[int], b: Geometry, b_shape: Sequence[int]) -> str:
    """A short human description of how two grids differ (for problem reports)."""
    parts = []
    if tuple(a_shape) != tuple(b_shape):
        parts.append(f"shape {tuple(a_shape)} vs {tuple(b_shape)}")
    if a.ndim == b.ndim:
        if not np.allclose(a.spacing, b.spacing, rtol=1e-4, atol=1e-3):
            parts.append(f"spacing {_fmt(a.spacing)} vs {_fmt(b.spacing)} mm")
        if not np.allclose(a.origin, b.origin, atol=1e-2):
            dist = float(np.linalg.norm(np.subtract(a.origin, b.origin)))
            parts.append(f"origin differs by {dist:.2f} mm")
        if not np.allclose(a.direction, b.direction, atol=1e-4):
            parts.append("orientation differs")
    else:
        parts.append(f"{a.ndim}-D vs {b.ndim}-D")
    return ", ".join(parts) or "grids differ"


def _fmt(v) -> str:
    return "(" + ", ".join(f"{x:.4g}" for x in v) + ")"


def display_map(geometry: Geometry) -> AxisMap:
    """How to show a volume the way radiologists read it, whatever its file's axis order.

    The returned map (for :func:`to_grid`) puts the array axes ``(Z, Y, X)`` along the patient's
    inferior -> superior, anterior -> posterior and right -> left directions (LPS, the DICOM
    patient axes), each array axis taken from the file axis closest to it. An axial slice, drawn
    with rows going down and columns going right, then has anterior at the top and the patient's
    right on the image's left, for NIfTI (usually stored RAS), NRRD, DICOM series and SEG alike.
    2D images (photographs, identity geometry) are left as they are.
    """
    n = geometry.ndim
    d = np.asarray(geometry.direction, float).reshape(n, n)  # column j: physical direction of ITK axis j
    src_of = [-1] * n  # physical axis p (x=L, y=P, z=S) <- ITK axis j
    flip_of = [False] * n
    for _, p, j in sorted(((abs(d[p, j]), p, j) for p in range(n) for j in range(n)), reverse=True):
        if src_of[p] < 0 and j not in src_of:
            src_of[p], flip_of[p] = j, bool(d[p, j] < 0)
    perm = tuple(n - 1 - src_of[n - 1 - a] for a in range(n))  # numpy axis a holds physical axis n-1-a
    flip = tuple(flip_of[n - 1 - a] for a in range(n))
    return AxisMap(perm, flip)


def display_geometry(geometry: Geometry, shape: Sequence[int], amap: AxisMap) -> Geometry:
    """The geometry of ``to_grid(array, amap)``: the same voxels in physical space, reindexed."""
    n = geometry.ndim
    a = affine(geometry)
    size_itk = list(reversed(list(shape)))
    perm_itk = [n - 1 - amap.perm[n - 1 - j] for j in range(n)]  # new ITK axis j <- old ITK axis
    flip_itk = [amap.flip[n - 1 - j] for j in range(n)]
    corner = np.zeros(n + 1)
    corner[n] = 1.0
    cols = []
    for j in range(n):
        i = perm_itk[j]
        if flip_itk[j]:
            corner[i] = size_itk[i] - 1
        cols.append(-a[:n, i] if flip_itk[j] else a[:n, i])
    origin = (a @ corner)[:n]
    m = np.stack(cols, axis=1)
    spacing = np.linalg.norm(m, axis=0)
    direction = m / spacing[None, :]
    return Geometry(tuple(float(v) for v in spacing), tuple(float(v) for v in origin),
                    tuple(float(v) for v in direction.ravel()))


def map_index(index: Sequence[float], shape: Sequence[int], amap: AxisMap) -> tuple[float, ...]:
    """Where the voxel at ``index`` of a source array lies in ``to_grid(array, amap)``."""
    out = []
    for a, (src, f) in enumerate(zip(amap.perm, amap.flip)):
        v = index[src]
        out.append((shape[src] - 1 - v) if f else v)
    return tuple(out)


def unmap_index(index: Sequence[float], shape: Sequence[int], amap: AxisMap) -> tuple[float, ...]:
    """Inverse of :func:`map_index` (``shape`` is the source array's)."""
    out = [0.0] * len(amap.perm)
    for a, (src, f) in enumerate(zip(amap.perm, amap.flip)):
        out[src] = (shape[src] - 1 - index[a]) if f else index[a]
    return tuple(out)
