"""The napari layers of the case under review, kept in place and refreshed when the case changes.

Five layers, reused across cases (their data is swapped, so moving on is fast):

* **image**: RGB photograph, or a CT volume with window/level presets;
* **uncertainty**: the chosen measure as a translucent heatmap (transparent where the models are
  sure, smooth, with a colour bar naming the measure and its unit);
* **given mask**: the dataset's mask as an outline, read-only;
* **proposal**: the proposed change, added pixels in green, removed in magenta, relabelled in
  yellow, regions left out of Accept in grey; clicking a region toggles it;
* **working mask**: what will be saved; paint, erase and fill with napari's own tools.

The layers are this adapter's own, held by identity: a layer of someone else's that happens to
share a name (the panel docked in a user's viewer) is never looked up, changed or removed.

Volumes are shown the way radiologists read them, whatever the file format
(:func:`curator.core.io.grid.display_map`): axial slices with anterior at the top and the patient's
right on the image's left, with orientation letters on the canvas. Arrays cross this adapter on
the case's own grid (``to_display`` / ``to_case``); only the layers hold the display order.

Geometry: ``scale`` follows the image spacing in 3D, so measurements in napari are in mm.
"""

from __future__ import annotations

import numpy as np

from curator.core.io.grid import ORIENTATION_LETTERS, AxisMap, display_map, from_grid, map_index, to_grid, unmap_index
from curator.gui.colours import CT_PRESETS, MEASURE_UNITS, MEASURES, change_colormap, heat_range, label_colormap, translucent
from curator.gui.layer_data import mark_owned, own, put, set_scale

__all__ = ["CaseLayers"]

NAMES = {"image": "image", "heat": "uncertainty", "given": "given mask", "proposal": "proposed change",
         "working": "working mask"}
_IDENTITY2 = AxisMap((0, 1), (False, False))


class CaseLayers:
    """Creates and refreshes the review layers in a viewer."""

    def __init__(self, viewer):
        self.viewer = viewer
        self.measure = "entropy"
        self.heat_opacity = 0.55
        self.colormap = "inferno"
        self.ct_preset = "Abdomen"
        self._view = None
        self._is_rgb = None
        self._mine: dict[str, object] = {}  # key -> the layer this adapter made (held by identity)
        self._amap: AxisMap = _IDENTITY2
        self._shape: tuple[int, ...] = ()
        self._overlays: dict[str, object] = {}
        viewer.dims.events.order.connect(self._update_orientation)
        viewer.dims.events.ndisplay.connect(self._update_orientation)
        self._camera().events.orientation.connect(self._update_orientation)

    def _camera(self):
        scene = getattr(self.viewer, "scene", None)  # napari >= 0.9; earlier: viewer.camera
        return scene.camera if scene is not None and hasattr(scene, "camera") else self.viewer.camera

    def layer(self, key: str):
        """This adapter's layer for ``key`` (None when it has none, or the user removed it)."""
        layer = self._mine.get(key)
        if layer is None or not any(x is layer for x in self.viewer.layers):
            return None
        return layer

    def owns(self, layer) -> bool:
        return any(layer is mine for mine in self._mine.values())

    def _add(self, key: str, kind: str, data, **kwargs):
        add = self.viewer.add_image if kind == "image" else self.viewer.add_labels
        layer = add(own(data), name=NAMES[key], **kwargs)  # napari makes the name unique
        mark_owned(layer)
        self._mine[key] = layer
        return layer

    def _remove(self, key: str) -> None:
        layer = self.layer(key)
        if layer is not None:
            self.viewer.layers.remove(layer)
        self._mine.pop(key, None)

    # -- display orientation -----------------------------------------------------------------------
    def to_display(self, arr: np.ndarray) -> np.ndarray:
        """A case-grid array ``(Z, Y, X)`` / ``(Y, X)`` in the order the layers show it."""
        return to_grid(np.asarray(arr), self._amap)

    def to_case(self, arr: np.ndarray) -> np.ndarray:
        """A layer's array back on the case's grid (exact: axes are only permuted and flipped)."""
        return from_grid(np.asarray(arr), self._amap)

    def case_index(self, position) -> tuple[int, ...] | None:
        """The case-grid voxel under a layer data position, or None outside the grid."""
        if not self._shape:
            return None
        n = len(self._shape)
        shown = tuple(self._shape[p] for p in self._amap.perm)
        idx = tuple(int(round(v)) for v in list(position)[-n:])
        if any(i < 0 or i >= s for i, s in zip(idx, shown)):
            return None
        return tuple(int(v) for v in unmap_index(idx, self._shape, self._amap))

    def _display_scale(self, scale) -> tuple[float, ...]:
        return tuple(float(scale[p]) for p in self._amap.perm)

    # -- a whole case ------------------------------------------------------------------------------
    def show(self, view, working: np.ndarray, *, editable: bool = True, label_names: dict | None = None) -> None:
        img = view.image
        rgb = img.ndim == 2 and img.array.ndim == 3
        self._view = view
        self._shape = tuple(view.given.array.shape)
        self._amap = display_map(img.geometry) if img.ndim == 3 else AxisMap(tuple(range(img.ndim)), (False,) * img.ndim)
        scale = self._display_scale(img.geometry.scale) if img.ndim == 3 else (1.0, 1.0)
        layer = self.layer("image")
        shown = img.array if rgb else self.to_display(img.array)
        if layer is None or self._is_rgb != rgb or layer.data.ndim != shown.ndim:
            self._remove("image")
            layer = self._add("image", "image", shown, rgb=rgb, scale=scale)
            self.viewer.layers.move(self.viewer.layers.index(layer), 0)
            self._is_rgb = rgb
        else:
            put(layer, shown, self.viewer.layers)
            set_scale(layer, scale)
        if img.ndim == 3:
            self.set_ct_preset(self.ct_preset)
        elif not rgb:
            lo, hi = np.percentile(img.array, [0.5, 99.5])
            layer.contrast_limits = (float(lo), float(max(hi, lo + 1)))
        self._show_heat(view, scale)
        given = self.to_display(view.given.array)
        self._labels("given", given, scale, editable=False, opacity=0.9, contour=2 if img.ndim == 2 else 1,
                     colormap=label_colormap())
        # the proposal's data follows at once (controller.proposal_changed); only make the layer here
        prop = self.layer("proposal")
        if prop is None or prop.data.shape != given.shape:
            self._labels("proposal", np.zeros(given.shape, np.uint8), scale, editable=False, opacity=0.55,
                         colormap=change_colormap())
        else:
            set_scale(prop, scale)
        self._labels("working", self.to_display(working), scale, editable=editable, opacity=0.35,
                     colormap=label_colormap())
        self._name_labels(label_names or {})
        if self.viewer.layers.selection.active is not self.layer("working"):
            self.viewer.layers.selection.active = self.layer("working")
        if img.ndim == 3:
            self.goto_most_uncertain_slice(view)
        extent = (tuple(shown.shape[: img.ndim]), tuple(scale))
        if extent != getattr(self, "_extent", None):  # a new size: frame it; the same size: keep the zoom
            self.viewer.reset_view()
            self._extent = extent
        self._update_orientation()

    def _labels(self, key: str, data: np.ndarray, scale, *, editable: bool, opacity: float, contour: int = 0,
                colormap=None):
        layer = self.layer(key)
        if layer is None or layer.data.ndim != data.ndim:
            self._remove(key)
            kwargs = {"colormap": colormap} if colormap is not None else {}
            layer = self._add(key, "labels", data, scale=scale, opacity=opacity, **kwargs)
        else:
            put(layer, data, self.viewer.layers)
            set_scale(layer, scale)
        if layer.editable != editable:
            layer.editable = editable
        if layer.contour != contour:
            layer.contour = contour
        return layer

    def _name_labels(self, names: dict) -> None:
        """Label names in napari's status bar when the pointer is over a mask (layer features)."""
        import pandas as pd

        names = {int(k): str(v) for k, v in names.items()}
        for key in ("given", "working"):
            layer = self.layer(key)
            if layer is None:
                continue
            top = max([9, *names]) if names else 9
            want = ["background"] + [names.get(v, f"label {v}") for v in range(1, top + 1)]
            cur = getattr(layer, "_curator_names", None)
            if cur != want:
                layer.features = pd.DataFrame({"index": np.arange(len(want)), "name": want})
                layer._curator_names = want

    def _show_heat(self, view, scale) -> None:
        """The measure at the models' working resolution, placed over the image by scale and
        translate (no upsampling: switching cases stays fast even for large volumes), drawn with
        linear interpolation and a translucent colour map (transparent where the models are sure)."""
        maps = view.maps
        layer = self.layer("heat")
        if maps is None or self.measure not in maps.maps:
            if layer is None:
                # made now, empty and hidden, so that the first maps (a batch ending while the
                # reviewer works) only fill it: creating a layer and its controls is the slowest
                # part of showing a case
                shown = np.asarray([view.given.array.shape[p] for p in self._amap.perm], float)
                coarse = np.maximum(1, shown // 16)
                ratio = shown / coarse  # covering the image exactly, so the world's extent stays the image's
                layer = self._add("heat", "image", np.zeros(tuple(int(n) for n in coarse), np.float32),
                                  colormap=translucent(self.colormap), blending="translucent",
                                  opacity=self.heat_opacity, scale=tuple(np.asarray(scale, float) * ratio),
                                  translate=tuple(np.asarray(scale, float) * (0.5 * ratio - 0.5)),
                                  contrast_limits=(0.0, 1.0))
                self._heat_style(layer)
                self.viewer.layers.move(self.viewer.layers.index(layer), self.viewer.layers.index(self.layer("image")) + 1)
            if layer.visible:
                layer.visible = False
            self._show_title(None)
            return
        data = np.asarray(maps.maps[self.measure], np.float32)
        if self.measure == "p_given":
            data = 1.0 - data  # show where the given label is improbable
        ratio = maps.grid.ratio
        ratio_shown = np.asarray([ratio[p] for p in self._amap.perm], float)
        heat_scale = tuple(np.asarray(scale, float) * ratio_shown)
        translate = tuple(np.asarray(scale, float) * (0.5 * ratio_shown - 0.5))  # align voxel centres
        data = self.to_display(data)
        lo, hi = heat_range(data)
        if layer is None or layer.data.ndim != data.ndim:
            self._remove("heat")
            layer = self._add("heat", "image", data, colormap=translucent(self.colormap), blending="translucent",
                              opacity=self.heat_opacity, scale=heat_scale, translate=translate)
            self._heat_style(layer)
            self.viewer.layers.move(self.viewer.layers.index(layer), self.viewer.layers.index(self.layer("image")) + 1)
        else:
            put(layer, data, self.viewer.layers)
            set_scale(layer, heat_scale, translate)
        # below the floor the colour map is transparent: only the uncertain parts tint the image,
        # and the image stays readable under them
        layer.contrast_limits = (lo, hi)
        if not layer.visible:  # napari redraws a layer made visible: only when it was hidden
            layer.visible = True
        self._show_title(f"{MEASURES[self.measure]} ({MEASURE_UNITS[self.measure]})")

    @staticmethod
    def _heat_style(layer) -> None:
        layer.interpolation2d = "linear"  # the maps are coarser than the image: no blocks
        layer.interpolation3d = "linear"
        layer.colorbar.visible = True
        layer.colorbar.position = "top_right"

    # -- canvas labels ------------------------------------------------------------------------------
    def _overlay(self, key: str, position: str, *, font_size: float = 14):
        """A text overlay of this adapter's own on the canvas (made once)."""
        from napari.components.overlays import TextOverlay

        ov = self._overlays.get(key)
        overlays = self.viewer.canvas.overlays
        if ov is None or overlays.get(f"curator_{key}") is not ov:
            ov = TextOverlay(position=position, font_size=font_size, color=(1.0, 0.85, 0.2, 1.0), visible=False)
            overlays[f"curator_{key}"] = ov
            self._overlays[key] = ov
        return ov

    def _show_title(self, text: str | None) -> None:
        ov = self._overlay("heat_title", "top_right", font_size=10)
        ov.text = text or ""
        ov.color = (1.0, 1.0, 1.0, 1.0)
        ov.visible = bool(text)

    def orientation_labels(self) -> dict[str, str]:
        """The patient directions at the canvas edges now (``{}`` when none apply: 2D photographs,
        the 3D view)."""
        if self._view is None or self._view.image.ndim != 3 or self.viewer.dims.ndisplay != 2:
            return {}
        rows, cols = self.viewer.dims.displayed[-2:]
        top, bottom = ORIENTATION_LETTERS[rows]
        left, right = ORIENTATION_LETTERS[cols]
        vertical, horizontal = self._camera().orientation2d
        if str(vertical) == "up":
            top, bottom = bottom, top
        if str(horizontal) == "left":
            left, right = right, left
        return {"top": top, "bottom": bottom, "left": left, "right": right}

    def _update_orientation(self, event=None) -> None:
        if self._view is not None and self._view.image.ndim == 3 and self.viewer.dims.ndisplay == 2:
            # superior at the top when the slices are coronal or sagittal (rows run along Z)
            camera = self._camera()
            vertical, horizontal = (str(v) for v in camera.orientation2d)
            want = "up" if self.viewer.dims.displayed[-2] == 0 else "down"
            if vertical != want:
                camera.orientation2d = (want, horizontal)
                return  # the camera's event comes back here
        labels = self.orientation_labels()
        places = {"top": "top_center", "bottom": "bottom_center", "left": "middle_left", "right": "middle_right"}
        if not labels and not self._overlays:
            return
        for edge, where in places.items():
            ov = self._overlay(f"orient_{edge}", where)
            ov.text = labels.get(edge, "")
            ov.visible = edge in labels

    # -- parts ---------------------------------------------------------------------------------------
    def set_proposal(self, proposal, chosen: set[int] | None = None) -> None:
        """Colour the change regions: added green, removed magenta, relabelled yellow; regions not
        ``chosen`` for Accept in grey."""
        layer = self.layer("proposal")
        if layer is None:
            return
        if proposal is None:
            if layer.data.any():
                put(layer, np.zeros_like(layer.data), self.viewer.layers)
            return
        change = np.zeros(proposal.given.shape, np.uint8)
        box = _regions_box(proposal)  # the work is where the regions are (a few per cent of a CT)
        if box is not None:
            rmap = proposal.region_map[box]
            given, new, diff = proposal.given[box], proposal.mask[box], rmap > 0
            part = change[box]
            part[diff & (given == 0)] = 1
            part[diff & (new == 0)] = 2
            part[diff & (given != 0) & (new != 0)] = 3
            if chosen is not None:
                ids = [int(r.get("id") if isinstance(r, dict) else r.id) for r in (proposal.regions or [])]
                left_out = [i for i in ids if i not in chosen]
                if left_out:
                    part[np.isin(rmap, left_out)] = 4
        put(layer, self.to_display(change), self.viewer.layers)

    def set_working(self, labels: np.ndarray, editable: bool = True) -> None:
        layer = self.layer("working")
        if layer is not None:
            # copied: the layer paints in place; the controller keeps its own array
            put(layer, self.to_display(labels), self.viewer.layers)
            if layer.editable != editable:
                layer.editable = editable

    def working_data(self) -> np.ndarray | None:
        """The working layer's labels (as painted) on the case's grid."""
        layer = self.layer("working")
        return None if layer is None else self.to_case(np.asarray(layer.data))

    def set_measure(self, measure: str) -> None:
        self.measure = measure
        if self._view is not None:
            img = self._view.image
            self._show_heat(self._view, self._display_scale(img.geometry.scale) if img.ndim == 3 else (1.0, 1.0))

    def set_heat_opacity(self, value: float) -> None:
        self.heat_opacity = value
        layer = self.layer("heat")
        if layer is not None:
            layer.opacity = value

    def set_colormap(self, name: str) -> None:
        self.colormap = name
        layer = self.layer("heat")
        if layer is not None:
            layer.colormap = translucent(name)

    def set_ct_preset(self, name: str) -> None:
        self.ct_preset = name
        layer = self.layer("image")
        if layer is None or self._is_rgb:
            return
        w, lvl = CT_PRESETS[name]
        layer.colormap = "gray"
        layer.contrast_limits = (lvl - w / 2, lvl + w / 2)

    def goto_most_uncertain_slice(self, view) -> int:
        """Move the 3D view to the slice with the most uncertainty (or the most mask); returns
        the slice index on screen."""
        from curator.core.project.review import most_uncertain_slice

        z = view.focus_slice if view.focus_slice is not None else most_uncertain_slice(view)
        shape = view.given.array.shape
        centre = (z, *(n // 2 for n in shape[1:]))
        shown = int(map_index(centre, shape, self._amap)[0])
        step = list(self.viewer.dims.current_step)
        if step:
            step[0] = shown
            self.viewer.dims.current_step = tuple(step)
        return shown

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
