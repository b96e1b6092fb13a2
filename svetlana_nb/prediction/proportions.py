"""Class proportions corrected for the classifier's errors, with bootstrap intervals.

A raw count of predicted classes carries the classifier's bias: with a false-positive rate of 5 %,
a class that is truly absent still shows about 5 % of the objects. The correction used here is
*adjusted classify-and-count* (Forman 2008; Vaz et al. 2019): if ``M[j, i]`` is the probability that
an object of true class ``i`` is predicted ``j``, the predicted proportions ``q`` satisfy
``q = M p`` for the true proportions ``p``, so ``p`` is found by solving that system on the
probability simplex.

``M`` is estimated from the user's annotations, predicted *out of fold* (cross-validation or
out-of-bag), so that it measures errors on objects the model did not learn from.

The interval accounts for both sources of error. Each bootstrap replicate draws

* the predicted proportions of the objects from ``Dirichlet(counts + 1/2)``, and
* each column of ``M`` from ``Dirichlet(confusion counts + 1/2)``,

(a Bayesian bootstrap with Jeffreys' prior), then solves the system again. The Dirichlet draw
keeps an honest width where the multinomial bootstrap collapses: a rare class with 8 annotations,
all predicted right, would otherwise look error-free. The reasons for this choice and the coverage
measured are in ``docs/decisions.md`` and ``docs/benchmarks.md``.

Where the annotations' out-of-fold *probabilities* are known as well, :func:`proportion_table`
reports as corrected share the expected count of the calibrated probabilities instead
(:mod:`.expected_counts`): on the demo sets it erred about half as much as adjusted
classify-and-count at 20 annotations; not where the annotations' class shares differ from the
objects' (:func:`prior_shift_detected`). The confusion counts still give the tests and half of
the interval.
"""

from __future__ import annotations

from collections.abc import Sequence

import numpy as np
import pandas as pd

from .expected_counts import calibrated_replicates

__all__ = [
    "confusion_counts",
    "adjusted_proportions",
    "bias_detected",
    "prior_shift_detected",
    "project_to_simplex",
    "proportion_table",
]

#: The correction becomes the estimate when, for some class, it moves the proportion by more than
#: this many of its own bootstrap standard deviations (a two-sided test at about 5 %).
BIAS_Z = 2.0


def _class_indices(values: np.ndarray, n_classes: int, name: str) -> np.ndarray:
    values = np.asarray(values)
    if values.ndim != 1:
        raise ValueError(f"{name}: expected a 1-D array of class indices, got shape {values.shape}")
    if values.size and not np.issubdtype(values.dtype, np.integer):
        raise TypeError(f"{name}: expected integer class indices, got dtype {values.dtype}")
    if values.size and (values.min() < 0 or values.max() >= n_classes):
        raise ValueError(f"{name}: class indices must lie in [0, {n_classes - 1}], got {values.min()}..{values.max()}")
    return values.astype(np.int64, copy=False)


def confusion_counts(annotated: np.ndarray, predicted: np.ndarray, n_classes: int) -> np.ndarray:
    """Count annotated objects by (predicted class, annotated class).

    Parameters
    ----------
    annotated, predicted : numpy.ndarray of int, shape (A,)
        The user's class of each annotated object, and the class a model predicted for it out of
        fold (a model that did not learn that object).
    n_classes : int

    Returns
    -------
    numpy.ndarray of int64, shape (n_classes, n_classes)
        ``C[j, i]``: annotated objects of class ``i`` predicted as ``j`` (columns are true classes).
    """
    if isinstance(n_classes, bool) or not isinstance(n_classes, (int, np.integer)) or n_classes < 2:
        raise ValueError(f"n_classes: expected an integer of at least 2, got {n_classes!r}")
    annotated = _class_indices(annotated, n_classes, "annotated")
    predicted = _class_indices(predicted, n_classes, "predicted")
    if annotated.shape != predicted.shape:
        raise ValueError(
            f"annotated and predicted: expected one predicted class per annotated object, "
            f"got {annotated.size} and {predicted.size}"
        )
    counts = np.zeros(n_classes * n_classes, dtype=np.int64)
    np.add.at(counts, predicted * n_classes + annotated, 1)
    return counts.reshape(n_classes, n_classes)


def project_to_simplex(values: np.ndarray) -> np.ndarray:
    """Euclidean projection of each row onto the probability simplex (vectorised).

    Parameters
    ----------
    values : numpy.ndarray, shape (..., k)

    Returns
    -------
    numpy.ndarray, shape (..., k)
        Non-negative rows summing to one, each the nearest such point to the input row
        (Held, Wolfe & Crowder 1974; the sort-based algorithm of Duchi et al. 2008).
    """
    v = np.asarray(values, dtype=np.float64)
    k = v.shape[-1]
    u = -np.sort(-v, axis=-1)
    cumulative = np.cumsum(u, axis=-1) - 1.0
    steps = np.arange(1, k + 1, dtype=np.float64)
    positive = u - cumulative / steps > 0
    rho = k - 1 - np.argmax(positive[..., ::-1], axis=-1)
    theta = np.take_along_axis(cumulative, rho[..., None], axis=-1) / (rho[..., None] + 1.0)
    return np.maximum(v - theta, 0.0)


def _solve(confusion: np.ndarray, predicted: np.ndarray) -> np.ndarray:
    """Solve ``M p = q`` for stacks of column-stochastic ``M`` (B, k, k) and ``q`` (B, k), on the simplex."""
    solution = np.einsum("bij,bj->bi", np.linalg.pinv(confusion), predicted)
    return project_to_simplex(solution)


def _columns(counts: np.ndarray) -> np.ndarray:
    """Column-stochastic matrix from confusion counts (the rates observed; a class never annotated → uniform)."""
    totals = counts.sum(axis=0, keepdims=True)
    uniform = np.full(counts.shape, 1.0 / counts.shape[0])
    return np.where(totals > 0, counts / np.maximum(totals, 1), uniform)


def _dirichlet(rng: np.random.Generator, alpha: np.ndarray, size: int) -> np.ndarray:
    """Dirichlet draws for the last axis of ``alpha`` (shape (..., k)) → (size, ..., k), vectorised by gammas."""
    gammas = rng.standard_gamma(np.broadcast_to(alpha, (size, *alpha.shape)))
    return gammas / gammas.sum(axis=-1, keepdims=True)


def _replicates(counts: np.ndarray, confusion: np.ndarray, n_boot: int, seed: int | None) -> np.ndarray:
    """Bootstrap replicates of the corrected proportions, shape (n_boot, k) (see the module's docstring)."""
    rng = np.random.default_rng(seed)
    q = _dirichlet(rng, counts.astype(np.float64) + 0.5, n_boot)
    columns = _dirichlet(rng, confusion.T.astype(np.float64) + 0.5, n_boot)  # (B, true i, predicted j)
    return _solve(np.swapaxes(columns, 1, 2), q)


def bias_detected(
    predicted_counts: np.ndarray, confusion: np.ndarray, *, n_boot: int = 2000, seed: int | None = 0, z: float = BIAS_Z
) -> bool:
    """Whether the annotations show the raw count biased beyond the correction's own uncertainty.

    With few annotations the corrected proportion is noisy: on the demo sets at 20 annotations it
    erred 2-3 times more than the raw count, even where the raw count was biased
    (``docs/benchmarks.md``). So the correction is *used* as the estimate only when, for some
    class, the median of its replicates differs from the raw proportion by more than ``z`` of
    their standard deviations; otherwise the raw proportion is the better point estimate. The
    interval is the corrected one either way.

    Parameters
    ----------
    predicted_counts : numpy.ndarray of int, shape (k,)
    confusion : numpy.ndarray of int, shape (k, k)
        As in :func:`adjusted_proportions` (whose bootstrap, same seed, this repeats).
    n_boot, seed, z : keyword-only
    """
    counts = np.asarray(predicted_counts)
    total = counts.sum()
    if total == 0:
        return False
    replicates = _replicates(counts, np.asarray(confusion), n_boot, seed)
    shift = np.abs(np.median(replicates, axis=0) - counts / total)
    return bool((shift > z * np.maximum(replicates.std(axis=0), 1e-12)).any())


def prior_shift_detected(annotated_counts: np.ndarray, shares: np.ndarray, *, z: float = BIAS_Z) -> bool:
    """Whether the annotations' class shares differ from the objects' beyond the noise of both.

    A user counting a rare class often annotates it as much as the others (10 : 10 where the
    image holds 117 : 8). Probabilities calibrated on such annotations are calibrated for *their*
    class shares, so their expected count is biased toward the rare class; adjusted
    classify-and-count is not (each column of the confusion is one true class's errors). The
    test: for some class, its share among the annotations differs from the median of ``shares``
    by more than ``z`` standard deviations of the difference (the replicates' variance plus the
    binomial variance of the annotations' share: random annotations pass it about 95 % of the time).

    Parameters
    ----------
    annotated_counts : numpy.ndarray of int, shape (k,)
        Annotations of each class (the column totals of the confusion counts).
    shares : numpy.ndarray, shape (B, k)
        Bootstrap replicates of the objects' class shares, e.g. the calibrated expected count's
        (:func:`.expected_counts.calibrated_replicates`): under a shift it moves toward the
        annotations' shares, which makes the test conservative, not falsely alarmed.
    z : float, keyword-only
    """
    annotated = np.asarray(annotated_counts, dtype=np.float64)
    n_annotated = annotated.sum()
    if n_annotated == 0:
        return False
    share = np.median(shares, axis=0)
    floored = np.clip(share, 0.5 / n_annotated, 1 - 0.5 / n_annotated)  # a share of 0 still has a binomial spread
    spread = np.sqrt(np.var(shares, axis=0) + floored * (1 - floored) / n_annotated)
    return bool((np.abs(annotated / n_annotated - share) > z * spread).any())


def adjusted_proportions(
    predicted_counts: np.ndarray,
    confusion: np.ndarray,
    *,
    n_boot: int = 2000,
    level: float = 0.95,
    seed: int | None = 0,
) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    """Corrected class proportions of one population and their bootstrap interval.

    Parameters
    ----------
    predicted_counts : numpy.ndarray of int, shape (k,)
        Objects predicted in each class.
    confusion : numpy.ndarray of int, shape (k, k)
        Out-of-fold confusion counts of the annotations, ``confusion[j, i]`` = annotated ``i``
        predicted ``j`` (:func:`confusion_counts`).
    n_boot : int, keyword-only
        Bootstrap replicates.
    level : float, keyword-only
        Coverage of the interval, in (0, 1).
    seed : int or None, keyword-only
        Seed of the bootstrap, for reproducible intervals.

    Returns
    -------
    estimate, low, high : numpy.ndarray, shape (k,)
        The corrected proportions (the median of the bootstrap replicates, renormalised to sum
        to one) and the interval's bounds.
    """
    counts = np.asarray(predicted_counts)
    confusion = np.asarray(confusion)
    k = counts.shape[0] if counts.ndim == 1 else -1
    if counts.ndim != 1 or k < 2:
        raise ValueError(f"predicted_counts: expected one count per class (at least 2), got shape {counts.shape}")
    if confusion.shape != (k, k):
        raise ValueError(f"confusion: expected shape ({k}, {k}) to match predicted_counts, got {confusion.shape}")
    if (counts < 0).any() or (confusion < 0).any():
        raise ValueError("predicted_counts and confusion: counts must be non-negative")
    if isinstance(n_boot, bool) or not isinstance(n_boot, (int, np.integer)) or n_boot < 100:
        raise ValueError(f"n_boot: expected an integer of at least 100, got {n_boot!r}")
    if not 0.5 < level < 1:
        raise ValueError(f"level: expected a coverage in (0.5, 1), e.g. 0.95, got {level!r}")
    total = counts.sum()
    if total == 0:
        nan = np.full(k, np.nan)
        return nan, nan.copy(), nan.copy()
    replicates = _replicates(counts, confusion, n_boot, seed)
    alpha = (1 - level) / 2
    low, median, high = np.quantile(replicates, [alpha, 0.5, 1 - alpha], axis=0)
    # The replicates' median, renormalised, is the estimate: with few annotations it errs less than the
    # plug-in solve, whose projection onto the simplex piles rare classes up at zero (docs/decisions.md).
    estimate = (
        median / median.sum() if median.sum() > 0 else _solve(_columns(confusion)[None], (counts / total)[None])[0]
    )
    return estimate, np.minimum(low, estimate), np.maximum(high, estimate)


def _checked_probabilities(
    probabilities: np.ndarray | None, calibration: tuple[np.ndarray, np.ndarray] | None, n: int, k: int
) -> np.ndarray | None:
    """The objects' probabilities, shape (n, k), checked; None without calibration data."""
    if probabilities is None or calibration is None:
        if (probabilities is None) != (calibration is None):
            raise ValueError("probabilities and calibration: give both (a calibrated estimate) or neither")
        return None
    p = np.asarray(probabilities, dtype=np.float64)
    if p.shape != (n, k):
        raise ValueError(f"probabilities: expected shape ({n}, {k}), one row per object, got {p.shape}")
    if len(calibration) != 2:
        raise ValueError("calibration: expected (out-of-fold probabilities, annotated classes)")
    return p


def proportion_table(
    predicted: np.ndarray,
    confusion: np.ndarray,
    class_names: Sequence[str],
    *,
    known: np.ndarray | None = None,
    groups: Sequence | np.ndarray | None = None,
    probabilities: np.ndarray | None = None,
    calibration: tuple[np.ndarray, np.ndarray] | None = None,
    n_boot: int = 2000,
    level: float = 0.95,
    seed: int | None = 0,
) -> pd.DataFrame:
    """One row per group and class: count, raw and corrected proportion, interval.

    Parameters
    ----------
    predicted : numpy.ndarray of int, shape (N,)
        The model's class index of every object.
    confusion : numpy.ndarray of int, shape (k, k)
        Out-of-fold confusion counts of the annotations (:func:`confusion_counts`).
    class_names : sequence of str, length k
    known : numpy.ndarray of int, shape (N,), optional, keyword-only
        The user's class of annotated objects, -1 elsewhere. Annotated objects are counted by
        their known class, with no uncertainty; only the others are corrected.
    groups : array-like, shape (N,), optional, keyword-only
        The group of each object (image name, condition, well); all objects form one group if None.
    probabilities : numpy.ndarray, shape (N, k), optional, keyword-only
        The model's probabilities of every object. With ``calibration``, the corrected share is
        the expected count of the calibrated probabilities (:mod:`.expected_counts`).
    calibration : (numpy.ndarray of shape (A, k), numpy.ndarray of int of shape (A,)), optional, keyword-only
        Out-of-fold probabilities of the annotations and their annotated classes
        (:class:`~svetlana_nb.models.cross_validation.OutOfFold`), which fit the temperature.
    n_boot, level, seed : keyword-only
        As in :func:`adjusted_proportions`.

    Returns
    -------
    pandas.DataFrame
        Columns ``group, class, count, proportion, corrected, low, high, estimate, basis,
        n_objects``: ``count`` and ``proportion`` are the raw figures (annotated objects by their
        known class). ``corrected`` is the expected count of the calibrated probabilities with
        ``probabilities`` and ``calibration`` (:mod:`.expected_counts`), unless the annotations'
        class shares differ from the objects' (:func:`prior_shift_detected`), else adjusted
        classify-and-count. ``estimate`` is the figure to report: ``corrected`` where the
        annotations show a bias beyond adjusted classify-and-count's uncertainty
        (:func:`bias_detected`; ``basis`` ``"calibrated"`` or ``"corrected"``), else the raw
        proportion (``basis`` ``"raw"``; ``docs/decisions.md``). The interval is adjusted
        classify-and-count's, joined with the calibrated estimate's own where there is one: it
        allows both for a miscalibration and for a shift of the class shares.
    """
    names = list(class_names)
    k = len(names)
    predicted = _class_indices(predicted, k, "predicted")
    known_values = np.full(predicted.size, -1, dtype=np.int64) if known is None else np.asarray(known)
    if known_values.shape != predicted.shape or (
        known_values.size and not np.issubdtype(known_values.dtype, np.integer)
    ):
        raise ValueError(
            f"known: expected one integer class (or -1) per object ({predicted.size}), got {known_values.shape}"
        )
    if known_values.size and (known_values.min() < -1 or known_values.max() >= k):
        raise ValueError(f"known: class indices must lie in [-1, {k - 1}]")
    group_values = np.zeros(predicted.size, dtype=np.int64) if groups is None else np.asarray(groups)
    if group_values.shape != predicted.shape:
        raise ValueError(f"groups: expected one group per object ({predicted.size}), got shape {group_values.shape}")
    labels, inverse = np.unique(group_values, return_inverse=True)
    is_known = known_values >= 0
    unknown_counts = np.zeros((labels.size, k), dtype=np.int64)
    known_counts = np.zeros((labels.size, k), dtype=np.int64)
    np.add.at(unknown_counts, (inverse[~is_known], predicted[~is_known]), 1)
    np.add.at(known_counts, (inverse[is_known], known_values[is_known]), 1)
    probabilities = _checked_probabilities(probabilities, calibration, predicted.size, k)
    rows = []
    for g, label in enumerate(labels):  # one solve per group (groups are few); the bootstrap is vectorised
        n_unknown = int(unknown_counts[g].sum())
        n_known = known_counts[g]
        n = n_unknown + int(n_known.sum())
        basis = "raw"
        if n_unknown:
            estimate, low, high = adjusted_proportions(
                unknown_counts[g], confusion, n_boot=n_boot, level=level, seed=seed
            )
            calibrated = False
            if probabilities is not None and calibration is not None:
                members = (inverse == g) & ~is_known
                expected, shares = calibrated_replicates(probabilities[members], *calibration, n_boot=n_boot, seed=seed)
                cal_low, cal_high = np.quantile(shares, [(1 - level) / 2, (1 + level) / 2], axis=0)
                low, high = (
                    np.minimum(low, np.minimum(cal_low, expected)),
                    np.maximum(high, np.maximum(cal_high, expected)),
                )
                # annotations whose class shares are not the objects' calibrate for the wrong shares
                calibrated = not prior_shift_detected(np.asarray(confusion).sum(axis=0), shares)
                estimate = expected if calibrated else estimate
            if bias_detected(unknown_counts[g], confusion, n_boot=n_boot, seed=seed):
                basis = "calibrated" if calibrated else "corrected"
        else:
            estimate = low = high = np.zeros(k)
        raw = unknown_counts[g] + n_known
        for c, name in enumerate(names):
            rows.append(
                {
                    "group": "all" if groups is None else label,
                    "class": name,
                    "count": int(raw[c]),
                    "proportion": raw[c] / n if n else np.nan,
                    "corrected": (corrected := (n_known[c] + estimate[c] * n_unknown) / n if n else np.nan),
                    "low": (n_known[c] + low[c] * n_unknown) / n if n else np.nan,
                    "high": (n_known[c] + high[c] * n_unknown) / n if n else np.nan,
                    "estimate": corrected if basis != "raw" else (raw[c] / n if n else np.nan),
                    "basis": basis,
                    "n_objects": n,
                }
            )
    table = pd.DataFrame(rows)
    # the estimate always lies in its interval (the raw share can sit just outside the corrected one)
    table["low"] = np.fmin(table["low"], table["estimate"])
    table["high"] = np.fmax(table["high"], table["estimate"])
    return table
