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

from .._validation import check_count, check_number
from ..objects.annotations import Annotations
from .callbacks import Callback, History
from .config import default_epochs
from .registry import model_kind

if TYPE_CHECKING:
    from matplotlib.axes import Axes
    from matplotlib.figure import Figure

    from .classifier import Classifier

#: The network's trainings, all together, cost at most this many trainings on every annotation.
BUDGET = 3.0
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
        What they cost, in trainings on every annotation (patches times epochs).
    seconds : float
    """

    table: pd.DataFrame
    recall: pd.DataFrame | None = None
    partial: bool = False
    network_fits: int = 0
    cost: float = 0.0
    seconds: float = 0.0
    class_names: list[str] = field(default_factory=list)

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
            f"{model}'s balanced accuracy went {before['mean']:.2f} -> {last['mean']:.2f} from {n0} to {n1} annotations"
        )
        enough = "more labels will not help much"
        if last["mean"] >= 0.99:
            return prefix + f"flat: {model} is already at {last['mean']:.2f} at {n1} annotations; {enough}"
        if gain < FLAT_GAIN or n1 <= n0:
            return prefix + f"flat: {moved}; {enough}"
        more = math.ceil(TARGET_GAIN / (gain / (n1 - n0)))
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


@dataclass(frozen=True)
class _Run:
    """One outer fold of one repeat: its held-out annotations and nested training shares."""

    test: np.ndarray
    trains: list[np.ndarray]


def _minimum_per_class(folds: int, smallest: float) -> int:
    """Annotations a class needs so that every fold's smallest share keeps 2 of it."""
    n = folds
    while math.ceil(smallest * (n - math.ceil(n / folds)) - 1e-9) < 2:
        n += 1
    return n


def _check(annotations: Annotations, fractions: Sequence[float], folds: int, repeats: int) -> tuple[float, ...]:
    """The sorted fractions, after checking every argument; ``ValueError`` naming the one at fault."""
    if not isinstance(annotations, Annotations):
        raise TypeError(f"annotations: expected svetlana_nb.Annotations, got {type(annotations).__name__}")
    check_count(folds, name="folds", low=2)
    check_count(repeats, name="repeats", low=1)
    if isinstance(fractions, (str, bytes)) or not isinstance(fractions, Sequence) or len(fractions) < 2:
        raise ValueError(f"fractions: expected at least 2 numbers in (0, 1], got {fractions!r}")
    for value in fractions:
        check_number(value, name="fractions", low=0.0, high=1.0, open_low=True)
    ordered = tuple(sorted({float(f) for f in fractions}))
    if len(ordered) < 2:
        raise ValueError(f"fractions: expected at least 2 different numbers in (0, 1], got {fractions!r}")
    counts = {name: n for name, n in annotations.counts().items() if n > 0}
    if len(counts) < 2:
        raise ValueError(f"annotations: a learning curve needs 2 annotated classes; counts are {annotations.counts()}")
    needed = _minimum_per_class(folds, ordered[0])
    rare = min(counts, key=counts.__getitem__)
    if counts[rare] < needed:
        raise ValueError(
            f"annotations: class {rare!r} has {counts[rare]} annotations; a learning curve with folds={folds} "
            f"and a smallest fraction of {ordered[0]:g} needs at least {needed} of each annotated class "
            "(annotate more, or raise the smallest of fractions)"
        )
    return ordered


def _runs(targets: np.ndarray, fractions: Sequence[float], folds: int, repeats: int, seed: int) -> list[_Run]:
    """Stratified outer folds per repeat; in each, nested stratified shares of the training folds."""
    from sklearn.model_selection import StratifiedKFold

    runs = []
    for repeat in range(repeats):
        rng = np.random.default_rng([seed, repeat])
        splitter = StratifiedKFold(n_splits=folds, shuffle=True, random_state=int(rng.integers(2**31 - 1)))
        for pool, test in splitter.split(np.zeros(targets.size), targets):
            order = rng.permutation(pool)
            per_class = [order[targets[order] == c] for c in np.unique(targets)]
            trains = [
                np.sort(np.concatenate([members[: math.ceil(f * members.size - 1e-9)] for members in per_class]))
                for f in fractions
            ]
            runs.append(_Run(test, trains))
    return runs


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

    Cost: ``len(fractions) * folds * repeats`` fits per model (12 with the defaults). The forest
    fits are cheap (under a second each). The network fits share a budget of ``budget`` (3)
    trainings on every annotation, counted as patches times epochs: each is given at most
    ``budget * A * E / fits`` patch-epochs (``A`` annotations, ``E`` the epochs of a full
    training: ``epochs`` if given, else the default for ``A``), never more than its own default
    epochs. With 100 annotations and the defaults, 12 network fits of 300 epochs at most each
    would cost 12 * 67 * 300 / (100 * 300) = 8 trainings; capped, they cost 3 or less.

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
    ordered = _check(annotations, fractions, folds, repeats)
    check_number(budget, name="budget", low=0.0)
    templates = _templates(classifier, models)
    rows, targets = annotations.rows_and_targets()
    names = list(annotations.class_names)
    runs = _runs(targets, ordered, folds, repeats, seed)
    keys, objects = annotations.objects.keys, annotations.objects
    labels = [annotations[keys[row]] for row in rows]
    batch_size = fit_options.get("batch_size", classifier.config.batch_size)
    epochs = fit_options.pop("epochs", None) or classifier.config.epochs
    full = rows.size * (epochs or default_epochs(rows.size, batch_size))
    network_names = {name for name, _ in templates if model_kind(name).is_network}
    per_fit = budget * full / max(1, len(network_names) * len(runs) * len(ordered))
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
                options = dict(fit_options)
                if name in network_names:
                    natural = epochs or default_epochs(train.size, batch_size)
                    options["epochs"] = max(1, min(natural, int(per_fit // train.size)))
                elif epochs is not None:
                    options["epochs"] = epochs
                where = {"step": len(points) * len(runs) + len(scores) + 1, "steps": steps, "model": name}
                step = _Step(watchers, halted, {**where, "fraction": fraction})
                model = new()
                model.fit(fold, callbacks=[step], **options)
                if halted():  # stopped inside the fit: its model is half-trained
                    stopped = True
                    break
                if name in network_names:
                    network_fits += 1
                    spent += train.size * options["epochs"]
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
        cost=spent / full,
        seconds=time.perf_counter() - start,
        class_names=names,
    )
