"""Calibrated confidence: the temperature fitted at the end of fit, saved, loaded and applied."""

from __future__ import annotations

import json
from pathlib import Path

import numpy as np
import pytest
from safetensors import safe_open
from safetensors.torch import save_file

import svetlana_nb as sv
from svetlana_nb.models.cross_validation import out_of_fold
from svetlana_nb.prediction.calibration import apply_temperature
from svetlana_nb.prediction.confidence import Calibration
from tests.helpers import annotate, grid_scene

GOLDEN = Path(__file__).resolve().parents[1] / "fixtures" / "golden"


def contents(path: Path) -> tuple[dict, dict]:
    with safe_open(str(path), framework="pt") as handle:
        return json.loads(handle.metadata()["svetlana_nb"]), {k: handle.get_tensor(k) for k in handle.keys()}


def rewrite(path: Path, header: dict, tensors: dict) -> Path:
    save_file(tensors, str(path), metadata={"svetlana_nb": json.dumps(header)})
    return path


@pytest.fixture(scope="module")
def scene():
    image, mask, truth = grid_scene(size=240)
    objects = sv.Objects(image, mask)
    return objects, truth


@pytest.fixture(scope="module")
def forest(scene):
    objects, truth = scene
    clf = sv.Classifier(objects, model="random_forest")
    clf.fit(annotate(objects, truth, 24))
    return clf


@pytest.fixture(scope="module")
def network(scene):
    """A network with validation (48 annotations >= 40) and its default second opinion."""
    objects, truth = scene
    clf = sv.Classifier(objects, second_opinion=sv.SecondOpinion(below=1.01))  # the forest consulted on all
    ann = annotate(objects, truth, 48)
    clf.fit(ann, epochs=6)
    return clf, ann


def test_the_forest_is_calibrated_on_its_out_of_bag_scores(forest):
    calibration = forest.calibration
    assert calibration.calibrated and calibration.source == "out-of-bag"
    held_out = forest.backend.held_out
    assert calibration.n == len(held_out.annotated) > 0
    assert calibration.temperature == pytest.approx(
        Calibration.fit(held_out.probabilities, held_out.annotated, source="out-of-bag").temperature
    )
    assert calibration.temperature != pytest.approx(1.0, abs=1e-3)


def test_a_network_is_calibrated_on_its_validation_objects_after_the_second_opinion(network):
    clf, ann = network
    calibration = clf.calibration
    assert calibration.calibrated and calibration.source == "validation"
    assert calibration.n == clf.history.n_val == len(clf.history.val_rows) > 0
    held_out = clf.backend.held_out
    # the held-out probabilities are the mix the classifier outputs, not the network alone
    annotated_rows = list(ann.rows_and_targets()[0])
    val_positions = np.array([annotated_rows.index(row) for row in clf.history.val_rows])
    patches = clf.patches(clf.objects, clf.history.val_rows)
    network_alone = clf.backend.forward_patches(patches)
    forest_oob = clf.backend.opinion.forest.oob_proba[val_positions]
    scored = np.isfinite(forest_oob).all(axis=1)
    assert scored.any()
    mixed = np.where(scored[:, None], 0.5 * network_alone + 0.5 * np.nan_to_num(forest_oob), network_alone)
    np.testing.assert_allclose(held_out.probabilities, mixed, atol=1e-4)
    assert calibration.temperature == pytest.approx(
        Calibration.fit(held_out.probabilities, held_out.annotated, source="validation").temperature
    )


def test_a_network_without_validation_keeps_temperature_1_and_says_it_is_not_calibrated(scene):
    objects, truth = scene
    clf = sv.Classifier(objects)
    clf.fit(annotate(objects, truth, 12), epochs=2)
    assert not clf.calibration.calibrated and clf.calibration.temperature == 1.0
    assert "validation off" in clf.calibration.note
    prediction = clf.predict()
    assert not prediction.calibrated and prediction.temperature == 1.0
    np.testing.assert_array_equal(prediction.probabilities, clf.predict_proba(calibrated=False))
    assert "not calibrated" in repr(prediction)


def test_predictions_are_calibrated_by_default_and_raw_on_request(forest, scene):
    objects, _ = scene
    t = forest.calibration.temperature
    raw = forest.predict_proba(objects, calibrated=False)
    calibrated = forest.predict_proba(objects)
    np.testing.assert_allclose(calibrated, apply_temperature(raw, t), atol=1e-6)
    assert not np.allclose(calibrated, raw, atol=1e-3)
    prediction = forest.predict(objects)
    assert prediction.calibrated and prediction.temperature == t
    np.testing.assert_array_equal(prediction.probabilities, calibrated)
    np.testing.assert_array_equal(prediction.raw_probabilities, raw)
    np.testing.assert_array_equal(prediction.confidence, calibrated.max(axis=1))
    np.testing.assert_array_equal(prediction.table["confidence"].to_numpy(), calibrated.max(axis=1))
    assert f"temperature {t:.3g}" in repr(prediction) and "out of bag" in repr(prediction)
    expert = forest.predict(objects, calibrated=False)
    assert not expert.calibrated and expert.temperature == 1.0
    np.testing.assert_array_equal(expert.probabilities, raw)
    # the classes never change: temperature scaling keeps the order within each row
    np.testing.assert_array_equal(prediction.class_index, expert.class_index)
    np.testing.assert_array_equal(calibrated.argmax(axis=1), raw.argmax(axis=1))


def test_a_corrected_prediction_keeps_its_calibration(forest, scene):
    objects, truth = scene
    prediction = forest.predict(objects)
    ann = sv.Annotations(objects, ["a", "b", "c"])
    ann.add(int(objects.labels[0]), "c")
    corrected = prediction.corrected(ann)
    assert corrected.calibration == prediction.calibration
    np.testing.assert_array_equal(corrected.raw_probabilities[:, :2], prediction.raw_probabilities)
    np.testing.assert_array_equal(corrected.raw_probabilities[:, 2], 0)


def test_the_temperature_is_saved_and_loaded(forest, network, scene, tmp_path):
    objects, _ = scene
    for clf in (forest, network[0]):
        path = tmp_path / "model.svnb"
        clf.save(path)
        header, _ = contents(path)
        assert header["calibration"]["temperature"] == clf.calibration.temperature
        loaded = sv.Classifier.load(path)
        assert loaded.calibration == clf.calibration
        assert loaded.predict(objects).calibrated
        np.testing.assert_allclose(loaded.predict_proba(objects), clf.predict_proba(objects), atol=1e-6)


def test_a_model_file_without_calibration_loads_with_temperature_1(forest, scene, tmp_path):
    objects, _ = scene
    forest.save(tmp_path / "new.svnb")
    header, tensors = contents(tmp_path / "new.svnb")
    del header["calibration"]
    old = sv.Classifier.load(rewrite(tmp_path / "old.svnb", header, tensors))
    assert not old.calibration.calibrated and old.calibration.temperature == 1.0
    assert "before calibration" in old.calibration.note
    np.testing.assert_array_equal(old.predict_proba(objects), forest.predict_proba(objects, calibrated=False))
    assert not old.predict(objects).calibrated
    # a file of format 1, from before the redesign, too
    golden = sv.Classifier.load(GOLDEN / "infected_cells_2d-epochs=8.svnb")
    assert not golden.calibration.calibrated and golden.calibration.temperature == 1.0


@pytest.mark.parametrize("temperature", [0, -1.5, float("nan"), float("inf"), "2", True, None])
def test_an_invalid_temperature_in_a_model_file_is_an_error_naming_file_and_field(forest, tmp_path, temperature):
    forest.save(tmp_path / "good.svnb")
    header, tensors = contents(tmp_path / "good.svnb")
    header["calibration"]["temperature"] = temperature
    path = rewrite(tmp_path / "bad.svnb", header, tensors)
    with pytest.raises(ValueError, match=r"bad\.svnb.*'calibration\.temperature'.*finite number above 0"):
        sv.Classifier.load(path)


@pytest.mark.parametrize(
    ("field", "value", "message"),
    [("source", "guessed", "calibration.source"), ("n", -1, "calibration.n"), ("note", None, "calibration.note")],
)
def test_other_bad_calibration_fields_are_errors_naming_file_and_field(forest, tmp_path, field, value, message):
    forest.save(tmp_path / "good.svnb")
    header, tensors = contents(tmp_path / "good.svnb")
    header["calibration"][field] = value
    path = rewrite(tmp_path / "bad.svnb", header, tensors)
    with pytest.raises(ValueError, match=rf"bad\.svnb.*{message}"):
        sv.Classifier.load(path)
    header["calibration"] = [1.0]
    with pytest.raises(ValueError, match=r"bad\.svnb.*'calibration'"):
        sv.Classifier.load(rewrite(tmp_path / "bad.svnb", header, tensors))


def test_out_of_fold_probabilities_and_the_summary_use_raw_probabilities(forest, scene, monkeypatch):
    """No double scaling: the expected counts calibrate raw probabilities with their own temperature."""
    objects, truth = scene
    noisy = dict(truth)
    for label in list(noisy)[:16:4]:  # a few wrong annotations: out-of-fold errors, a moderate temperature
        noisy[label] = "a" if noisy[label] == "b" else "b"
    ann = annotate(objects, noisy, 24, seed=None)
    calls = []
    original = Calibration.apply
    monkeypatch.setattr(Calibration, "apply", lambda self, p: calls.append(self) or original(self, p))
    oof = out_of_fold(forest, ann, folds=3)
    assert not [c for c in calls if c.temperature != 1.0]  # no fold's temperature scaled its probabilities
    monkeypatch.undo()
    calibrated, raw = forest.predict(objects), forest.predict(objects, calibrated=False)
    assert calibrated.temperature != 1.0
    got = calibrated.corrected(ann).summary(oof, n_boot=200)
    expected = raw.corrected(ann).summary(oof, n_boot=200)
    np.testing.assert_allclose(got[["corrected", "low", "high"]], expected[["corrected", "low", "high"]])
    # what double scaling would give: the calibrated probabilities taken for raw ones
    twice = (
        sv.Prediction(objects, calibrated.probabilities, calibrated.class_names).corrected(ann).summary(oof, n_boot=200)
    )
    assert not np.allclose(twice["corrected"], expected["corrected"], rtol=0, atol=1e-6)


def test_a_failed_fit_leaves_the_calibration_as_it_was(forest, scene):
    objects, truth = scene

    class Fails(sv.Callback):
        def on_train_end(self, history):
            raise RuntimeError("boom")

    before = forest.calibration
    with pytest.raises(RuntimeError, match="boom"):
        forest.fit(annotate(objects, truth, 40, seed=5), callbacks=[Fails()])
    assert forest.calibration is before
