"""Bounding boxes of every object of a label mask, in one pass of ``scipy.ndimage.find_objects``.

Large masks are scanned in two bands of rows by two threads (``find_objects`` releases the
GIL), with Python's cyclic garbage collector paused: ``find_objects`` returns one short-lived
tuple per label id, and tens of thousands of them would trigger full collections that take
longer than the scan itself.
"""

from __future__ import annotations

import gc
import itertools
import operator
from collections.abc import Iterator
from concurrent.futures import ThreadPoolExecutor
from contextlib import contextmanager

import numpy as np
from scipy import ndimage


@contextmanager
def _garbage_collection_paused() -> Iterator[None]:
    """Pause Python's cyclic garbage collector while inside (restored after, if it was on)."""
    enabled = gc.isenabled()
    gc.disable()
    try:
        yield
    finally:
        if enabled:
            gc.enable()


def _band_boxes(band: np.ndarray, offset: int) -> tuple[np.ndarray, np.ndarray, np.ndarray, int]:
    """Label ids of one band of rows of a mask, their box corners in mask coordinates, lowest id."""
    lowest = int(band.min()) if np.issubdtype(band.dtype, np.signedinteger) else 0
    slices = ndimage.find_objects(band, max_label=int(band.max()))
    present = [i for i, s in enumerate(slices) if s is not None]
    flat = list(itertools.chain.from_iterable(slices[i] for i in present))  # n * ndim slices
    starts = np.fromiter(map(operator.attrgetter("start"), flat), dtype=np.int64, count=len(flat))
    stops = np.fromiter(map(operator.attrgetter("stop"), flat), dtype=np.int64, count=len(flat))
    starts, stops = starts.reshape(-1, band.ndim), stops.reshape(-1, band.ndim)
    starts[:, 0] += offset
    stops[:, 0] += offset
    return np.asarray(present, dtype=np.int64) + 1, starts, stops, lowest


#: Masks larger than this (pixels) are scanned in two bands of rows by two threads.
_PARALLEL_PIXELS = 4_000_000


def bounding_boxes(mask: np.ndarray, *, name: str = "mask") -> tuple[np.ndarray, np.ndarray]:
    """Label ids present in ``mask`` and their bounding boxes; ``ValueError`` for negative ids.

    Large masks are scanned by :func:`scipy.ndimage.find_objects` in two bands of rows, one
    in this thread and one in a worker (it releases the GIL), and the boxes of objects spanning
    both merged. The scan also checks the ids (negative ones would be silently skipped).

    Returns
    -------
    labels : numpy.ndarray, shape (n,)
        Sorted label ids (> 0) present in the mask.
    bbox : numpy.ndarray, shape (n, 2 * ndim)
        Minimum corner then exclusive maximum corner of each object.
    """
    with _garbage_collection_paused():
        if mask.size >= _PARALLEL_PIXELS and mask.shape[0] >= 2:
            half = mask.shape[0] // 2
            with ThreadPoolExecutor(max_workers=1) as pool:
                second = pool.submit(_band_boxes, mask[half:], half)
                parts = [_band_boxes(mask[:half], 0), second.result()]
        else:
            parts = [_band_boxes(mask, 0)]
    lowest = min(p[3] for p in parts)
    if lowest < 0:
        raise ValueError(f"{name}: label ids must be >= 0 (0 is background), found {lowest}")
    labels = np.unique(np.concatenate([p[0] for p in parts]))
    starts = np.full((len(labels), mask.ndim), np.iinfo(np.int64).max)
    stops = np.full((len(labels), mask.ndim), np.iinfo(np.int64).min)
    for part_labels, part_starts, part_stops, _ in parts:
        where = np.searchsorted(labels, part_labels)
        np.minimum.at(starts, where, part_starts)
        np.maximum.at(stops, where, part_stops)
    return labels, np.concatenate([starts, stops], axis=1)


#: Label ids above this are renumbered when they are sparse: tables indexed by label id (colours,
#: classes per pixel, measurements) would otherwise take gigabytes for a handful of objects.
SPARSE_ID_LIMIT = 1 << 22


def compact_labels(mask: np.ndarray, *, name: str = "mask") -> tuple[np.ndarray, np.ndarray | None]:
    """Renumber the objects 1..n when the largest id is huge and far above the object count.

    Parameters
    ----------
    mask : numpy.ndarray of int, shape (Y, X) or (Z, Y, X)

    Returns
    -------
    mask : numpy.ndarray of int32
        ``mask`` itself when its ids are fine, else a renumbered copy (0 stays background).
    original : numpy.ndarray of int64, shape (n,), or None
        When renumbered, ``original[i]`` is the old id of new label ``i + 1``; None otherwise.
    """
    top = int(mask.max())
    if top <= SPARSE_ID_LIMIT:
        return mask, None
    ids, inverse = np.unique(mask, return_inverse=True)
    objects = ids[ids > 0]
    if top <= 4 * len(objects):
        return mask, None
    if ids[0] < 0:
        raise ValueError(f"{name}: label ids must be >= 0 (0 is background), found {ids[0]}")
    shift = 0 if ids[0] == 0 else 1
    renumbered = (inverse.reshape(mask.shape) + shift).astype(np.int32)
    return renumbered, objects.astype(np.int64)
