from __future__ import annotations

import numpy as np
import pandas as pd
import pytest
import tifffile

import svetlana_nb as sv
from svetlana_nb.models import opinions
from svetlana_nb.widgets._canvas import decode_image, send_event
from svetlana_nb.widgets.prediction import PredictionViewer


@pytest.fixture(scope="module")
def trained(demo):
    objects = sv.Objects(demo.image, demo.mask)
    ann = sv.Annotations(objects, demo.class_names)
    for label in objects.labels[::2]:
        ann.add(int(label), demo.truth[int(label)])
    clf = sv.Classifier(objects)
    clf.fit(ann, epochs=25)
    return objects, ann, clf, clf.predict(objects)


def frame(viewer, layer):
    return decode_image(viewer.overview.painter._last[layer][0])


def fresh_annotations(objects, demo):
    return sv.Annotations(objects, demo.class_names)


def test_overlay_paints_objects_in_their_class_colour(trained, demo):
    objects, _, clf, pred = trained
    viewer = PredictionViewer(objects, pred, classifier=clf)
    overlay = frame(viewer, 1)
    assert overlay.shape[:2] == viewer.overview.frame_shape
    # An object's centre pixel on the canvas has its predicted class colour.
    row = 5
    cx, cy = viewer.overview.to_canvas(*(objects.centres[row] + 0.5))
    pixel = overlay[int(cy), int(cx)]
    k = int(pred.class_index[row])
    assert tuple(pixel[:3]) == sv.display.hex_to_rgb(sv.display.class_color(k)) and pixel[3] > 0
    assert overlay[0, 0, 3] == 0 or objects.masks[0][0, 0] != 0
    assert "healthy" in viewer.legend.value and str(pred.counts()["healthy"]) in viewer.legend.value


def test_style_controls_repaint_only_the_overlay(trained):
    objects, _, _, pred = trained
    viewer = PredictionViewer(objects, pred)
    base_before = viewer.overview.painter._last[0]
    filled = frame(viewer, 1)
    viewer.style_buttons.value = True
    outlined = frame(viewer, 1)
    assert viewer.outline and (outlined[..., 3] > 0).sum() < (filled[..., 3] > 0).sum()
    viewer.opacity_slider.value = 0.1
    viewer.style_buttons.value = False
    assert frame(viewer, 1)[..., 3].max() < filled[..., 3].max()
    viewer.mode_buttons.value = "confidence"
    assert "Confidence" in viewer.legend.value
    assert viewer.overview.painter._last[0] is base_before


def test_click_shows_probabilities_and_grad_cam(trained):
    objects, _, clf, pred = trained
    viewer = PredictionViewer(objects, pred, classifier=clf)
    row = 10
    key = viewer.click_image(*(objects.centres[row] + 0.5))
    assert key == objects.key(row) and viewer.selected == key
    assert "svetlana-probabilities" in viewer.panel.probabilities.value
    assert f"{100 * pred.probabilities[row].max():.1f}%" in viewer.panel.probabilities.value
    cam = decode_image(viewer.panel.cam_image.value)
    assert cam.shape[2] == 4 and cam[..., :3].std() > 0
    # Clicking the background clears the selection.
    background = np.argwhere(objects.masks[0] == 0)[0]
    assert viewer.click_image(*(background + 0.5)) is None and viewer.selected is None


def test_canvas_mouse_click_selects(trained):
    objects, _, clf, pred = trained
    viewer = PredictionViewer(objects, pred, classifier=clf)
    row = 20
    cx, cy = viewer.overview.to_canvas(*(objects.centres[row] + 0.5))
    send_event(viewer.overview.canvas, "mouse_down", x=cx, y=cy)
    send_event(viewer.overview.canvas, "mouse_up", x=cx, y=cy)
    assert viewer.selected == objects.key(row)


def test_grad_cam_map_has_the_patch_shape_and_is_not_constant(trained):
    objects, _, clf, _ = trained
    gc = sv.grad_cam(clf, objects, int(objects.labels[3]))
    assert gc.heatmap.shape == tuple(clf.patch_shape)
    assert gc.heatmap.max() > gc.heatmap.min()


def test_correction_lands_in_the_annotations_and_is_drawn(trained, demo):
    objects, _, clf, pred = trained
    ann = fresh_annotations(objects, demo)
    viewer = PredictionViewer(objects, pred, annotations=ann, classifier=clf)
    row = 30
    key = viewer.select(objects.key(row))
    predicted = pred.class_names[int(pred.class_index[row])]
    other = [c for c in pred.class_names if c != predicted][0]
    before = frame(viewer, 1)
    viewer.panel.correct_buttons[pred.class_names.index(other)].click()
    assert ann[key] == other
    assert viewer.corrected_rows().tolist() == [row]
    assert "corrected: 1" in viewer.legend.value and "(corrected)" in viewer.panel.title.value
    after = frame(viewer, 1)
    cx, cy = viewer.overview.to_canvas(*(objects.centres[row] + 0.5))
    k = pred.class_names.index(other)
    assert tuple(after[int(cy), int(cx), :3]) == sv.display.hex_to_rgb(sv.display.class_color(k))
    white = np.all(after[..., :3] == 255, axis=-1) & (after[..., 3] == 255)
    assert white.sum() > np.sum(np.all(before[..., :3] == 255, axis=-1) & (before[..., 3] == 255))
    viewer.correct(None)
    assert key not in ann and viewer.corrected_rows().size == 0


def test_correct_without_selection_is_reported(trained, demo):
    objects, _, _, pred = trained
    viewer = PredictionViewer(objects, pred, annotations=fresh_annotations(objects, demo))
    viewer.panel.set_classes(pred.class_names, ["#000000", "#ffffff"])
    viewer.panel.correct_buttons[0].click()
    assert viewer.errors.errors and "select an object" in str(viewer.errors.errors[-1])


def test_random_forest_shows_top_features(trained, demo):
    objects, ann, _, _ = trained
    forest = sv.Classifier(objects, model="random_forest")
    forest.fit(ann)
    viewer = PredictionViewer(objects, forest.predict(objects), classifier=forest)
    viewer.select(int(objects.labels[0]))
    assert "Top features" in viewer.panel.explanation.value
    assert viewer.panel.pictures.children == (viewer.panel.crop_box,)


def test_the_second_opinion_is_shown_where_the_forest_was_consulted(trained):
    objects, _, clf, pred = trained
    network = clf.network_proba(objects)
    unsure, sure = np.argmin(network.max(1)), np.argmax(network.max(1))
    clf.second_opinion = sv.SecondOpinion(below=float(network.max(1)[unsure]) + 1e-4)  # exactly one is unsure
    try:
        viewer = PredictionViewer(objects, clf.predict(objects), classifier=clf)
        viewer.select(objects.keys[unsure])
        text = viewer.panel.explanation.value
        opinion = opinions(clf, objects, objects.keys[unsure])
        assert "Second opinion" in text and f"{opinion.forest[0]:.0%}" in text
        np.testing.assert_allclose(opinion.network, network[unsure], atol=1e-6)
        np.testing.assert_allclose(  # the mix, before the calibration's temperature
            viewer.prediction.raw_probabilities[unsure], 0.5 * opinion.network + 0.5 * opinion.forest, atol=1e-5
        )
        viewer.select(objects.keys[sure])
        assert "Second opinion" not in viewer.panel.explanation.value
        assert opinions(clf, objects, objects.keys[sure]) is None
    finally:
        clf.second_opinion = sv.SecondOpinion()


def test_exports_round_trip(trained, tmp_path):
    objects, _, _, pred = trained
    viewer = PredictionViewer(objects, pred)
    viewer.folder_text.value = str(tmp_path / "out")
    viewer.export_buttons[0].click()
    table = pd.read_csv(tmp_path / "out" / "objects.csv")
    assert (
        len(table) == len(objects)
        and (table["class"].to_numpy() == np.asarray(pred.class_names)[pred.class_index]).all()
    )
    paths = viewer.export(tmp_path / "all")
    names = sorted(p.name for p in paths)
    assert names == [
        "image_classes.tif",
        "image_classes_key.csv",
        "image_fragmented.tif",
        "image_healthy.tif",
        "objects.csv",
    ]
    classes = tifffile.imread(tmp_path / "all" / "image_classes.tif")
    np.testing.assert_array_equal(classes, pred.class_image())
    healthy = tifffile.imread(tmp_path / "all" / "image_healthy.tif")
    assert set(np.unique(healthy[healthy > 0])) == set(objects.labels[pred.class_index == 0].tolist())


def test_zoom_refines_and_never_sends_full_resolution(trained):
    objects, _, _, pred = trained
    viewer = PredictionViewer(objects, pred, size=256)
    assert frame(viewer, 0).shape[:2] == (256, 256)
    viewer.overview.zoom(4)
    assert viewer.overview.scale == pytest.approx(512 / 256 / 4)
    assert frame(viewer, 0).shape[:2] == (256, 256) and frame(viewer, 1).shape[:2] == (256, 256)


def test_3d_prediction_view_follows_z(demo):
    demo3 = sv.data.cells_3d()
    objects = sv.Objects(demo3.image, demo3.mask, channel_axis=demo3.channel_axis)
    rng = np.random.default_rng(0)
    pred = sv.Prediction(objects, rng.dirichlet([1, 1], len(objects)), demo3.class_names)
    viewer = PredictionViewer(objects, pred)
    assert viewer.display_controls.z_row.layout.display != "none"
    row = len(objects) // 2
    key = viewer.select(objects.key(row))
    z = viewer.display_controls.z
    assert objects.bbox[row, 0] <= z < objects.bbox[row, 3]
    assert viewer.click_image(*(objects.centres[row][1:] + 0.5)) == key


def test_prediction_none_then_set(trained, demo):
    objects, _, _, pred = trained
    viewer = PredictionViewer(objects, None)
    assert "No prediction" in viewer.legend.value and frame(viewer, 1)[..., 3].max() == 0
    viewer.prediction = pred
    assert frame(viewer, 1)[..., 3].max() > 0
    # Without a prediction, annotated objects still show in their class colour.
    ann = fresh_annotations(objects, demo)
    ann.add(int(objects.labels[0]), "fragmented")
    viewer = PredictionViewer(objects, None, annotations=ann)
    assert frame(viewer, 1)[..., 3].max() > 0


def test_several_images_switch_on_select(demo):
    small = sv.data.cells_2d(shape=(200, 300), n_objects=30, seed=3)
    objects = sv.Objects([demo.image, small.image], [demo.mask, small.mask], name=["a", "b"])
    rng = np.random.default_rng(0)
    pred = sv.Prediction(objects, rng.dirichlet([1, 1], len(objects)), demo.class_names)
    ann = sv.Annotations(objects, demo.class_names)
    viewer = PredictionViewer(objects, pred, annotations=ann)
    assert viewer.image_dropdown.layout.display != "none"
    row = len(objects) - 1
    key = viewer.select(objects.key(row))
    assert key[0] == "b" and viewer.image == 1 and viewer.overview.shape == (200, 300)
    assert viewer.click_image(*(objects.centres[row] + 0.5)) == key
    viewer.correct("healthy" if pred.class_index[row] else "fragmented")
    assert ann[key] and viewer.corrected_rows().tolist() == [row]
    viewer.close()
    ann.add(objects.key(0), "healthy")  # a closed viewer no longer listens


def test_display_errors_show_in_the_widget(trained, monkeypatch):
    objects, _, clf, pred = trained
    viewer = PredictionViewer(objects, pred, classifier=clf)
    viewer.overview.painter.mark_ready()

    def broken(*args, **kwargs):
        raise RuntimeError("overlay exploded")

    monkeypatch.setattr(viewer.overview, "render_overlay", broken)
    viewer.opacity = 0.3  # an observer: the error is shown, not raised
    assert viewer.errors.errors and "overlay exploded" in str(viewer.errors.errors[-1])
    assert "overlay exploded" in viewer.errors.outputs[-1]["text"]


def test_exports_carry_the_corrections(trained, demo, tmp_path):
    objects, _, _, pred = trained
    ann = fresh_annotations(objects, demo)
    label = int(objects.labels[3])
    other = [c for c in pred.class_names if c != pred.classes[label]][0]
    viewer = PredictionViewer(objects, pred, annotations=ann)
    viewer.select(label)
    viewer.panel.correct_buttons[pred.class_names.index(other)].click()
    assert ann[label] == other
    viewer.export(tmp_path / "fixed", what=("table", "classes"))
    table = pd.read_csv(tmp_path / "fixed" / "objects.csv")
    row = table[table["label"] == label].iloc[0]
    assert row["class"] == other and row["predicted_class"] == pred.classes[label] and row["annotated"]
    classes = tifffile.imread(tmp_path / "fixed" / "image_classes.tif")
    assert np.all(classes[objects.masks[0] == label] == pred.class_names.index(other) + 1)
    viewer.export(tmp_path / "raw", what=("table",), corrections=False)
    raw = pd.read_csv(tmp_path / "raw" / "objects.csv")
    assert raw[raw["label"] == label].iloc[0]["class"] == pred.classes[label]


def test_annotations_of_other_objects_are_refused(trained, demo):
    objects, _, _, pred = trained
    other = sv.Objects(demo.image, demo.mask)  # the same pixels, but another Objects
    with pytest.raises(ValueError, match="annotations: they belong to other objects"):
        PredictionViewer(objects, pred, annotations=fresh_annotations(other, demo))


def test_a_prediction_of_other_objects_is_refused_and_not_kept(trained, demo, tmp_path):
    objects, ann, clf, prediction = trained
    viewer = PredictionViewer(objects, prediction, classifier=clf, annotations=fresh_annotations(objects, demo))
    other_mask = demo.mask.copy()
    other_mask[other_mask == objects.labels[0]] = 0  # another segmentation: one object fewer
    other_objects = sv.Objects(demo.image, other_mask)
    other = sv.Prediction(other_objects, np.full((len(other_objects), 2), 0.5, np.float32), demo.class_names)
    with pytest.raises(ValueError, match="prediction: it was made for other objects"):
        viewer.prediction = other
    assert viewer.prediction is prediction
    paths = viewer.export(tmp_path)
    table = pd.read_csv(next(p for p in paths if p.suffix == ".csv"))
    assert len(table) == len(objects)


def test_exports_name_their_files_refuse_to_overwrite_and_write_a_class_key(trained, demo, tmp_path):
    objects, ann, clf, pred = trained
    autosaved = sv.Annotations.open(tmp_path / "cells_A1.json", objects, demo.class_names)
    autosaved.add(int(objects.labels[0]), pred.class_names[1 - pred.class_index[0]])  # a correction
    viewer = PredictionViewer(objects, pred, classifier=clf, annotations=autosaved)
    assert viewer.export_box.name_text.value == "cells_A1"  # not the array's default name "image"
    assert viewer.folder_text.value == str(tmp_path)
    viewer.export_buttons[1].click()  # class image
    status = viewer.export_status.value
    assert "cells_A1_classes.tif" in status and "cells_A1_classes_key.csv" in status
    key = pd.read_csv(tmp_path / "cells_A1_classes_key.csv")
    assert key["value"].tolist() == [0, 1, 2] and key["class"].tolist() == ["(background)", *pred.class_names]
    before = (tmp_path / "cells_A1_classes.tif").stat().st_mtime_ns
    viewer.export_buttons[1].click()  # again: refused, named, nothing replaced
    text = "".join(o["text"] for o in viewer.errors.outputs)
    assert "already has cells_A1_classes.tif" in text and "Traceback" not in text
    assert (tmp_path / "cells_A1_classes.tif").stat().st_mtime_ns == before
    viewer.export_box.overwrite_box.value = True
    viewer.export_buttons[0].click()
    table = pd.read_csv(tmp_path / "objects.csv")
    assert table.loc[0, "annotated"] and not table.loc[1:, "annotated"].any()
    assert table.loc[0, "confidence"] == pytest.approx(float(pred.confidence[0]), abs=1e-6)  # the model's


def test_forest_features_are_named_in_words():
    """UI finding 11: the panel says "intensity spread, channel 0", not ``std_intensity_0``."""
    from svetlana_nb.widgets._object_panel import features_html, readable_feature

    assert readable_feature("std_intensity_0") == "intensity spread, channel 0"
    assert readable_feature("patch_major_axis_length") == "length (patch)"
    assert readable_feature("something_new") == "something new"
    assert "_" not in features_html([("patch_min_intensity_2", 0.4, 1.0), ("eccentricity", 0.2, -0.5)]).replace(
        "font-size", ""
    )


def test_proportions_box_estimates_corrected_proportions_in_the_background(annotated):
    """Issue 19: the viewer shows per-class proportions corrected out of fold, with intervals and a plot."""
    from svetlana_nb.models.cross_validation import out_of_fold

    objects, ann, _ = annotated
    clf = sv.Classifier(objects, model="random_forest")
    clf.fit(ann)
    prediction = clf.predict(objects)
    bare = PredictionViewer(objects, prediction)
    assert bare.proportions_box.start() is None
    assert "a classifier and annotations" in bare.proportions_box.status.value

    viewer = PredictionViewer(objects, prediction, annotations=ann, classifier=clf)
    box = viewer.proportions_box
    box.start().join(120)
    assert box.table is not None, box.status.value
    expected = prediction.corrected(ann).summary(out_of_fold(clf, ann, folds=5))
    np.testing.assert_allclose(box.table["corrected"], expected["corrected"], atol=1e-12)
    assert "95 % interval" in box.table_html.value and f"{100 * expected['corrected'][0]:.1f} %" in box.table_html.value
    assert box.plot.value[:8] == b"\x89PNG\r\n\x1a\n" and not box.button.disabled


def test_the_confidence_legend_says_whether_the_confidence_is_calibrated(trained):
    from svetlana_nb.prediction.confidence import Calibration

    objects, _, _, pred = trained
    for calibration, words in [
        (Calibration(1.5, "validation", 16), "(winning probability, calibrated)"),
        (Calibration.none("validation off"), "(winning probability, not calibrated)"),
    ]:
        shown = sv.Prediction(objects, pred.probabilities, pred.class_names, calibration=calibration)
        viewer = PredictionViewer(objects, shown)
        viewer.mode_buttons.value = "confidence"
        assert words in viewer.legend.value


def test_the_second_opinion_text_says_when_the_average_is_then_calibrated():
    from svetlana_nb.models.explain import Opinions
    from svetlana_nb.widgets._object_panel import opinion_html

    both = dict(network=np.array([0.6, 0.4]), forest=np.array([0.2, 0.8]), weight=0.5)
    assert opinion_html(Opinions(**both), ["a", "b"]).endswith("(forest weight 0.5).")
    assert opinion_html(Opinions(**both, temperature=0.62), ["a", "b"]).endswith(
        "(forest weight 0.5), then calibrated (temperature 0.62)."
    )
