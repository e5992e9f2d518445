"""The plugin as a guest in someone's napari: it touches only its own layers, docks one panel,
and its reader claims only what it handles."""

from __future__ import annotations

from pathlib import Path

import numpy as np
import pytest
from curator.core.io.types import Geometry
from curator.core.io.writers import write_image, write_mask

OUR_NAMES = ("image", "uncertainty", "given mask", "proposed change", "working mask")


@pytest.fixture(scope="module")
def template(tmp_path_factory):
    from tests.review_project import make_review_project

    return make_review_project(tmp_path_factory.mktemp("plugin"))


def test_user_layers_named_like_ours_are_left_untouched(template, tmp_path, make_napari_viewer):
    from tests.review_project import copy_project

    viewer = make_napari_viewer()
    rng = np.random.default_rng(0)
    mine = {}
    for name in OUR_NAMES:  # the user's own layers, with the names the panel gives its layers
        if name in ("image", "uncertainty"):
            mine[name] = viewer.add_image(rng.random((40, 48)).astype(np.float32), name=name)
        else:
            mine[name] = viewer.add_labels(rng.integers(0, 3, (40, 48)).astype(np.uint8), name=name)
    before = {name: (layer, np.asarray(layer.data).copy()) for name, layer in mine.items()}
    _dock, widget = viewer.window.add_plugin_dock_widget("mask-curator", "Mask Curator")
    assert widget._open_project(copy_project(template, tmp_path / "p"))
    c = widget.controller
    c.goto("case_1")
    c.accept()
    widget.next_case()
    layer = widget.layers.layer("working")
    layer.paint((2, 44), 1, refresh=True)
    widget._sync_painted()
    widget.next_case()
    c.set_threshold(0.7)
    widget.layers.set_measure("variance")
    c.close()
    layers = list(viewer.layers)
    for name, (layer, data) in before.items():
        assert any(x is layer for x in layers), f"the user's layer {name!r} was removed"
        assert layer.name == name, f"the user's layer {name!r} was renamed"
        np.testing.assert_array_equal(np.asarray(layer.data), data, err_msg=f"the user's {name!r} was changed")
    ours = [widget.layers.layer(k) for k in ("image", "heat", "given", "proposal", "working")]
    assert all(o is not None and not any(o is m for m in mine.values()) for o in ours)


def test_the_plugins_menu_shows_the_apps_panel_instead_of_a_second_one(make_napari_viewer):
    from curator.gui.app import make_window
    from curator.gui.main_widget import CuratorWidget

    viewer, widget = make_window(viewer=make_napari_viewer())
    _dock, again = viewer.window.add_plugin_dock_widget("mask-curator", "Mask Curator")  # Plugins -> Mask Curator
    assert again is widget
    assert len(viewer.window._qt_window.findChildren(CuratorWidget)) == 1
    widget.controller.close()


def test_the_manifest_claims_only_what_the_reader_handles(tmp_path):
    import yaml

    import curator
    from curator.gui.plugin import get_reader

    manifest = yaml.safe_load((Path(curator.__file__).parent / "napari.yaml").read_text())
    patterns = manifest["contributions"]["readers"][0]["filename_patterns"]
    assert not any(p.endswith((".png", ".jpg", ".bmp", ".tif", ".tiff")) for p in patterns)
    photo = tmp_path / "photo.png"
    from PIL import Image

    Image.new("RGB", (8, 8)).save(photo)
    assert get_reader(str(photo)) is None
    assert get_reader([str(photo), str(photo)]) is None
    (tmp_path / "stuff").mkdir()
    (tmp_path / "stuff" / "notes.txt").write_text("not images")
    assert get_reader(str(tmp_path / "stuff")) is None
    assert get_reader(str(tmp_path / "missing.nii.gz")) is None


def test_masks_open_as_labels_and_images_as_images(make_napari_viewer, tmp_path):
    """A NIfTI CT and its mask opened one by one (as napari does for several files): the CT as an
    image, the mask as Labels on top of it (not an opaque image over a black canvas)."""

    from curator.lab.synthetic import ct_case

    viewer = make_napari_viewer()
    vol, lab, spacing = ct_case(1, (10, 32, 32))
    g = Geometry(spacing, (5.0, -3.0, 12.0), (1.0, 0.0, 0.0, 0.0, 1.0, 0.0, 0.0, 0.0, 1.0))
    write_image(tmp_path / "ct.nii.gz", vol, g)
    write_mask(tmp_path / "organ.nii.gz", lab, geometry=g)  # a name that does not say "mask"
    layers = viewer.open([str(tmp_path / "ct.nii.gz"), str(tmp_path / "organ.nii.gz")], plugin="mask-curator",
                         stack=False)
    kinds = {layer.name: type(layer).__name__ for layer in layers}
    assert kinds == {"ct.nii.gz": "Image", "organ.nii.gz": "Labels"}
    image, labels = layers
    assert image.contrast_limits[0] < 0 < image.contrast_limits[1]  # a CT window, not min..max
    np.testing.assert_allclose(image.translate, labels.translate)
    np.testing.assert_allclose(image.scale, labels.scale)


def test_a_dataset_folder_opens_the_panel_on_the_dataset(template, make_napari_viewer):
    from curator.gui.main_widget import CuratorWidget

    viewer = make_napari_viewer()
    data = template.parent / "data"
    layers = viewer.open(str(data), plugin="mask-curator")
    assert layers == []  # nothing loaded behind the reviewer's back
    panels = viewer.window._qt_window.findChildren(CuratorWidget)
    assert len(panels) == 1
    c = panels[0].controller
    assert c.dataset is not None and c.dataset.root == data.resolve() and len(c.rows) == 4
    c.close()


def test_a_one_case_dataset_says_what_can_be_done(make_napari_viewer, tmp_path):
    from curator.core.io.writers import write_image, write_mask
    from curator.gui.main_widget import CuratorWidget

    data = tmp_path / "one"
    write_image(data / "images" / "a.png", np.full((16, 16), 90, np.uint8))
    m = np.zeros((16, 16), np.uint8)
    m[4:10, 4:10] = 1
    write_mask(data / "masks" / "a.png", m)
    viewer = make_napari_viewer()
    widget = CuratorWidget(viewer)
    assert widget.open_dataset(data, tmp_path / "proj")
    assert not widget.controller.start_batch()
    text = widget.message.text()
    assert "cannot be split" not in text
    assert "--model" in text and "without models" in text
    assert widget.controller.case is not None  # the review is open: Keep, Edit, Exclude work
    widget.controller.keep()
    assert widget.controller.store.decision("a")["decision"] == "kept"
    widget.controller.close()


def test_the_app_started_on_a_project_frames_the_first_case_whole(template, tmp_path, monkeypatch, qtbot,
                                                                  make_napari_viewer):
    """`curator gui PATH`: the first case fits the canvas (it was framed before the window was
    laid out, and came up cropped)."""
    import napari

    from curator.gui import app
    from tests.review_project import copy_project

    seen = {}
    monkeypatch.setattr(napari, "Viewer", lambda **kw: make_napari_viewer(**{**kw, "show": True}))
    monkeypatch.setattr(napari, "run", lambda *a, **k: qtbot.waitUntil(lambda: "fits" in seen, timeout=30000))

    def look(viewer, path):
        layer = next(x for x in viewer.layers if x.name == "image")
        lo, hi = (np.asarray(v) for v in layer.extent.world)
        size = (hi - lo)[-2:]
        canvas = np.asarray(viewer._canvas_size if hasattr(viewer, "_canvas_size") else viewer.canvas.size)
        seen["fits"] = bool(np.all(size * viewer.camera.zoom <= canvas + 1))
        seen["fills"] = float(np.max(size * viewer.camera.zoom / canvas))

    monkeypatch.setattr(app, "_save_window", look)
    app.launch(project=copy_project(template, tmp_path / "p"), screenshot=str(tmp_path / "shot.png"))
    assert seen["fits"], seen
    assert seen["fills"] > 0.8  # framed, not a postage stamp


def test_the_display_controls_are_above_the_fold(template, tmp_path, qtbot, make_napari_viewer):
    """In the app's window, the heatmap and CT window controls show without scrolling the panel."""
    from qtpy.QtCore import QPoint
    from qtpy.QtWidgets import QApplication, QScrollArea

    from curator.gui.app import make_window, open_first
    from tests.review_project import copy_project

    viewer, widget = make_window(viewer=make_napari_viewer(show=True))
    try:
        open_first(widget, project=copy_project(template, tmp_path / "p"))
        c = widget.controller
        widget.panel.show_case(c.case.id, c.view.decision, None, 3)  # as for a volume: the CT row shows
        QApplication.processEvents()
        assert widget.panel.ct_preset.isVisible()
        scroll = next(a for a in widget.findChildren(QScrollArea) if a.widget() is widget.panel)
        port = scroll.viewport()
        for control in (widget.panel.measure, widget.panel.opacity, widget.panel.colormap, widget.panel.ct_preset,
                        widget.panel.accept_button, widget.panel.next_button, widget.panel.tau):
            bottom = control.mapTo(port, QPoint(0, control.height())).y()
            assert bottom <= port.height(), f"{control.__class__.__name__} is below the fold"
        regions_top = widget.panel.regions.mapTo(port, QPoint(0, 0)).y()
        assert regions_top + 40 <= port.height()  # the first proposed regions show too
        assert scroll.horizontalScrollBar().maximum() == 0  # nothing cut on the right either
    finally:
        widget.controller.close()
