"""Which object to propose next, and keyboard shortcuts (headless helpers of the annotator)."""

from __future__ import annotations

import string

import numpy as np


def shortcut_keys(n_classes: int) -> list[str | None]:
    """Shortcut of each class: ``1``-``9``, then ``a``-``z``; None beyond 35 classes.

    Examples
    --------
    >>> shortcut_keys(11)
    ['1', '2', '3', '4', '5', '6', '7', '8', '9', 'a', 'b']
    """
    keys = [str(i) for i in range(1, 10)] + list(string.ascii_lowercase)
    return [keys[i] if i < len(keys) else None for i in range(n_classes)]


def uncertainty_order(probabilities: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    """Rows sorted from least to most certain, by the margin between the two top classes.

    Parameters
    ----------
    probabilities : numpy.ndarray, shape (n, k)

    Returns
    -------
    order : numpy.ndarray of int, shape (n,)
        Row indices, smallest margin first (ties keep row order).
    margin : numpy.ndarray of float, shape (n,)
        ``p_top1 - p_top2`` per row.

    Examples
    --------
    >>> order, margin = uncertainty_order(np.array([[0.9, 0.1], [0.55, 0.45], [0.3, 0.7]]))
    >>> order.tolist(), margin.round(2).tolist()
    ([1, 2, 0], [0.8, 0.1, 0.4])
    """
    p = np.asarray(probabilities, dtype=np.float64)
    if p.ndim != 2 or p.shape[1] < 1:
        raise ValueError(f"probabilities: expected shape (n, k), got {p.shape}")
    if p.shape[1] == 1:
        margin = p[:, 0]
    else:
        top = -np.partition(-p, 1, axis=1)[:, :2]
        margin = top[:, 0] - top[:, 1]
    return np.argsort(margin, kind="stable"), margin


def next_position(order: np.ndarray, start: int, wanted: np.ndarray, skipped: np.ndarray) -> int | None:
    """Position in ``order`` of the next row to propose, from ``start`` on.

    Looks for a wanted, not skipped row at or after ``start``, then from the beginning; when
    only skipped rows are left they are proposed again.

    Parameters
    ----------
    order : numpy.ndarray of int, shape (n,)
        Proposal order (rows).
    start : int
        First position to consider (the last proposal's: it is proposed again while it is
        still wanted, e.g. after going back to an earlier object).
    wanted : numpy.ndarray of bool, shape (n_rows,)
        Rows that may be proposed (not annotated, in the chosen image).
    skipped : numpy.ndarray of bool, shape (n_rows,)
        Rows the user skipped.

    Returns
    -------
    int or None
        None when no row is wanted.
    """
    ok = wanted[order]
    fresh = ok & ~skipped[order]
    start = max(0, int(start))
    after = np.flatnonzero(fresh[start:])
    if after.size:
        return int(start + after[0])
    for candidates in (fresh, ok):
        found = np.flatnonzero(candidates)
        if found.size:
            return int(found[0])
    return None


def mode_options(classifier: object) -> list[tuple[str, str]]:
    """The annotator's modes that can work now: "Most uncertain first" only with a trained classifier."""
    options = [("Propose (random)", "propose")]
    if classifier is not None and getattr(classifier, "is_fitted", True):
        options.append(("Most uncertain first", "uncertainty"))
    return [*options, ("Click on the image", "click")]
