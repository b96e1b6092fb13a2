"""Calibration: the ECE and reliability curve by hand, temperature scaling recovers a known over-confidence."""

from __future__ import annotations

import numpy as np
import pytest

from svetlana_nb.prediction.calibration import (
    Temperature,
    apply_temperature,
    expected_calibration_error,
    fit_temperature,
    reliability_curve,
)
from svetlana_nb.prediction.plots import reliability_diagram


def _softmax(z):
    e = np.exp(z - z.max(axis=1, keepdims=True))
    return e / e.sum(axis=1, keepdims=True)


def _over_confident(n=3000, k=3, sharpness=3.0, seed=0):
    """Classes drawn from softmax(z); the model reports softmax(sharpness * z): over-confident by ``sharpness``."""
    rng = np.random.default_rng(seed)
    z = rng.normal(0, 1.5, (n, k))
    truth = _softmax(z)
    y = (rng.random(n)[:, None] > truth.cumsum(axis=1)).sum(axis=1)
    return _softmax(sharpness * z), y


def test_the_curve_and_ece_by_hand():
    p = np.array([[0.95, 0.05], [0.9, 0.1], [0.65, 0.35], [0.3, 0.7], [0.45, 0.55]])
    y = np.array([0, 1, 0, 1, 0])
    curve = reliability_curve(p, y, bins=5)  # bins of width 0.2; confidences 0.95, 0.9, 0.65, 0.7, 0.55
    assert curve["n"].tolist() == [0, 0, 1, 2, 2]
    np.testing.assert_allclose(curve["confidence"].iloc[2:], [0.55, (0.65 + 0.7) / 2, (0.95 + 0.9) / 2])
    np.testing.assert_allclose(curve["accuracy"].iloc[2:], [0.0, 1.0, 0.5])
    expected = (1 * 0.55 + 2 * abs(1 - 0.675) + 2 * abs(0.5 - 0.925)) / 5
    assert expected_calibration_error(p, y, bins=5) == pytest.approx(expected)


def test_a_calibrated_model_has_a_small_ece_and_temperature_one():
    p, y = _over_confident(sharpness=1.0, n=20000)
    assert expected_calibration_error(p, y) < 0.02
    assert fit_temperature(p, y) == pytest.approx(1.0, abs=0.05)


def test_temperature_scaling_recovers_a_known_over_confidence_and_lowers_the_ece():
    p, y = _over_confident(sharpness=3.0)
    assert fit_temperature(p, y) == pytest.approx(3.0, rel=0.1)
    fitted = Temperature.fit(p, y)
    assert fitted.n == y.size and fitted.temperature == pytest.approx(3.0, rel=0.1)
    assert fitted.ece_before > 0.1 and fitted.ece_after < 0.04
    calibrated = fitted.apply(p)
    np.testing.assert_array_equal(calibrated.argmax(axis=1), p.argmax(axis=1))  # same classes
    np.testing.assert_allclose(calibrated.sum(axis=1), 1.0)


def test_an_under_confident_model_gets_a_temperature_below_one():
    p, y = _over_confident(sharpness=0.4)
    assert fit_temperature(p, y) == pytest.approx(0.4, rel=0.15)


def test_a_forest_probability_of_zero_is_handled():
    p = np.array([[1.0, 0.0], [0.0, 1.0], [1.0, 0.0], [0.5, 0.5]] * 5)
    y = np.array([0, 1, 1, 0] * 5)
    t = fit_temperature(p, y)
    assert np.isfinite(t) and np.isfinite(apply_temperature(p, t)).all()


@pytest.mark.parametrize(
    ("call", "message"),
    [
        (lambda: reliability_curve(np.ones((3, 1)), np.zeros(3, int)), "probabilities: expected shape"),
        (lambda: reliability_curve(np.full((2, 2), 0.7), np.zeros(2, int)), "summing to 1"),
        (lambda: reliability_curve(np.full((2, 2), 0.5), np.array([0, 2])), "annotated: class indices"),
        (lambda: reliability_curve(np.full((2, 2), 0.5), np.array([0.0, 1.0])), "annotated: expected one integer"),
        (lambda: reliability_curve(np.full((2, 2), 0.5), np.array([0, 1]), bins=0), "bins: expected"),
        (lambda: apply_temperature(np.full((2, 2), 0.5), 0.0), "temperature: expected a positive"),
        (lambda: Temperature.fit(np.full((3, 2), 0.5), np.array([0, 1, 0])), "at least 4 annotations"),
    ],
)
def test_bad_input_is_refused_naming_it(call, message):
    with pytest.raises(ValueError, match=message):
        call()


def test_the_reliability_diagram_draws_the_curve_and_names_the_ece():
    p, y = _over_confident(sharpness=3.0, n=1000)
    fitted = Temperature.fit(p, y)
    figure = reliability_diagram(p, y, calibrated=fitted.apply(p))
    ax = figure.axes[0]
    diagonal, model, calibrated = ax.get_lines()
    curve = reliability_curve(p, y)
    filled = curve[curve["n"] > 0]
    np.testing.assert_allclose(model.get_xdata(), filled["confidence"])
    np.testing.assert_allclose(model.get_ydata(), filled["accuracy"])
    labels = [t.get_text() for t in ax.get_legend().get_texts()]
    assert labels[1] == f"model (ECE {100 * expected_calibration_error(p, y):.1f} %)"
    assert labels[2].startswith("calibrated (ECE")


def test_out_of_fold_predictions_give_their_temperature():
    from svetlana_nb.models.cross_validation import OutOfFold

    p, y = _over_confident(sharpness=2.0, n=500)
    oof = OutOfFold(
        rows=np.arange(y.size), annotated=y, probabilities=p.astype(np.float32), class_names=list("abc"), folds=5
    )
    fitted = oof.temperature()
    assert fitted == Temperature.fit(p.astype(np.float32), y)
    assert fitted.temperature == pytest.approx(2.0, rel=0.2) and fitted.ece_after < fitted.ece_before
