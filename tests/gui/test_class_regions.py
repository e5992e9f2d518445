"""A class change (issue 18) in the review panel: listed with its labels, ticked, accepted."""

from __future__ import annotations

import numpy as np
import pytest


@pytest.fixture(scope="module")
def template(tmp_path_factory):
    from tests.review_project import make_class_project

    return make_class_project(tmp_path_factory.mktemp("classgui"))


def test_a_class_change_is_listed_with_its_labels_and_accepted(template, tmp_path, make_napari_viewer):
    from curator.gui.main_widget import CuratorWidget
    from tests.review_project import class_truth, copy_project

    proj = copy_project(template, tmp_path / "proj")
    viewer = make_napari_viewer()
    widget = CuratorWidget(viewer)
    viewer.window.add_dock_widget(widget, name="Mask Curator")
    try:
        assert widget._open_project(proj)
        c = widget.controller
        c.goto("case_0")
        panel = widget.panel
        assert panel.regions.count() == 1
        text = panel.regions.item(0).text()
        assert text.startswith("⇄ region 1: class label 1 → label 2, 81 px, confidence 0.9"), text
        # the dataset names its labels: the list says them
        panel.show_labels({1: "liver", 2: "tumour"})
        panel.show_regions(c.region_infos(), c.accepted_regions, c.region_gate)
        assert "class 1 liver → 2 tumour" in panel.regions.item(0).text()
        assert c.accept()
        np.testing.assert_array_equal(c.working, class_truth())
        assert c.view.decision["decision"] == "accepted"
    finally:
        widget.controller.close()
