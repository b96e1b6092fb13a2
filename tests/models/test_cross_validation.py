import numpy as np
import pytest
from helpers import annotate

import svetlana_nb as sv
from svetlana_nb.models.cross_validation import out_of_fold


def _setup(scene_2d, n=16, seed=0):
    image, mask, truth = scene_2d
    objects = sv.Objects(image, mask)
    annotations = annotate(objects, truth, n, seed=seed)
    return objects, annotations, truth


def test_every_annotation_is_predicted_by_a_classifier_that_did_not_learn_it(scene_2d):
    objects, annotations, truth = _setup(scene_2d)
    clf = sv.Classifier(objects, model="random_forest")
    result = out_of_fold(clf, annotations, folds=3)
    rows, targets = annotations.rows_and_targets()
    np.testing.assert_array_equal(result.rows, rows)
    np.testing.assert_array_equal(result.annotated, targets)
    assert result.folds == 3
    assert not clf.is_fitted  # the classifier given is only a template
    # the scene's classes are easy: out of fold, the forest is right on nearly all
    assert result.balanced_accuracy >= 0.8
    assert result.confusion.sum() == len(annotations)
    np.testing.assert_allclose(result.probabilities.sum(axis=1), 1.0, atol=1e-5)


def test_out_of_fold_differs_from_in_sample_on_random_classes(scene_2d):
    # Random classes: a model scored on what it learnt looks perfect; out of fold it is at chance.
    image, mask, _ = scene_2d
    objects = sv.Objects(image, mask)
    rng = np.random.default_rng(1)
    labels = objects.labels[rng.permutation(len(objects))[:24]]
    annotations = sv.Annotations(objects, ["a", "b"])
    for i, label in enumerate(labels):
        annotations.add(int(label), "ab"[i % 2])
    clf = sv.Classifier(objects, model="random_forest")
    result = out_of_fold(clf, annotations, folds=4)
    assert result.balanced_accuracy < 0.8


def test_too_few_annotations_of_a_class_is_a_clear_error(scene_2d):
    image, mask, truth = scene_2d
    objects = sv.Objects(image, mask)
    annotations = sv.Annotations(objects, ["a", "b"])
    a_labels = [lab for lab, c in truth.items() if c == "a"][:3]
    b_label = next(lab for lab, c in truth.items() if c == "b")
    for label in a_labels:
        annotations.add(label, "a")
    annotations.add(b_label, "b")
    with pytest.raises(ValueError, match="'b' has 1 annotation"):
        out_of_fold(sv.Classifier(objects, model="random_forest"), annotations)
    with pytest.raises(ValueError, match="folds"):
        out_of_fold(sv.Classifier(objects, model="random_forest"), annotations, folds=1)


def test_summary_corrects_per_image_and_per_group(scene_2d):
    objects, annotations, truth = _setup(scene_2d)
    clf = sv.Classifier(objects, model="random_forest")
    clf.fit(annotations)
    prediction = clf.predict()
    errors = out_of_fold(clf, annotations, folds=3)
    table = prediction.summary(errors)
    assert list(table.columns)[:2] == ["image", "class"]
    assert len(table) == 2
    true_b = np.mean([c == "b" for c in truth.values()])
    row_b = table.set_index("class").loc["b"]
    assert row_b["low"] <= true_b <= row_b["high"]
    assert row_b["count"] == int((prediction.predicted_index == 1).sum())
    grouped = prediction.summary(errors.confusion, groups={objects.names[0]: "control"})
    assert grouped["group"].tolist() == ["control", "control"]
    with pytest.raises(ValueError, match="no group given"):
        prediction.summary(errors, groups={})
    with pytest.raises(ValueError, match="confusion"):
        prediction.summary(np.eye(3, dtype=int))
