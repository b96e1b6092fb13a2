"""The learning curve: its points, intervals, cost, stop, reading and errors."""

from __future__ import annotations

import dataclasses
import threading

import numpy as np
import pandas as pd
import pytest
from helpers import annotate

import svetlana_nb as sv
from svetlana_nb.models.curve_schedule import Budget
from svetlana_nb.models.learning_curve import COLUMNS, LearningCurve, learning_curve


@pytest.fixture(scope="module")
def scene(scene_2d):
    image, mask, truth = scene_2d
    objects = sv.Objects(image, mask)
    return objects, annotate(objects, truth, 36, seed=0)


class Counter(sv.Callback):
    """Records every fit's ``info``; asks to stop once ``stop_after`` fits have begun."""

    def __init__(self, stop_after: int | None = None) -> None:
        self.begun: list[dict] = []
        self.stop_after = stop_after

    def on_train_begin(self, info: dict) -> None:
        self.begun.append(info)

    def should_stop(self) -> bool:
        return self.stop_after is not None and len(self.begun) >= self.stop_after


def test_points_grow_with_the_fractions_and_intervals_hold_their_mean(scene):
    objects, annotations = scene
    counter = Counter()
    curve = learning_curve(sv.Classifier(objects, model="random_forest"), annotations, callbacks=[counter])
    table = curve.table
    assert list(table.columns) == list(COLUMNS)
    assert table["model"].unique().tolist() == ["random_forest"]
    assert table["fraction"].tolist() == [0.25, 0.5, 0.75, 1.0]
    assert np.all(np.diff(table["n_annotations"]) > 0)
    # fraction 1 of the training folds: two thirds of the 36 annotations
    assert table["n_annotations"].iloc[-1] == 24
    assert (table["low"] <= table["mean"]).all() and (table["mean"] <= table["high"]).all()
    assert ((0 <= table["low"]) & (table["high"] <= 1)).all()
    assert (table["runs"] == 3).all()
    assert not curve.partial and curve.network_fits == 0 and curve.cost == 0
    assert curve.table["mean"].iloc[-1] >= 0.8  # the scene's classes are easy
    assert list(curve.recall.columns) == ["model", "n_annotations", "a", "b"]
    # progress: every fit reported, with where the curve stands
    steps = [info["learning_curve"] for info in counter.begun]
    assert [s["step"] for s in steps] == list(range(1, 13))
    assert {s["steps"] for s in steps} == {12}
    assert [s["fraction"] for s in steps[:3]] == [0.25] * 3


def test_network_fits_stay_within_three_of_the_classifiers_trainings(scene):
    objects, annotations = scene
    clf = sv.Classifier(objects, second_opinion=None)
    real = Counter()
    clf.fit(annotations, epochs=12, callbacks=[real])  # the user's training: 12 epochs of 2 batches
    training = real.begun[0]["max_epochs"] * real.begun[0]["n_batches"]
    counter = Counter()
    curve = learning_curve(clf, annotations, models=[clf.model_name], callbacks=[counter])
    # the docstring's count: fractions x folds x repeats
    assert curve.network_fits == len(counter.begun) == 4 * 3 * 1
    spent = sum(info["max_epochs"] * info["n_batches"] for info in counter.begun)
    assert spent <= 3 * training
    assert 2.0 <= curve.cost <= 3.0
    assert len(clf.history.epoch) == 12  # the classifier given is left as it was


def test_the_budget_of_an_untrained_classifier_is_the_planned_training(scene):
    objects, annotations = scene
    config = sv.Classifier(objects).config
    # 36 annotations: too few to validate, so 300 epochs (the default's ceiling) of 2 batches
    budget = Budget.plan(config, annotations, None, fits=12, budget=3.0)
    assert budget.reference == 300 * 2 and budget.per_fit == 150
    assert budget.epochs(config, 24, {"a": 12, "b": 12}) == (150, 150)
    assert budget.epochs(config, 8, {"a": 4, "b": 4}) == (150, 150)
    trained = Budget.plan(config, annotations, 40, fits=12, budget=3.0)
    assert trained.reference == 80 and trained.epochs(config, 24, {"a": 12, "b": 12}) == (20, 20)
    with pytest.raises(ValueError, match="budget"):
        Budget.plan(config, annotations, None, fits=12, budget=0)


def test_a_stop_request_returns_the_points_done(scene):
    objects, annotations = scene
    counter = Counter(stop_after=4)  # the 4th fit is stopped: only the first fraction is complete
    curve = learning_curve(sv.Classifier(objects, model="random_forest"), annotations, callbacks=[counter])
    assert curve.partial
    assert curve.table["fraction"].tolist() == [0.25]
    assert curve.reading().startswith("partial curve (stopped early): too few points")


def test_a_stop_event_from_another_thread_stops_a_network_mid_fit(scene):
    objects, annotations = scene
    stop = threading.Event()

    class StopAtSecondFit(sv.Callback):
        fits = 0

        def on_train_begin(self, info: dict) -> None:
            self.fits += 1

        def on_epoch_end(self, epoch: int, metrics: dict) -> None:
            if self.fits == 2 and epoch == 2:
                threading.Thread(target=stop.set).start()

    watcher = StopAtSecondFit()
    clf = sv.Classifier(objects)
    result: list[LearningCurve] = []
    worker = threading.Thread(
        target=lambda: result.append(
            learning_curve(
                clf, annotations, models=[clf.model_name], folds=2, stop=stop, callbacks=[watcher], epochs=20
            )
        )
    )
    worker.start()
    worker.join(60)
    assert result and result[0].partial
    assert result[0].table.empty and result[0].network_fits == 1
    assert watcher.fits == 2


def _curve(means: dict[str, list[float]], n=(10, 20, 30, 40), se=0.01, recall=None) -> LearningCurve:
    rows = [
        (model, (i + 1) / len(n), n[i], m, m - se, m + se, 3)
        for model, values in means.items()
        for i, m in enumerate(values)
    ]
    return LearningCurve(table=pd.DataFrame(rows, columns=list(COLUMNS)), recall=recall)


def test_the_reading_says_rising_and_which_class_to_annotate():
    recall = pd.DataFrame(
        [("light_cnn", 40, 0.9, 0.62), ("random_forest", 40, 0.7, 0.7)],
        columns=["model", "n_annotations", "healthy", "infected"],
    )
    curve = _curve({"light_cnn": [0.6, 0.7, 0.76, 0.8], "random_forest": [0.6, 0.65, 0.68, 0.7]}, recall=recall)
    text = curve.reading()
    assert text.startswith("accuracy still rising: Light CNN")
    # slope 0.04 per 10 annotations: 0.02 more needs about 5
    assert "about 5 more annotations of class 'infected'" in text
    assert "noise" not in text


def test_the_reading_says_flat_on_a_plateau_and_flags_noise():
    assert _curve({"light_cnn": [0.7, 0.8, 0.85, 0.853]}).reading().startswith("flat: Light CNN")
    assert _curve({"light_cnn": [0.9, 0.95, 0.99, 1.0]}).reading().startswith("flat: Light CNN is already at 1.00")
    assert _curve({"light_cnn": [0.7, 0.8, 0.85, 0.8]}).reading().startswith("flat: Light CNN")  # a fall
    noisy = _curve({"light_cnn": [0.6, 0.7, 0.75, 0.77]}, se=0.05).reading()
    assert noisy.startswith("accuracy still rising") and "may be noise" in noisy
    assert "of class" not in noisy  # no recall table: no class named


def test_plot_draws_a_line_and_a_band_per_model():
    curve = _curve({"light_cnn": [0.6, 0.7, 0.76, 0.8], "random_forest": [0.6, 0.65, 0.68, 0.7]})
    figure = curve.plot()
    ax = figure.axes[0]
    assert len(ax.lines) == 2 and len(ax.collections) == 2
    assert [t.get_text() for t in ax.get_legend().get_texts()] == ["light_cnn", "random_forest"]


@pytest.mark.parametrize(
    ("options", "message"),
    [
        ({"fractions": (0.0, 0.5, 1.0)}, "fractions"),
        ({"fractions": (0.5, 1.2)}, "fractions"),
        ({"fractions": (1.0,)}, "fractions"),
        ({"fractions": (0.5, 0.5)}, "fractions"),
        ({"fractions": "0.5"}, "fractions"),
        ({"folds": 1}, "folds"),
        ({"repeats": 0}, "repeats"),
        ({"models": ["no_such_model"]}, "model"),
        ({"budget": -1}, "budget"),
    ],
)
def test_bad_arguments_are_named(scene, options, message):
    objects, annotations = scene
    with pytest.raises(ValueError, match=message):
        learning_curve(sv.Classifier(objects, model="random_forest"), annotations, **options)


def test_too_few_annotations_of_a_class_says_how_many_are_needed(scene_2d):
    image, mask, truth = scene_2d
    objects = sv.Objects(image, mask)
    annotations = sv.Annotations(objects, ["a", "b"])
    for label in [lab for lab, c in truth.items() if c == "a"][:12]:
        annotations.add(label, "a")
    for label in [lab for lab, c in truth.items() if c == "b"][:5]:
        annotations.add(label, "b")
    clf = sv.Classifier(objects, model="random_forest")
    with pytest.raises(ValueError, match=r"annotations: class 'b' has 5 annotations.*needs at least 8"):
        learning_curve(clf, annotations)
    # a larger smallest fraction needs fewer
    curve = learning_curve(clf, annotations, fractions=(0.75, 1.0))
    assert len(curve.table) == 2


def test_a_class_nobody_annotated_is_left_out_of_the_scores(scene_2d):
    image, mask, truth = scene_2d
    objects = sv.Objects(image, mask)
    annotations = annotate(objects, truth, 30, seed=1, class_names=("a", "b", "unused"))
    curve = learning_curve(sv.Classifier(objects, model="random_forest"), annotations, fractions=(0.5, 1.0))
    assert curve.recall["unused"].isna().all() and curve.recall[["a", "b"]].notna().all().all()
    assert curve.table["mean"].notna().all()
    assert "'unused'" not in curve.reading()


def test_the_reading_counts_more_annotations_in_the_users_total():
    """The folds train on 2/3 of the user's 60 annotations: 5 more trained on is 8 more to make."""
    recall = pd.DataFrame(
        [("light_cnn", 40, 0.9, 0.62), ("random_forest", 40, 0.7, 0.7)],
        columns=["model", "n_annotations", "healthy", "infected"],
    )
    curve = _curve({"light_cnn": [0.6, 0.7, 0.76, 0.8], "random_forest": [0.6, 0.65, 0.68, 0.7]}, recall=recall)
    scaled = dataclasses.replace(curve, n_total=60)
    assert "about 8 more annotations of class 'infected'" in scaled.reading()
