"""Object outlines as boolean masks, by shifted comparisons (NumPy only, no per-object loop)."""

from __future__ import annotations

import numpy as np


def _shifted_all(mask: np.ndarray, radius: int, combine) -> np.ndarray:
    """Combine ``mask`` with its 4-neighbour shifts (edge-padded) along the last two axes."""
    result = mask.copy()
    for _ in range(radius):
        pad = [(0, 0)] * (mask.ndim - 2) + [(1, 1), (1, 1)]
        p = np.pad(result, pad, mode="edge")
        centre = p[..., 1:-1, 1:-1]
        result = combine(
            combine(combine(combine(centre, p[..., :-2, 1:-1]), p[..., 2:, 1:-1]), p[..., 1:-1, :-2]), p[..., 1:-1, 2:]
        )
    return result


def outline(mask_bool: np.ndarray, *, thickness: int = 1, outer: bool = False) -> np.ndarray:
    """Boundary pixels of a mask (4-connectivity), along its last two axes.

    Parameters
    ----------
    mask_bool : numpy.ndarray of bool, shape (..., Y, X)
    thickness : int
        Width of the boundary in pixels.
    outer : bool
        False: the object's own edge pixels (``mask & ~erosion``); True: the ring just outside
        it (``dilation & ~mask``), which leaves every object pixel visible.

    Returns
    -------
    numpy.ndarray of bool, same shape
        The array's own border does not count as an edge (it is padded by repetition).
    """
    mask = np.asarray(mask_bool, dtype=bool)
    if mask.ndim < 2:
        raise ValueError(f"mask_bool: expected at least 2 dimensions, got shape {mask.shape}")
    if outer:
        return _shifted_all(mask, thickness, np.logical_or) & ~mask
    return mask & ~_shifted_all(mask, thickness, np.logical_and)


def label_outlines(labels: np.ndarray) -> np.ndarray:
    """Pixels of labelled objects (> 0) that touch a different label or the background.

    Parameters
    ----------
    labels : numpy.ndarray of int, shape (Y, X)

    Returns
    -------
    numpy.ndarray of bool, shape (Y, X)
    """
    labels = np.asarray(labels)
    p = np.pad(labels, 1, mode="edge")
    centre = p[1:-1, 1:-1]
    differs = (centre != p[:-2, 1:-1]) | (centre != p[2:, 1:-1]) | (centre != p[1:-1, :-2]) | (centre != p[1:-1, 2:])
    return differs & (centre != 0)
