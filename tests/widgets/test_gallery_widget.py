"""The QC gallery: click a thumbnail, then a class button, and the annotation is made; save a sheet."""

from __future__ import annotations

import numpy as np
import pytest

import svetlana_nb as sv
from svetlana_nb.models.cross_validation import OutOfFold
from svetlana_nb.widgets._canvas import decode_image, send_event
from svetlana_nb.widgets.gallery import BAND, GAP, THUMB, QCGallery


@pytest.fixture()
def setup(demo, tmp_path):
    objects = sv.Objects(demo.image, demo.mask, channel_axis=demo.channel_axis)
    rng = np.random.default_rng(0)
    prediction = sv.Prediction(objects, rng.dirichlet([1.0, 1.0], size=len(objects)), demo.class_names)
    annotations = sv.Annotations(objects, demo.class_names, autosave=tmp_path / "annotations.json")
    return objects, prediction, annotations


def test_lazy_export_and_blocks(setup):
    objects, prediction, annotations = setup
    assert sv.QCGallery is QCGallery
    gallery = sv.QCGallery(objects, prediction, annotations, per_class=3)
    assert [g.rows.size for g in gallery.grids] == [3, 3, 3, 3]
    assert gallery.sheet_text.value.endswith("qc_contact_sheet.pdf")
    assert "Click a thumbnail" in gallery.panel.title.value
    tiles = decode_image(gallery.grids[0].painter._last[0][0])
    assert tiles.shape == (THUMB + BAND + GAP, 3 * (THUMB + GAP), 4)


def test_clicking_a_thumbnail_then_a_class_button_annotates_it(setup):
    objects, prediction, annotations = setup
    gallery = QCGallery(objects, prediction, annotations, per_class=4, columns=2)
    grid = gallery.grids[1]  # the first class's least confident objects, 2 per line
    send_event(grid.canvas, "mouse_down", x=THUMB + GAP + 5, y=THUMB + BAND + GAP + 5)  # second line, second one
    row = int(grid.rows[3])
    assert gallery.selected == objects.key(row) and not gallery.errors.errors
    assert f"Object {objects.labels[row]}" in gallery.panel.title.value
    button = next(b for b in gallery.panel.correct_buttons if b.description == "fragmented")
    button.click()
    assert annotations[objects.key(row)] == "fragmented"
    assert "annotated <b>fragmented</b>" in gallery.panel.title.value
    # the thumbnail's caption band turned the annotated class's colour
    tile = decode_image(grid.painter._last[0][0])[THUMB + BAND + GAP + THUMB + 2, THUMB + GAP + 2, :3]
    assert tuple(tile) == sv.display.hex_to_rgb(sv.display.class_color(1, objects.n_channels))
    # a click between thumbnails selects nothing new; Clear removes the annotation
    send_event(grid.canvas, "mouse_down", x=THUMB + 2, y=5)
    assert gallery.selected == objects.key(row)
    gallery.correct(None)
    assert objects.key(row) not in annotations
    gallery.close()


def test_correct_without_a_selection_is_a_clear_error(setup):
    gallery = QCGallery(*setup, per_class=2)
    with pytest.raises(ValueError, match="select an object first"):
        gallery.correct("healthy")
    other = sv.Objects(setup[0].images[0], setup[0].masks[0])
    with pytest.raises(ValueError, match="annotations: expected Annotations made on these objects"):
        QCGallery(setup[0], setup[1], sv.Annotations(other, ["a", "b"]))


def test_disagreements_get_their_block(setup):
    objects, prediction, annotations = setup
    probabilities = np.array([[0.2, 0.8], [0.1, 0.9], [0.7, 0.3]])
    oof = OutOfFold(np.array([0, 1, 2]), np.array([0, 1, 0]), probabilities, ["healthy", "fragmented"], 2)
    gallery = QCGallery(objects, prediction, annotations, out_of_fold=oof, per_class=2)
    titles = [g.children[0].value for g in gallery.grids]
    assert sum("disagrees with its annotation" in t for t in titles) == 1
    block = next(g for g, t in zip(gallery.grids, titles) if "disagrees" in t)
    assert block.rows.tolist() == [0]
    block.click(0)
    assert "out of fold: not healthy" in gallery.panel.title.value


def test_the_sheet_button_writes_a_file(setup, tmp_path):
    gallery = QCGallery(*setup, per_class=2)
    gallery.sheet_text.value = str(tmp_path / "qc.png")
    gallery.sheet_button.click()
    assert not gallery.errors.errors
    assert (tmp_path / "qc.png").read_bytes()[:4] == b"\x89PNG" and "Saved" in gallery.sheet_status.value
    gallery.sheet_text.value = str(tmp_path / "qc.jpg")
    gallery.sheet_button.click()  # a plain message, no file
    assert isinstance(gallery.errors.errors[-1], ValueError) and not (tmp_path / "qc.jpg").exists()
