import os
import warnings

import imageio.v3 as iio
import numpy as np
import pytest

from svetlana_nb import io


@pytest.mark.parametrize(
    "shape, dtype",
    [
        ((16, 20), np.uint16),
        ((16, 20, 2), np.uint16),
        ((16, 20, 3), np.uint8),
        ((4, 16, 20), np.int32),
        ((3, 16, 20, 2), np.float32),
        ((16, 20), np.uint8),
    ],
)
def test_tiff_round_trip(tmp_path, shape, dtype):
    array = (np.random.default_rng(0).random(shape) * 200).astype(dtype)
    path = tmp_path / "image.tif"
    io.write_tiff(path, array)
    back = io.read_image(path)
    assert back.dtype == array.dtype
    np.testing.assert_array_equal(back, array)


def test_compressed_tiff_and_png_and_npy(tmp_path):
    array = np.arange(300, dtype=np.uint16).reshape(15, 20)
    io.write_tiff(tmp_path / "z.tiff", array, compression="zlib")
    np.testing.assert_array_equal(io.read_image(tmp_path / "z.tiff"), array)
    iio.imwrite(tmp_path / "a.png", array)
    np.testing.assert_array_equal(io.read_image(tmp_path / "a.png"), array)
    np.save(tmp_path / "a.npy", array)
    np.testing.assert_array_equal(io.read_image(tmp_path / "a.npy"), array)


def test_missing_file_names_the_path(tmp_path):
    path = tmp_path / "nothere.tif"
    with pytest.raises(FileNotFoundError, match="nothere.tif"):
        io.read_image(path)
    with pytest.raises(FileNotFoundError, match="nothere.tif"):
        io.read_mask(path)
    with pytest.raises(ValueError, match="not a file"):
        io.read_image(tmp_path)


@pytest.mark.parametrize("name", ["broken.tif", "broken.png", "broken.npy"])
def test_corrupt_file_is_a_clear_error(tmp_path, name):
    path = tmp_path / name
    path.write_bytes(b"this is not an image" * 10)
    with pytest.raises(ValueError, match=name):
        io.read_image(path)


def test_truncated_tiff(tmp_path):
    path = tmp_path / "cut.tif"
    io.write_tiff(path, np.ones((64, 64), np.uint16))
    path.write_bytes(path.read_bytes()[:200])
    with pytest.raises(ValueError, match="cut.tif"):
        io.read_image(path)


def test_read_mask_types(tmp_path):
    io.write_tiff(tmp_path / "f.tif", np.array([[0, 2.0], [5.0, 5.0]], np.float32))
    mask = io.read_mask(tmp_path / "f.tif")
    assert mask.dtype == np.int32 and mask.tolist() == [[0, 2], [5, 5]]
    io.write_tiff(tmp_path / "u.tif", np.array([[0, 7]], np.uint16))
    assert io.read_mask(tmp_path / "u.tif").dtype == np.uint16
    io.write_tiff(tmp_path / "b.tif", np.array([[0, 1]], bool))
    assert io.read_mask(tmp_path / "b.tif").dtype == np.uint8


def test_read_mask_rejects_bad_values(tmp_path):
    io.write_tiff(tmp_path / "frac.tif", np.array([[0, 1.5]], np.float32))
    with pytest.raises(ValueError, match="frac.tif.*non-integer"):
        io.read_mask(tmp_path / "frac.tif")
    io.write_tiff(tmp_path / "neg.tif", np.array([[0, -3]], np.int16))
    with pytest.raises(ValueError, match="neg.tif.*negative"):
        io.read_mask(tmp_path / "neg.tif")
    io.write_tiff(tmp_path / "nan.tif", np.array([[0, np.nan]], np.float32))
    with pytest.raises(ValueError, match="nan.tif"):
        io.read_mask(tmp_path / "nan.tif")
    colour = np.zeros((8, 8, 3), np.uint8)
    colour[2:4, 2:4] = (255, 0, 0)
    iio.imwrite(tmp_path / "colour.png", colour)
    with pytest.raises(ValueError, match="colour.png.*colour"):
        io.read_mask(tmp_path / "colour.png")


def test_read_mask_grey_rgb_png_and_binary(tmp_path):
    grey = np.zeros((8, 8, 3), np.uint8)
    grey[1:3, 1:3] = 255
    grey[5:7, 5:7] = 255
    iio.imwrite(tmp_path / "grey.png", grey)
    mask = io.read_mask(tmp_path / "grey.png")
    assert mask.shape == (8, 8) and set(np.unique(mask)) == {0, 255}
    labelled = io.read_mask(tmp_path / "grey.png", label_binary=True)
    assert set(np.unique(labelled)) == {0, 1, 2}


def _touch(path, value=1):
    io.write_tiff(path, np.full((4, 4), value, np.uint16))


@pytest.mark.parametrize("suffix", ["", "_mask", "_masks", "_cp_masks", "_label", "_labels", "_seg", "-masks", "_MASK"])
def test_find_pairs_suffixes(tmp_path, suffix):
    images, masks = tmp_path / "images", tmp_path / "masks"
    images.mkdir()
    masks.mkdir()
    _touch(images / "b.tif")
    _touch(images / "a.tif")
    _touch(masks / f"a{suffix}.tif")
    _touch(masks / f"b{suffix}.tiff")
    pairs = io.find_pairs(images, masks)
    assert [(i.name, m.name) for i, m in pairs] == [("a.tif", f"a{suffix}.tif"), ("b.tif", f"b{suffix}.tiff")]


def test_find_pairs_same_folder_png_and_ome(tmp_path):
    _touch(tmp_path / "x1.ome.tif")
    _touch(tmp_path / "x1_cp_masks.png".replace(".png", ".tif"))
    iio.imwrite(tmp_path / "x2.png", np.zeros((4, 4), np.uint8))
    iio.imwrite(tmp_path / "x2_seg.png", np.zeros((4, 4), np.uint8))
    (tmp_path / ".x3.tif.tmp").write_bytes(b"")  # hidden temporary files are ignored
    (tmp_path / "notes.txt").write_text("x")
    pairs = io.find_pairs(tmp_path, tmp_path)
    assert [(i.name, m.name) for i, m in pairs] == [("x1.ome.tif", "x1_cp_masks.tif"), ("x2.png", "x2_seg.png")]


def test_find_pairs_nothing_matches_lists_files(tmp_path):
    images, masks = tmp_path / "i", tmp_path / "m"
    images.mkdir()
    masks.mkdir()
    _touch(images / "cat.tif")
    _touch(masks / "dog_mask.tif")
    with pytest.raises(ValueError, match="cat.tif.*dog_mask.tif"):
        io.find_pairs(images, masks)
    with pytest.raises(FileNotFoundError, match="nowhere"):
        io.find_pairs(tmp_path / "nowhere", masks)


def test_find_pairs_partial_warns_or_raises(tmp_path):
    images, masks = tmp_path / "i", tmp_path / "m"
    images.mkdir()
    masks.mkdir()
    _touch(images / "a.tif")
    _touch(images / "lonely.tif")
    _touch(masks / "a_mask.tif")
    with pytest.warns(UserWarning, match="lonely.tif"):
        pairs = io.find_pairs(images, masks)
    assert len(pairs) == 1
    with pytest.raises(ValueError, match="lonely.tif"):
        io.find_pairs(images, masks, strict=True)


def test_find_pairs_ambiguous(tmp_path):
    images, masks = tmp_path / "i", tmp_path / "m"
    images.mkdir()
    masks.mkdir()
    _touch(images / "a.tif")
    _touch(masks / "a_mask.tif")
    _touch(masks / "a_labels.tif")
    with pytest.raises(ValueError, match="several masks"):
        io.find_pairs(images, masks)
    # an exact name wins over a suffixed one
    _touch(masks / "a.tif")
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        pairs = io.find_pairs(images, masks)
    assert [m.name for _, m in pairs] == ["a.tif"]


def test_write_tiff_is_atomic(tmp_path, monkeypatch):
    path = tmp_path / "out.tif"
    io.write_tiff(path, np.ones((8, 8), np.uint16))
    assert os.listdir(tmp_path) == ["out.tif"]
    before = path.read_bytes()

    import tifffile

    def failing(file, data, **kwargs):
        with open(file, "wb") as handle:
            handle.write(b"partial")
        raise OSError("disk full")

    monkeypatch.setattr(tifffile, "imwrite", failing)
    with pytest.raises(OSError, match="disk full"):
        io.write_tiff(path, np.zeros((8, 8), np.uint16))
    assert path.read_bytes() == before
    assert os.listdir(tmp_path) == ["out.tif"]


def test_write_tiff_missing_folder(tmp_path):
    with pytest.raises(FileNotFoundError):
        io.write_tiff(tmp_path / "no" / "x.tif", np.zeros((2, 2), np.uint8))
