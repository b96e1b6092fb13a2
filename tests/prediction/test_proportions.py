import numpy as np
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st
from hypothesis.extra.numpy import arrays

from svetlana_nb.prediction.proportions import (
    adjusted_proportions,
    confusion_counts,
    project_to_simplex,
    proportion_table,
)


def _population(rng, prevalence, n_objects, n_annotations, tpr, fpr):
    """A two-class population, its predicted classes, and out-of-fold confusion counts of random annotations."""
    truth = (rng.random(n_objects) < prevalence).astype(np.int64)
    positive_rate = np.where(truth == 1, tpr, fpr)
    predicted = (rng.random(n_objects) < positive_rate).astype(np.int64)
    annotated = rng.choice(n_objects, n_annotations, replace=False)
    out_of_fold = (rng.random(n_annotations) < positive_rate[annotated]).astype(np.int64)
    return truth, predicted, confusion_counts(truth[annotated], out_of_fold, 2)


@settings(max_examples=200, deadline=None)
@given(arrays(np.float64, st.tuples(st.integers(1, 6), st.integers(2, 6)), elements=st.floats(-5, 5)))
def test_projection_lands_on_the_simplex_and_keeps_points_already_there(values):
    projected = project_to_simplex(values)
    assert (projected >= 0).all()
    np.testing.assert_allclose(projected.sum(axis=-1), 1.0, atol=1e-9)
    np.testing.assert_allclose(project_to_simplex(projected), projected, atol=1e-9)
    # nearest point: no vertex of the simplex is closer than the projection
    vertices = np.eye(values.shape[1])
    distance = np.linalg.norm(values - projected, axis=1)
    to_vertices = np.linalg.norm(values[:, None, :] - vertices[None], axis=2).min(axis=1)
    assert (distance <= to_vertices + 1e-9).all()


def test_confusion_counts_puts_predicted_in_rows_and_annotated_in_columns():
    counts = confusion_counts(np.array([0, 0, 1, 1, 1]), np.array([0, 1, 1, 1, 0]), 2)
    np.testing.assert_array_equal(counts, [[1, 1], [1, 2]])


def test_a_perfect_classifier_gives_the_raw_proportions():
    estimate, low, high = adjusted_proportions(np.array([30, 70]), np.array([[50, 0], [0, 50]]), seed=1)
    np.testing.assert_allclose(estimate, [0.3, 0.7], atol=0.02)
    assert low[0] < 0.3 < high[0]


@pytest.mark.parametrize(("prevalence", "n_annotations"), [(0.05, 20), (0.05, 100), (0.3, 20), (0.3, 100)])
def test_the_interval_covers_the_true_proportion_in_at_least_90_percent_of_draws(prevalence, n_annotations):
    rng = np.random.default_rng(7)
    covered = 0
    draws = 100
    for draw in range(draws):
        truth, predicted, confusion = _population(rng, prevalence, 500, n_annotations, tpr=0.85, fpr=0.08)
        _, low, high = adjusted_proportions(np.bincount(predicted, minlength=2), confusion, n_boot=500, seed=draw)
        covered += low[1] <= truth.mean() <= high[1]
    assert covered >= 0.9 * draws


def test_the_correction_errs_less_than_the_raw_count_where_the_classifier_is_biased():
    # prevalence 5 %, false positives 8 %: the raw count about doubles the rare class
    rng = np.random.default_rng(3)
    corrected_error, raw_error = [], []
    for draw in range(60):
        truth, predicted, confusion = _population(rng, 0.05, 1000, 100, tpr=0.85, fpr=0.08)
        estimate, _, _ = adjusted_proportions(np.bincount(predicted, minlength=2), confusion, n_boot=500, seed=draw)
        corrected_error.append(abs(estimate[1] - truth.mean()))
        raw_error.append(abs(predicted.mean() - truth.mean()))
    assert np.mean(corrected_error) < 0.6 * np.mean(raw_error)


def test_a_rare_class_of_8_in_125_annotations_gets_a_finite_interval_containing_the_estimate():
    confusion = np.array([[112, 1], [5, 7]])  # 117 annotated common, 8 rare
    estimate, low, high = adjusted_proportions(np.array([900, 100]), confusion, seed=0)
    assert np.isfinite([estimate, low, high]).all()
    assert (low <= estimate).all() and (estimate <= high).all()
    assert 0 < low[1] < estimate[1] < high[1] < 0.2


def _draw_classes(rng, rates, truth):
    """Predicted class of each object: column ``truth`` of the column-stochastic ``rates``, vectorised."""
    cumulative = np.cumsum(rates[:, truth], axis=0)  # (k, N)
    return (rng.random(truth.size) > cumulative).sum(axis=0).clip(max=rates.shape[0] - 1)


def test_three_classes_are_corrected_jointly():
    rng = np.random.default_rng(0)
    true_props = np.array([0.7, 0.25, 0.05])
    # rates[j, i]: true i predicted j; the rare class 2 draws false positives from both others
    rates = np.array([[0.8, 0.05, 0.05], [0.05, 0.85, 0.05], [0.15, 0.1, 0.9]])
    covered = np.zeros(3)
    corrected_error, raw_error = [], []
    draws = 40
    for draw in range(draws):
        truth = rng.choice(3, 3000, p=true_props)
        predicted = _draw_classes(rng, rates, truth)
        annotated = rng.choice(3000, 300, replace=False)
        confusion = confusion_counts(truth[annotated], _draw_classes(rng, rates, truth[annotated]), 3)
        estimate, low, high = adjusted_proportions(
            np.bincount(predicted, minlength=3), confusion, n_boot=500, seed=draw
        )
        observed = np.bincount(truth, minlength=3) / truth.size
        covered += (low <= observed) & (observed <= high)
        corrected_error.append(np.abs(estimate - observed).max())
        raw_error.append(np.abs(np.bincount(predicted, minlength=3) / truth.size - observed).max())
    assert (covered >= 0.85 * draws).all(), covered
    assert np.mean(corrected_error) < 0.5 * np.mean(raw_error)


def test_table_has_one_row_per_group_and_class():
    predicted = np.array([0, 1, 1, 0, 0, 0])
    table = proportion_table(
        predicted, np.array([[20, 2], [2, 20]]), ["healthy", "infected"], groups=["a", "a", "a", "b", "b", "b"]
    )
    assert list(table.columns) == [
        "group",
        "class",
        "count",
        "proportion",
        "corrected",
        "low",
        "high",
        "estimate",
        "basis",
        "n_objects",
    ]
    assert table[["group", "class"]].values.tolist() == [
        ["a", "healthy"],
        ["a", "infected"],
        ["b", "healthy"],
        ["b", "infected"],
    ]
    assert table["count"].tolist() == [1, 2, 3, 0]
    np.testing.assert_allclose(table.groupby("group")["corrected"].sum(), 1.0)


@pytest.mark.parametrize(
    ("call", "message"),
    [
        (lambda: confusion_counts(np.array([0, 2]), np.array([0, 1]), 2), "annotated"),
        (lambda: confusion_counts(np.array([0.5]), np.array([0]), 2), "annotated"),
        (lambda: confusion_counts(np.array([0, 1]), np.array([0]), 2), "one predicted class"),
        (lambda: adjusted_proportions(np.array([1, 2]), np.eye(3, dtype=int)), "confusion"),
        (lambda: adjusted_proportions(np.array([1, -2]), np.eye(2, dtype=int)), "non-negative"),
        (lambda: adjusted_proportions(np.array([1, 2]), np.eye(2, dtype=int), level=95), "level"),
        (lambda: adjusted_proportions(np.array([1, 2]), np.eye(2, dtype=int), n_boot=2.5), "n_boot"),
        (lambda: proportion_table(np.array([0, 1]), np.eye(2, dtype=int), ["a", "b"], groups=["x"]), "groups"),
    ],
)
def test_bad_input_names_the_argument(call, message):
    with pytest.raises((ValueError, TypeError), match=message):
        call()


def test_known_objects_count_as_their_class_and_only_the_others_are_corrected():
    predicted = np.array([1, 1, 1, 1, 0, 0, 0, 0])
    known = np.array([0, 0, -1, -1, -1, -1, -1, -1])  # two annotated objects the model got wrong
    table = proportion_table(predicted, np.array([[50, 0], [0, 50]]), ["a", "b"], known=known, n_boot=500)
    assert table["count"].tolist() == [6, 2]
    # the 6 unknown objects: 2 predicted b by a perfect classifier; the 2 known are a
    np.testing.assert_allclose(table["corrected"], [6 / 8, 2 / 8], atol=0.03)
    assert (table["low"] <= table["corrected"]).all() and (table["corrected"] <= table["high"]).all()
    assert table.loc[0, "low"] >= 2 / 8  # the known part carries no uncertainty
    with pytest.raises(ValueError, match="known"):
        proportion_table(predicted, np.eye(2, dtype=int), ["a", "b"], known=known[:3])


def test_the_estimate_is_corrected_only_where_the_annotations_show_a_bias():
    """Few annotations: the correction is noisier than the bias it could remove, so the raw share is
    reported; a clear bias measured on many annotations: the corrected share is reported."""
    from svetlana_nb.prediction.proportions import bias_detected, proportion_table

    rng = np.random.default_rng(0)
    # a classifier that calls 20 % of class 0 "class 1" and never the reverse; truth 30 % class 1
    truth = (rng.random(2000) < 0.3).astype(np.int64)
    predicted = np.where((truth == 0) & (rng.random(2000) < 0.2), 1, truth)
    many = proportion_table(predicted, np.array([[560, 0], [140, 300]]), ["a", "b"], n_boot=500)
    assert bias_detected(np.bincount(predicted), np.array([[560, 0], [140, 300]]), n_boot=500)
    assert (many["basis"] == "corrected").all()
    np.testing.assert_allclose(many["estimate"], many["corrected"])
    assert abs(many["estimate"][1] - truth.mean()) < abs(many["proportion"][1] - truth.mean())
    # 6 annotations, one error: no bias can be shown; the raw share is the estimate
    few = proportion_table(predicted, np.array([[3, 0], [1, 2]]), ["a", "b"], n_boot=500)
    assert (few["basis"] == "raw").all()
    np.testing.assert_allclose(few["estimate"], few["proportion"])
    assert (few["low"] <= few["estimate"]).all() and (few["estimate"] <= few["high"]).all()
