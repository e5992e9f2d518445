"""How cases look in the viewer: radiological orientation whatever the file format, orientation
letters on the canvas, a heatmap the image can be read through."""

from __future__ import annotations

import numpy as np
import pytest


def _view(image, mask, maps=None, case_id="ct"):
    from curator.core.project.review import CaseView

    return CaseView(case_id, image, mask, maps=maps)


def _dcmqi_as_nifti(shared_data, tmp_path):
    """The dcmqi CT series and its liver mask written as NIfTI the way dcm2niix does (RAS affine,
    rows stored bottom-up)."""
    import nibabel as nib

    from curator.core.io.grid import affine
    from curator.core.io.readers import read_image, read_mask

    root = shared_data / "ct" / "dcmqi_ct-3slice"
    dcm = read_image(root / "ct-3slice")
    seg = read_mask(root / "liver.dcm", reference=dcm)
    flip = np.eye(4)
    flip[1, 1], flip[1, 3] = -1.0, dcm.array.shape[1] - 1
    aff = np.diag([-1.0, -1.0, 1.0, 1.0]) @ affine(dcm.geometry) @ flip
    for name, arr in (("ct.nii.gz", dcm.array), ("ct_seg.nii.gz", seg.array)):
        data = np.ascontiguousarray(arr.transpose(2, 1, 0)[:, ::-1, :])
        nib.save(nib.Nifti1Image(data, aff), tmp_path / name)
    return (dcm, seg), (read_image(tmp_path / "ct.nii.gz"), read_mask(tmp_path / "ct_seg.nii.gz"))


def _liver_on_screen(viewer, layers) -> np.ndarray:
    """World (screen) coordinates of the working mask's centroid."""
    layer = layers.layer("working")
    idx = np.argwhere(np.asarray(layer.data) > 0).mean(0)
    return np.asarray(layer.data_to_world(idx))


def test_the_same_ct_as_dicom_and_as_nifti_is_shown_the_same(shared_data, tmp_path, make_napari_viewer):
    from curator.gui.layers import CaseLayers

    (dcm, seg), (nii, nseg) = _dcmqi_as_nifti(shared_data, tmp_path)
    assert not np.array_equal(nii.array, dcm.array)  # stored in another order
    shown, views = {}, {}
    for name, (image, mask) in {"dicom": (dcm, seg), "nifti": (nii, nseg)}.items():
        viewer = make_napari_viewer()
        layers = CaseLayers(viewer)
        layers.show(_view(image, mask), mask.array)
        shown[name] = (np.asarray(layers.layer("image").data).copy(), _liver_on_screen(viewer, layers))
        views[name] = layers
    np.testing.assert_array_equal(shown["dicom"][0], shown["nifti"][0])  # the same picture
    np.testing.assert_allclose(shown["dicom"][1], shown["nifti"][1])  # the liver at the same place
    for name, (img, liver) in shown.items():
        assert liver[2] < img.shape[2] * dcm.geometry.spacing[0] / 2, f"{name}: the liver is on the screen's left"
        layers = views[name]
        assert layers.orientation_labels() == {"top": "A", "bottom": "P", "left": "R", "right": "L"}, name
        # the working mask comes back on the case's own grid, exactly
        mask = seg if name == "dicom" else nseg
        np.testing.assert_array_equal(layers.working_data(), mask.array)


def test_orientation_letters_follow_the_view(shared_data, make_napari_viewer):
    from curator.core.io.readers import read_image, read_mask
    from curator.gui.layers import CaseLayers

    root = shared_data / "ct" / "dcmqi_ct-3slice"
    image = read_image(root / "ct-3slice")
    mask = read_mask(root / "liver.dcm", reference=image)
    viewer = make_napari_viewer()
    layers = CaseLayers(viewer)
    layers.show(_view(image, mask), mask.array)
    texts = {k: ov.text for k, ov in viewer.canvas.overlays.items() if k.startswith("curator_orient")}
    assert texts == {"curator_orient_top": "A", "curator_orient_bottom": "P", "curator_orient_left": "R",
                     "curator_orient_right": "L"}
    viewer.dims.order = (1, 0, 2)  # coronal: superior / inferior now run down the screen
    labels = layers.orientation_labels()
    assert labels == {"top": "S", "bottom": "I", "left": "R", "right": "L"}  # superior up, as radiologists read
    assert viewer.canvas.overlays["curator_orient_top"].text == "S"
    viewer.dims.order = (0, 1, 2)  # back to axial
    assert layers.orientation_labels() == {"top": "A", "bottom": "P", "left": "R", "right": "L"}
    viewer.dims.ndisplay = 3
    assert layers.orientation_labels() == {}
    assert not viewer.canvas.overlays["curator_orient_top"].visible


def test_no_orientation_letters_on_photographs(make_napari_viewer):
    from curator.core.io.types import Geometry, ImageData
    from curator.gui.layers import CaseLayers

    viewer = make_napari_viewer()
    layers = CaseLayers(viewer)
    img = ImageData(np.zeros((20, 30, 3), np.uint8), Geometry.identity(2), "png")
    mask = ImageData(np.zeros((20, 30), np.uint8), Geometry.identity(2), "png")
    layers.show(_view(img, mask), mask.array)
    assert layers.orientation_labels() == {}
    assert not any(ov.visible for k, ov in viewer.canvas.overlays.items() if k.startswith("curator_orient"))


def test_the_heatmap_is_translucent_smooth_with_a_named_colour_bar_and_in_place(tmp_path, make_napari_viewer):
    """On a volume stored flipped, the coarse heatmap's hot spot lands on the voxel it belongs to;
    below its floor it is transparent, it is drawn smooth, its colour bar names measure and unit."""
    from curator.core.io.types import Geometry, ImageData
    from curator.core.engine.uncertainty import UncertaintyMaps
    from curator.gui.layers import CaseLayers

    # a volume stored with x and y running the "wrong" way (a RAS NIfTI read by ITK)
    geom = Geometry((1.0, 1.0, 2.0), (30.0, 40.0, 0.0), (-1.0, 0.0, 0.0, 0.0, -1.0, 0.0, 0.0, 0.0, 1.0))
    img = ImageData(np.zeros((8, 32, 32), np.int16), geom, "nifti")
    mask = ImageData(np.zeros((8, 32, 32), np.uint8), geom, "nifti")
    ent = np.full((4, 16, 16), 0.01, np.float32)
    ent[1:3, 2:4, 3:5] = 0.6  # coarse voxels (1-2, 2-3, 3-4) cover original voxels (2-5, 4-7, 6-9)
    maps = UncertaintyMaps({"entropy": ent, "mean_prob": np.stack([1 - ent, ent])},
                           {"orig_shape": [8, 32, 32], "labels": [0, 1]})
    viewer = make_napari_viewer()
    layers = CaseLayers(viewer)
    layers.show(_view(img, mask, maps), mask.array)
    heat = layers.layer("heat")
    assert heat.blending == "translucent" and heat.interpolation2d == "linear"
    assert heat.colorbar.visible
    title = viewer.canvas.overlays["curator_heat_title"]
    assert title.visible and "Entropy" in title.text and "nats" in title.text
    assert heat.colormap.map(np.array([0.0]))[0, 3] == 0.0  # the floor is see-through
    assert heat.contrast_limits[0] > 0.01  # the sure background is below the floor
    hot = np.argwhere(np.asarray(heat.data) == np.asarray(heat.data).max()).mean(0)
    hot_world = np.asarray(heat.data_to_world(hot))
    from curator.core.io.grid import map_index

    img_layer = layers.layer("image")
    centre_case = (3.5, 5.5, 7.5)  # the centre of the original voxels the hot coarse voxels cover
    centre_world = np.asarray(img_layer.data_to_world(map_index(centre_case, img.array.shape, layers._amap)))
    np.testing.assert_allclose(hot_world, centre_world, atol=1e-6)


def test_painting_and_region_clicks_on_a_flipped_volume_reach_the_right_voxels(make_napari_viewer):
    from curator.core.io.types import Geometry, ImageData
    from curator.gui.layers import CaseLayers

    geom = Geometry((1.0, 1.0, 1.0), (0.0, 0.0, 0.0), (-1.0, 0.0, 0.0, 0.0, -1.0, 0.0, 0.0, 0.0, 1.0))
    img = ImageData(np.zeros((4, 10, 12), np.int16), geom, "nifti")
    mask = ImageData(np.zeros((4, 10, 12), np.uint8), geom, "nifti")
    viewer = make_napari_viewer()
    layers = CaseLayers(viewer)
    layers.show(_view(img, mask), mask.array)
    layer = layers.layer("working")
    layer.data[1, 0, 0] = 1  # painted at the top left of the screen
    assert layers.working_data()[1, 9, 11] == 1  # the last row and column of the file
    assert layers.case_index((1, 0, 0)) == (1, 9, 11)
    assert layers.case_index((1, 10, 0)) is None
