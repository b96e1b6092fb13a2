"""Expected counts of calibrated probabilities: less error than the raw count, honest intervals."""

import numpy as np
import pytest

from svetlana_nb.prediction.expected_counts import calibrated_replicates, expected_proportions
from svetlana_nb.prediction.proportions import confusion_counts, proportion_table


def _over_confident(rng, n, prevalence, *, temperature=3.0, separation=1.2):
    """Two Gaussian classes; the exact posterior at ``prevalence``, made over-confident by ``temperature``.

    Returns the true classes (n,) and the probabilities (n, 2). Thresholding them at 0.5 misses
    part of a rare class (the raw count is biased); their mean, once the temperature is undone,
    is the prevalence.
    """
    truth = (rng.random(n) < prevalence).astype(np.int64)
    x = np.where(truth == 1, separation, -separation) + rng.normal(0.0, 1.0, n)
    logit = (2 * separation * x + np.log(prevalence / (1 - prevalence))) * temperature
    p1 = 1.0 / (1.0 + np.exp(-logit))
    return truth, np.stack([1.0 - p1, p1], axis=1)


def _annotations(rng, n, prevalence, **population):
    """Annotations of the same population, as predicted out of fold: classes (n,) and probabilities (n, 2)."""
    while True:
        truth, p = _over_confident(rng, n, prevalence, **population)
        if np.bincount(truth, minlength=2).min() >= 2:
            return truth, p


def test_calibrated_expected_counts_err_less_than_the_raw_count_where_it_is_biased():
    rng = np.random.default_rng(1)
    raw_error, estimate_error = [], []
    for draw in range(30):
        truth, p = _over_confident(rng, 1000, 0.1)
        annotated, oof = _annotations(rng, 60, 0.1)
        estimate, _, _ = expected_proportions(p, oof, annotated, n_boot=200, seed=draw)
        raw_error.append(p.argmax(axis=1).mean() - truth.mean())
        estimate_error.append(estimate[1] - truth.mean())
    assert np.mean(raw_error) < -0.01  # the raw count misses part of the rare class
    assert np.mean(np.abs(estimate_error)) < 0.7 * np.mean(np.abs(raw_error))


def test_the_table_interval_covers_the_truth_in_at_least_90_percent_of_draws_at_20_annotations():
    rng = np.random.default_rng(2)
    covered, draws, adjusted = 0, 40, 0
    for draw in range(draws):
        truth, p = _over_confident(rng, 500, 0.1)
        annotated, oof = _annotations(rng, 20, 0.1)
        confusion = confusion_counts(annotated, oof.argmax(axis=1), 2)
        table = proportion_table(
            p.argmax(axis=1),
            confusion,
            ["a", "b"],
            probabilities=p,
            calibration=(oof, annotated),
            n_boot=300,
            seed=draw,
        )
        covered += table.loc[1, "low"] <= truth.mean() <= table.loc[1, "high"]
        assert set(table["basis"]) <= {"raw", "calibrated", "corrected"}
        adjusted += (table["basis"] == "corrected").all()  # annotations that happen to look shifted
    assert covered >= 0.9 * draws and adjusted <= 0.1 * draws


def test_a_calibrated_model_keeps_its_probabilities_and_the_replicates_vary_with_both_samples():
    rng = np.random.default_rng(3)
    _, p = _over_confident(rng, 400, 0.3, temperature=1.0)
    annotated, oof = _annotations(rng, 200, 0.3, temperature=1.0)
    estimate, replicates = calibrated_replicates(p, oof, annotated, n_boot=300, seed=0)
    np.testing.assert_allclose(estimate, p.mean(axis=0), atol=0.01)  # temperature about 1
    assert replicates.shape == (300, 2) and np.allclose(replicates.sum(axis=1), 1.0)
    assert 0.005 < replicates[:, 1].std() < 0.05


def test_the_table_refuses_probabilities_without_calibration_data():
    with pytest.raises(ValueError, match="probabilities and calibration"):
        proportion_table(np.array([0, 1]), np.eye(2, dtype=int), ["a", "b"], probabilities=np.full((2, 2), 0.5))
    with pytest.raises(ValueError, match="probabilities: expected shape"):
        proportion_table(
            np.array([0, 1]),
            np.eye(2, dtype=int),
            ["a", "b"],
            probabilities=np.full((3, 2), 0.5),
            calibration=(np.full((4, 2), 0.5), np.array([0, 1, 0, 1])),
        )


@pytest.mark.parametrize(
    ("args", "message"),
    [
        ((np.full((3, 2), 0.5), np.full((4, 3), 1 / 3), np.array([0, 1, 0, 1])), "oof_probabilities"),
        ((np.full((3, 2), 0.5), np.full((4, 2), 0.5), np.array([0, 1, 0, 2])), "annotated"),
        ((np.full((0, 2), 0.5), np.full((4, 2), 0.5), np.array([0, 1, 0, 1])), "no objects"),
        ((np.full((3, 2), np.nan), np.full((4, 2), 0.5), np.array([0, 1, 0, 1])), "probabilities"),
    ],
)
def test_bad_input_names_the_argument(args, message):
    with pytest.raises(ValueError, match=message):
        expected_proportions(*args, n_boot=100)


def test_a_bias_shown_by_many_annotations_reports_the_calibrated_share():
    rng = np.random.default_rng(4)
    truth, p = _over_confident(rng, 4000, 0.1, separation=0.8)
    annotated, oof = _annotations(rng, 1000, 0.1, separation=0.8)
    confusion = confusion_counts(annotated, oof.argmax(axis=1), 2)
    table = proportion_table(p.argmax(axis=1), confusion, ["a", "b"], probabilities=p, calibration=(oof, annotated))
    assert (table["basis"] == "calibrated").all()
    np.testing.assert_allclose(table["estimate"], table["corrected"])
    estimate, _, _ = expected_proportions(p, oof, annotated)
    np.testing.assert_allclose(table["corrected"], estimate)  # no annotated objects: the calibrated share
    raw_error = abs(table.loc[1, "proportion"] - truth.mean())
    assert raw_error > 0.02 and abs(table.loc[1, "estimate"] - truth.mean()) < 0.5 * raw_error
    assert table.loc[1, "low"] <= truth.mean() <= table.loc[1, "high"]


def test_many_objects_draw_their_mean_from_its_normal_limit_with_the_exact_spread(monkeypatch):
    import svetlana_nb.prediction.expected_counts as module

    rng = np.random.default_rng(5)
    _, p = _over_confident(rng, 6000, 0.3)
    annotated, oof = _annotations(rng, 500, 0.3)
    exact_estimate, exact = calibrated_replicates(p, oof, annotated, n_boot=400, seed=0)
    monkeypatch.setattr(module, "EXACT_UP_TO", 1000)
    normal_estimate, normal = calibrated_replicates(p, oof, annotated, n_boot=400, seed=0)
    np.testing.assert_allclose(normal_estimate, exact_estimate)
    assert normal[:, 1].std() == pytest.approx(exact[:, 1].std(), rel=0.2)
    np.testing.assert_allclose(normal.mean(axis=0), exact.mean(axis=0), atol=0.003)


def _balanced_model(rng, truth, separation=1.2):
    """Probabilities of a classifier trained on class-balanced annotations: the posterior at a 50 % prior."""
    x = np.where(truth == 1, separation, -separation) + rng.normal(0.0, 1.0, truth.size)
    p1 = 1.0 / (1.0 + np.exp(-2 * separation * x))
    return np.stack([1.0 - p1, p1], axis=1)


def test_class_balanced_annotations_of_a_rare_class_report_adjusted_classify_and_count():
    """A prior shift: 300 : 300 annotations, an image with 5 % of the class. The calibrated expected
    count is calibrated for the annotations' 50 %, so it errs with the raw count; adjusted
    classify-and-count does not, and is the corrected share and the estimate."""
    from svetlana_nb.prediction.proportions import bias_detected, prior_shift_detected

    rng = np.random.default_rng(5)
    truth = (rng.random(4000) < 0.05).astype(np.int64)
    p = _balanced_model(rng, truth)
    annotated = np.repeat([0, 1], 300)
    oof = _balanced_model(rng, annotated)
    confusion = confusion_counts(annotated, oof.argmax(axis=1), 2)
    counts = np.bincount(p.argmax(axis=1), minlength=2)
    calibrated, shares = calibrated_replicates(p, oof, annotated)
    assert prior_shift_detected(confusion.sum(axis=0), shares) and bias_detected(counts, confusion)
    table = proportion_table(p.argmax(axis=1), confusion, ["a", "b"], probabilities=p, calibration=(oof, annotated))
    assert (table["basis"] == "corrected").all()
    np.testing.assert_allclose(table["estimate"], table["corrected"])
    raw_error = abs(table.loc[1, "proportion"] - truth.mean())
    assert raw_error > 0.05 and abs(calibrated[1] - truth.mean()) > 0.05  # both biased toward the rare class
    assert abs(table.loc[1, "estimate"] - truth.mean()) < 0.3 * raw_error
    assert table.loc[1, "low"] <= truth.mean() <= table.loc[1, "high"]


def test_annotations_with_the_objects_class_shares_show_no_prior_shift():
    from svetlana_nb.prediction.proportions import prior_shift_detected

    rng = np.random.default_rng(6)
    shifted = 0
    for draw in range(40):
        truth, p = _over_confident(rng, 1000, 0.1)
        annotated, oof = _annotations(rng, 60, 0.1)
        _, shares = calibrated_replicates(p, oof, annotated, n_boot=500, seed=draw)
        shifted += prior_shift_detected(np.bincount(annotated, minlength=2), shares)
    assert shifted <= 4  # a test at about 5 %
