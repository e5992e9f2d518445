"""Cases prepared for the network: images and labels in working space, cached on disk.

Preparing a case reads its image and mask once, maps the mask's label values to class indices and
applies :class:`~curator.core.engine.preprocess.Preprocessor`. The result is cached as ``.npz`` under a
folder keyed by the preprocessing spec, so training, uncertainty and resumed runs skip the decode.

``PreparedCase.image``: float16 ``(C, *W)``; ``PreparedCase.labels``: uint8 class indices ``W``.
"""

from __future__ import annotations

import hashlib
import json
from dataclasses import dataclass
from pathlib import Path
from typing import Generator, Sequence

import numpy as np

from curator.core.data.memo import ReadMemo
from curator.core.engine.preprocess import Preprocessor, PreprocessSpec, labels_to_index
from curator.core.io.files import atomic_path, explain_os_error, safe_name
from curator.core.io.types import ReadError
from curator.core.jobs import Progress

__all__ = ["PreparedCase", "iter_prepare", "scan_labels", "choose_spec"]


@dataclass
class PreparedCase:
    case_id: str
    image: np.ndarray  # (C, *W) float16
    labels: np.ndarray | None  # (*W) uint8 class indices
    orig_shape: tuple[int, ...]
    orig_spacing: tuple[float, ...] | None

    def preprocessor(self, spec: PreprocessSpec) -> Preprocessor:
        return Preprocessor(spec, self.orig_shape, self.orig_spacing)


def _cache_key(spec: PreprocessSpec, label_values: Sequence[int]) -> str:
    doc = json.dumps({"spec": spec.to_json(), "labels": list(label_values), "v": 1}, sort_keys=True)
    return hashlib.sha256(doc.encode()).hexdigest()[:16]


def _stamp(case) -> list:
    out = []
    for p in (case.image, case.mask):
        if p is None:
            out.append(None)
            continue
        p = Path(p)
        st = p.stat()
        out.append([str(p), st.st_size, st.st_mtime_ns])
    return out


def prepare_case(case, spec: PreprocessSpec, label_values: Sequence[int], *, mask=None) -> PreparedCase:
    """Read and preprocess one case (raises ``ReadError`` for unreadable files); ``mask``: the
    case's mask already decoded on its image grid (:meth:`Case.read_mask`), else it is read."""
    image = case.read_image()
    spacing = image.geometry.spacing if image.ndim == 3 else None
    pre = Preprocessor(spec, image.spatial_shape, spacing)
    x = pre.image_forward(image.array).numpy().astype(np.float16)
    labels = None
    if case.mask is not None:
        mask = mask if mask is not None else case.read_mask(image)
        unknown = sorted({int(v) for v in np.unique(mask.array)} - {int(v) for v in label_values})
        if unknown:  # they would silently become background

            raise ReadError(f"{case.mask}: mask holds label value(s) {', '.join(map(str, unknown))} that the models "
                            f"do not predict (labels {', '.join(map(str, label_values))})", "unknown_label")
        idx = labels_to_index(mask.array, label_values)
        labels = pre.labels_forward(idx, len(label_values))
    return PreparedCase(case.id, x, labels, tuple(image.spatial_shape), tuple(spacing) if spacing else None)


def iter_prepare(cases, spec: PreprocessSpec, label_values: Sequence[int], cache_dir: Path | None = None, *,
                 memo: ReadMemo | None = None) -> Generator[Progress, None, tuple[dict[str, PreparedCase], dict[str, str]]]:
    """Prepare ``cases``; returns ``(prepared by id, failures by id with the reason)``. Masks
    already decoded in this step come from ``memo`` (see :func:`scan_labels`)."""
    folder = Path(cache_dir) / _cache_key(spec, label_values) if cache_dir is not None else None
    if folder is not None:
        folder.mkdir(parents=True, exist_ok=True)
    out: dict[str, PreparedCase] = {}
    failed: dict[str, str] = {}
    cases = list(cases)
    for i, case in enumerate(cases):
        yield Progress(i, len(cases), f"preparing {case.id}")
        path = folder / f"{safe_name(case.id)}.npz" if folder is not None else None
        try:
            stamp = json.dumps(_stamp(case))
        except OSError as exc:  # a file removed or made unreadable since the dataset was checked
            why = f"{exc.filename}: file not found" if isinstance(exc, FileNotFoundError) else explain_os_error(exc)
            failed[case.id] = why
            yield Progress(i, len(cases), f"{case.id}: skipped ({why})")
            continue
        if path is not None and path.exists():
            try:
                with np.load(path) as z:
                    if bytes(z["stamp"]).decode() == stamp:
                        labels = z["labels"] if z["labels"].size else None
                        sp = tuple(z["orig_spacing"].tolist()) if z["orig_spacing"].size else None
                        out[case.id] = PreparedCase(case.id, z["image"], labels, tuple(z["orig_shape"].tolist()), sp)
                        continue
            except Exception:
                pass  # stale or damaged cache entry: prepare again
        try:
            pc = prepare_case(case, spec, label_values, mask=memo.take(case.id) if memo is not None else None)
        except (ReadError, ValueError, OSError, RuntimeError) as exc:
            failed[case.id] = str(exc)
            yield Progress(i, len(cases), f"{case.id}: skipped ({exc})")
            continue
        out[case.id] = pc
        if path is not None:
            with atomic_path(path) as tmp:
                np.savez(tmp, image=pc.image, labels=pc.labels if pc.labels is not None else np.zeros(0, np.uint8),
                         orig_shape=np.asarray(pc.orig_shape), orig_spacing=np.asarray(pc.orig_spacing or (), float),
                         stamp=np.frombuffer(stamp.encode(), np.uint8))
    yield Progress(len(cases), len(cases), "prepared")
    return out, failed


def scan_labels(cases, known: dict[int, str] | None = None, *, memo: ReadMemo | None = None) -> list[int]:
    """Label values used by a dataset's masks: the dataset's declared names when it has them
    (MSD ``dataset.json``), else the union of the values found in the masks (reads them, and keeps
    them in ``memo`` for the preprocessing that follows)."""
    if known:
        return [0] + sorted(int(k) for k in known if int(k) != 0)
    values = {0}
    for case in cases:
        if case.mask is None or not case.ok:
            continue
        try:
            mask = case.read_mask()
            values |= {int(v) for v in np.unique(mask.array)}
            if memo is not None:
                memo.keep(case.id, mask)
        except Exception:
            continue
    return sorted(values) if len(values) > 1 else [0, 1]


def choose_spec(dataset, *, size: int = 128, spacing: Sequence[float] | None = None,
                window: Sequence[float] = (-200.0, 300.0), patch: Sequence[int] | None = None,
                min_spacing: Sequence[float] = (1.5, 1.5, 2.5)) -> PreprocessSpec:
    """Preprocessing for a dataset: ``rgb2d`` at ``size`` for 2D; for 3D, CT windowing (or
    percentile normalisation for non-CT) at ``spacing`` (default: the median spacing of the
    cases, coarsened to at least ``min_spacing``), patches of ``patch`` voxels."""
    if dataset.ndim == 2 or dataset.ndim is None and all(c.ndim == 2 for c in dataset.cases):
        return PreprocessSpec("rgb2d", (int(size), int(size)))
    usable = [c for c in dataset.cases if c.ok]
    sp = []
    for c in usable[:50]:
        try:
            sp.append(c.image_info().geometry.spacing)
        except Exception:
            continue
    if spacing is None and sp:
        med = np.median(np.asarray(sp, float), axis=0)
        spacing = tuple(float(max(m, f)) for m, f in zip(med, min_spacing))
    kind = "ct"
    if usable:
        try:
            info = usable[0].image_info()
            if info.dtype.startswith("uint") and info.format != "dicom":
                kind = "scalar3d"  # unsigned intensities: not Hounsfield units
        except Exception:
            pass
    return PreprocessSpec(kind, (size, size), tuple(window), tuple(spacing) if spacing else None,
                          tuple(patch) if patch else (32, 96, 96))
