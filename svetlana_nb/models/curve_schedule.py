"""The learning curve's schedule: which fits, on which annotations, with how many epochs.

Kept apart from :mod:`.learning_curve` (which runs the fits and reads the result) so that the
cost can be read and tested on its own: the checks of the arguments, the outer folds with their
nested shares, and the budget that caps each network fit's epochs.
"""

from __future__ import annotations

import math
from collections.abc import Mapping, Sequence
from dataclasses import dataclass

import numpy as np

from .._validation import check_count, check_number
from ..objects.annotations import Annotations
from .config import TrainingConfig, default_epochs, plan_training

#: The network's fits, all together, cost at most this many trainings on every annotation.
BUDGET = 3.0


@dataclass(frozen=True)
class Run:
    """One outer fold of one repeat: its held-out annotations and nested training shares."""

    test: np.ndarray
    trains: list[np.ndarray]


def minimum_per_class(folds: int, smallest: float) -> int:
    """Annotations a class needs so that every fold's smallest share keeps 2 of it."""
    n = folds
    while math.ceil(smallest * (n - math.ceil(n / folds)) - 1e-9) < 2:
        n += 1
    return n


def check_arguments(
    annotations: Annotations, fractions: Sequence[float], folds: int, repeats: int
) -> tuple[float, ...]:
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
    needed = minimum_per_class(folds, ordered[0])
    rare = min(counts, key=counts.__getitem__)
    if counts[rare] < needed:
        raise ValueError(
            f"annotations: class {rare!r} has {counts[rare]} annotations; a learning curve with folds={folds} "
            f"and a smallest fraction of {ordered[0]:g} needs at least {needed} of each annotated class "
            "(annotate more, or raise the smallest of fractions)"
        )
    return ordered


def outer_folds(targets: np.ndarray, fractions: Sequence[float], folds: int, repeats: int, seed: int) -> list[Run]:
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
            runs.append(Run(test, trains))
    return runs


def planned_steps(config: TrainingConfig, n: int, counts: Mapping[str, int]) -> tuple[int, int]:
    """Epochs and batches per epoch of a fit on ``n`` annotations, as :meth:`Classifier.fit` plans it.

    The batches are counted on all ``n`` (an upper bound: the validation share is not trained on).
    """
    plan = plan_training(config, n, counts)
    n_train = n - plan.n_validation
    epochs = plan.epochs or config.epochs or default_epochs(n_train, config.batch_size)
    return int(epochs), math.ceil(n / min(config.batch_size, n))


@dataclass(frozen=True)
class Budget:
    """The optimisation steps (batches) each network fit may take, ``budget`` trainings in all.

    Attributes
    ----------
    reference : int
        Steps of one training on every annotation: the epochs of the classifier's last fit when
        it is trained (early stopping included), else the epochs the fit would plan, times the
        batches of the training share.
    per_fit : float
        ``budget * reference / fits``.
    """

    reference: int
    per_fit: float

    @classmethod
    def plan(
        cls, config: TrainingConfig, annotations: Annotations, trained_epochs: int | None, fits: int, budget: float
    ) -> Budget:
        """The budget of ``fits`` network fits on shares of ``annotations``."""
        check_number(budget, name="budget", low=0.0, open_low=True)
        counts = annotations.counts()
        n = len(annotations)
        plan = plan_training(config, n, counts)
        epochs, _ = planned_steps(config, n, counts)
        if trained_epochs:
            epochs = min(epochs, trained_epochs)
        n_train = n - plan.n_validation
        reference = epochs * math.ceil(n_train / min(config.batch_size, n_train))
        return cls(reference, budget * reference / max(1, fits))

    def epochs(self, config: TrainingConfig, n: int, counts: Mapping[str, int]) -> tuple[int, int]:
        """Epochs for a network fit on ``n`` annotations (its own plan, capped), and its steps at most."""
        natural, batches = planned_steps(config, n, counts)
        epochs = max(1, min(natural, int(self.per_fit // batches)))
        return epochs, epochs * batches
