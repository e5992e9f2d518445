"""Radiological display order for every 3D reader: NIfTI (any affine), NRRD, MetaImage, DICOM series
and DICOM SEG put the same anatomy at the same place (curator.core.io.grid.display_map)."""

from __future__ import annotations

import itertools

import numpy as np
import pytest

from curator.core.io.grid import AxisMap, display_geometry, display_map, from_grid, map_index, to_grid, unmap_index
from curator.core.io.types import Geometry
from curator.core.io.readers import read_image, read_mask
from curator.core.io.writers import write_image, write_mask


def _shown(img) -> np.ndarray:
    return to_grid(img.array, display_map(img.geometry))


def _canonical():
    """A volume on an LPS-aligned grid with markers at known patient corners:
    right-anterior-superior = 7, left-anterior-inferior = 5, right-posterior-inferior = 3."""
    vol = np.zeros((6, 7, 8), np.int16)  # (Z: I->S, Y: A->P, X: R->L)
    vol[-1, 0, 0] = 7
    vol[0, 0, -1] = 5
    vol[0, -1, 0] = 3
    return vol, Geometry((0.8, 0.9, 2.5), (-40.0, -30.0, 10.0), tuple(np.eye(3).ravel().tolist()))


ALL_MAPS = [AxisMap(tuple(p), tuple(f)) for p in itertools.permutations(range(3))
            for f in itertools.product((False, True), repeat=3)]


@pytest.mark.parametrize("suffix", [".nii.gz", ".nrrd", ".mha"])
def test_any_stored_axis_order_is_shown_the_same(tmp_path, suffix):
    """The same voxels stored in each of the 48 axis orders (flips and permutations) of a file
    format come back in one display order, with the markers at their patient corners."""
    canon, geom = _canonical()
    for k, m in enumerate(ALL_MAPS):
        stored = to_grid(canon, m)
        g = display_geometry(geom, canon.shape, m)
        path = tmp_path / f"v{k}{suffix}"
        write_image(path, stored, g)
        img = read_image(path)
        np.testing.assert_array_equal(_shown(img), canon, err_msg=f"{m} in {suffix}")


def test_nifti_written_ras_by_nibabel_and_a_flipped_affine(tmp_path):
    """A NIfTI as most tools write it (RAS affine) and the same one with an axis stored flipped
    (affine adjusted) are shown identically, right-anterior-superior marker top left."""
    import nibabel as nib

    canon, _ = _canonical()
    xyz = canon.transpose(2, 1, 0)  # (x: R->L, y: A->P, z: I->S)
    ras = xyz[::-1, ::-1, :]  # RAS+: i runs towards the patient's right, j towards anterior
    affine = np.diag([0.8, 0.9, 2.5, 1.0])
    nib.save(nib.Nifti1Image(np.ascontiguousarray(ras), affine), tmp_path / "ras.nii.gz")
    flip = np.eye(4)
    flip[1, 1], flip[1, 3] = -1, ras.shape[1] - 1
    nib.save(nib.Nifti1Image(np.ascontiguousarray(ras[:, ::-1, :]), affine @ flip), tmp_path / "flipped.nii.gz")
    a, b = (_shown(read_image(tmp_path / n)) for n in ("ras.nii.gz", "flipped.nii.gz"))
    np.testing.assert_array_equal(a, canon)
    np.testing.assert_array_equal(b, canon)
    assert a[-1, 0, 0] == 7  # superior slice, top (anterior), left (patient's right)


def test_dicom_series_and_nifti_of_the_same_ct_look_the_same(shared_data, tmp_path):
    """The real dcmqi CT series and a NIfTI written from it the way dcm2niix does (RAS affine,
    LPS axes flipped) show the same voxels; the liver is on the image's left (the patient's
    right) and the spine below the body's centre (anterior up)."""
    import nibabel as nib

    from curator.core.io.grid import affine

    series = shared_data / "ct" / "dcmqi_ct-3slice" / "ct-3slice"
    dcm = read_image(series)
    lps = affine(dcm.geometry)
    to_ras = np.diag([-1.0, -1.0, 1.0, 1.0])
    data = dcm.array.transpose(2, 1, 0)  # (x, y, z) as nibabel stores it
    flip_rows = np.eye(4)
    flip_rows[1, 1], flip_rows[1, 3] = -1.0, data.shape[1] - 1  # rows stored bottom-up, as dcm2niix does
    nib.save(nib.Nifti1Image(np.ascontiguousarray(data[:, ::-1, :]), to_ras @ lps @ flip_rows), tmp_path / "ct.nii.gz")
    nii = read_image(tmp_path / "ct.nii.gz")
    assert not np.array_equal(nii.array, dcm.array)  # stored otherwise
    np.testing.assert_array_equal(_shown(nii), _shown(dcm))
    liver = to_grid(read_mask(shared_data / "ct" / "dcmqi_ct-3slice" / "liver_seg.nrrd").array,
                    display_map(read_mask(shared_data / "ct" / "dcmqi_ct-3slice" / "liver_seg.nrrd").geometry))
    shown = _shown(dcm)
    _, ys, xs = np.nonzero(liver)
    assert xs.mean() < shown.shape[2] / 2, "the liver (patient's right) is on the image's left"
    body = np.nonzero(shown[1] > -300)
    bone = np.nonzero(shown[1] > 300)
    assert bone[0].mean() > body[0].mean() + 30, "the spine (posterior) is below the body's centre"


def test_the_dicom_seg_nrrd_and_series_masks_of_one_study_agree(shared_data):
    root = shared_data / "ct" / "dcmqi_ct-3slice"
    series = read_image(root / "ct-3slice")
    seg = read_mask(root / "liver.dcm")  # on its own grid
    nrrd = read_mask(root / "liver_seg.nrrd")
    on_series = read_mask(root / "liver.dcm", reference=series)
    a, b, c = (to_grid(m.array, display_map(m.geometry)) for m in (seg, nrrd, on_series))
    assert a.shape == b.shape == c.shape
    np.testing.assert_array_equal(a > 0, b > 0)
    np.testing.assert_array_equal(a > 0, c > 0)


def test_a_nifti_mask_stored_flipped_against_its_dicom_series_shows_in_place(shared_data):
    """TotalSegmentator's NIfTI of the JPEG 2000 series stores rows flipped against the series:
    read alone, it is shown exactly over the series."""
    from curator.core.data.cases import align_mask

    folder = shared_data / "dicom" / "totalsegmentator_example_ct_dicom"
    series = read_image(folder)
    raw = read_mask(shared_data / "dicom" / "totalsegmentator_example_ct_dicom_seg.nii.gz")
    assert not np.allclose(raw.geometry.direction, series.geometry.direction)  # really stored otherwise
    aligned = align_mask(raw, series)
    np.testing.assert_array_equal(to_grid(raw.array, display_map(raw.geometry)),
                                  to_grid(aligned.array, display_map(series.geometry)))
    liver = to_grid(aligned.array, display_map(series.geometry)) == 5
    assert np.nonzero(liver)[2].mean() < liver.shape[2] / 2  # the patient's right, on the left


def test_display_geometry_places_the_same_voxels():
    canon, geom = _canonical()
    from curator.core.io.grid import affine

    for m in ALL_MAPS:
        g = display_geometry(geom, canon.shape, m)
        stored = to_grid(canon, m)
        # every voxel keeps its physical position
        for idx in [(0, 0, 0), (5, 6, 7), (2, 3, 4)]:
            s_idx = map_index(idx, canon.shape, m)
            p1 = affine(geom) @ np.r_[idx[::-1], 1.0]
            p2 = affine(g) @ np.r_[s_idx[::-1], 1.0]
            np.testing.assert_allclose(p1, p2, atol=1e-9)
            assert stored[tuple(int(v) for v in s_idx)] == canon[idx]
            assert unmap_index(s_idx, canon.shape, m) == tuple(float(v) for v in idx)
        np.testing.assert_array_equal(from_grid(stored, m), canon)
        np.testing.assert_array_equal(to_grid(stored, display_map(g)), canon)  # shown in LPS order again


def test_photographs_are_left_as_they_are():
    assert display_map(Geometry.identity(2)) == AxisMap((0, 1), (False, False))
