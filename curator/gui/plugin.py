"""napari plugin contributions (see ``curator/napari.yaml``): a reader, a Labels writer and sample
data (the widget is :class:`curator.gui.main_widget.CuratorPluginWidget`).

The reader claims only what it handles (medical volumes, DICOM, dataset folders) and returns
``None`` for anything else, as napari expects, so opening a photograph never asks which reader to
use. Masks open as Labels layers; volumes are shown radiologically, like in the app
(:func:`curator.core.io.grid.display_map`), placed in physical space (scale and translate in mm), and
a Labels layer saved through the writer goes back to its file's own axis order and geometry. A
dataset folder opens the Curator panel on the dataset.
"""

from __future__ import annotations

from pathlib import Path

import numpy as np

from curator.core.data.names import name_says_mask

__all__ = ["get_reader", "write_labels", "sample_dermoscopy", "sample_ct"]

_SUFFIXES = (".nii", ".nii.gz", ".nrrd", ".nhdr", ".mha", ".mhd", ".dcm")


# -- readers ------------------------------------------------------------------------------------------


def _placed(data, *, labels: bool) -> tuple[np.ndarray, dict]:
    """The array as shown (3D: radiological order) and the layer's scale, translate and metadata."""
    from curator.core.io.grid import display_geometry, display_map, to_grid

    meta = {"geometry": data.geometry.to_json(), "source": str(data.source) if data.source else None,
            "format": data.format}
    if labels and data.encoding is not None:
        meta["encoding"] = data.encoding.to_json()
    if data.ndim != 3:
        return data.array, {"scale": data.geometry.scale, "metadata": meta}
    amap = display_map(data.geometry)
    shown = display_geometry(data.geometry, data.array.shape, amap)
    meta["display_map"] = {"perm": list(amap.perm), "flip": list(amap.flip)}
    return to_grid(data.array, amap), {"scale": shown.scale, "translate": tuple(reversed(shown.origin)),
                                       "metadata": meta}


def _image_layer(image, name: str) -> tuple:
    rgb = image.ndim == 2 and image.array.ndim == 3
    arr, kw = _placed(image, labels=False)
    kw.update(name=name, rgb=rgb)
    if image.ndim == 3 and np.issubdtype(image.array.dtype, np.signedinteger) and image.array.min() < -500:
        kw.update(colormap="gray", contrast_limits=(-160.0, 240.0))  # CT in HU: an abdominal window
    return (arr, kw, "image")


def _labels_layer(mask, name: str) -> tuple:
    arr, kw = _placed(mask, labels=True)
    kw.update(name=name, opacity=0.5)
    return (np.asarray(arr), kw, "labels")


def _is_label_volume(image, path: Path) -> bool:
    """A volume that holds labels, not intensities: small non-negative integers (a mask's name
    allows up to 255 of them, any other name 32)."""
    arr = image.array
    if arr.ndim != image.ndim or not np.issubdtype(arr.dtype, np.integer) or (arr.size and arr.min() < 0):
        return False
    values = np.unique(arr[:: max(1, arr.shape[0] // 16)])  # a few slices are enough to tell
    limit = 255 if name_says_mask(path.name) else 32
    return len(values) <= limit and int(values.max(initial=0)) <= limit


def _read_file(p: Path) -> list:
    from curator.core.io import dicom
    from curator.core.io.readers import read_image, read_mask

    if p.name.lower().endswith(".dcm") and dicom.is_seg_file(p):
        return [_labels_layer(read_mask(p), p.name)]
    image = read_image(p)
    if image.ndim == 3 and _is_label_volume(image, p):
        return [_labels_layer(read_mask(p), p.name)]
    return [_image_layer(image, p.name)]


def _read_pair(paths: list[Path]) -> list:
    """An image and its mask, chosen at once: the mask on the image's grid, as Labels."""
    from curator.core.io import dicom
    from curator.core.data.cases import align_mask
    from curator.core.io.readers import read_image, read_mask

    def is_mask(p: Path) -> bool:
        return (p.name.lower().endswith(".dcm") and dicom.is_seg_file(p)) or name_says_mask(p.name)

    img_p, mask_p = sorted(paths, key=is_mask)
    if is_mask(img_p) == is_mask(mask_p):  # the names do not say: the one holding labels is the mask
        first = read_image(img_p)
        if _is_label_volume(first, img_p):
            img_p, mask_p = mask_p, img_p
    image = read_image(img_p)
    if mask_p.name.lower().endswith(".dcm") and dicom.is_seg_file(mask_p):
        mask = read_mask(mask_p, reference=image)
    else:
        mask = align_mask(read_mask(mask_p), image, img_p.name)
    return [_image_layer(image, img_p.name), _labels_layer(mask, mask_p.name)]


def _dataset_with_masks(folder: Path):
    from curator.core.data.cases import DatasetError
    from curator.core.data.discover import open_dataset

    try:
        ds = open_dataset(folder)
    except (DatasetError, OSError):
        return None
    return ds if any(c.mask is not None for c in ds.cases) else None


def _dicom_series_folder(folder: Path) -> bool:
    from curator.core.io.dicom import scan_series

    try:
        return bool(scan_series(folder))
    except Exception:  # noqa: BLE001 - not ours to read
        return False


def _open_panel_on(folder: Path) -> list:
    """Open the Curator panel of the current viewer on a dataset folder (napari's sentinel
    ``[(None,)]`` says the folder was handled without layers to add)."""
    import napari

    viewer = napari.current_viewer()
    if viewer is None:
        return [(None,)]
    _dock, widget = viewer.window.add_plugin_dock_widget("mask-curator", "Mask Curator")
    widget.open_dataset(folder)
    return [(None,)]


def get_reader(path):
    """npe2 reader: dataset folders (the panel opens on them), DICOM series folders, NIfTI / NRRD /
    MHA volumes and DICOM files, an image and its mask chosen together. ``None`` for the rest."""
    paths = [Path(p) for p in (path if isinstance(path, (list, tuple)) else [path])]
    if not paths or len(paths) > 2:
        return None
    if len(paths) == 2:
        if not all(p.is_file() and p.name.lower().endswith(_SUFFIXES) for p in paths):
            return None
        return lambda _path: _read_pair(paths)
    p = paths[0]
    if p.is_dir():
        if _dataset_with_masks(p) is not None:
            return lambda _path: _open_panel_on(p)
        if _dicom_series_folder(p):
            return lambda _path: [_image_layer(_read_series(p), p.name)]
        return None
    if p.is_file() and p.name.lower().endswith(_SUFFIXES):
        return lambda _path: _read_file(p)
    return None


def _read_series(folder: Path):
    from curator.core.io.readers import read_image

    return read_image(folder)


# -- writer ---------------------------------------------------------------------------------------------


def write_labels(path: str, data, meta: dict) -> list[str]:
    """npe2 writer for Labels: PNG (2D) or NIfTI / NRRD (3D), keeping the layer's geometry; a
    layer this reader made goes back to its file's axis order."""
    from curator.core.io.grid import AxisMap, from_grid
    from curator.core.io.types import Geometry, MaskEncoding
    from curator.core.io.writers import write_mask

    md = meta.get("metadata") or {}
    geometry = Geometry.from_json(md["geometry"]) if md.get("geometry") else None
    arr = np.asarray(data)
    if md.get("display_map"):
        amap = AxisMap(tuple(md["display_map"]["perm"]), tuple(bool(f) for f in md["display_map"]["flip"]))
        arr = from_grid(arr, amap)
    if geometry is None:
        scale = tuple(meta.get("scale") or (1.0,) * np.ndim(data))
        geometry = Geometry.identity(np.ndim(data), tuple(reversed(scale)))
    encoding = MaskEncoding.from_json(md["encoding"]) if md.get("encoding") else None
    out = write_mask(path, arr.astype(np.uint16 if arr.max(initial=0) > 255 else np.uint8),
                     geometry=geometry, encoding=encoding)
    return [str(out)]


# -- sample data --------------------------------------------------------------------------------------------


def sample_dermoscopy():
    """A synthetic dermoscopy photograph with a deliberately wrong (3-vertex polygon) mask."""
    from curator.lab.noise import corrupt_mask
    from curator.lab.synthetic import dermoscopy_case

    image, mask = dermoscopy_case(7, (384, 512))
    wrong, _ = corrupt_mask(mask, "polygon3", 7)
    return [(image, {"name": "dermoscopy (synthetic)", "rgb": True}, "image"),
            (wrong, {"name": "given mask (wrong)", "opacity": 0.4}, "labels"),
            (mask, {"name": "true mask", "visible": False}, "labels")]


def sample_ct():
    """A synthetic abdominal CT (HU) with a liver mask made wrong by dilation."""
    from curator.lab.noise import corrupt_mask
    from curator.lab.synthetic import ct_case

    vol, labels, spacing = ct_case(3, (40, 128, 128), lesions=2)
    wrong, _ = corrupt_mask(labels, "dilate", 3, scale=tuple(reversed(spacing)))
    scale = tuple(reversed(spacing))
    return [(vol, {"name": "CT (synthetic)", "scale": scale, "contrast_limits": (-160, 240)}, "image"),
            (wrong, {"name": "given mask (wrong)", "scale": scale, "opacity": 0.4}, "labels"),
            (labels, {"name": "true mask", "scale": scale, "visible": False}, "labels")]
