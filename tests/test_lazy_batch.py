"""Lazy inputs in batch prediction and the command line: zarr stores, OME-Zarr, tiled TIFFs."""

from __future__ import annotations

import json

import numpy as np
import pandas as pd
import pytest
import tifffile
import zarr
from helpers import annotate, grid_scene

import svetlana_nb as sv
from svetlana_nb import cli
from svetlana_nb.batch import predict_many
from svetlana_nb.objects.lazy import LazyPair, is_large_tiff, is_zarr_store


@pytest.fixture(scope="module")
def trained(tmp_path_factory):
    """A scene, its in-memory prediction, and the model file that made it."""
    image, mask, truth = grid_scene(size=180, seed=2)
    objects = sv.Objects(image, mask, name="scene.zarr")
    clf = sv.Classifier(objects, epochs=2, seed=0)
    clf.fit(annotate(objects, truth, 16))
    path = tmp_path_factory.mktemp("model") / "model.svnb"
    clf.save(path)
    loaded = sv.Classifier.load(path)
    return image, mask, loaded.predict(objects), path


def _stores(root, image, mask, name="scene"):
    (root / "images").mkdir(exist_ok=True)
    (root / "masks").mkdir(exist_ok=True)
    zarr.create_array(root / "images" / f"{name}.zarr", data=image, chunks=(64, 64))
    zarr.create_array(root / "masks" / f"{name}_masks.zarr", data=mask, chunks=(64, 64))
    return root / "images", root / "masks"


def test_predict_many_on_a_folder_of_zarr_stores_writes_a_class_zarr_and_resumes(trained, tmp_path):
    image, mask, in_memory, model = trained
    images, masks = _stores(tmp_path, image, mask)
    out = tmp_path / "out"
    result = predict_many(model, images, masks, out, progress=False)
    assert result.predicted == ["scene.zarr"] and not result.failures
    classes = zarr.open_array(out / "scene_classes.zarr", mode="r")
    np.testing.assert_array_equal(classes[:], in_memory.class_image(0))
    table = pd.read_csv(out / "objects.csv")
    assert table["label"].tolist() == in_memory.labels.tolist()
    assert table["class"].tolist() == in_memory.table["class"].astype(str).tolist()
    manifest = json.loads((out / "manifest.json").read_text())
    assert manifest["images"]["scene.zarr"]["outputs"][0] == "scene_classes.zarr"
    again = predict_many(model, images, masks, out, progress=False)
    assert again.predicted == [] and again.done == ["scene.zarr"]  # the zarr output counts as present


def test_the_command_line_takes_two_zarr_stores(trained, tmp_path):
    image, mask, in_memory, model = trained
    images, masks = _stores(tmp_path, image, mask)
    out = tmp_path / "out"
    status = cli.main(
        ["predict", str(model), str(images / "scene.zarr"), str(masks / "scene_masks.zarr"), str(out), "--no-progress"]
    )
    assert status == 0
    np.testing.assert_array_equal(zarr.open_array(out / "scene_classes.zarr", mode="r")[:], in_memory.class_image(0))
    assert not (out / "scene_classes.tif").exists()


def test_a_bad_zarr_pair_fails_by_name_and_the_others_complete(trained, tmp_path):
    image, mask, _, model = trained
    images, masks = _stores(tmp_path, image, mask, name="good")
    zarr.create_array(images / "bad.zarr", data=image[:100], chunks=(64, 64))
    zarr.create_array(masks / "bad_masks.zarr", data=mask.astype(np.float32), chunks=(64, 64))
    result = predict_many(model, images, masks, tmp_path / "out", progress=False)
    assert result.done == ["good.zarr"]
    assert len(result.failures) == 1 and result.failures[0][0] == "bad.zarr"
    assert "mask" in result.failures[0][1] and "float32" in result.failures[0][1]
    assert not (tmp_path / "out" / "bad_classes.zarr").exists()


def test_an_ome_zarr_image_is_read_at_full_resolution_with_its_channel_axis(trained, tmp_path):
    image, mask, in_memory, model = trained
    group = zarr.open_group(tmp_path / "scene.ome.zarr", mode="w", zarr_format=2)
    group.create_array("0", data=image[np.newaxis], chunks=(1, 64, 64))  # (C, Y, X)
    group.create_array("1", data=image[np.newaxis, ::2, ::2], chunks=(1, 64, 64))
    axes = [{"name": "c", "type": "channel"}, {"name": "y", "type": "space"}, {"name": "x", "type": "space"}]
    group.attrs["multiscales"] = [{"version": "0.4", "axes": axes, "datasets": [{"path": "0"}, {"path": "1"}]}]
    zarr.create_array(tmp_path / "mask.zarr", data=mask, chunks=(64, 64))
    assert is_zarr_store(tmp_path / "scene.ome.zarr")
    pair = LazyPair(tmp_path / "scene.ome.zarr", tmp_path / "mask.zarr")
    assert pair.n_channels == 1 and pair.shape == mask.shape
    table = sv.predict_large(model, tmp_path / "scene.ome.zarr", tmp_path / "mask.zarr", tmp_path / "c.zarr")
    assert table["class"].astype(str).tolist() == in_memory.table["class"].astype(str).tolist()
    assert set(table["image"]) == {"scene.ome.zarr"}


def test_a_tiled_tiff_is_read_tile_by_tile(trained, tmp_path):
    image, mask, in_memory, model = trained
    tifffile.imwrite(tmp_path / "scene.tif", image, tile=(64, 64))
    tifffile.imwrite(tmp_path / "scene_masks.tif", mask, tile=(64, 64))
    tifffile.imwrite(tmp_path / "strips.tif", image)
    assert is_large_tiff(tmp_path / "scene.tif", min_pixels=1000)
    assert not is_large_tiff(tmp_path / "scene.tif")  # small: read whole, as before
    assert not is_large_tiff(tmp_path / "strips.tif", min_pixels=1000)  # not tiled
    table = sv.predict_large(model, tmp_path / "scene.tif", tmp_path / "scene_masks.tif", tmp_path / "c.zarr")
    assert table["class"].astype(str).tolist() == in_memory.table["class"].astype(str).tolist()
