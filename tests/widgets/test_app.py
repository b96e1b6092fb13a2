from __future__ import annotations

import numpy as np
import pytest

import svetlana_nb as sv
from svetlana_nb.widgets.app import App


@pytest.mark.slow
def test_app_tabs_share_annotations_and_classifier(demo, tmp_path):
    path = tmp_path / "cells.json"
    app = App(demo.image, demo.mask, demo.class_names, autosave=path)
    assert app.titles == ("Annotate", "Train", "Predict", "Check")
    assert app.annotator.annotations is app.annotations is app.trainer.annotations is app.viewer.annotations
    # Annotate 80 objects from the Annotate tab (clicks on its class buttons via its public API).
    rng = np.random.default_rng(1)
    picked = rng.choice(app.objects.labels, 80, replace=False)
    for label in picked:
        app.annotator.select(int(label))
        app.annotator.label(demo.truth[int(label)])
    assert len(app.annotations) == 80 and path.exists()
    app.trainer.controls.epochs.value = "30"
    app.trainer.start_button.click()
    prediction = app.wait(300)
    assert prediction is not None and app.viewer.prediction is prediction
    assert app.viewer.classifier is app.classifier and app.annotator.classifier is app.classifier
    held_out = np.setdiff1d(app.objects.labels, picked)
    accuracy = np.mean([prediction.classes[int(label)] == demo.truth[int(label)] for label in held_out])
    assert accuracy >= 0.85
    assert "Predicted 160 objects" in app.status.value
    # A correction in the Predict tab reaches the shared annotations (and the autosave file).
    key = app.viewer.select(int(held_out[0]))
    wrong = [c for c in demo.class_names if c != prediction.classes[int(held_out[0])]][0]
    app.viewer.correct(wrong)
    assert app.annotations[key] == wrong and len(app.annotations) == 81
    assert sv.Annotations.load(path, app.objects)[key] == wrong
    # Exports go next to the annotations file by default.
    assert app.viewer.folder_text.value == str(tmp_path)


@pytest.mark.slow
def test_app_switching_network_predicts_with_the_new_classifier(demo):
    app = App(demo.image, demo.mask, demo.class_names)
    for label in app.objects.labels[:60]:
        app.annotations.add(int(label), demo.truth[int(label)])
    app.trainer.model = "random_forest"
    app.trainer.start()
    prediction = app.wait(120)
    assert app.classifier.model_name == "random_forest" and app.viewer.classifier is app.classifier
    assert len(prediction) == len(app.objects)
    app.viewer.select(int(app.objects.labels[0]))
    assert "Top features" in app.viewer.panel.explanation.value
    # The Check tab builds its gallery when opened, on the last prediction, sharing the annotations.
    assert app.gallery is None and list(app.check_tab.children) == [app.check_status]
    app.selected_index = 3
    gallery = app.gallery
    assert gallery is not None and list(app.check_tab.children) == [gallery] and gallery.prediction is prediction
    assert gallery.annotations is app.annotations
    key = gallery.select(app.objects.key(int(gallery.selection["row"].iloc[0])))
    gallery.correct("fragmented" if app.annotations.get(key) != "fragmented" else "healthy")
    assert key in app.annotations  # written into the shared annotations, for the next training


@pytest.mark.slow
def test_retraining_in_place_refreshes_the_annotators_uncertainty(demo):
    app = App(demo.image, demo.mask, demo.class_names)
    for label in app.objects.labels[:40]:
        app.annotations.add(int(label), demo.truth[int(label)])
    app.trainer.controls.epochs.value = "3"
    app.trainer.start()
    app.wait(120)
    clf = app.classifier
    app.annotator.mode = "uncertainty"
    first = app.annotator._proba.copy()
    for label in app.objects.labels[40:100]:
        app.annotations.add(int(label), demo.truth[int(label)])
    app.trainer.controls.epochs.value = "20"
    app.trainer.start()
    app.wait(120)
    assert app.classifier is clf  # the same classifier, retrained: no trait change to observe
    np.testing.assert_allclose(app.annotator._proba, clf.predict_proba(app.objects), atol=1e-6)
    assert not np.allclose(app.annotator._proba, first)
