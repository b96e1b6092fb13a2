"""``sv.Objects`` on lazy inputs (zarr / OME-Zarr, dask): never read whole, the same objects as in memory."""

from __future__ import annotations

import dask.array as da
import numpy as np
import pandas as pd
import pytest
import zarr
from helpers import annotate, grid_scene, ome_zarr, patches

import svetlana_nb as sv
from svetlana_nb.objects.lazy_views import LazyImage, LazyMask
from svetlana_nb.objects.pyramid import Pyramid
from svetlana_nb.prediction.export import export_images

CHUNK = 50  # smaller than the patches: most objects cross a chunk border


@pytest.fixture(scope="module")
def scene():
    return grid_scene(size=240, seed=1)


@pytest.fixture(scope="module")
def stores(scene, tmp_path_factory):
    image, mask, _ = scene
    root = tmp_path_factory.mktemp("lazy")
    zarr.create_array(root / "scene.zarr", data=image, chunks=(CHUNK, CHUNK))
    zarr.create_array(root / "scene_masks.zarr", data=mask, chunks=(CHUNK, CHUNK))
    return root / "scene.zarr", root / "scene_masks.zarr"


@pytest.fixture(scope="module")
def pair(scene, stores):
    """(in-memory Objects, lazy Objects of the zarr stores)."""
    image, mask, _ = scene
    return sv.Objects(image, mask), sv.Objects(stores[0], stores[1])


def test_a_zarr_store_gives_the_in_memory_ids_boxes_areas_ranges_and_table(pair):
    memory, lazy = pair
    nd = memory.spatial_ndim
    crossing = np.any(memory.bbox[:, :nd] // CHUNK != (memory.bbox[:, nd:] - 1) // CHUNK, axis=1)
    assert crossing.sum() >= 10  # the test is about objects across chunk borders
    assert lazy.is_lazy and not memory.is_lazy
    assert isinstance(lazy.images[0], LazyImage) and isinstance(lazy.masks[0], LazyMask)
    assert lazy.images[0].shape == memory.images[0].shape and lazy.masks[0].shape == memory.masks[0].shape
    np.testing.assert_array_equal(lazy.labels, memory.labels)
    np.testing.assert_array_equal(lazy.bbox, memory.bbox)
    np.testing.assert_array_equal(lazy.centres, memory.centres)
    np.testing.assert_array_equal(lazy.area, memory.area)
    assert lazy.patch_shape == memory.patch_shape
    for normalization in ("percentile", "minmax", "none"):
        np.testing.assert_allclose(lazy.channel_ranges(normalization), memory.channel_ranges(normalization))
    pd.testing.assert_frame_equal(lazy.features(), memory.features())
    position = memory.centres[7]
    assert lazy.object_at(position) == memory.object_at(position) == 7


def test_crops_label_crops_and_patches_are_read_per_object_as_in_memory(pair):
    memory, lazy = pair
    for row in (0, 9, len(memory) - 1):  # the first and last cross the image border
        for got, want in zip(lazy.crop(row), memory.crop(row)):
            np.testing.assert_array_equal(got, want)
        origin = tuple(int(c) - 20 for c in memory.centres[row])
        np.testing.assert_array_equal(lazy.label_crop(0, origin, (40, 40)), memory.label_crop(0, origin, (40, 40)))
    np.testing.assert_array_equal(patches(lazy), patches(memory))
    rows = np.array([40, 3, 3, 17])
    np.testing.assert_array_equal(patches(lazy, rows, context=4), patches(memory, rows, context=4))


def test_a_lazy_image_is_never_converted_whole():
    image = np.zeros((30, 30), np.float32)
    mask = np.zeros((30, 30), np.int32)
    mask[5:9, 5:9] = 1
    objects = sv.Objects(zarr.array(image, chunks=(10, 10)), mask)
    with pytest.raises(TypeError, match="lazy.*predict_large"):
        np.asarray(objects.images[0])
    assert objects.masks[0][4:10:2, 6].tolist() == [0, 1, 1]  # windows read as NumPy indexing would


def test_a_channel_first_dask_image_and_a_zarr_mask_array_stay_lazy(scene):
    image, mask, _ = grid_scene(size=120, channels=2, seed=4)
    memory = sv.Objects(image, mask)
    channel_first = da.from_array(np.moveaxis(image, -1, 0), chunks=(1, 35, 45))
    lazy = sv.Objects(channel_first, zarr.array(mask, chunks=(33, 41)), channel_axis=0)
    assert lazy.is_lazy and lazy.n_channels == 2
    np.testing.assert_array_equal(lazy.bbox, memory.bbox)
    np.testing.assert_array_equal(patches(lazy), patches(memory))
    np.testing.assert_allclose(lazy.channel_ranges(), memory.channel_ranges())


def test_a_3d_stack_gives_the_in_memory_patches(tmp_path):
    image, mask, _ = grid_scene(size=90, ndim=3, seed=2)
    memory = sv.Objects(image, mask)
    lazy = sv.Objects(zarr.array(image, chunks=(4, 30, 30)), zarr.array(mask, chunks=(5, 25, 40)))
    np.testing.assert_array_equal(lazy.bbox, memory.bbox)
    np.testing.assert_array_equal(patches(lazy), patches(memory))
    ys, xs = np.arange(0, 90, 3), np.arange(1, 90, 2)
    for projection in (False, True):
        got = lazy.sample_labels(0, ys, xs, z=6, projection=projection)
        np.testing.assert_array_equal(got, memory.sample_labels(0, ys, xs, z=6, projection=projection))


def test_prediction_on_a_lazy_objects_equals_in_memory_and_its_class_image_stays_lazy(scene, pair, tmp_path):
    memory, lazy = pair
    _, _, truth = scene
    clf = sv.Classifier(memory, epochs=1, seed=0)
    clf.fit(annotate(memory, truth, 20))
    want, got = clf.predict(memory), clf.predict(lazy)
    np.testing.assert_allclose(got.probabilities, want.probabilities, atol=1e-5)
    assert got.table["class"].astype(str).tolist() == want.table["class"].astype(str).tolist()
    classes = got.class_image()
    assert isinstance(classes, da.Array)  # nothing computed yet
    np.testing.assert_array_equal(classes.compute(), want.class_image())
    masks = got.class_masks()
    assert all(isinstance(m, da.Array) for m in masks.values())
    np.testing.assert_array_equal(masks["b"].compute(), want.class_masks()["b"])
    with pytest.raises(ValueError, match="lazily.*predict_large"):
        got.save_class_image(tmp_path / "classes.tif")
    with pytest.raises(ValueError, match="lazily.*predict_large"):
        export_images(got, tmp_path / "out")


def test_training_on_a_lazy_objects_reads_the_in_memory_patches(scene, pair):
    memory, lazy = pair
    _, _, truth = scene
    clf_memory, clf_lazy = sv.Classifier(memory, epochs=1, seed=0), sv.Classifier(lazy, epochs=1, seed=0)
    clf_memory.fit(annotate(memory, truth, 16))
    clf_lazy.fit(annotate(lazy, truth, 16))
    np.testing.assert_allclose(clf_lazy.predict_proba(memory), clf_memory.predict_proba(memory), atol=1e-5)


# -- overviews ---------------------------------------------------------------------------------
def test_the_overview_reads_the_pyramid_level_never_the_full_resolution(scene, tmp_path):
    image, mask, _ = scene
    image_levels = ome_zarr(tmp_path / "scene.ome.zarr", image)
    mask_levels = ome_zarr(tmp_path / "masks.ome.zarr", mask)
    objects = sv.Objects(tmp_path / "scene.ome.zarr", tmp_path / "masks.ome.zarr")
    np.testing.assert_array_equal(objects.labels, sv.Objects(image, mask).labels)
    # spoil the full resolution: an overview reading it would show the spoiled values
    zarr.open_array(image_levels[0], mode="r+")[:] = -7.0
    zarr.open_array(mask_levels[0], mode="r+")[:] = 99
    ys = xs = np.arange(0, 240, 4)  # a 60-pixel overview of the 240-pixel image: level 2 (factor 4)
    np.testing.assert_array_equal(objects.sample_image(0, ys, xs)[..., 0], image[::4, ::4])
    np.testing.assert_array_equal(objects.sample_labels(0, ys, xs), mask[::4, ::4])
    ys = xs = np.arange(0, 240, 2)  # 120 pixels: level 1 (factor 2), the coarsest at least that large
    np.testing.assert_array_equal(objects.sample_labels(0, ys, xs), mask[::2, ::2])
    assert np.array_equal(objects.sample_labels(0, ys[:10], xs[:10] // 2), np.full((10, 10), 99))  # zoomed in: full res
    assert objects.lazy_entry(0).pyramid.preview(size=60).min() > -7.0  # value ranges from level 2 too


def test_without_a_pyramid_the_overview_is_computed_once_blockwise(scene, pair, monkeypatch):
    image, mask, _ = scene
    _, lazy = pair
    pyramid = lazy.lazy_entry(0).pyramid
    pyramid = Pyramid(pyramid.pair, None, None, display_size=60)
    assert len(pyramid.image_levels) == 1  # a plain zarr store: the full resolution only
    ys = xs = np.arange(0, 240, 4)
    overview = pyramid.sample(ys, xs)
    assert len(pyramid.image_levels) == 2 and pyramid.image_levels[1].factors == (4, 4)
    np.testing.assert_allclose(overview[..., 0], image.reshape(60, 4, 60, 4).mean(axis=(1, 3)), rtol=1e-5)
    np.testing.assert_array_equal(pyramid.sample(ys, xs, image=False), mask[2::4, 2::4])
    calls = []
    monkeypatch.setattr(pyramid.pair, "read_image", lambda *a: calls.append(a))
    pyramid.sample(ys, xs)  # in memory now: the store is not read again
    assert calls == [] and len(pyramid.image_levels) == 2


def test_numpy_objects_sample_planes_as_before():
    image, mask, _ = grid_scene(size=60, ndim=3, seed=5)
    objects = sv.Objects(image, mask)
    ys, xs = np.array([0, 5, 5, 59]), np.array([3, 30, 40])
    np.testing.assert_array_equal(objects.sample_image(0, ys, xs, z=6), image[6][ys[:, None], xs[None, :], None])
    projected = objects.sample_labels(0, ys, xs, projection=True)
    np.testing.assert_array_equal(projected, mask.max(axis=0)[ys[:, None], xs[None, :]])


# -- errors ------------------------------------------------------------------------------------
def test_bad_lazy_inputs_are_refused_naming_the_input(scene, stores, tmp_path):
    image, mask, _ = scene
    zarr.create_array(tmp_path / "small_masks.zarr", data=mask[:200], chunks=(CHUNK, CHUNK))
    with pytest.raises(ValueError, match=r"image and mask do not match.*\(240, 240\).*\(200, 240\)"):
        sv.Objects(stores[0], tmp_path / "small_masks.zarr")
    with pytest.raises(ValueError, match=r"image\[1\] and mask\[1\] do not match"):
        sv.Objects([stores[0], stores[0]], [stores[1], tmp_path / "small_masks.zarr"])
    with pytest.raises(TypeError, match="mask: expected an integer label image"):
        sv.Objects(stores[0], zarr.array(mask.astype(np.float32)))
    with pytest.raises(ValueError, match="mask: the label image has no objects"):
        sv.Objects(stores[0], zarr.array(np.zeros_like(mask), chunks=(CHUNK, CHUNK)))
    with pytest.raises(FileNotFoundError, match="image: no such file or zarr store"):
        sv.Objects(tmp_path / "missing.zarr", stores[1])
    (tmp_path / "empty.zarr").mkdir()
    with pytest.raises(ValueError, match="image: .*empty.zarr.* is not a readable zarr store"):
        sv.Objects(tmp_path / "empty.zarr", stores[1])


def test_a_tiled_tiff_is_read_tile_by_tile_and_a_small_tiff_path_in_memory(scene, tmp_path):
    import tifffile

    image, mask, _ = scene
    tifffile.imwrite(tmp_path / "scene.tif", image, tile=(64, 64))
    tifffile.imwrite(tmp_path / "masks.tif", mask, tile=(64, 64))
    memory = sv.Objects(image, mask)
    tiles = zarr.open(tifffile.imread(tmp_path / "scene.tif", aszarr=True), mode="r")
    lazy = sv.Objects(tiles, tmp_path / "masks.tif")  # a small TIFF path: read into memory
    assert lazy.is_lazy and not sv.Objects(tmp_path / "scene.tif", tmp_path / "masks.tif").is_lazy
    np.testing.assert_array_equal(lazy.bbox, memory.bbox)
    np.testing.assert_array_equal(patches(lazy), patches(memory))


def test_a_channel_first_ome_zarr_overview_reads_its_level_channel_last(tmp_path):
    image, mask, _ = grid_scene(size=120, channels=2, seed=6)
    group = zarr.open_group(str(tmp_path / "two.ome.zarr"), mode="w")
    datasets = []
    for k, factor in enumerate((1, 2, 4)):
        level = np.ascontiguousarray(np.moveaxis(image, -1, 0)[:, ::factor, ::factor])
        group.create_array(str(k), data=level, chunks=(1, 32, 32))
        datasets.append(
            {"path": str(k), "coordinateTransformations": [{"type": "scale", "scale": [1, factor, factor]}]}
        )
    axes = [{"name": "c", "type": "channel"}, {"name": "y", "type": "space"}, {"name": "x", "type": "space"}]
    group.attrs["ome"] = {"version": "0.5", "multiscales": [{"axes": axes, "datasets": datasets}]}
    objects = sv.Objects(tmp_path / "two.ome.zarr", mask)
    assert objects.n_channels == 2
    assert [level.factors for level in objects.lazy_entry(0).pyramid.image_levels] == [(1, 1), (2, 2), (4, 4)]
    zarr.open_array(tmp_path / "two.ome.zarr" / "0", mode="r+")[:] = -1.0  # level 0 spoiled
    ys = xs = np.arange(0, 120, 4)
    np.testing.assert_array_equal(objects.sample_image(0, ys, xs), image[::4, ::4])


def test_lazy_and_in_memory_images_mix_in_one_objects(scene, stores):
    image, mask, _ = scene
    memory = sv.Objects([image, image[:120]], [mask, mask[:120]], name=["big", "small"])
    mixed = sv.Objects([stores[0], image[:120]], [stores[1], mask[:120]], name=["big", "small"])
    assert mixed.is_lazy and mixed.lazy_entry("small") is None
    assert mixed.keys == memory.keys
    np.testing.assert_array_equal(mixed.area, memory.area)
    np.testing.assert_array_equal(patches(mixed), patches(memory))
    np.testing.assert_allclose(mixed.channel_ranges(), memory.channel_ranges())


def test_huge_sparse_lazy_ids_are_kept_and_measured_without_huge_tables(scene):
    image, mask, _ = scene
    huge = np.where(mask > 0, mask.astype(np.int64) * 10**9, 0)  # ids up to 1.9e11: tables to the largest won't fit
    memory = sv.Objects(image, mask)
    lazy = sv.Objects(zarr.array(image, chunks=(CHUNK, CHUNK)), zarr.array(huge, chunks=(CHUNK, CHUNK)))
    np.testing.assert_array_equal(lazy.labels, memory.labels * 10**9)
    table, want = lazy.features(), memory.features()
    pd.testing.assert_frame_equal(table.drop(columns="label"), want.drop(columns="label"))
    prediction = sv.Prediction(lazy, np.tile([[0.2, 0.8]], (len(lazy), 1)), ["a", "b"])
    np.testing.assert_array_equal(prediction.class_image().compute(), np.where(mask > 0, 2, 0))


def test_two_lazy_images_of_one_geometry_never_share_a_cached_window(scene):
    image, mask, _ = scene
    memory = sv.Objects([image, image * 2 + 1], [mask, mask])
    lazy = sv.Objects(
        [zarr.array(image, chunks=(CHUNK, CHUNK)), zarr.array(image * 2 + 1, chunks=(CHUNK, CHUNK))],
        [zarr.array(mask, chunks=(CHUNK, CHUNK)), zarr.array(mask, chunks=(CHUNK, CHUNK))],
    )
    rows = np.flatnonzero(np.all(lazy.centres < 80, axis=1))  # one cell of each image: the same window
    assert len(rows) >= 4 and set(lazy.image_index[rows]) == {0, 1}
    np.testing.assert_array_equal(
        patches(lazy, rows, normalization="none"), patches(memory, rows, normalization="none")
    )


def test_annotations_saved_on_a_lazy_objects_load_on_the_same_image_in_memory(scene, pair, tmp_path):
    memory, lazy = pair
    _, _, truth = scene
    ann = annotate(lazy, truth, 10)
    ann.save(tmp_path / "labels.json")
    loaded = sv.Annotations.load(tmp_path / "labels.json", memory)  # same ids and boxes: the same fingerprint
    assert dict(loaded.items()) == dict(ann.items())
