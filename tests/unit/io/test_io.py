"""curator.core.io.readers: every 2D mask encoding, image reading, exact write round trips, atomic writes."""

from __future__ import annotations

import numpy as np
import pytest
from PIL import Image
from curator.core.io.files import atomic_path
from curator.core.io.readers import read_image, read_info, read_mask
from curator.core.io.types import Geometry, ReadError
from curator.core.io.writers import write_image, write_mask




def _disc(shape=(40, 50), r=12):
    yy, xx = np.mgrid[: shape[0], : shape[1]]
    return ((yy - shape[0] / 2) ** 2 + (xx - shape[1] / 2) ** 2 < r ** 2).astype(np.uint8)


# -- 2D masks -------------------------------------------------------------------------------------


@pytest.mark.parametrize(
    "mode,suffix,values",
    [("L", ".png", 255), ("L", ".png", 1), ("L", ".bmp", 255), ("L", ".tif", 255)],
)
def test_grey_binary_masks_become_0_1_and_write_back_identically(tmp_path, mode, suffix, values):
    m = _disc()
    p = tmp_path / f"m{suffix}"
    Image.fromarray((m * values).astype(np.uint8), mode).save(p)
    got = read_mask(p)
    assert got.array.dtype == np.uint8
    assert set(np.unique(got.array)) == {0, 1}
    np.testing.assert_array_equal(got.array, m)
    out = tmp_path / f"out{suffix}"
    write_mask(out, got.array, like=got)
    np.testing.assert_array_equal(np.asarray(Image.open(out)), np.asarray(Image.open(p)))


def test_one_bit_bmp_round_trip_stays_one_bit(tmp_path):
    m = _disc()
    p = tmp_path / "m.bmp"
    Image.fromarray(m.astype(bool)).convert("1").save(p)
    got = read_mask(p)
    assert got.encoding.mode == "1"
    np.testing.assert_array_equal(got.array, m)
    out = tmp_path / "o.bmp"
    write_mask(out, 1 - got.array, like=got)
    back = Image.open(out)
    assert back.mode == "1"
    np.testing.assert_array_equal(np.asarray(back, dtype=np.uint8), 1 - m)


def test_24bit_bmp_with_0_255_is_binary_and_stays_rgb(tmp_path):
    m = _disc()
    p = tmp_path / "m.bmp"
    Image.fromarray(np.repeat((m * 255)[..., None], 3, axis=2).astype(np.uint8), "RGB").save(p)
    got = read_mask(p)
    np.testing.assert_array_equal(got.array, m)
    out = tmp_path / "o.bmp"
    write_mask(out, got.array, like=got)
    back = Image.open(out)
    assert back.mode == "RGB"
    np.testing.assert_array_equal(np.asarray(back), np.asarray(Image.open(p)))


def test_palette_png_gives_palette_indices_and_keeps_palette(tmp_path):
    m = _disc().astype(np.uint8)
    m[:5, :5] = 2
    im = Image.fromarray(m, "P")
    im.putpalette([0, 0, 0, 255, 0, 0, 0, 255, 0] + [0] * 759)
    p = tmp_path / "m.png"
    im.save(p)
    got = read_mask(p)
    assert got.array.dtype == np.uint8
    np.testing.assert_array_equal(got.array, m)
    out = tmp_path / "o.png"
    write_mask(out, got.array, like=got)
    back = Image.open(out)
    assert back.mode == "P"
    assert back.getpalette()[:9] == [0, 0, 0, 255, 0, 0, 0, 255, 0]
    np.testing.assert_array_equal(np.asarray(back), m)


def test_multiclass_grey_png_keeps_labels(tmp_path):
    m = _disc()
    m[10:15, 10:15] = 2
    p = tmp_path / "m.png"
    Image.fromarray(m).save(p)
    got = read_mask(p)
    assert set(np.unique(got.array)) == {0, 1, 2}
    np.testing.assert_array_equal(got.array, m)


def test_rgb_colour_mask_maps_colours_to_labels_and_back(tmp_path):
    m = _disc()
    m[:6, :6] = 2
    colours = {0: (0, 0, 0), 1: (255, 0, 0), 2: (0, 0, 255)}
    rgb = np.zeros(m.shape + (3,), np.uint8)
    for k, c in colours.items():
        rgb[m == k] = c
    p = tmp_path / "m.png"
    Image.fromarray(rgb).save(p)
    got = read_mask(p)
    assert len(np.unique(got.array)) == 3
    # same partition of pixels
    for k in colours:
        assert len(np.unique(got.array[m == k])) == 1
    out = tmp_path / "o.png"
    write_mask(out, got.array, like=got)
    np.testing.assert_array_equal(np.asarray(Image.open(out)), rgb)


def test_anti_aliased_colour_mask_maps_edge_blends_to_the_nearest_label_colour(tmp_path):
    """LiTS-style masks: blue liver, red tumour, anti-aliased edges (hundreds of blended colours)."""
    from scipy import ndimage

    yy, xx = np.mgrid[:200, :200]
    liver = ((yy - 100) ** 2 / 70 ** 2 + (xx - 100) ** 2 / 60 ** 2) < 1
    tumour = ((yy - 90) ** 2 + (xx - 110) ** 2) < 15 ** 2
    truth = liver.astype(np.uint8)
    truth[tumour] = 2
    # smooth coverage per colour, as a renderer's anti-aliasing leaves it
    a_liver = ndimage.gaussian_filter((truth == 1).astype(float), 1.2)
    a_tumour = ndimage.gaussian_filter((truth == 2).astype(float), 1.2)
    rgb = np.zeros((200, 200, 3))
    rgb[..., 2] = 255 * a_liver
    rgb[..., 0] = 255 * a_tumour
    rgb = np.round(rgb).astype(np.uint8)
    assert len(np.unique(rgb.reshape(-1, 3), axis=0)) > 64
    p = tmp_path / "seg.png"
    Image.fromarray(rgb).save(p)
    got = read_mask(p)
    assert "anti-aliased colours mapped" in got.encoding.note
    assert dict(got.encoding.stored) == {0: (0, 0, 0), 1: (0, 0, 255), 2: (255, 0, 0)}
    assert (got.array != truth).mean() < 0.01
    # a photograph given as the mask is still refused
    photo = (np.random.default_rng(0).random((64, 64, 3)) * 255).astype(np.uint8)
    Image.fromarray(photo).save(tmp_path / "photo.png")
    with pytest.raises(ReadError, match="distinct colours"):
        read_mask(tmp_path / "photo.png")


def test_lossy_jpeg_mask_is_thresholded_and_noted(tmp_path):
    m = _disc((64, 64), 20)
    p = tmp_path / "m.jpg"
    Image.fromarray(m * 255).save(p, quality=60)
    got = read_mask(p)
    assert set(np.unique(got.array)) <= {0, 1}
    assert (got.array != m).mean() < 0.02
    assert "thresholded" in got.encoding.note


def test_float_tiff_with_fractions_is_non_integer_error(tmp_path):
    p = tmp_path / "m.tif"
    Image.fromarray(np.full((8, 8), 0.5, np.float32), "F").save(p)
    with pytest.raises(ReadError, match="non-integer"):
        read_mask(p)


# -- 2D images ------------------------------------------------------------------------------------


def test_read_rgb_grey_rgba_and_16bit_images(tmp_path):
    rgb = (np.random.default_rng(0).random((20, 30, 3)) * 255).astype(np.uint8)
    Image.fromarray(rgb).save(tmp_path / "a.png")
    Image.fromarray(np.dstack([rgb, np.full(rgb.shape[:2], 255, np.uint8)])).save(tmp_path / "b.png")
    Image.fromarray(rgb[..., 0]).save(tmp_path / "c.bmp")
    Image.fromarray((rgb[..., 0].astype(np.uint16) * 200)).save(tmp_path / "d.tif")
    a = read_image(tmp_path / "a.png")
    assert a.array.shape == (20, 30, 3) and a.ndim == 2 and a.channels == 3
    np.testing.assert_array_equal(a.array, rgb)
    b = read_image(tmp_path / "b.png")
    np.testing.assert_array_equal(b.array, rgb)
    c = read_image(tmp_path / "c.bmp")
    assert c.array.shape == (20, 30)
    d = read_image(tmp_path / "d.tif")
    assert d.array.dtype == np.uint16 and d.array.max() > 255


def test_read_info_reads_header_only(tmp_path):
    Image.fromarray(np.zeros((33, 44, 3), np.uint8)).save(tmp_path / "a.jpg")
    info = read_info(tmp_path / "a.jpg")
    assert info.shape == (33, 44) and info.channels == 3 and info.format == "jpeg"


def test_unreadable_and_empty_files_raise_clear_errors(tmp_path):
    empty = tmp_path / "empty.png"
    empty.write_bytes(b"")
    with pytest.raises(ReadError, match="empty"):
        read_image(empty)
    junk = tmp_path / "junk.jpg"
    junk.write_bytes(b"this is not a jpeg at all" * 10)
    with pytest.raises(ReadError, match="junk.jpg"):
        read_image(junk)
    with pytest.raises(ReadError, match="not found"):
        read_mask(tmp_path / "nope.png")
    bad_nii = tmp_path / "bad.nii.gz"
    bad_nii.write_bytes(b"\x1f\x8b garbage")
    with pytest.raises(ReadError, match="bad.nii.gz"):
        read_info(bad_nii)


def test_truncated_jpeg_is_a_read_error(tmp_path):
    p = tmp_path / "t.jpg"
    Image.fromarray((np.random.default_rng(0).random((64, 64, 3)) * 255).astype(np.uint8)).save(p)
    data = p.read_bytes()
    p.write_bytes(data[: len(data) // 3])
    with pytest.raises(ReadError):
        read_image(p)


# -- 3D round trips -------------------------------------------------------------------------------

GEOM = Geometry((0.7421875, 0.7421875, 2.5), (-190.12890625, -171.5, 1031.25),
                   (1.0, 0.0, 0.0, 0.0, -1.0, 0.0, 0.0, 0.0, 1.0))


@pytest.mark.parametrize("suffix", [".nii.gz", ".nii", ".nrrd", ".mha"])
def test_volume_write_round_trip_keeps_geometry_and_labels_exactly(tmp_path, suffix):
    labels = np.zeros((5, 12, 10), np.uint8)
    labels[1:4, 2:9, 3:7] = 1
    labels[2, 4:6, 4:6] = 2  # tumour inside liver
    p1 = tmp_path / f"a{suffix}"
    write_mask(p1, labels, geometry=GEOM)
    m1 = read_mask(p1)
    np.testing.assert_array_equal(m1.array, labels)
    assert m1.labels == [1, 2]
    # second generation is bit-identical in geometry (the file format's precision is the reference)
    p2 = tmp_path / f"b{suffix}"
    write_mask(p2, m1.array, like=m1)
    m2 = read_mask(p2)
    assert m2.geometry == m1.geometry
    np.testing.assert_array_equal(m2.array, labels)
    np.testing.assert_allclose(m1.geometry.spacing, GEOM.spacing, rtol=1e-6)
    np.testing.assert_allclose(m1.geometry.origin, GEOM.origin, rtol=1e-6)
    np.testing.assert_allclose(m1.geometry.direction, GEOM.direction, atol=1e-6)


def test_nifti_written_like_original_keeps_header_and_affine_bytes(tmp_path):
    import nibabel as nib

    data = np.zeros((10, 12, 5), np.int16)
    data[2:6, 3:8, 1:4] = 1
    aff = np.array([[-0.8, 0.01, 0, 100.3], [0.0, 0.8, 0.02, -20.7], [0, 0, 3.0, -55.5], [0, 0, 0, 1]])
    img = nib.Nifti1Image(data, aff)
    img.header["descrip"] = b"original mask"
    img.set_qform(aff, 1)
    img.set_sform(aff, 2)
    src = tmp_path / "seg.nii.gz"
    nib.save(img, src)
    m = read_mask(src)
    out = tmp_path / "seg_out.nii.gz"
    new = m.array.copy()
    new[0, 0, 0] = 2
    write_mask(out, new, like=m)
    a, b = nib.load(src), nib.load(out)
    np.testing.assert_array_equal(a.affine, b.affine)
    assert b.header["descrip"] == a.header["descrip"]
    assert int(b.header["sform_code"]) == 2 and int(b.header["qform_code"]) == 1
    assert b.get_data_dtype() == np.int16
    np.testing.assert_array_equal(read_mask(out).array, new)


def test_float_nifti_with_fractions_is_rejected_and_integral_float_is_accepted(tmp_path):
    lab = np.zeros((3, 4, 5), np.float32)
    lab[1, 1:3, 1:4] = 1.0
    write_image(tmp_path / "ok.nii.gz", lab, Geometry.identity(3))
    assert read_mask(tmp_path / "ok.nii.gz").array.dtype == np.uint8
    lab[0, 0, 0] = 0.3
    write_image(tmp_path / "bad.nii.gz", lab, Geometry.identity(3))
    with pytest.raises(ReadError, match="non-integer"):
        read_mask(tmp_path / "bad.nii.gz")


def test_write_image_volume_keeps_intensities(tmp_path):
    vol = np.random.default_rng(1).integers(-1024, 2000, (4, 6, 7)).astype(np.int16)
    write_image(tmp_path / "ct.nii.gz", vol, GEOM)
    back = read_image(tmp_path / "ct.nii.gz")
    np.testing.assert_array_equal(back.array, vol)
    assert back.array.dtype == np.int16


# -- atomic writes --------------------------------------------------------------------------------


def test_atomic_write_leaves_no_partial_file_on_failure(tmp_path):
    dest = tmp_path / "x.txt"
    dest.write_text("old")
    with pytest.raises(RuntimeError):
        with atomic_path(dest) as tmp:
            tmp.write_text("half-written")
            raise RuntimeError("disk full")
    assert dest.read_text() == "old"
    assert [p.name for p in tmp_path.iterdir()] == ["x.txt"]


def test_write_mask_rejects_float_labels(tmp_path):
    with pytest.raises(ValueError):
        write_mask(tmp_path / "m.png", np.zeros((4, 4), np.float32))
