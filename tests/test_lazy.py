"""Images larger than memory (svetlana_nb.batch.predict_large): read block by block, each object once, as in memory."""

from __future__ import annotations

import numpy as np
import pytest
import zarr
from helpers import annotate, grid_scene

import svetlana_nb as sv
from svetlana_nb.objects.blockwise import SPAN_LIMIT, block_boxes, merge_boxes, scan
from svetlana_nb.objects.boxes import bounding_boxes
from svetlana_nb.objects.lazy import LazyPair, block_grid

CHUNK = 50  # smaller than the patches: most objects cross a chunk border, every patch crosses several


@pytest.fixture(scope="module")
def scene():
    image, mask, truth = grid_scene(size=240, seed=1)
    return image, mask, truth


@pytest.fixture(scope="module")
def classifier(scene):
    """A light CNN (with its second opinion) trained a little on the scene."""
    image, mask, truth = scene
    objects = sv.Objects(image, mask)
    clf = sv.Classifier(objects, epochs=2, seed=0)
    clf.fit(annotate(objects, truth, 20))
    return clf


@pytest.fixture(scope="module")
def stores(scene, tmp_path_factory):
    """The scene as two zarr stores chunked in CHUNK × CHUNK."""
    image, mask, _ = scene
    root = tmp_path_factory.mktemp("stores")
    zarr.create_array(root / "scene.zarr", data=image, chunks=(CHUNK, CHUNK))
    zarr.create_array(root / "scene_masks.zarr", data=mask, chunks=(CHUNK, CHUNK))
    return root / "scene.zarr", root / "scene_masks.zarr"


def _crosses_chunks(objects: sv.Objects) -> np.ndarray:
    """Which objects span a chunk border (their box covers pixels of two chunks)."""
    nd = objects.spatial_ndim
    return np.any(objects.bbox[:, :nd] // CHUNK != (objects.bbox[:, nd:] - 1) // CHUNK, axis=1)


def test_a_zarr_image_gives_the_in_memory_classes_and_class_image_each_object_once(scene, classifier, stores, tmp_path):
    image, mask, _ = scene
    objects = sv.Objects(image, mask)
    assert _crosses_chunks(objects).sum() >= 10  # the test is about objects across chunk borders
    in_memory = classifier.predict(objects)
    out = tmp_path / "scene_classes.zarr"
    table = sv.predict_large(classifier, stores[0], stores[1], out, block=CHUNK)
    assert table["label"].tolist() == objects.labels.tolist()  # every object, exactly once, in label order
    assert table["class"].astype(str).tolist() == in_memory.table["class"].astype(str).tolist()
    probabilities = [f"p_{c}" for c in classifier.class_names]
    np.testing.assert_allclose(table[probabilities].to_numpy(), in_memory.probabilities, atol=1e-5)
    # the measurements are in image coordinates, as in memory; the geometry to the last bit
    geometry = ["area", "centroid_y", "centroid_x", "major_axis_length", "minor_axis_length", "eccentricity"]
    for column in [*geometry, "extent", "bbox_y0", "bbox_y1", "bbox_x0", "bbox_x1"]:
        np.testing.assert_array_equal(table[column].to_numpy(), in_memory.table[column].to_numpy(), err_msg=column)
    np.testing.assert_allclose(table["mean_intensity_0"], in_memory.table["mean_intensity_0"], rtol=1e-9)
    classes = zarr.open_array(out, mode="r")
    np.testing.assert_array_equal(classes[:], in_memory.class_image(0))
    assert classes.chunks == (CHUNK, CHUNK)
    assert list(classes.attrs["class_names"]) == list(classifier.class_names)
    assert not list(tmp_path.glob(".*svnb-tmp*"))  # the store was built aside and moved into place


def test_a_channel_first_dask_array_in_odd_chunks_gives_the_in_memory_probabilities(classifier, tmp_path):
    da = pytest.importorskip("dask.array")
    image, mask, truth = grid_scene(size=150, seed=3, channels=2)
    objects = sv.Objects(image, mask)
    clf = sv.Classifier(objects, epochs=2, seed=0, channels=[1])
    clf.fit(annotate(objects, truth, 12))
    in_memory = clf.predict(objects)
    lazy_image = da.from_array(np.moveaxis(image, -1, 0), chunks=(1, 37, 41))  # (C, Y, X), ragged chunks
    lazy_mask = da.from_array(mask, chunks=(37, 41))
    table = sv.predict_large(clf, lazy_image, lazy_mask, tmp_path / "classes.zarr", block=(37, 41))
    assert table["label"].tolist() == objects.labels.tolist()
    np.testing.assert_allclose(
        table[[f"p_{c}" for c in clf.class_names]].to_numpy(), in_memory.probabilities, atol=1e-5
    )
    np.testing.assert_array_equal(zarr.open_array(tmp_path / "classes.zarr", mode="r")[:], in_memory.class_image(0))


def test_the_scan_finds_the_whole_mask_boxes_and_the_in_memory_percentile_ranges(scene):
    image, mask, _ = scene
    big_ids = np.where(mask > 0, mask.astype(np.int64) * 1_000_003 + 7, 0)  # spans far beyond SPAN_LIMIT
    pair = LazyPair(image * 100, big_ids)
    found = scan(pair, (CHUNK, 70), "percentile")
    labels, bbox = bounding_boxes(mask)  # the same objects under their small ids
    np.testing.assert_array_equal(found.labels, labels * 1_000_003 + 7)
    np.testing.assert_array_equal(found.bbox, bbox)
    objects = sv.Objects(image * 100, mask)
    np.testing.assert_array_equal(found.ranges, objects.channel_ranges("percentile")[0])
    assert int(big_ids.max()) - int(big_ids[big_ids > 0].min()) > SPAN_LIMIT


def test_block_boxes_keep_an_object_that_fills_its_block():
    block = np.full((4, 5), 9_000_000, dtype=np.int64)  # no background, ids spanning > SPAN_LIMIT
    block[0, 0] = 3
    labels, bbox = block_boxes(block)
    assert labels.tolist() == [3, 9_000_000]
    assert bbox.tolist() == [[0, 0, 1, 1], [0, 0, 4, 5]]


def test_merged_boxes_are_the_union_of_the_block_boxes():
    labels = np.array([5, 2, 5, 5])
    starts = np.array([[10, 0], [1, 1], [0, 4], [3, 2]])
    stops = np.array([[12, 3], [2, 2], [1, 9], [4, 5]])
    ids, bbox = merge_boxes(labels, starts, stops)
    assert ids.tolist() == [2, 5]
    assert bbox.tolist() == [[1, 1, 2, 2], [0, 0, 12, 9]]


def test_the_block_grid_covers_the_image_once():
    lo, hi = block_grid((10, 7), (4, 3))
    covered = np.zeros((10, 7), int)
    for a, b in zip(lo, hi):
        covered[a[0] : b[0], a[1] : b[1]] += 1
    assert (covered == 1).all() and len(lo) == 3 * 3


@pytest.mark.parametrize(
    ("image", "mask", "error", "words"),
    [
        (np.zeros((40, 40)), np.zeros((40, 41), np.int32), ValueError, ["image", "mask", "(40, 40)", "(40, 41)"]),
        (np.zeros((40, 40)), np.zeros((40, 40), np.float32), TypeError, ["mask", "integer", "float32"]),
        (np.zeros((40, 40)), np.zeros((40, 40), bool), TypeError, ["mask", "label"]),
        (np.array([["a"] * 4] * 4), np.zeros((4, 4), np.int32), TypeError, ["image", "numeric"]),
        (np.zeros((40, 40)), np.zeros((40,), np.int32), ValueError, ["mask", "2D"]),
    ],
)
def test_bad_inputs_are_refused_naming_the_input(classifier, tmp_path, image, mask, error, words):
    with pytest.raises(error) as raised:
        sv.predict_large(classifier, image, mask, tmp_path / "out.zarr")
    assert all(w in str(raised.value) for w in words), str(raised.value)
    assert not (tmp_path / "out.zarr").exists()


def test_negative_ids_a_missing_store_and_a_bad_block_are_refused_naming_them(classifier, tmp_path):
    mask = np.zeros((60, 60), np.int32)
    mask[5:9, 5:9] = -2
    with pytest.raises(ValueError, match="mask: label ids must be >= 0"):
        sv.predict_large(classifier, np.zeros((60, 60)), mask, tmp_path / "out.zarr")
    with pytest.raises(FileNotFoundError, match="image: no such file or zarr store"):
        sv.predict_large(classifier, tmp_path / "nothing.zarr", mask, tmp_path / "out.zarr")
    with pytest.raises(ValueError, match="block: expected a positive int"):
        sv.predict_large(classifier, np.zeros((60, 60)), np.abs(mask), tmp_path / "out.zarr", block=0)
    with pytest.raises(ValueError, match="objects: the classifier works on 2D images with 1 channel"):
        sv.predict_large(classifier, np.zeros((60, 60, 3)), np.abs(mask), tmp_path / "out.zarr")
    assert not (tmp_path / "out.zarr").exists()


def test_a_3d_stack_in_blocks_along_every_axis_gives_the_in_memory_classes(tmp_path):
    image, mask, truth = grid_scene(size=90, ndim=3, depth=12, seed=4)
    objects = sv.Objects(image, mask)
    clf = sv.Classifier(objects, epochs=1, seed=0, second_opinion=None)
    clf.fit(annotate(objects, truth, 8))
    in_memory = clf.predict(objects)
    table = sv.predict_large(clf, image, mask, tmp_path / "classes.zarr", block=(5, 40, 40))
    assert table["label"].tolist() == objects.labels.tolist()
    np.testing.assert_allclose(
        table[[f"p_{c}" for c in clf.class_names]].to_numpy(), in_memory.probabilities, atol=1e-5
    )
    np.testing.assert_array_equal(zarr.open_array(tmp_path / "classes.zarr", mode="r")[:], in_memory.class_image(0))


def test_network_alone_predicts_without_the_second_opinion_and_leaves_the_classifier_as_it_was(
    scene, classifier, tmp_path
):
    image, mask, _ = scene
    image, mask = image[:120, :120], mask[:120, :120]
    objects = sv.Objects(image, mask)
    opinion = classifier.second_opinion
    table = sv.predict_large(classifier, image, mask, tmp_path / "c.zarr", block=CHUNK, network_alone=True)
    probabilities = table[[f"p_{c}" for c in classifier.class_names]].to_numpy()
    np.testing.assert_allclose(probabilities, classifier.network_proba(objects), atol=1e-5)
    assert classifier.second_opinion is opinion is not None
