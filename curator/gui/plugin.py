"""napari plugin contributions (see ``curator/napari.yaml``): readers, a Labels writer and sample
data (the widget is :class:`curator.gui.main_widget.CuratorPluginWidget`). Readers return ``None`` for paths they do not handle, as napari expects.
"""

from __future__ import annotations

from pathlib import Path

import numpy as np

__all__ = ["get_reader", "write_labels", "sample_dermoscopy", "sample_ct"]


# -- readers ------------------------------------------------------------------------------------------


def _layers_for(image, mask=None, name: str = "") -> list:
    """Layer data tuples for an image (and mask), geometry in ``scale`` and ``metadata``."""
    rgb = image.ndim == 2 and image.array.ndim == 3
    scale = image.geometry.scale
    meta = {"geometry": image.geometry.to_json(), "source": str(image.source) if image.source else None,
            "format": image.format}
    out = [(image.array, {"name": name or (image.source.name if image.source else "image"), "rgb": rgb,
                          "scale": scale, "metadata": meta}, "image")]
    if mask is not None:
        mmeta = dict(meta, encoding=mask.encoding.to_json() if mask.encoding else None)
        out.append((mask.array, {"name": f"{name} mask" if name else "mask", "scale": scale, "metadata": mmeta},
                    "labels"))
    return out


def _looks_like_mask(path: Path) -> bool:
    low = path.name.lower()
    return any(w in low for w in ("seg", "mask", "label", "lesion", "gt"))


def _read_paths(paths: list[Path]) -> list:
    from ..core.dataset import DatasetError, open_dataset
    from ..core.io import read_image, read_mask

    if len(paths) == 2 and all(p.is_file() for p in paths):  # an image and its mask
        img_p, mask_p = sorted(paths, key=_looks_like_mask)
        image = read_image(img_p)
        from ..core.dataset import align_mask

        return _layers_for(image, align_mask(read_mask(mask_p), image, img_p.stem), img_p.stem)
    out = []
    for p in paths:
        if p.is_dir():
            try:
                ds = open_dataset(p)
            except DatasetError:
                if ds_series := _dicom_series(p):
                    out += _layers_for(ds_series, None, p.name)
                continue
            ds.check()
            case = next((c for c in ds.cases if c.ok), None)
            if case is not None:
                image = case.read_image()
                out += _layers_for(image, case.read_mask(image), case.id)
            continue
        if _looks_like_mask(p):
            m = read_mask(p)
            out.append((m.array, {"name": p.name, "scale": m.geometry.scale,
                                  "metadata": {"geometry": m.geometry.to_json(), "source": str(p)}}, "labels"))
        else:
            out += _layers_for(read_image(p), None, p.name)
    return out


def _dicom_series(folder: Path):
    from ..core.io import ReadError, read_image

    try:
        return read_image(folder)
    except ReadError:
        return None


_SUFFIXES = (".nii", ".nii.gz", ".nrrd", ".nhdr", ".mha", ".mhd", ".dcm")


def get_reader(path):
    """npe2 reader: dataset folders, DICOM series, NIfTI / NRRD / MHA volumes, image + mask pairs."""
    paths = [Path(p) for p in (path if isinstance(path, (list, tuple)) else [path])]
    ok = all(p.is_dir() or p.name.lower().endswith(_SUFFIXES) for p in paths) or (
        len(paths) == 2 and all(p.is_file() for p in paths))
    if not ok:
        return None

    def reader(_path):
        return _read_paths(paths)

    return reader


# -- writer ---------------------------------------------------------------------------------------------


def write_labels(path: str, data, meta: dict) -> list[str]:
    """npe2 writer for Labels: PNG (2D) or NIfTI / NRRD (3D), keeping the layer's geometry."""
    from ..core.io import Geometry, MaskEncoding, write_mask

    md = meta.get("metadata") or {}
    geometry = Geometry.from_json(md["geometry"]) if md.get("geometry") else None
    if geometry is None:
        scale = tuple(meta.get("scale") or (1.0,) * np.ndim(data))
        geometry = Geometry.identity(np.ndim(data), tuple(reversed(scale)))
    encoding = MaskEncoding.from_json(md["encoding"]) if md.get("encoding") else None
    arr = np.asarray(data)
    out = write_mask(path, arr.astype(np.uint16 if arr.max(initial=0) > 255 else np.uint8),
                     geometry=geometry, encoding=encoding)
    return [str(out)]


# -- sample data --------------------------------------------------------------------------------------------


def sample_dermoscopy():
    """A synthetic dermoscopy photograph with a deliberately wrong (3-vertex polygon) mask."""
    from ..core.noise import corrupt_mask
    from ..core.synthetic import dermoscopy_case

    image, mask = dermoscopy_case(7, (384, 512))
    wrong, _ = corrupt_mask(mask, "polygon3", 7)
    return [(image, {"name": "dermoscopy (synthetic)", "rgb": True}, "image"),
            (wrong, {"name": "given mask (wrong)", "opacity": 0.4}, "labels"),
            (mask, {"name": "true mask", "visible": False}, "labels")]


def sample_ct():
    """A synthetic abdominal CT (HU) with a liver mask made wrong by dilation."""
    from ..core.noise import corrupt_mask
    from ..core.synthetic import ct_case

    vol, labels, spacing = ct_case(3, (40, 128, 128), lesions=2)
    wrong, _ = corrupt_mask(labels, "dilate", 3, scale=tuple(reversed(spacing)))
    scale = tuple(reversed(spacing))
    return [(vol, {"name": "CT (synthetic)", "scale": scale, "contrast_limits": (-160, 240)}, "image"),
            (wrong, {"name": "given mask (wrong)", "scale": scale, "opacity": 0.4}, "labels"),
            (labels, {"name": "true mask", "scale": scale, "visible": False}, "labels")]
