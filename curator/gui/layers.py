"""The napari layers of the case under review, kept in place and refreshed when the case changes.

Five layers, reused across cases (their data is swapped, so moving on is fast):

* **image**: RGB photograph, or a CT volume with window/level presets;
* **uncertainty**: the chosen measure as a heatmap (colormap and opacity adjustable);
* **given mask**: the dataset's mask as an outline, read-only;
* **proposal**: the proposed change, added pixels in green, removed in magenta, relabelled in
  yellow; clicking a region toggles it;
* **working mask**: what will be saved; paint, erase and fill with napari's own tools.

Geometry: ``scale`` follows the image spacing in 3D, so measurements in napari are in mm.
"""

from __future__ import annotations

import contextlib
import weakref

import numpy as np

__all__ = ["CaseLayers", "CT_PRESETS", "MEASURES", "COLORMAPS"]

CT_PRESETS = {  # name: (window, level) in HU
    "Abdomen": (400, 40),
    "Liver": (150, 60),
    "Soft tissue": (350, 50),
    "Lung": (1500, -600),
    "Bone": (1800, 400),
    "Brain": (80, 40),
}
MEASURES = {
    "entropy": "Entropy (total)",
    "mutual_info": "Mutual information (epistemic)",
    "aleatoric": "Expected entropy (aleatoric)",
    "variance": "Variance (Kwon, poster's U)",
    "kwon_epistemic": "Epistemic variance (Kwon)",
    "p_given": "Probability of the given label",
}
COLORMAPS = ("inferno", "magma", "turbo", "viridis", "hot", "gray")

NAMES = {"image": "image", "heat": "uncertainty", "given": "given mask", "proposal": "proposed change",
         "working": "working mask"}


def _change_colormap():
    from napari.utils.colormaps import DirectLabelColormap

    return DirectLabelColormap(color_dict={None: (0, 0, 0, 0), 0: (0, 0, 0, 0), 1: (0.2, 1.0, 0.2, 1.0),
                                           2: (1.0, 0.2, 1.0, 1.0), 3: (1.0, 0.9, 0.1, 1.0)})


class CaseLayers:
    """Creates and refreshes the review layers in a viewer."""

    def __init__(self, viewer):
        self.viewer = viewer
        self.measure = "entropy"
        self.heat_opacity = 0.45
        self.colormap = "inferno"
        self.ct_preset = "Abdomen"
        self._view = None
        self._is_rgb = None

    def layer(self, key: str):
        name = NAMES[key]
        return self.viewer.layers[name] if name in self.viewer.layers else None

    # -- a whole case ------------------------------------------------------------------------------
    def show(self, view, working: np.ndarray, *, editable: bool = True) -> None:
        img = view.image
        scale = img.geometry.scale if img.ndim == 3 else (1.0, 1.0)
        rgb = img.ndim == 2 and img.array.ndim == 3
        self._view = view
        layer = self.layer("image")
        if layer is None or self._is_rgb != rgb or layer.data.ndim != img.array.ndim:
            if layer is not None:
                self.viewer.layers.remove(layer)
            layer = self.viewer.add_image(_own(img.array), name=NAMES["image"], rgb=rgb, scale=scale)
            _owned(layer)
            self.viewer.layers.move(self.viewer.layers.index(layer), 0)
            self._is_rgb = rgb
        else:
            _put(layer, img.array, self.viewer.layers)
            _set_scale(layer, scale)
        if img.ndim == 3:
            self.set_ct_preset(self.ct_preset)
        elif not rgb:
            lo, hi = np.percentile(img.array, [0.5, 99.5])
            layer.contrast_limits = (float(lo), float(max(hi, lo + 1)))
        self._show_heat(view, scale)
        self._labels("given", view.given.array, scale, editable=False, opacity=0.9, contour=2 if img.ndim == 2 else 1)
        # the proposal's data follows at once (controller.proposal_changed); only make the layer here
        prop = self.layer("proposal")
        if prop is None or prop.data.shape != view.given.array.shape:
            self._labels("proposal", np.zeros(view.given.array.shape, np.uint8), scale, editable=False, opacity=0.55,
                         colormap=_change_colormap())
        else:
            _set_scale(prop, scale)
        self._labels("working", working.copy(), scale, editable=editable, opacity=0.35)  # painting must not alias
        if self.viewer.layers.selection.active is not self.layer("working"):
            self.viewer.layers.selection.active = self.layer("working")
        if img.ndim == 3:
            self.goto_most_uncertain_slice(view)
        extent = (tuple(img.array.shape[: img.ndim]), tuple(scale))
        if extent != getattr(self, "_extent", None):  # a new size: frame it; the same size: keep the zoom
            self.viewer.reset_view()
            self._extent = extent

    def _labels(self, key: str, data: np.ndarray, scale, *, editable: bool, opacity: float, contour: int = 0,
                colormap=None):
        layer = self.layer(key)
        if layer is None or layer.data.ndim != data.ndim:
            if layer is not None:
                self.viewer.layers.remove(layer)
            kwargs = {"colormap": colormap} if colormap is not None else {}
            layer = self.viewer.add_labels(_own(data), name=NAMES[key], scale=scale, opacity=opacity, **kwargs)
            _owned(layer)
            if key == "given":
                layer.colormap = _given_colormap()
        else:
            _put(layer, data, self.viewer.layers)
            _set_scale(layer, scale)
        if layer.editable != editable:
            layer.editable = editable
        if layer.contour != contour:
            layer.contour = contour
        return layer

    def _show_heat(self, view, scale) -> None:
        """The measure at the models' working resolution, placed over the image by scale and
        translate (no upsampling: switching cases stays fast even for large volumes)."""
        maps = view.maps
        layer = self.layer("heat")
        if maps is None or self.measure not in maps.maps:
            if layer is None:
                # made now, empty and hidden, so that the first maps (a batch ending while the
                # reviewer works) only fill it: creating a layer and its controls is the slowest
                # part of showing a case
                coarse = tuple(max(1, n // 16) for n in view.given.array.shape)
                layer = self.viewer.add_image(np.zeros(coarse, np.float32), name=NAMES["heat"],
                                              colormap=self.colormap, blending="additive", opacity=self.heat_opacity,
                                              scale=tuple(np.asarray(scale, float) * 16), contrast_limits=(0.0, 1.0))
                self.viewer.layers.move(self.viewer.layers.index(layer), 1)
            if layer.visible:
                layer.visible = False
            return
        data = np.asarray(maps.maps[self.measure], np.float32)
        if self.measure == "p_given":
            data = 1.0 - data  # show where the given label is improbable
        orig = np.asarray(maps.meta.get("orig_shape", data.shape), float)
        ratio = orig / np.asarray(data.shape, float)
        heat_scale = tuple(np.asarray(scale, float) * ratio)
        translate = tuple(np.asarray(scale, float) * (0.5 * ratio - 0.5))  # align voxel centres
        hi = _top_value(data)
        if layer is None or layer.data.ndim != data.ndim:
            if layer is not None:
                self.viewer.layers.remove(layer)
            layer = self.viewer.add_image(_own(data), name=NAMES["heat"], colormap=self.colormap, blending="additive",
                                          opacity=self.heat_opacity, scale=heat_scale, translate=translate)
            _owned(layer)
            self.viewer.layers.move(self.viewer.layers.index(layer), 1)
        else:
            _put(layer, data, self.viewer.layers)
            _set_scale(layer, heat_scale, translate)
        # low uncertainty maps to black, which additive blending leaves invisible: only the
        # uncertain parts tint the image
        hi = max(hi, 1e-3)
        layer.contrast_limits = (0.15 * hi, hi)
        if not layer.visible:  # napari redraws a layer made visible: only when it was hidden
            layer.visible = True

    # -- parts ---------------------------------------------------------------------------------------
    def set_proposal(self, proposal) -> None:
        """Colour the change regions: added green, removed magenta, relabelled yellow."""
        layer = self.layer("proposal")
        if layer is None:
            return
        if proposal is None:
            if layer.data.any():
                _put(layer, np.zeros_like(layer.data), self.viewer.layers)
            return
        change = np.zeros(proposal.given.shape, np.uint8)
        box = _regions_box(proposal)  # the work is where the regions are (a few per cent of a CT)
        if box is not None:
            given, new, diff = proposal.given[box], proposal.mask[box], proposal.region_map[box] > 0
            part = change[box]
            part[diff & (given == 0)] = 1
            part[diff & (new == 0)] = 2
            part[diff & (given != 0) & (new != 0)] = 3
        _put(layer, change, self.viewer.layers)

    def set_working(self, labels: np.ndarray, editable: bool = True) -> None:
        layer = self.layer("working")
        if layer is not None:
            # copied: the layer paints in place; the controller keeps its own array
            _put(layer, labels, self.viewer.layers)
            layer.editable = editable

    def set_measure(self, measure: str) -> None:
        self.measure = measure
        if self._view is not None:
            img = self._view.image
            self._show_heat(self._view, img.geometry.scale if img.ndim == 3 else (1.0, 1.0))

    def set_heat_opacity(self, value: float) -> None:
        self.heat_opacity = value
        layer = self.layer("heat")
        if layer is not None:
            layer.opacity = value

    def set_colormap(self, name: str) -> None:
        self.colormap = name
        layer = self.layer("heat")
        if layer is not None:
            layer.colormap = name

    def set_ct_preset(self, name: str) -> None:
        self.ct_preset = name
        layer = self.layer("image")
        if layer is None or self._is_rgb:
            return
        w, lvl = CT_PRESETS[name]
        layer.colormap = "gray"
        layer.contrast_limits = (lvl - w / 2, lvl + w / 2)

    def goto_most_uncertain_slice(self, view) -> int:
        """Move the 3D view to the slice with the most uncertainty (or the most mask)."""
        from ..core.review import most_uncertain_slice

        z = view.focus_slice if view.focus_slice is not None else most_uncertain_slice(view)
        step = list(self.viewer.dims.current_step)
        if step:
            step[0] = z
            self.viewer.dims.current_step = tuple(step)
        return z

    def toggle_3d(self) -> int:
        self.viewer.dims.ndisplay = 3 if self.viewer.dims.ndisplay == 2 else 2
        return self.viewer.dims.ndisplay


def _regions_box(proposal):
    """Slices holding every change region of a proposal (from the regions' boxes, or the whole
    grid when a region lacks one); None when there are none."""
    regions = list(getattr(proposal, "regions", None) or [])
    if not regions:
        return None if not proposal.region_map.any() else tuple(slice(None) for _ in proposal.given.shape)
    boxes = [r.get("bbox") if isinstance(r, dict) else getattr(r, "bbox", None) for r in regions]
    if any(b is None or len(b) != 2 * proposal.given.ndim for b in boxes):
        return tuple(slice(None) for _ in proposal.given.shape)
    return tuple(slice(min(b[2 * d] for b in boxes), max(b[2 * d + 1] for b in boxes))
                 for d in range(proposal.given.ndim))


def _top_value(data: np.ndarray, q: float = 99.9, sample: int = 1 << 20) -> float:
    """The ``q``-th percentile of a map, from an even sample of about a million values for large
    volumes (the heatmap's contrast needs no more, and the full sort cost a 3D switch 130 ms)."""
    flat = data.reshape(-1)
    if flat.size == 0:
        return 1.0
    return float(np.percentile(flat[:: max(1, flat.size // sample)], q))


_IN_PLACE_MAX_BYTES = 64 << 20


def _put(layer, data: np.ndarray, listing=None) -> None:
    """Show ``data`` in ``layer``, copying it into the layer's own array when shape and type match.

    napari's ``data`` setter re-derives the layer's dimensions and the viewer's extent for every
    assignment (about half of a case switch, five layers at a time); copying into the array the
    layer already shows and refreshing the view skips that. The layer owns its array (a copy of
    ``data``), so painting never writes into the caller's. Very large volumes go through the setter,
    where a copy would cost more than it saves.

    ``listing``: the viewer's layer list. Every event of a layer is passed on to it, and its Qt
    model repaints the layer's row for any of them (7-13 ms in software OpenGL, part of every
    slider move); the in-place refresh changes nothing the row shows (its thumbnail follows when
    the interface is idle), so that refresh is not passed on.
    """
    cur = layer.data
    data = np.asarray(data)
    if (isinstance(cur, np.ndarray) and cur.shape == data.shape and cur.dtype == data.dtype
            and cur.flags.writeable and cur.nbytes <= _IN_PLACE_MAX_BYTES and not np.may_share_memory(cur, data)
            and getattr(layer, "_curator_owned", None) is cur):
        np.copyto(cur, data)
        with _unlisted(layer, listing):
            layer.refresh(extent=False, thumbnail=False)
        _later_thumbnail(layer)
        return
    own = _own(data)
    layer.data = own
    if own is not data:
        _owned(layer)


def _unlisted(layer, listing):
    """Keep ``layer``'s events from its layer list for a while (napari's list passes every event of
    its layers on through ``_reemit_child_event``; without it, or without a list, nothing is kept)."""
    reemit = getattr(listing, "_reemit_child_event", None)
    return layer.events.blocker(reemit) if reemit is not None else contextlib.nullcontext()


_stale_thumbnails: "weakref.WeakSet" = weakref.WeakSet()


def _later_thumbnail(layer) -> None:
    """Redraw the layer's thumbnail once the interface is idle (a third of a second later):
    each one repaints the layer list (about 20 ms of a switch in software OpenGL)."""
    from qtpy.QtCore import QTimer

    if not _stale_thumbnails:
        QTimer.singleShot(300, _update_thumbnails)
    _stale_thumbnails.add(layer)


def _update_thumbnails() -> None:
    layers = list(_stale_thumbnails)
    _stale_thumbnails.clear()
    for layer in layers:
        try:
            layer._update_thumbnail()
        except Exception:  # noqa: BLE001 - a layer removed meanwhile; nothing to draw
            pass


def _own(data: np.ndarray) -> np.ndarray:
    """A copy for a layer to own (see :func:`_put`); very large arrays are shown as they are."""
    data = np.asarray(data)
    return data.copy() if data.nbytes <= _IN_PLACE_MAX_BYTES else data


def _owned(layer) -> None:
    """Mark the array the layer now shows as its own, so :func:`_put` may copy into it (only
    when it is a copy: the caller's array must never be painted on)."""
    if layer.data.nbytes <= _IN_PLACE_MAX_BYTES:
        layer._curator_owned = layer.data


def _set_scale(layer, scale, translate=None) -> None:
    """Set scale (and translate) only when they change: each assignment re-lays out the dims."""
    if not np.allclose(layer.scale, scale):
        layer.scale = scale
    if translate is not None and not np.allclose(layer.translate, translate):
        layer.translate = translate


def _given_colormap():
    from napari.utils.colormaps import DirectLabelColormap

    return DirectLabelColormap(color_dict={None: (0.0, 0.8, 1.0, 1.0), 0: (0, 0, 0, 0), 1: (0.0, 0.8, 1.0, 1.0),
                                           2: (1.0, 0.6, 0.0, 1.0)})
