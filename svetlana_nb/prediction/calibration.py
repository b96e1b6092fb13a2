"""Is the confidence honest? Reliability curve, expected calibration error, temperature scaling.

A classifier is *calibrated* when, of the objects it gives 90 % confidence, 90 % are right.
Networks trained on few annotations are usually over-confident. The figures here measure that
on probabilities the model produced for annotated objects it did not learn from (out of fold,
:attr:`svetlana_nb.models.cross_validation.OutOfFold.probabilities`); measured on its own
training annotations they would only show how well it memorised them.

*Temperature scaling* (Guo et al. 2017) divides the log-probabilities by one number ``T``
fitted by maximum likelihood: ``T > 1`` softens an over-confident model, ``T < 1`` sharpens an
under-confident one. One parameter cannot over-fit a few dozen annotations, and the predicted
class never changes (the order of the probabilities is kept), so accuracy and the corrected
proportions are untouched; only the confidence moves.
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np
import pandas as pd

__all__ = [
    "reliability_curve",
    "expected_calibration_error",
    "fit_temperature",
    "apply_temperature",
    "Temperature",
]

_FLOOR = 1e-7  # probabilities of exactly 0 (a random forest's) have no logarithm


def _checked(probabilities: np.ndarray, annotated: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    p = np.asarray(probabilities, dtype=np.float64)
    y = np.asarray(annotated)
    if p.ndim != 2 or p.shape[1] < 2:
        raise ValueError(f"probabilities: expected shape (objects, classes >= 2), got {p.shape}")
    if p.shape[0] == 0:
        raise ValueError("probabilities: no objects")
    if not np.isfinite(p).all() or (p < 0).any() or not np.allclose(p.sum(axis=1), 1.0, atol=1e-3):
        raise ValueError("probabilities: expected finite non-negative rows summing to 1")
    if y.shape != (p.shape[0],) or not np.issubdtype(y.dtype, np.integer):
        raise ValueError(f"annotated: expected one integer class per object ({p.shape[0]}), got {y.shape} {y.dtype}")
    if y.min() < 0 or y.max() >= p.shape[1]:
        raise ValueError(f"annotated: class indices must lie in [0, {p.shape[1] - 1}], got {y.min()}..{y.max()}")
    return p, y.astype(np.int64, copy=False)


def _check_bins(bins: int) -> int:
    if isinstance(bins, bool) or not isinstance(bins, (int, np.integer)) or bins < 1:
        raise ValueError(f"bins: expected a whole number >= 1, got {bins!r}")
    return int(bins)


def reliability_curve(probabilities: np.ndarray, annotated: np.ndarray, *, bins: int = 10) -> pd.DataFrame:
    """Accuracy against confidence, in equal-width bins of the confidence.

    Parameters
    ----------
    probabilities : numpy.ndarray, shape (A, k)
        Class probabilities of annotated objects the model did not learn from.
    annotated : numpy.ndarray of int, shape (A,)
        Their annotated class index.
    bins : int, keyword-only
        Equal-width bins of the confidence (the largest probability) over [0, 1].

    Returns
    -------
    pandas.DataFrame
        One row per bin: ``low``, ``high`` (its edges), ``n`` (objects in it), ``confidence``
        (their mean confidence) and ``accuracy`` (the fraction predicted right); NaN for an
        empty bin. A calibrated model has ``accuracy`` close to ``confidence`` in every bin.
    """
    p, y = _checked(probabilities, annotated)
    bins = _check_bins(bins)
    confidence = p.max(axis=1)
    right = (p.argmax(axis=1) == y).astype(np.float64)
    edges = np.linspace(0.0, 1.0, bins + 1)
    which = np.clip(np.searchsorted(edges, confidence, side="left") - 1, 0, bins - 1)
    n = np.bincount(which, minlength=bins)
    with np.errstate(invalid="ignore", divide="ignore"):
        mean_confidence = np.bincount(which, weights=confidence, minlength=bins) / n
        accuracy = np.bincount(which, weights=right, minlength=bins) / n
    return pd.DataFrame(
        {"low": edges[:-1], "high": edges[1:], "n": n, "confidence": mean_confidence, "accuracy": accuracy}
    )


def expected_calibration_error(probabilities: np.ndarray, annotated: np.ndarray, *, bins: int = 10) -> float:
    """The objects' mean gap between confidence and accuracy, bin by bin (ECE, Naeini et al. 2015).

    ``sum over bins of n_b / A * |accuracy_b - confidence_b|`` with the bins of
    :func:`reliability_curve`: 0 for a calibrated model; 0.1 means the stated confidence is off
    by 10 points on average. With few annotations it is a noisy figure (and biased upwards),
    so compare models on the same objects.

    Parameters
    ----------
    probabilities : numpy.ndarray, shape (A, k)
    annotated : numpy.ndarray of int, shape (A,)
    bins : int, keyword-only

    Returns
    -------
    float
    """
    curve = reliability_curve(probabilities, annotated, bins=bins)
    filled = curve[curve["n"] > 0]
    gaps = (filled["accuracy"] - filled["confidence"]).abs()
    return float((filled["n"] * gaps).sum() / filled["n"].sum())


def apply_temperature(probabilities: np.ndarray, temperature: float) -> np.ndarray:
    """Probabilities with their log divided by ``temperature``, renormalised.

    Parameters
    ----------
    probabilities : numpy.ndarray, shape (N, k)
    temperature : float
        Positive; 1 leaves the probabilities as they are.

    Returns
    -------
    numpy.ndarray of float64, shape (N, k)
        Same order within each row (same predicted class), other confidence.
    """
    if isinstance(temperature, bool) or not np.isfinite(temperature) or temperature <= 0:
        raise ValueError(f"temperature: expected a positive number, got {temperature!r}")
    p = np.asarray(probabilities, dtype=np.float64)
    if p.ndim != 2:
        raise ValueError(f"probabilities: expected shape (objects, classes), got {p.shape}")
    logits = np.log(np.clip(p, _FLOOR, 1.0)) / temperature
    logits -= logits.max(axis=1, keepdims=True)
    scaled = np.exp(logits)
    return scaled / scaled.sum(axis=1, keepdims=True)


def _negative_log_likelihood(log_p: np.ndarray, y: np.ndarray, temperature: float) -> float:
    logits = log_p / temperature
    logits = logits - logits.max(axis=1, keepdims=True)
    log_norm = np.log(np.exp(logits).sum(axis=1))
    return float((log_norm - logits[np.arange(y.size), y]).mean())


def fit_temperature(probabilities: np.ndarray, annotated: np.ndarray, *, prior_sd: float | None = None) -> float:
    """The temperature that makes the out-of-fold probabilities most likely (maximum likelihood).

    Parameters
    ----------
    probabilities : numpy.ndarray, shape (A, k)
        Out-of-fold probabilities of the annotations
        (:attr:`~svetlana_nb.models.cross_validation.OutOfFold.probabilities`).
    annotated : numpy.ndarray of int, shape (A,)
    prior_sd : float or None, keyword-only
        None: maximum likelihood. A number: the most probable temperature under a normal prior
        on ``log T`` centred on 0 (``T = 1``) with this standard deviation, which keeps a few
        held-out objects that happen to be all right from sharpening every confidence to 1
        (the likelihood then keeps growing as ``T`` falls).

    Returns
    -------
    float
        ``T`` in [0.05, 20] (a bounded search on ``log T``): above 1 the model was
        over-confident, below 1 under-confident.
    """
    from scipy.optimize import minimize_scalar

    p, y = _checked(probabilities, annotated)
    if prior_sd is not None and (isinstance(prior_sd, bool) or not np.isfinite(prior_sd) or prior_sd <= 0):
        raise ValueError(f"prior_sd: expected a positive number or None, got {prior_sd!r}")
    # the prior's share of the mean negative log-likelihood: (log T)^2 / (2 sd^2) over A objects
    penalty = 0.0 if prior_sd is None else 1.0 / (2.0 * float(prior_sd) ** 2 * y.size)
    log_p = np.log(np.clip(p, _FLOOR, 1.0))
    result = minimize_scalar(
        lambda log_t: _negative_log_likelihood(log_p, y, float(np.exp(log_t))) + penalty * log_t**2,
        bounds=(np.log(0.05), np.log(20.0)),
        method="bounded",
        options={"xatol": 1e-4},
    )
    return float(np.exp(result.x))


@dataclass(frozen=True)
class Temperature:
    """A fitted temperature, and the calibration error it leaves on objects it was not fitted on.

    Attributes
    ----------
    temperature : float
        Fitted on all the out-of-fold probabilities: the one to apply to new predictions.
    ece_before, ece_after : float
        Expected calibration error of the out-of-fold probabilities before and after scaling,
        the latter *cross-fitted*: each half of the annotations is scaled by the temperature
        fitted on the other half, so the figure is not flattered by fitting and measuring on
        the same objects.
    n : int
        Annotations used.
    """

    temperature: float
    ece_before: float
    ece_after: float
    n: int

    def apply(self, probabilities: np.ndarray) -> np.ndarray:
        """Calibrated probabilities, shape (N, k) (:func:`apply_temperature`)."""
        return apply_temperature(probabilities, self.temperature)

    @classmethod
    def fit(
        cls, probabilities: np.ndarray, annotated: np.ndarray, *, bins: int = 10, seed: int | None = 0
    ) -> Temperature:
        """Fit on out-of-fold probabilities and measure the ECE before and after (cross-fitted halves).

        Parameters
        ----------
        probabilities : numpy.ndarray, shape (A, k)
        annotated : numpy.ndarray of int, shape (A,)
            At least 4 annotations (two halves of two).
        bins : int, keyword-only
            Bins of the ECE.
        seed : int or None, keyword-only
            Seed of the split into halves.
        """
        p, y = _checked(probabilities, annotated)
        if y.size < 4:
            raise ValueError(f"annotated: temperature scaling needs at least 4 annotations, got {y.size}")
        halves = np.random.default_rng(seed).permutation(y.size) % 2 == 0
        scaled = np.empty_like(p)
        for held_out in (halves, ~halves):
            t = fit_temperature(p[~held_out], y[~held_out])
            scaled[held_out] = apply_temperature(p[held_out], t)
        return cls(
            temperature=fit_temperature(p, y),
            ece_before=expected_calibration_error(p, y, bins=bins),
            ece_after=expected_calibration_error(scaled, y, bins=bins),
            n=int(y.size),
        )
