"""Raw pixels around objects, gathered for many objects at once (NumPy only).

Crops lying wholly inside an image are read through a strided window view (no copy until the
gather, no padded copy of the image); crops crossing the border are gathered with clipped
indices and a mask of the pixels inside the image. Nothing loops over objects in Python.
"""

from __future__ import annotations

from collections.abc import Sequence

import numpy as np
from numpy.lib.stride_tricks import as_strided


def intensity_range(
    image: np.ndarray,
    normalization: str,
    *,
    percentiles: tuple[float, float] = (1.0, 99.8),
    max_samples: int = 2_000_000,
) -> np.ndarray:
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
        Patches are normalised as ``(x - low) / (high - low)``.
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


def window_view(array: np.ndarray, shape: tuple[int, ...]) -> np.ndarray:
    """Read-only view of every ``shape`` window of ``array``.

    Parameters
    ----------
    array : numpy.ndarray, shape (*spatial[, C])
        Spatial axes first; trailing axes (channels) are kept inside each window.
    shape : tuple of int
        Window shape, one side per spatial axis (each at most the array's side).

    Returns
    -------
    numpy.ndarray, shape (*positions, *shape[, C])
        ``view[corner]`` is ``array[corner : corner + shape]`` without a copy.
    """
    nd = len(shape)
    positions = tuple(a - s + 1 for a, s in zip(array.shape[:nd], shape))
    return as_strided(
        array, positions + tuple(shape) + array.shape[nd:], array.strides[:nd] + array.strides, writeable=False
    )


def gather(array: np.ndarray, starts: np.ndarray, shape: Sequence[int]) -> tuple[np.ndarray, np.ndarray]:
    """Crops of ``shape`` at ``starts`` from ``array``, with the pixels inside the array marked.

    Indices outside the array are clipped to its edge; ``inside`` says which are real.

    Parameters
    ----------
    array : numpy.ndarray, shape (*spatial, ...)
        Trailing axes are carried along.
    starts : numpy.ndarray, shape (m, ndim)
        First pixel of each crop (may be negative).
    shape : tuple of int, length ndim

    Returns
    -------
    crops : numpy.ndarray, shape (m, *shape, ...)
    inside : numpy.ndarray of bool, shape (m, *shape)
    """
    ndim = len(shape)
    m = starts.shape[0]
    index: list[np.ndarray] = []
    inside: np.ndarray | None = None
    for d in range(ndim):
        idx = starts[:, d, None] + np.arange(shape[d])[None, :]
        ok = (idx >= 0) & (idx < array.shape[d])
        view = [m] + [1] * ndim
        view[d + 1] = shape[d]
        index.append(np.clip(idx, 0, array.shape[d] - 1).reshape(view))
        ok = ok.reshape(view)
        inside = ok if inside is None else inside & ok
    crops = array[tuple(index)]
    assert inside is not None
    return crops, np.broadcast_to(inside, (m, *shape))


def crop_one(
    image: np.ndarray, mask: np.ndarray, centre: Sequence[int], label: int, shape: Sequence[int]
) -> tuple[np.ndarray, np.ndarray, tuple[int, ...]]:
    """Raw crop of ``shape`` centred on ``centre`` (zero outside the image) and the object's mask.

    Returns
    -------
    image_crop : numpy.ndarray, shape (*shape, C), the image's dtype
    object_mask : numpy.ndarray of bool, shape (*shape)
    origin : tuple of int
        Image coordinates of the crop's first pixel (may be negative).
    """
    start = np.asarray(centre, dtype=np.int64)[None] - np.asarray(shape) // 2
    crops, inside = gather(image, start, shape)
    obj, _ = gather(mask, start, shape)
    crops = np.where(inside[..., None], crops, 0)[0]
    return crops, ((obj == label) & inside)[0], tuple(int(s) for s in start[0])
