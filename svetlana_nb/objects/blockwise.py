"""One pass over a lazy image and mask, block by block: every object's box, and the intensity ranges.

Per block, :func:`~svetlana_nb.objects.boxes.bounding_boxes` (one ``find_objects`` pass) gives the
boxes of the ids in the block, shifted to image coordinates; the boxes of all blocks are then
merged per label id at once (a stable sort, then ``np.minimum.reduceat`` / ``np.maximum.reduceat``):
an object spread over several blocks gets the box it has in the whole mask.

The intensity ranges equal those of :meth:`svetlana_nb.Objects.channel_ranges` on the whole
image: ``"percentile"`` reads the very pixels :func:`~svetlana_nb.objects.pixels.intensity_range`
samples (every ``step``-th pixel in raster order), picked out of each block; ``"minmax"`` is
reduced over the blocks.
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass

import numpy as np

from .boxes import bounding_boxes
from .lazy import LazyPair, block_grid
from .pixels import intensity_range

#: Pixels sampled for the percentile ranges (as :func:`~svetlana_nb.objects.pixels.intensity_range`).
MAX_SAMPLES = 2_000_000
#: A block whose ids span more than this is renumbered with ``np.unique`` before ``find_objects``
#: (whose output has one entry per id up to the largest).
SPAN_LIMIT = 1 << 22


@dataclass
class Scan:
    """What one pass over a lazy pair found.

    Attributes
    ----------
    labels : numpy.ndarray of int64, shape (n,)
        Sorted label ids present in the mask.
    bbox : numpy.ndarray of int64, shape (n, 2 * ndim)
        Minimum corner then exclusive maximum corner of each object, in image coordinates.
    ranges : numpy.ndarray, shape (C, 2)
        Low and high intensity of each channel for the normalisation asked for.
    areas : numpy.ndarray of int64, shape (n,)
        Pixels (voxels) of each object, summed over the blocks.
    """

    labels: np.ndarray
    bbox: np.ndarray
    ranges: np.ndarray
    areas: np.ndarray

    @property
    def centres(self) -> np.ndarray:
        """Centre pixel of each box, shape (n, ndim), as :attr:`svetlana_nb.Objects.centres`."""
        nd = self.bbox.shape[1] // 2
        return (self.bbox[:, :nd] + self.bbox[:, nd:]) // 2


def block_boxes(mask: np.ndarray, *, name: str = "mask") -> tuple[np.ndarray, np.ndarray]:
    """Label ids of one block and their boxes in block coordinates (see :func:`bounding_boxes`).

    The ids are shifted to start at 1 first (``find_objects`` lists every id up to the largest),
    or renumbered by ``np.unique`` when they span more than :data:`SPAN_LIMIT`.

    Returns
    -------
    labels : numpy.ndarray of int64, shape (m,)
    bbox : numpy.ndarray of int64, shape (m, 2 * ndim)
    """
    top = int(mask.max())
    if top <= 0:
        return np.zeros(0, np.int64), np.zeros((0, 2 * mask.ndim), np.int64)
    nonzero = mask > 0
    low = int(mask[nonzero].min())
    if top - low < SPAN_LIMIT:
        shifted = np.zeros(mask.shape, dtype=np.int32)
        np.subtract(mask, low - 1, out=shifted, where=nonzero, casting="unsafe")
        ids, bbox = bounding_boxes(shifted, name=name)
        return ids + (low - 1), bbox
    values, inverse = np.unique(mask, return_inverse=True)
    shift = 0 if values[0] == 0 else 1  # id 0 of the renumbered block must stay background
    ids, bbox = bounding_boxes((inverse.reshape(mask.shape) + shift).astype(np.int32), name=name)
    return values[ids - shift].astype(np.int64), bbox


def block_areas(mask: np.ndarray, ids: np.ndarray) -> np.ndarray:
    """Pixels of each id of one block (``ids`` sorted, all present), shape (m,), int64."""
    if len(ids) == 0:
        return np.zeros(0, np.int64)
    values = mask[mask > 0]
    low, span = int(ids[0]), int(ids[-1]) - int(ids[0])
    if span < SPAN_LIMIT:
        return np.bincount((values - low).astype(np.intp), minlength=span + 1)[ids - low].astype(np.int64)
    _, counts = np.unique(values, return_counts=True)
    return counts.astype(np.int64)


def merge_boxes(labels: np.ndarray, starts: np.ndarray, stops: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    """Merge per-block boxes per label id: the box of each id over all its blocks.

    Parameters
    ----------
    labels : numpy.ndarray, shape (m,)
        An id per block box (an id appears once per block holding it).
    starts, stops : numpy.ndarray, shape (m, ndim)
        The block boxes in image coordinates.

    Returns
    -------
    labels : numpy.ndarray, shape (n,)
        Sorted distinct ids.
    bbox : numpy.ndarray, shape (n, 2 * ndim)
    """
    order = np.argsort(labels, kind="stable")
    ids, first = np.unique(labels[order], return_index=True)
    low = np.minimum.reduceat(starts[order], first, axis=0)
    high = np.maximum.reduceat(stops[order], first, axis=0)
    return ids.astype(np.int64), np.concatenate([low, high], axis=1).astype(np.int64)


def _sample_positions(shape: tuple[int, ...], lo: np.ndarray, hi: np.ndarray, step: int) -> tuple[np.ndarray, ...]:
    """Block coordinates of the pixels of ``[lo, hi)`` whose raster index in ``shape`` is a multiple of ``step``."""
    lead = [np.arange(a, b) for a, b in zip(lo[:-1], hi[:-1])]
    grids = np.meshgrid(*lead, indexing="ij") if lead else []
    line = (
        np.ravel_multi_index(tuple(g.ravel() for g in grids), shape[:-1]) if lead else np.zeros(1, np.int64)
    ).astype(np.int64)
    line_start = line * shape[-1] + int(lo[-1])  # raster index of each line's first pixel in the block
    first = (-line_start) % step
    width = int(hi[-1] - lo[-1])
    offsets = first[:, None] + step * np.arange(-(-width // step) + 1, dtype=np.int64)[None, :]
    keep = offsets < width
    lines = np.broadcast_to(np.arange(len(line))[:, None], offsets.shape)[keep]
    lead_index = np.unravel_index(lines, tuple(int(b - a) for a, b in zip(lo[:-1], hi[:-1])))
    return (*lead_index, offsets[keep])


def scan(
    pair: LazyPair,
    block: tuple[int, ...],
    normalization: str,
    *,
    progress: Callable[[int], None] | None = None,
) -> Scan:
    """Every object's box and the image's intensity ranges, in one pass over the blocks.

    Parameters
    ----------
    pair : LazyPair
    block : tuple of int
        Block shape (:func:`~svetlana_nb.objects.lazy.choose_block`).
    normalization : {"percentile", "minmax", "none"}
    progress : callable, optional
        Called with 1 after each block.

    Raises
    ------
    ValueError
        Negative label ids, or a mask without objects, naming the mask.
    """
    lows, highs = block_grid(pair.shape, block)
    n_pixels = int(np.prod(pair.shape))
    step = max(1, n_pixels // MAX_SAMPLES)
    all_labels, all_starts, all_stops, all_areas, samples = [], [], [], [], []
    low_values = high_values = None
    for lo, hi in zip(lows, highs):
        image, mask = pair.read(lo, hi)
        ids, bbox = block_boxes(mask, name=pair.mask_name)
        nd = mask.ndim
        all_labels.append(ids)
        all_starts.append(bbox[:, :nd] + lo)
        all_stops.append(bbox[:, nd:] + lo)
        all_areas.append(block_areas(mask, ids))
        if normalization == "percentile":
            samples.append(image[_sample_positions(pair.shape, lo, hi, step)])
        elif normalization == "minmax":
            flat = image.reshape(-1, image.shape[-1])
            low, high = flat.min(axis=0).astype(float), flat.max(axis=0).astype(float)
            low_values = low if low_values is None else np.minimum(low_values, low)
            high_values = high if high_values is None else np.maximum(high_values, high)
        if progress is not None:
            progress(1)
    found = np.concatenate(all_labels)
    labels, bbox = merge_boxes(found, np.concatenate(all_starts), np.concatenate(all_stops))
    if len(labels) == 0:
        raise ValueError(f"{pair.mask_name}: the label image has no objects (all zeros)")
    areas = np.bincount(
        np.searchsorted(labels, found), weights=np.concatenate(all_areas).astype(np.float64), minlength=len(labels)
    ).astype(np.int64)
    if normalization == "percentile":
        ranges = intensity_range(np.concatenate(samples)[np.newaxis], "percentile", max_samples=np.iinfo(np.int64).max)
    elif normalization == "minmax":
        assert low_values is not None and high_values is not None
        ranges = intensity_range(np.stack([low_values, high_values])[np.newaxis], "minmax")
    else:
        ranges = intensity_range(np.zeros((1, pair.n_channels)), "none")
    return Scan(labels, bbox, ranges, areas)
