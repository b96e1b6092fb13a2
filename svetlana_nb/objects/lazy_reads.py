"""Pixels of a lazy image read per object window: patches in batches, crops, measurements.

A batch of patches is read as few windows as it needs: its objects are grouped by cell (a
square of a few patches), and each group's patches are cut from one read of the window they
span (:func:`read_patches`). The batches of :class:`~svetlana_nb.objects.batches.PatchBatches`
are planned over spatially sorted objects (:func:`spatial_order`), so a batch's objects are
neighbours and its reads few. Measurements (:func:`measure_lazy`) read, per block, the window of
the objects whose centre it holds, as :func:`svetlana_nb.batch.predict_large` does.
"""

from __future__ import annotations

import threading
from collections.abc import Sequence

import numpy as np

from . import features as _features
from .lazy import LazyPair
from .pixels import gather

#: Smallest side of the cells that group a batch's objects into one read, in patch sides.
CELL_PATCHES = 4
#: Largest side (pixels) of a cell, whatever the stored chunks.
CELL_MAX = 2048


def read_cell(pair: LazyPair, shape: Sequence[int]) -> np.ndarray:
    """Side per axis of the cells grouping objects into one read: the stored chunks, within bounds.

    A chunk is decoded whole whatever part of it is read, so objects of one chunk are read
    together: at least ``CELL_PATCHES`` patches, at most :data:`CELL_MAX` pixels a side.

    Returns
    -------
    numpy.ndarray of int64, shape (ndim,)
    """
    least = np.asarray(shape, dtype=np.int64) * CELL_PATCHES
    chunks = pair.storage_chunks()
    if chunks is None:
        return least
    return np.maximum(least, np.minimum(np.asarray(chunks, dtype=np.int64), CELL_MAX))


def spatial_order(centres: np.ndarray, cell: Sequence[int] | np.ndarray) -> np.ndarray:
    """Rows sorted by the cell holding their centre (C order of the cell grid), stable.

    Parameters
    ----------
    centres : numpy.ndarray of int, shape (n, ndim)
    cell : sequence of int, length ndim

    Returns
    -------
    numpy.ndarray of int64, shape (n,)
    """
    if len(centres) == 0:
        return np.zeros(0, np.int64)
    index = np.maximum(centres, 0) // np.asarray(cell, np.int64)
    key = np.ravel_multi_index(tuple(index.T), tuple(int(m) + 1 for m in index.max(axis=0)))
    return np.argsort(key, kind="stable").astype(np.int64)


class WindowCache:
    """The last window of a lazy image read for dense groups of patches, reused while it holds the next ones.

    Batches planned in spatial order (:func:`spatial_order`) take their objects cell after cell;
    a dense group reads its whole cell (grown by one patch), so the next batches of that cell
    are cut from memory instead of decoding the same chunks again. Thread-safe; one window.
    """

    #: A group is dense when its patches cover at least this share of its cell.
    DENSE = 0.125

    def __init__(self) -> None:
        self._lock = threading.Lock()
        self._entry: tuple[LazyPair, np.ndarray, np.ndarray, np.ndarray | None, np.ndarray] | None = None

    def get(
        self, pair: LazyPair, lo: np.ndarray, hi: np.ndarray
    ) -> tuple[np.ndarray, np.ndarray | None, np.ndarray] | None:
        """``(window lo, image, mask)`` of the cached window of ``pair`` when it holds ``[lo, hi)``, else None."""
        with self._lock:
            entry = self._entry
        if entry is None or entry[0] is not pair or np.any(lo < entry[1]) or np.any(hi > entry[2]):
            return None
        return entry[1], entry[3], entry[4]

    def put(self, pair: LazyPair, lo: np.ndarray, hi: np.ndarray, image: np.ndarray | None, mask: np.ndarray) -> None:
        """Keep the window ``[lo, hi)`` of ``pair`` just read."""
        with self._lock:
            self._entry = (pair, lo, hi, image, mask)


def _groups(corners: np.ndarray, cell: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    """Positions of ``corners`` grouped by cell: the order, and the start of each group (with the end)."""
    index = np.floor_divide(corners, cell)
    index -= index.min(axis=0)
    key = np.ravel_multi_index(tuple(index.T), tuple(int(m) + 1 for m in index.max(axis=0)))
    order = np.argsort(key, kind="stable")
    _, first = np.unique(key[order], return_index=True)
    return order, np.append(first, len(order))


def read_patches(
    pair: LazyPair,
    corners: np.ndarray,
    shape: Sequence[int],
    *,
    read_image: bool = True,
    cache: WindowCache | None = None,
) -> tuple[np.ndarray | None, np.ndarray, np.ndarray]:
    """Raw patches of ``shape`` at ``corners`` of a lazy image, read one window per group of neighbours.

    Parameters
    ----------
    pair : LazyPair
    corners : numpy.ndarray of int, shape (m, ndim)
        First pixel of each patch (may be negative or run past the image).
    shape : sequence of int, length ndim
    read_image : bool
        Read the image too (else only the mask; ``image`` is None).
    cache : WindowCache, optional
        Dense groups read their whole cell into it, and groups it holds are cut from it.

    Returns
    -------
    image : numpy.ndarray, shape (m, *shape, C), or None
        Raw pixels (edge values outside the image: mask them with ``valid``).
    mask : numpy.ndarray of int, shape (m, *shape)
    valid : numpy.ndarray of bool, shape (m, *shape)
        Pixels inside the image.
    """
    corners = np.asarray(corners, dtype=np.int64)
    shape_arr = np.asarray(shape, dtype=np.int64)
    extent = np.asarray(pair.shape, dtype=np.int64)
    m = len(corners)
    dtype = np.uint8 if np.dtype(pair.image.dtype) == bool else pair.image.dtype
    image = np.zeros((m, *shape, pair.n_channels), dtype=dtype) if read_image else None
    mask = np.zeros((m, *shape), dtype=np.int64 if pair.mask_dtype == np.uint64 else pair.mask_dtype)
    valid = np.zeros((m, *shape), dtype=bool)
    if m == 0:
        return image, mask, valid
    cell = read_cell(pair, shape)
    order, bounds = _groups(corners, cell)
    for g in range(len(bounds) - 1):
        members = order[bounds[g] : bounds[g + 1]]
        starts = corners[members]
        lo = np.clip(starts.min(axis=0), 0, extent)
        hi = np.clip(starts.max(axis=0) + shape_arr, 0, extent)
        if np.any(hi <= lo):  # every patch of the group lies outside the image
            continue
        # any window holding [lo, hi) inside the image gives the same patches and the same `valid`
        pixels, labels, lo = _window(pair, lo, hi, starts, cell, shape_arr, read_image=read_image, cache=cache)
        local = starts - lo
        crops, inside = gather(labels, local, tuple(int(s) for s in shape))
        mask[members], valid[members] = crops, inside
        if image is not None and pixels is not None:
            image[members] = gather(pixels, local, tuple(int(s) for s in shape))[0]
    return image, mask, valid


def _window(
    pair: LazyPair,
    lo: np.ndarray,
    hi: np.ndarray,
    starts: np.ndarray,
    cell: np.ndarray,
    shape: np.ndarray,
    *,
    read_image: bool,
    cache: WindowCache | None,
) -> tuple[np.ndarray | None, np.ndarray, np.ndarray]:
    """Image (or None) and mask of a window holding ``[lo, hi)``, and the window's first pixel."""
    dense = False
    if cache is not None:
        cached = cache.get(pair, lo, hi)
        if cached is not None and (cached[1] is not None or not read_image):
            wlo, image, mask = cached
            index = tuple(slice(int(a), int(b)) for a, b in zip(lo - wlo, hi - wlo))
            return (None if image is None else image[index]), mask[index], lo
        dense = len(starts) * float(np.prod(shape)) >= WindowCache.DENSE * float(np.prod(cell))
        if dense:  # the group's whole cell, grown by a patch, for the next batches of the cell
            extent = np.asarray(pair.shape, dtype=np.int64)
            first = (starts[0] // cell) * cell
            lo = np.minimum(lo, np.clip(first, 0, extent))
            hi = np.maximum(hi, np.clip(first + cell + shape, 0, extent))
    image, mask = pair.read(lo, hi) if read_image else (None, pair.read(lo, hi)[1])
    if cache is not None and dense:
        cache.put(pair, lo, hi, image, mask)
    return image, mask, lo


def crop_lazy(
    pair: LazyPair, centre: Sequence[int], label: int, shape: Sequence[int]
) -> tuple[np.ndarray, np.ndarray, tuple[int, ...]]:
    """As :func:`~svetlana_nb.objects.pixels.crop_one`, reading only the crop's window.

    Returns
    -------
    image_crop : numpy.ndarray, shape (*shape, C)
        Zero outside the image.
    object_mask : numpy.ndarray of bool, shape (*shape)
    origin : tuple of int
    """
    start = np.asarray(centre, dtype=np.int64)[None] - np.asarray(shape, dtype=np.int64) // 2
    image, mask, valid = read_patches(pair, start, shape)
    assert image is not None
    crops = np.where(valid[..., None], image, 0)[0]
    return crops, ((mask == label) & valid)[0], tuple(int(s) for s in start[0])


def label_crop_lazy(pair: LazyPair, origin: Sequence[int], shape: Sequence[int]) -> np.ndarray:
    """The mask's ids in ``shape`` from ``origin`` (0 outside the image), as ``display.crop_padded``."""
    _, mask, valid = read_patches(pair, np.asarray(origin, np.int64)[None], shape, read_image=False)
    return np.where(valid, mask, 0)[0]


def measure_lazy(
    pair: LazyPair, labels: np.ndarray, bbox: np.ndarray, *, block: tuple[int, ...]
) -> dict[str, np.ndarray]:
    """:func:`~svetlana_nb.objects.features.measure_objects` of a lazy image, one block's objects at a time.

    Each object is measured in the window of the boxes of the objects whose centre lies in its
    block (so wholly); centroids come out in image coordinates, equal to the in-memory ones.

    Parameters
    ----------
    pair : LazyPair
    labels : numpy.ndarray, shape (n,)
        Sorted ids of every object.
    bbox : numpy.ndarray, shape (n, 2 * ndim)
    block : tuple of int

    Returns
    -------
    dict of str to numpy.ndarray, each shape (n,)
    """
    nd = pair.spatial_ndim
    centres = (bbox[:, :nd] + bbox[:, nd:]) // 2
    counts = [-(-s // b) for s, b in zip(pair.shape, block)]
    cell = centres // np.asarray(block, dtype=np.int64)
    owner = np.ravel_multi_index(tuple(cell.T), counts)
    order = np.argsort(owner, kind="stable")
    _, first = np.unique(owner[order], return_index=True)
    bounds = np.append(first, len(order))
    columns: dict[str, np.ndarray] = {}
    for k in range(len(first)):
        rows = np.sort(order[bounds[k] : bounds[k + 1]])
        lo, hi = bbox[rows, :nd].min(axis=0), bbox[rows, nd:].max(axis=0)
        image, mask = pair.read(lo, hi)
        ids = labels[rows]
        # ids renumbered 1..m in the window (others: background), so the tables stay small whatever the ids
        where = np.clip(np.searchsorted(ids, mask), 0, len(ids) - 1)
        compact = np.where(ids[where] == mask, where + 1, 0)
        part = _features.measure_objects(image, compact, np.arange(1, len(ids) + 1), bbox[rows], origin=lo)
        for name, values in part.items():
            if name not in columns:
                columns[name] = np.zeros(len(labels), dtype=values.dtype)
            columns[name][rows] = values
    return columns
