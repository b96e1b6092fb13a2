"""Out-of-fold predictions of the annotations: what the classifier gets wrong on objects it did not learn.

The confusion counts they give feed the corrected class proportions
(:mod:`svetlana_nb.prediction.proportions`); the predictions themselves serve quality control
(which annotations the model disagrees with).
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass
from typing import TYPE_CHECKING, Any

import numpy as np

from ..objects.annotations import Annotations
from ..prediction.calibration import Temperature
from ..prediction.proportions import confusion_counts
from .callbacks import Callback

if TYPE_CHECKING:
    from .classifier import Classifier


@dataclass(frozen=True)
class OutOfFold:
    """Each annotated object predicted by a classifier trained without it.

    Attributes
    ----------
    rows : numpy.ndarray of int64, shape (A,)
        Rows of the annotated objects in their :class:`~svetlana_nb.Objects`.
    annotated : numpy.ndarray of int64, shape (A,)
        The user's class index of each.
    probabilities : numpy.ndarray of float32, shape (A, k)
        Probabilities from the fold's classifier, which did not see the object: its *raw*
        probabilities (``predict_proba(calibrated=False)``), not scaled by the fold's own
        temperature. They fit the temperatures of :meth:`temperature` and of the expected
        counts (:mod:`svetlana_nb.prediction.expected_counts`), which scale raw probabilities
        (:attr:`svetlana_nb.Prediction.raw_probabilities`).
    class_names : list of str
    folds : int
    """

    rows: np.ndarray
    annotated: np.ndarray
    probabilities: np.ndarray
    class_names: list[str]
    folds: int

    @property
    def predicted(self) -> np.ndarray:
        """Out-of-fold predicted class index, shape (A,)."""
        return self.probabilities.argmax(axis=1)

    @property
    def confusion(self) -> np.ndarray:
        """Counts, shape (k, k): ``[j, i]`` = annotated ``i`` predicted ``j``."""
        return confusion_counts(self.annotated, self.predicted, len(self.class_names))

    @property
    def accuracy(self) -> float:
        """Fraction of annotations predicted right out of fold."""
        return float((self.predicted == self.annotated).mean())

    @property
    def balanced_accuracy(self) -> float:
        """Mean over annotated classes of the fraction predicted right out of fold."""
        confusion = self.confusion
        totals = confusion.sum(axis=0)
        present = totals > 0
        return float((np.diag(confusion)[present] / totals[present]).mean())

    def temperature(self, *, bins: int = 10, seed: int | None = 0) -> Temperature:
        """Temperature scaling fitted on these out-of-fold probabilities, with the ECE before and after.

        ``apply`` it to a prediction's probabilities for confidences that mean what they say
        (:class:`~svetlana_nb.prediction.calibration.Temperature`).
        """
        return Temperature.fit(self.probabilities, self.annotated, bins=bins, seed=seed)


def out_of_fold(
    classifier: Classifier,
    annotations: Annotations,
    *,
    folds: int = 5,
    seed: int = 0,
    callbacks: Sequence[Callback] = (),
    **fit_options: Any,
) -> OutOfFold:
    """Predict every annotated object with a copy of ``classifier`` trained on the other folds.

    Parameters
    ----------
    classifier : Classifier
        Its settings are copied (:meth:`~svetlana_nb.Classifier.clone`); it is not changed.
    annotations : Annotations
        At least 2 annotations of each class.
    folds : int, keyword-only
        Stratified folds (reduced to the smallest class's annotation count when that is lower).
    seed : int, keyword-only
        Seed of the fold assignment.
    callbacks : sequence of Callback, keyword-only
        Passed to every fold's fit.
    **fit_options
        Passed to every fold's :meth:`~svetlana_nb.Classifier.fit` (``epochs``, ``lr``...).

    Returns
    -------
    OutOfFold
    """
    from sklearn.model_selection import StratifiedKFold

    if isinstance(folds, bool) or not isinstance(folds, (int, np.integer)) or folds < 2:
        raise ValueError(f"folds: expected an integer of at least 2, got {folds!r}")
    rows, targets = annotations.rows_and_targets()
    names = list(annotations.class_names)
    present, per_class = np.unique(targets, return_counts=True)
    if present.size < 2:
        raise ValueError(f"annotations: cross-validation needs 2 annotated classes; counts are {annotations.counts()}")
    if per_class.min() < 2:
        rare = names[int(present[per_class.argmin()])]
        raise ValueError(
            f"annotations: class {rare!r} has 1 annotation; cross-validation needs at least 2 of each annotated class"
        )
    n_splits = int(min(folds, per_class.min()))
    keys = annotations.objects.keys
    labels = [annotations[keys[row]] for row in rows]
    probabilities = np.zeros((rows.size, len(names)), dtype=np.float32)
    splitter = StratifiedKFold(n_splits=n_splits, shuffle=True, random_state=seed)
    for train, test in splitter.split(np.zeros(rows.size), targets):
        fold_annotations = Annotations(annotations.objects, names)
        for i in train:
            fold_annotations.add(keys[rows[i]], labels[i])
        fold_classifier = classifier.clone()
        fold_classifier.fit(fold_annotations, callbacks=callbacks, **fit_options)
        probabilities[test] = fold_classifier.predict_proba(annotations.objects, rows[test], calibrated=False)
    return OutOfFold(rows=rows, annotated=targets, probabilities=probabilities, class_names=names, folds=n_splits)
