"""Do I need more labels? A learning curve from the user's own annotations.

Cross-validated balanced accuracy of the classifier (and, beside it, of a random forest) trained
on growing shares of the annotations. A curve still rising at its right end says that more
annotations should help; a flat one says they will not help much.
"""

from __future__ import annotations

import functools
import math
import threading
import time
from collections.abc import Callable, Sequence
from dataclasses import dataclass, field
from typing import TYPE_CHECKING, Any

import numpy as np
import pandas as pd

from ..objects.annotations import Annotations
from .callbacks import Callback, History
from .curve_schedule import BUDGET, Budget, check_arguments, outer_folds
from .registry import model_kind

if TYPE_CHECKING:
    from matplotlib.axes import Axes
    from matplotlib.figure import Figure

    from .classifier import Classifier

#: A last step gaining less balanced accuracy than this reads as flat.
FLAT_GAIN = 0.01
#: The gain the reading's "about N more annotations" aims at.
TARGET_GAIN = 0.02
#: Columns of :attr:`LearningCurve.table`.
COLUMNS = ("model", "fraction", "n_annotations", "mean", "low", "high", "runs")


@dataclass(frozen=True)
class LearningCurve:
    """Balanced accuracy against the number of annotations trained on, per model.

    Attributes
    ----------
    table : pandas.DataFrame
        One row per model and fraction: ``model``, ``fraction``, ``n_annotations`` (mean number
        of annotations the runs trained on), ``mean`` (mean balanced accuracy of the runs on
        their held-out fold), ``low`` and ``high`` (mean minus and plus one standard error of the
        runs' scores; the runs share annotations, so this understates the uncertainty a little),
        ``runs``.
    recall : pandas.DataFrame or None
        Mean recall per class, one row per model and fraction (``model``, ``n_annotations``, then
        one column per class): which class the model misses most.
    partial : bool
        True when the run was stopped: the table holds the points finished before.
    network_fits : int
        Networks trained.
    cost : float
        What they cost at most, in trainings on every annotation (optimisation steps; see
        :func:`learning_curve`).
    seconds : float
    n_total : int or None
        The user's annotations. The folds train on part of them (``n_annotations`` < n_total at
        the last point), so the reading scales its "N more" to the user's count: each new
        annotation adds ``n_annotations / n_total`` of one to every training fold.
    """

    table: pd.DataFrame
    recall: pd.DataFrame | None = None
    partial: bool = False
    network_fits: int = 0
    cost: float = 0.0
    seconds: float = 0.0
    class_names: list[str] = field(default_factory=list)
    n_total: int | None = None

    def reading(self) -> str:
        """A plain-language reading: "accuracy still rising: ..." or "flat: ...".

        Read on the model with the best accuracy at its last point, from its last two points:
        a gain under 0.01 (or an accuracy of 0.99 or more) is flat; otherwise the slope between
        them, drawn as a straight line, says how many more annotations should add about 0.02,
        and the class with the lowest recall is the one to annotate.
        """
        prefix = "partial curve (stopped early): " if self.partial else ""
        table = self.table.sort_values(["model", "n_annotations"])
        ends = {m: rows.tail(2) for m, rows in table.groupby("model", sort=False) if len(rows) >= 2}
        if not ends:
            return prefix + "too few points to read: at least 2 fractions per model are needed"
        model = max(ends, key=lambda m: float(ends[m]["mean"].iloc[-1]))
        before, last = ends[model].iloc[0], ends[model].iloc[-1]
        n0, n1 = int(before["n_annotations"]), int(last["n_annotations"])
        gain = float(last["mean"] - before["mean"])
        moved = (
            f"{_label(model)}'s balanced accuracy went {before['mean']:.2f} -> {last['mean']:.2f} "
            f"from {n0} to {n1} annotations"
        )
        enough = "more labels will not help much"
        if last["mean"] >= 0.99:
            return prefix + f"flat: {_label(model)} is already at {last['mean']:.2f} at {n1} annotations; {enough}"
        if gain < FLAT_GAIN or n1 <= n0:
            return prefix + f"flat: {moved}; {enough}"
        more = TARGET_GAIN / (gain / (n1 - n0))  # in annotations trained on
        top = int(self.table["n_annotations"].max())
        more = math.ceil(more * (self.n_total / top if self.n_total and top else 1.0))  # in the user's
        worst = self._worst_class(model, n1)
        of_class = f" of class {worst[0]!r} (recall {worst[1]:.2f}, the lowest)" if worst else ""
        text = (
            f"accuracy still rising: {moved}; about {more} more annotations{of_class} should help "
            f"(+{TARGET_GAIN:.2f}, a straight line through the last two points)"
        )
        if gain < (last["high"] - last["mean"]) + (before["high"] - before["mean"]):
            text += "; the rise is within the intervals, so it may be noise"
        return prefix + text

    def _worst_class(self, model: str, n: int) -> tuple[str, float] | None:
        """The class with the lowest mean recall at the model's point of ``n`` annotations."""
        if self.recall is None or self.recall.empty:
            return None
        rows = self.recall[(self.recall["model"] == model) & (self.recall["n_annotations"] == n)]
        classes = [c for c in rows.columns if c not in ("model", "n_annotations")]
        if rows.empty or not classes:
            return None
        values = rows[classes].iloc[0].astype(float).dropna()
        return None if values.empty else (str(values.idxmin()), float(values.min()))

    def plot(self, ax: Axes | None = None) -> Figure:
        """One line per model with its interval as a band (:func:`svetlana_nb.prediction.plots.learning_curve_plot`)."""
        from ..prediction.plots import learning_curve_plot

        title = "Learning curve (partial)" if self.partial else "Learning curve"
        return learning_curve_plot(self.table, ax=ax, title=title)


def _label(model: str) -> str:
    """A model's name as the Trainer's buttons say it ("Light CNN", "Random forest")."""
    from .registry import REGISTRY

    return REGISTRY[model].label if model in REGISTRY else model


class _Step(Callback):
    """Forwards one fit's events to the user's callbacks, telling them where the curve is; stops it on request."""

    def __init__(self, callbacks: Sequence[Callback], halted: Callable[[], bool], where: dict) -> None:
        self.callbacks, self.halted, self.where = list(callbacks), halted, where

    def on_train_begin(self, info: dict) -> None:
        for cb in self.callbacks:
            cb.on_train_begin({**info, "learning_curve": dict(self.where)})

    def on_batch_end(self, batch: int, n_batches: int, loss: float) -> None:
        for cb in self.callbacks:
            cb.on_batch_end(batch, n_batches, loss)

    def on_epoch_end(self, epoch: int, metrics: dict) -> None:
        for cb in self.callbacks:
            cb.on_epoch_end(epoch, metrics)

    def should_stop(self) -> bool:
        return self.halted()

    def on_train_end(self, history: History) -> None:
        for cb in self.callbacks:
            cb.on_train_end(history)


def _templates(classifier: Classifier, models: Sequence[str] | None) -> list[tuple[str, Callable[[], Classifier]]]:
    """(name, new untrained classifier) per model: the classifier's own settings, the model changed."""
    if models is None:
        models = [classifier.model_name] + (["random_forest"] if classifier.kind.is_network else [])
    if isinstance(models, str) or not models:
        raise ValueError(f"models: expected a non-empty sequence of model names, got {models!r}")
    templates: list[tuple[str, Callable[[], Classifier]]] = []
    for name in dict.fromkeys(models):
        if name == classifier.model_name:
            templates.append((name, classifier.clone))
        else:
            model_kind(name)  # a ValueError naming the choices
            templates.append((name, functools.partial(classifier.clone, model=name)))
    return templates


def _score(annotated: np.ndarray, predicted: np.ndarray, k: int) -> tuple[float, np.ndarray]:
    """Balanced accuracy over the classes present, and the recall of each class (NaN where absent)."""
    recall = np.full(k, np.nan)
    for c in np.unique(annotated):
        recall[c] = float((predicted[annotated == c] == c).mean())
    return float(np.nanmean(recall)), recall


def _mean_recall(recall: np.ndarray) -> np.ndarray:
    """Mean over runs of each class's recall, NaN for a class no run scored."""
    scored = np.isfinite(recall)
    totals = np.where(scored, recall, 0.0).sum(axis=0)
    counts = scored.sum(axis=0)
    return np.where(counts > 0, totals / np.maximum(counts, 1), np.nan)


def learning_curve(
    classifier: Classifier,
    annotations: Annotations,
    *,
    fractions: Sequence[float] = (0.25, 0.5, 0.75, 1.0),
    repeats: int = 1,
    folds: int = 3,
    models: Sequence[str] | None = None,
    budget: float = BUDGET,
    seed: int = 0,
    callbacks: Sequence[Callback] = (),
    stop: threading.Event | Callable[[], bool] | None = None,
    **fit_options: Any,
) -> LearningCurve:
    """Cross-validated balanced accuracy at growing shares of the annotations, per model.

    Each repeat splits the annotations into ``folds`` stratified folds; for each held-out fold,
    the models are trained on nested stratified shares (``fractions``, every class kept) of the
    other folds and scored on it. Each point thus has ``folds * repeats`` scores: its mean and
    mean ± one standard error. Points are computed smallest fraction first, so a stopped run
    keeps the small end of the curve.

    Cost: ``len(fractions) * folds * repeats`` fits per model, 12 with the defaults. The forest
    fits are cheap (about 0.4 s each). The network fits share a budget of ``budget`` (3)
    trainings on every annotation, counted in optimisation steps (batches): one training is the
    classifier's last fit's epochs when it is trained (early stopping included; else the epochs
    :meth:`~svetlana_nb.Classifier.fit` would plan) times the batches of the training share. Each
    of the ``F`` network fits may take ``budget * reference / F`` steps: its epochs are its own
    plan's, capped to fit (at least 1). With the defaults, 12 network fits of a quarter of a
    training each: 3 trainings (:attr:`LearningCurve.cost` says what was spent). Train the
    classifier first: its real training, often stopped early, then sets the budget. Outside the
    steps, each network fit also builds its network and, with the second opinion, trains its
    forest (about 0.35 s on 2 cores): on the demo sets, whose trainings last 1-5 s, the network
    fits took 3.3-4.6 times one training in wall time (``benchmarks/bench_learning_curve.py``).

    Parameters
    ----------
    classifier : Classifier
        Its settings are copied (:meth:`~svetlana_nb.Classifier.clone`); it is not changed.
    annotations : Annotations
        At least 2 annotated classes, each with enough annotations for every fold's smallest
        share to keep 2 (9 with the defaults; the error says how many).
    fractions : sequence of float in (0, 1], keyword-only
    repeats : int, keyword-only
        Fold assignments drawn (more: narrower intervals, more fits).
    folds : int, keyword-only
    models : sequence of str, keyword-only
        Names of ``sv.MODELS`` (the classifier's own name keeps its own module); default: the
        classifier's model and, for a network, ``"random_forest"`` beside it.
    budget : float, keyword-only
        The network fits' total cost, in trainings on every annotation.
    seed : int, keyword-only
        Seed of the folds and shares.
    callbacks : sequence of Callback, keyword-only
        Receive every fit's events; ``on_train_begin``'s ``info`` gains ``"learning_curve"``:
        ``step``, ``steps``, ``model``, ``fraction``. One returning True from ``should_stop``
        stops the curve.
    stop : threading.Event or callable, keyword-only
        Set (or returning True) from another thread: stops the curve after the current batch;
        the points finished are returned, marked ``partial``.
    **fit_options
        Passed to every fit (``lr``, ``epochs``...).

    Returns
    -------
    LearningCurve
    """
    start = time.perf_counter()
    ordered = check_arguments(annotations, fractions, folds, repeats)
    templates = _templates(classifier, models)
    config = classifier.config.updated(**fit_options)  # a TypeError naming an unknown option, now
    rows, targets = annotations.rows_and_targets()
    names = list(annotations.class_names)
    runs = outer_folds(targets, ordered, folds, repeats, seed)
    keys, objects = annotations.objects.keys, annotations.objects
    labels = [annotations[keys[row]] for row in rows]
    network_names = {name for name, _ in templates if model_kind(name).is_network}
    history = classifier.history if classifier.is_fitted else None
    trained = len(history.epoch) if history is not None and history.epoch else None
    budgeted = Budget.plan(config, annotations, trained, len(network_names) * len(runs) * len(ordered), budget)
    watchers = list(callbacks)

    def halted() -> bool:
        asked = stop is not None and (stop.is_set() if isinstance(stop, threading.Event) else bool(stop()))
        return asked or any(cb.should_stop() for cb in watchers)

    points: list[tuple] = []
    recalls: list[list] = []
    spent, network_fits, stopped = 0, 0, False
    steps = len(templates) * len(runs) * len(ordered)
    for j, fraction in enumerate(ordered):
        for name, new in templates:
            scores: list[float] = []
            recall: list[np.ndarray] = []
            sizes: list[int] = []
            for run in runs:
                if halted():
                    stopped = True
                    break
                train = run.trains[j]
                fold = Annotations(objects, names)
                for i in train:
                    fold.add(keys[rows[i]], labels[i])
                options = {k: v for k, v in fit_options.items() if k != "epochs"}
                if name in network_names:
                    options["epochs"], fit_steps = budgeted.epochs(config, train.size, fold.counts())
                where = {"step": len(points) * len(runs) + len(scores) + 1, "steps": steps, "model": name}
                step = _Step(watchers, halted, {**where, "fraction": fraction})
                model = new()
                model.fit(fold, callbacks=[step], **options)
                if halted():  # stopped inside the fit: its model is half-trained
                    stopped = True
                    break
                if name in network_names:
                    network_fits += 1
                    spent += fit_steps
                predicted = model.predict_proba(objects, rows[run.test]).argmax(axis=1)
                score, per_class = _score(targets[run.test], predicted, len(names))
                scores.append(score)
                recall.append(per_class)
                sizes.append(train.size)
            if stopped:
                break
            mean = float(np.mean(scores))
            se = float(np.std(scores, ddof=1) / math.sqrt(len(scores))) if len(scores) > 1 else 0.0
            n = int(round(float(np.mean(sizes))))
            points.append((name, fraction, n, mean, max(0.0, mean - se), min(1.0, mean + se), len(scores)))
            recalls.append([name, n, *_mean_recall(np.array(recall))])
        if stopped:
            break
    return LearningCurve(
        table=pd.DataFrame(points, columns=list(COLUMNS)),
        recall=pd.DataFrame(recalls, columns=["model", "n_annotations", *names]),
        partial=stopped,
        network_fits=network_fits,
        cost=spent / budgeted.reference,
        seconds=time.perf_counter() - start,
        class_names=names,
        n_total=len(annotations),
    )
