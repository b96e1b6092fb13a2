"""The annotator, the viewer and the App on a lazy ``sv.Objects`` (an OME-Zarr with a pyramid)."""

from __future__ import annotations

import numpy as np
import pytest
import zarr
from helpers import annotate, grid_scene, ome_zarr

import svetlana_nb as sv
from svetlana_nb.widgets._canvas import decode_image, send_event
from svetlana_nb.widgets.annotator import Annotator
from svetlana_nb.widgets.app import App
from svetlana_nb.widgets.prediction import PredictionViewer

SPOILED = 1000  # written over the full-resolution mask after opening: an overview must not show it


@pytest.fixture(scope="module")
def scene():
    """The grid scene with a uint16 image (as microscopes write them)."""
    image, mask, truth = grid_scene(size=240, seed=1)
    return np.clip(image * 1000, 0, None).astype(np.uint16), mask, truth


@pytest.fixture()
def stores(scene, tmp_path):
    """An OME-Zarr image and mask, each with levels at factors 1, 2 and 4."""
    image, mask, _ = scene
    return ome_zarr(tmp_path / "scene.ome.zarr", image), ome_zarr(tmp_path / "masks.ome.zarr", mask)


def make(objects, **kwargs):
    annotator = Annotator(objects, ["a", "b"], **kwargs)
    for painter in (annotator.crop_painter, annotator.overview.painter, annotator.thumbnails.painter):
        painter.mark_ready()  # as if the front end had connected
    return annotator


def test_the_annotator_crops_and_labels_a_lazy_object_as_in_memory(scene, stores):
    image, mask, _ = scene
    memory = sv.Objects(image, mask)
    lazy = sv.Objects(stores[0][0].parent, stores[1][0].parent)
    a, b = make(memory, seed=3), make(lazy, seed=3)
    assert a.current == b.current
    row = lazy.row(b.current)
    np.testing.assert_array_equal(b._crop_frame(row), a._crop_frame(row))  # read per object window
    b.class_box.children[1].click()
    assert dict(b.annotations.items()) == {memory.key(row): "b"}
    assert b.errors.errors == []


def test_the_annotator_overview_of_a_lazy_image_comes_from_the_pyramid(scene, stores):
    image, mask, _ = scene
    lazy = sv.Objects(stores[0][0].parent, stores[1][0].parent)
    a = make(lazy, size=60, seed=0)
    a.overview.shrink_to_fit(10_000)
    labelled = lazy.row(a.current)
    a.label("b")
    # the full resolution spoiled after opening: an overview reading it would be flat and unlabelled
    zarr.open_array(stores[0][0], mode="r+")[:] = 7
    zarr.open_array(stores[1][0], mode="r+")[:] = SPOILED
    a.mode = "click"
    assert a.overview.frame_shape == (120, 120)  # a 240-pixel image on a 120-pixel canvas: level 1
    base = decode_image(a.overview.painter._last[0][0])
    overlay = decode_image(a.overview.painter._last[1][0])
    assert base.shape == (120, 120, 4) and base[..., :3].std() > 0
    cx, cy = (int(v) for v in a.overview.to_canvas(*(lazy.centres[labelled] + 0.5)))
    assert overlay[cy, cx, 3] > 0  # the labelled object's tint, from level 1's ids
    assert a.errors.errors == []
    # a click reads the one pixel under it at full resolution (spoiled: no object 1000) ...
    y, x = lazy.centres[5]
    cx, cy = a.overview.to_canvas(y + 0.5, x + 0.5)
    send_event(a.overview.canvas, "mouse_down", x=cx, y=cy)
    send_event(a.overview.canvas, "mouse_up", x=cx, y=cy)
    assert a.current is None
    zarr.open_array(stores[1][0], mode="r+")[:] = mask  # ... and, restored, selects the object
    send_event(a.overview.canvas, "mouse_down", x=cx, y=cy)
    send_event(a.overview.canvas, "mouse_up", x=cx, y=cy)
    assert a.current == lazy.key(5)
    send_event(a.overview.canvas, "key_down", key="1")
    assert a.annotations[lazy.key(5)] == "a"
    assert a.errors.errors == []


def test_the_viewer_opens_and_selects_on_a_lazy_prediction(scene, stores):
    image, mask, truth = scene
    lazy = sv.Objects(stores[0][0].parent, stores[1][0].parent)
    clf = sv.Classifier(lazy, epochs=1, seed=0)
    clf.fit(annotate(lazy, truth, 16))
    prediction = clf.predict(lazy)
    viewer = PredictionViewer(lazy, prediction, classifier=clf)
    assert viewer.errors.errors == []
    row = 10
    assert viewer.click_image(*(lazy.centres[row] + 0.5)) == lazy.key(row)
    assert f"{100 * prediction.probabilities[row].max():.1f}%" in viewer.panel.probabilities.value
    assert viewer.errors.errors == []  # the crop and its explanation read per object window
    overlay = decode_image(viewer.overview.painter._last[1][0])
    assert overlay[..., 3].any()


def test_the_app_opens_on_zarr_stores(stores):
    app = App(stores[0][0].parent, stores[1][0].parent, ["a", "b"])
    assert app.objects.is_lazy and app.annotator.objects is app.objects
    app.annotator.label("b")
    assert len(app.annotations) == 1


def test_float_images_in_zero_one_keep_their_contrast_limits(scene):
    """Slider bounds below the slider's default value (75) used to clamp the limits to one value (flat display)."""
    image, mask, _ = grid_scene(size=120, seed=2)  # float32 values about 0 to 1.4
    for objects in (sv.Objects(image, mask), sv.Objects(zarr.array(image, chunks=(50, 50)), mask)):
        a = make(objects)
        np.testing.assert_allclose(a.display.limits(0), objects.channel_ranges("percentile")[0])
