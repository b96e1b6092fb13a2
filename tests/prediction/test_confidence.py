"""``Calibration``: fitting a temperature on held-out probabilities, applying it, and its checks."""

from __future__ import annotations

import numpy as np
import pytest

from svetlana_nb.prediction.calibration import expected_calibration_error
from svetlana_nb.prediction.confidence import MIN_HELD_OUT, Calibration


def overconfident(n: int, *, k: int = 3, sharpen: float = 4.0, seed: int = 0) -> tuple[np.ndarray, np.ndarray]:
    """Probabilities of a model ``sharpen`` times over-confident (its logits multiplied), and true classes."""
    rng = np.random.default_rng(seed)
    logits = rng.normal(0.0, 1.2, (n, k))
    honest = np.exp(logits) / np.exp(logits).sum(axis=1, keepdims=True)
    truth = np.array([rng.choice(k, p=row) for row in honest])  # the honest probabilities are right on average
    sharp = np.exp(sharpen * logits)
    return sharp / sharp.sum(axis=1, keepdims=True), truth


def test_a_temperature_fitted_on_held_out_objects_lowers_the_ece_of_other_objects():
    fit_p, fit_y = overconfident(60, seed=1)
    test_p, test_y = overconfident(3000, seed=2)
    calibration = Calibration.fit(fit_p, fit_y, source="validation")
    assert calibration.calibrated and calibration.temperature > 1.5  # it softens an over-confident model
    before = expected_calibration_error(test_p, test_y)
    after = expected_calibration_error(calibration.apply(test_p), test_y)
    assert before > 0.15 and after < before / 2


def test_the_classes_never_change():
    p, _ = overconfident(500, k=5)
    for temperature in (0.3, 1.7, 8.0):
        scaled = Calibration(temperature, "out-of-bag", 10).apply(p)
        np.testing.assert_array_equal(scaled.argmax(axis=1), p.argmax(axis=1))
        assert scaled.dtype == np.float32 and np.allclose(scaled.sum(axis=1), 1, atol=1e-5)


def test_held_out_objects_all_right_do_not_sharpen_every_confidence_to_one():
    """Without the prior, the likelihood of 8 right objects grows without end as T falls."""
    p = np.tile([[0.9, 0.1]], (8, 1))
    y = np.zeros(8, dtype=np.int64)
    calibration = Calibration.fit(p, y, source="validation")
    assert 0.5 < calibration.temperature < 1.0
    from svetlana_nb.prediction.calibration import fit_temperature

    assert fit_temperature(p, y) < 0.1  # maximum likelihood alone would


def test_too_few_held_out_objects_leave_it_uncalibrated():
    p, y = overconfident(MIN_HELD_OUT - 1)
    calibration = Calibration.fit(p, y, source="validation")
    assert not calibration.calibrated and calibration.temperature == 1.0
    assert f"only {MIN_HELD_OUT - 1} held-out" in calibration.note
    np.testing.assert_array_equal(calibration.apply(p), p.astype(np.float32))


def test_unapply_gives_the_raw_probabilities_back():
    p, _ = overconfident(200, k=4)
    for temperature in (0.4, 2.5):
        calibration = Calibration(temperature, "validation", 20)
        back = calibration.unapply(calibration.apply(p).astype(np.float64))
        np.testing.assert_allclose(back, np.maximum(p, 0), atol=1e-6)


@pytest.mark.parametrize(
    ("values", "message"),
    [
        ({"temperature": 0.0, "source": "validation", "n": 5, "note": ""}, "calibration.temperature"),
        ({"temperature": float("nan"), "source": "validation", "n": 5, "note": ""}, "calibration.temperature"),
        ({"temperature": 2.0, "source": "none", "n": 0, "note": ""}, "expected 1 without calibration"),
        ({"temperature": 2.0, "source": "guess", "n": 5, "note": ""}, "calibration.source"),
        ({"temperature": 2.0, "source": "validation", "n": 2.5, "note": ""}, "calibration.n"),
        ({"temperature": 2.0, "source": "validation", "n": 5}, "a mapping of temperature"),
    ],
)
def test_bad_fields_are_named(values, message):
    with pytest.raises(ValueError, match=message):
        Calibration.from_dict(values)


def test_round_trip_and_words():
    calibration = Calibration(1.62, "validation", 20)
    assert Calibration.from_dict(calibration.to_dict()) == calibration
    assert calibration.describe() == "calibrated: temperature 1.62, fitted on 20 validation annotations"
    assert Calibration.none("why").describe() == "not calibrated (why)"
