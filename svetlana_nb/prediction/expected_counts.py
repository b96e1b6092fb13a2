"""Class proportions as expected counts of calibrated probabilities, with a two-level Bayesian bootstrap.

*Probabilistic classify-and-count* (PCC; Bella et al. 2010) estimates the share of class ``c``
among objects as the mean of their probabilities of ``c``. It is unbiased when the probabilities
are calibrated, so they are first temperature-scaled
(:mod:`svetlana_nb.prediction.calibration`) with a temperature fitted on the annotations'
*out-of-fold* probabilities. Unlike adjusted classify-and-count, no matrix is inverted: with
20 annotations the confusion matrix is too noisy for its inverse (``docs/decisions.md``).

The bootstrap redraws both samples (Rubin's Bayesian bootstrap, Dirichlet(1) weights):

* the annotations: their weights refit the temperature (maximum likelihood on a fine grid of
  ``log T``, one matrix product for all replicates), and
* the objects: their weights average the probabilities scaled by that replicate's temperature.
"""

from __future__ import annotations

import numpy as np

__all__ = ["calibrated_replicates", "expected_proportions", "EXACT_UP_TO", "TEMPERATURE_GRID"]

#: Temperatures searched, on a log scale over [0.05, 20] (steps of 2.5 %), as in ``fit_temperature``.
TEMPERATURE_GRID = np.exp(np.linspace(np.log(0.05), np.log(20.0), 241))

_FLOOR = 1e-7  # as calibration._FLOOR: a probability of 0 has no logarithm
_CHUNK = 4_000_000  # object weights drawn at once (replicates x objects), to bound memory
#: Above this many objects their Dirichlet-weighted mean is drawn from its normal limit (mean,
#: covariance / N): the exact draw costs replicates x objects, 2e8 numbers for 100,000 objects.
EXACT_UP_TO = 5000


def _log(probabilities: np.ndarray, name: str) -> np.ndarray:
    p = np.asarray(probabilities, dtype=np.float64)
    if p.ndim != 2 or p.shape[1] < 2:
        raise ValueError(f"{name}: expected shape (objects, classes >= 2), got {p.shape}")
    if not np.isfinite(p).all() or (p < 0).any():
        raise ValueError(f"{name}: expected finite non-negative probabilities")
    return np.log(np.clip(p, _FLOOR, 1.0))


def _scaled(log_p: np.ndarray, temperature: float) -> np.ndarray:
    """Softmax of ``log_p / temperature`` row by row, shape (N, k)."""
    logits = log_p / temperature
    logits -= logits.max(axis=1, keepdims=True)
    e = np.exp(logits)
    return e / e.sum(axis=1, keepdims=True)


def _grid_nll(log_p: np.ndarray, annotated: np.ndarray) -> np.ndarray:
    """Negative log-likelihood of each annotation at each grid temperature, shape (A, G)."""
    logits = log_p[:, None, :] / TEMPERATURE_GRID[None, :, None]  # (A, G, k)
    top = logits.max(axis=2, keepdims=True)
    log_norm = np.log(np.exp(logits - top).sum(axis=2)) + top[..., 0]
    return log_norm - logits[np.arange(annotated.size), :, annotated]


def _dirichlet_ones(rng: np.random.Generator, size: int, n: int) -> np.ndarray:
    """``size`` Dirichlet(1, ..., 1) weight vectors over ``n`` items, shape (size, n)."""
    w = rng.standard_exponential((size, n))
    return w / w.sum(axis=1, keepdims=True)


def calibrated_replicates(
    probabilities: np.ndarray,
    oof_probabilities: np.ndarray,
    annotated: np.ndarray,
    *,
    n_boot: int = 2000,
    seed: int | None = 0,
) -> tuple[np.ndarray, np.ndarray]:
    """The expected proportions of calibrated probabilities: point estimate and bootstrap replicates.

    Parameters
    ----------
    probabilities : numpy.ndarray, shape (N, k)
        The model's probabilities of the objects to count (not annotated).
    oof_probabilities : numpy.ndarray, shape (A, k)
        Out-of-fold probabilities of the annotations, which fit the temperature.
    annotated : numpy.ndarray of int, shape (A,)
        Their annotated class index.
    n_boot : int, keyword-only
        Replicates.
    seed : int or None, keyword-only

    Returns
    -------
    estimate : numpy.ndarray, shape (k,)
        Mean calibrated probability of each class, temperature fitted on all the annotations.
    replicates : numpy.ndarray, shape (n_boot, k)
        The same with Dirichlet(1) weights on the annotations (refitting the temperature) and on
        the objects (above :data:`EXACT_UP_TO` objects, the normal limit of their weighted mean).
    """
    log_p = _log(probabilities, "probabilities")
    log_oof = _log(oof_probabilities, "oof_probabilities")
    y = np.asarray(annotated)
    if log_oof.shape[1] != log_p.shape[1] or y.shape != (log_oof.shape[0],):
        raise ValueError(
            f"oof_probabilities and annotated: expected shapes (A, {log_p.shape[1]}) and (A,), "
            f"got {log_oof.shape} and {y.shape}"
        )
    if y.size == 0 or not np.issubdtype(y.dtype, np.integer) or y.min() < 0 or y.max() >= log_p.shape[1]:
        raise ValueError(f"annotated: expected integer class indices in [0, {log_p.shape[1] - 1}]")
    if log_p.shape[0] == 0:
        raise ValueError("probabilities: no objects to count")
    rng = np.random.default_rng(seed)
    nll = _grid_nll(log_oof, y)  # (A, G)
    best = int(nll.sum(axis=0).argmin())
    chosen = np.concatenate([[best], (_dirichlet_ones(rng, n_boot, y.size) @ nll).argmin(axis=1)])
    n, k = log_p.shape
    replicates = np.empty((n_boot, k))
    estimate = np.empty(k)
    per_chunk = max(1, _CHUNK // n)
    for g in np.unique(chosen):  # few distinct temperatures: the scaled probabilities are computed once each
        scaled = _scaled(log_p, float(TEMPERATURE_GRID[g]))
        if g == best:
            estimate = scaled.mean(axis=0)
        rows = np.flatnonzero(chosen[1:] == g)
        if n > EXACT_UP_TO:
            mean = scaled.mean(axis=0)
            root = np.linalg.cholesky(np.cov(scaled, rowvar=False) / n + 1e-15 * np.eye(k))
            replicates[rows] = mean + rng.standard_normal((rows.size, k)) @ root.T
            continue
        for start in range(0, rows.size, per_chunk):
            part = rows[start : start + per_chunk]
            replicates[part] = _dirichlet_ones(rng, part.size, n) @ scaled
    return estimate, replicates


def expected_proportions(
    probabilities: np.ndarray,
    oof_probabilities: np.ndarray,
    annotated: np.ndarray,
    *,
    n_boot: int = 2000,
    level: float = 0.95,
    seed: int | None = 0,
) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    """Class proportions of one population as expected counts of calibrated probabilities, with an interval.

    Parameters
    ----------
    probabilities, oof_probabilities, annotated, n_boot, seed
        As in :func:`calibrated_replicates`.
    level : float, keyword-only
        Coverage of the percentile interval, in (0.5, 1).

    Returns
    -------
    estimate, low, high : numpy.ndarray, shape (k,)
    """
    if isinstance(n_boot, bool) or not isinstance(n_boot, (int, np.integer)) or n_boot < 100:
        raise ValueError(f"n_boot: expected an integer of at least 100, got {n_boot!r}")
    if not 0.5 < level < 1:
        raise ValueError(f"level: expected a coverage in (0.5, 1), e.g. 0.95, got {level!r}")
    estimate, replicates = calibrated_replicates(
        probabilities, oof_probabilities, annotated, n_boot=int(n_boot), seed=seed
    )
    alpha = (1 - level) / 2
    low, high = np.quantile(replicates, [alpha, 1 - alpha], axis=0)
    return estimate, np.minimum(low, estimate), np.maximum(high, estimate)
