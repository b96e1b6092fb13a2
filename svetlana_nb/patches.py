"""Vectorised patch extraction around objects and on-device augmentation.

A patch is the image channels plus one channel marking the object (its mask), centred on the
object's bounding-box centre, as in the paper. Crops are gathered for many objects at once with
fancy indexing (no padded copy of the whole image, no Python loop over objects).
"""

from __future__ import annotations

from collections.abc import Sequence

import numpy as np
from scipy import ndimage

#: Upper bound on the elements gathered per chunk (keeps peak memory small on huge images).
CHUNK_ELEMENTS = 8_000_000


def intensity_range(image: np.ndarray, normalization: str, *, percentiles=(1.0, 99.8),
                    max_samples: int = 2_000_000) -> np.ndarray:
    """Low/high value of each channel of a channel-last image.

    Parameters
    ----------
    image : numpy.ndarray, shape (..., C)
    normalization : {"percentile", "minmax", "none"}
    percentiles : tuple of float
        Used for ``"percentile"``, on a regular subsample of at most ``max_samples`` pixels.

    Returns
    -------
    numpy.ndarray, shape (C, 2)
    """
    n_channels = image.shape[-1]
    if normalization == "none":
        return np.tile(np.array([0.0, 1.0]), (n_channels, 1))
    flat = image.reshape(-1, n_channels)
    if normalization == "minmax":
        low, high = flat.min(axis=0).astype(float), flat.max(axis=0).astype(float)
    else:
        step = max(1, flat.shape[0] // max_samples)
        sample = flat[::step].astype(np.float32)
        low, high = np.percentile(sample, percentiles, axis=0)
    high = np.where(high > low, high, low + 1.0)
    return np.stack([low, high], axis=1).astype(np.float64)


#: Largest Y/X side of the network's input that :func:`choose_downscale` lets through unshrunk.
MAX_NETWORK_SIDE = 64


def choose_downscale(patch_shape: Sequence[int], *, max_side: int = MAX_NETWORK_SIDE) -> int:
    """The smallest integer factor that brings the patch's Y and X sides to ``max_side`` or less.

    Large objects (cells of 100 px and more) then reach the network at a resolution where its
    two small convolutions see their shape, and cost what a 64-px patch costs.

    Parameters
    ----------
    patch_shape : tuple of int
        Spatial patch shape in image pixels; Y and X are its last two sides.
    max_side : int

    Returns
    -------
    int
        1 when the patch is already small enough.

    Examples
    --------
    >>> choose_downscale((48, 48)), choose_downscale((96, 96)), choose_downscale((12, 200, 200))
    (1, 2, 4)
    """
    side = max(int(s) for s in patch_shape[-2:])
    return max(1, -(-side // int(max_side)))


def check_downscale(downscale: object, patch_shape: Sequence[int] | None = None) -> int:
    """``downscale`` as an int, or ``ValueError`` naming it.

    It must be an int >= 1 that divides the patch's Y and X sides (when ``patch_shape`` is given).
    """
    if isinstance(downscale, bool) or not isinstance(downscale, (int, np.integer)) or downscale < 1:
        raise ValueError(f"downscale: expected an int >= 1, got {downscale!r}")
    if patch_shape is not None and any(int(s) % int(downscale) for s in patch_shape[-2:]):
        raise ValueError(f"downscale: {downscale} does not divide the patch's Y and X sides "
                         f"{tuple(int(s) for s in patch_shape[-2:])}")
    return int(downscale)


def shrink(patches: np.ndarray, factor: int) -> np.ndarray:
    """Patches at ``1 / factor`` of their Y/X resolution: image channels averaged, mask maximum.

    Each output pixel is the mean of a ``factor × factor`` block of image pixels; the object
    channel is 1 where the object touches the block (so thin objects do not vanish). Z is kept.

    Parameters
    ----------
    patches : numpy.ndarray, float32, shape (n, C + 1, *spatial)
        Last channel the object mask; Y and X divisible by ``factor``.
    factor : int

    Returns
    -------
    numpy.ndarray, float32, shape (n, C + 1, *spatial[:-2], Y // factor, X // factor)
    """
    if factor == 1:
        return patches
    *lead, y, x = patches.shape
    blocks = patches.reshape(*lead, y // factor, factor, x // factor, factor)
    out = blocks[:, :-1].mean(axis=(-3, -1), dtype=np.float32)
    inside = blocks[:, -1:].max(axis=(-3, -1))
    return np.concatenate([out, inside], axis=1)


def _axis_indices(starts: np.ndarray, size: int, length: int) -> tuple[np.ndarray, np.ndarray]:
    """Clipped indices (m, size) along one axis and whether each is inside the image."""
    idx = starts[:, None] + np.arange(size)[None, :]
    inside = (idx >= 0) & (idx < length)
    return np.clip(idx, 0, length - 1), inside


def _gather(array: np.ndarray, starts: np.ndarray, shape: Sequence[int]) -> tuple[np.ndarray, np.ndarray]:
    """Gather crops of ``shape`` at ``starts`` from ``array``; return crops and the inside-image mask.

    Parameters
    ----------
    array : numpy.ndarray, shape (*spatial, ...) — trailing axes are carried along.
    starts : numpy.ndarray, shape (m, ndim)
    shape : tuple of int, length ndim

    Returns
    -------
    crops : numpy.ndarray, shape (m, *shape, ...)
    inside : numpy.ndarray of bool, shape (m, *shape)
    """
    ndim = len(shape)
    m = starts.shape[0]
    index, inside = [], None
    for d in range(ndim):
        idx, ok = _axis_indices(starts[:, d], shape[d], array.shape[d])
        view = [m] + [1] * ndim
        view[d + 1] = shape[d]
        index.append(idx.reshape(view))
        ok = ok.reshape(view)
        inside = ok if inside is None else inside & ok
    crops = array[tuple(index)]
    return crops, np.broadcast_to(inside, (m, *shape))


def extract_into(out: np.ndarray, out_rows: np.ndarray, image: np.ndarray, mask: np.ndarray,
                 centres: np.ndarray, labels: np.ndarray, ranges: np.ndarray,
                 shape: Sequence[int], *, context: int | None = None) -> None:
    """Write normalised patches of objects of one image into ``out[out_rows]``.

    Crops lying wholly inside the image are read through a strided window view of the image
    (one contiguous copy per crop row, already channel-first); crops crossing the border are
    gathered with clipped indices and zero-filled outside.

    Parameters
    ----------
    out : numpy.ndarray, float32, shape (N, C + 1, *shape)
    out_rows : numpy.ndarray of int, shape (m,)
        Where in ``out`` each object's patch goes.
    image : numpy.ndarray, shape (*spatial, C)
    mask : numpy.ndarray of int, shape (*spatial)
    centres : numpy.ndarray, shape (m, ndim)
    labels : numpy.ndarray, shape (m,)
    ranges : numpy.ndarray, shape (C, 2)
        Low/high per channel.
    shape : tuple of int
        Spatial patch shape.
    context : int, optional
        Dilation radius of the object mask multiplied into the image channels.
    """
    shape = tuple(int(s) for s in shape)
    ndim = len(shape)
    n_channels = image.shape[-1]
    per_object = int(np.prod(shape)) * (n_channels + 1)
    chunk = max(1, CHUNK_ELEMENTS // per_object)
    spatial_ones = (1,) * ndim
    low = ranges[:, 0].astype(np.float32).reshape((n_channels,) + spatial_ones)
    scale = (1.0 / (ranges[:, 1] - ranges[:, 0])).astype(np.float32).reshape((n_channels,) + spatial_ones)
    out_rows = np.asarray(out_rows, dtype=np.int64)
    labels = np.asarray(labels)
    starts_all = np.asarray(centres, dtype=np.int64) - np.array(shape) // 2
    extent = np.array(mask.shape[:ndim])
    fits = bool(np.all(extent >= np.array(shape)))
    inner_all = fits & np.all((starts_all >= 0) & (starts_all + np.array(shape) <= extent), axis=1)
    if fits:
        axes = tuple(range(ndim))
        image_windows = np.lib.stride_tricks.sliding_window_view(image, shape, axis=axes)
        mask_windows = np.lib.stride_tricks.sliding_window_view(mask, shape, axis=axes)
    channel_axes = (0, ndim + 1) + tuple(range(1, ndim + 1))

    def normalised(values: np.ndarray) -> np.ndarray:
        values -= low
        values *= scale
        return values

    def write(target: np.ndarray, values: np.ndarray, obj: np.ndarray) -> None:
        if context is not None:
            size = (1,) + (2 * int(context) + 1,) * ndim
            values *= ndimage.maximum_filter(obj, size=size, mode="constant")[:, None]
        out[target, :n_channels] = values
        out[target, n_channels] = obj

    for begin in range(0, len(out_rows), chunk):
        stop = min(begin + chunk, len(out_rows))
        starts, inner = starts_all[begin:stop], inner_all[begin:stop]
        targets, chunk_labels = out_rows[begin:stop], labels[begin:stop].reshape((-1,) + spatial_ones)
        if inner.any():
            where = tuple(starts[inner].T)
            write(targets[inner], normalised(image_windows[where].astype(np.float32)),
                  mask_windows[where] == chunk_labels[inner])
        border = ~inner
        if border.any():
            crops, inside = _gather(image, starts[border], shape)
            values = normalised(crops.astype(np.float32).transpose(channel_axes)) * inside[:, None]
            crop_mask, _ = _gather(mask, starts[border], shape)
            write(targets[border], values, (crop_mask == chunk_labels[border]) & inside)


def crop_one(image: np.ndarray, mask: np.ndarray, centre: Sequence[int], label: int,
             shape: Sequence[int]) -> tuple[np.ndarray, np.ndarray, tuple[int, ...]]:
    """Raw crop of ``shape`` centred on ``centre`` (zero outside the image) and the object's mask.

    Returns
    -------
    image_crop : numpy.ndarray, shape (*shape, C), the image's dtype
    object_mask : numpy.ndarray of bool, shape (*shape)
    origin : tuple of int
    """
    start = np.asarray(centre, dtype=np.int64)[None] - np.asarray(shape) // 2
    crops, inside = _gather(image, start, shape)
    obj, _ = _gather(mask, start, shape)
    crops = np.where(inside[..., None], crops, 0)[0]
    return crops, ((obj == label) & inside)[0], tuple(int(s) for s in start[0])
