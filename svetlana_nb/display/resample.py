"""Resampling for display: strided/area downsampling, viewport sampling, padded crops.

Headless (NumPy only). A viewport of an 8000 x 8000 image is never read at full resolution:
:func:`downsample_view` gives strided slices with at most ``max_pixels`` per side, and
:func:`view_indices` + :func:`sample_view` gather exactly one image pixel per canvas pixel
(subsampling when zoomed out, magnifying when zoomed in).

Examples
--------
>>> import numpy as np
>>> slices, step = downsample_view((8000, 8000), (0, 0, 8000, 8000), 1000)
>>> step, slices[0]
(8, slice(0, 8000, 8))
"""

from __future__ import annotations

from collections.abc import Sequence

import numpy as np

__all__ = ["downsample_view", "downsample", "view_indices", "sample_view", "crop_padded", "upscale_nearest"]


def downsample_view(
    shape: Sequence[int], viewport: Sequence[float], max_pixels: int = 1024
) -> tuple[tuple[slice, slice], int]:
    """Slices reading a viewport of an image with at most ``max_pixels`` per side.

    Parameters
    ----------
    shape : tuple of int
        Image shape; the last two axes are (Y, X).
    viewport : (y0, x0, y1, x1)
        Region in image coordinates (clipped to the image).
    max_pixels : int
        Largest output side.

    Returns
    -------
    slices : (slice, slice)
        Strided slices for the last two axes: ``image[..., sy, sx]`` is the downsampled view.
    step : int
        The stride (1 when the viewport already fits).
    """
    height, width = int(shape[-2]), int(shape[-1])
    y0, x0, y1, x1 = (float(v) for v in viewport)
    y0, y1 = max(0, int(np.floor(y0))), min(height, int(np.ceil(y1)))
    x0, x1 = max(0, int(np.floor(x0))), min(width, int(np.ceil(x1)))
    if y1 <= y0 or x1 <= x0:
        raise ValueError(f"viewport: {tuple(viewport)} does not overlap an image of shape {tuple(shape)}")
    step = max(1, int(np.ceil(max(y1 - y0, x1 - x0) / max(1, int(max_pixels)))))
    return (slice(y0, y1, step), slice(x0, x1, step)), step


def downsample(array: np.ndarray, step: int, *, method: str = "stride") -> np.ndarray:
    """Downsample the first two axes of ``array`` by an integer ``step``.

    Parameters
    ----------
    array : numpy.ndarray, shape (Y, X, ...)
    step : int
    method : {"stride", "mean"}
        ``"stride"`` keeps every ``step``-th pixel (a view, and the only choice for labels);
        ``"mean"`` averages ``step`` x ``step`` blocks (float32; partial blocks at the
        bottom/right edge are dropped).
    """
    step = int(step)
    if step <= 1:
        return array
    if method == "stride":
        return array[::step, ::step]
    if method != "mean":
        raise ValueError(f"method: expected 'stride' or 'mean', got {method!r}")
    h, w = (array.shape[0] // step) * step, (array.shape[1] // step) * step
    blocks = array[:h, :w].reshape(h // step, step, w // step, step, *array.shape[2:])
    return blocks.mean(axis=(1, 3), dtype=np.float32)


def view_indices(
    shape: Sequence[int], viewport: Sequence[float], out_shape: Sequence[int]
) -> tuple[np.ndarray, np.ndarray]:
    """Nearest-neighbour row and column indices mapping a viewport onto an output frame.

    Works both ways: a large viewport is subsampled (only ``out_shape`` pixels are ever read)
    and a small one is magnified (each image pixel becomes a block).

    Parameters
    ----------
    shape : tuple of int
        Image shape; the last two axes are (Y, X).
    viewport : (y0, x0, y1, x1)
        Region in image coordinates (may extend past the image; indices are clipped).
    out_shape : (height, width)
        Output frame size.

    Returns
    -------
    ys : numpy.ndarray of int, shape (height,)
    xs : numpy.ndarray of int, shape (width,)
    """
    y0, x0, y1, x1 = (float(v) for v in viewport)
    oh, ow = int(out_shape[0]), int(out_shape[1])
    ys = np.floor(y0 + (np.arange(oh) + 0.5) * (y1 - y0) / oh).astype(np.int64)
    xs = np.floor(x0 + (np.arange(ow) + 0.5) * (x1 - x0) / ow).astype(np.int64)
    return np.clip(ys, 0, int(shape[-2]) - 1), np.clip(xs, 0, int(shape[-1]) - 1)


def sample_view(array: np.ndarray, ys: np.ndarray, xs: np.ndarray) -> np.ndarray:
    """``array[ys][:, xs]`` for the first two axes (a gather of ``len(ys) * len(xs)`` pixels)."""
    return array[ys[:, None], xs[None, :]]


def crop_padded(array: np.ndarray, origin: Sequence[int], shape: Sequence[int], *, fill: float = 0) -> np.ndarray:
    """Crop the leading axes of ``array``; the crop may extend past its borders (padded).

    Parameters
    ----------
    array : numpy.ndarray, shape (*spatial, ...)
    origin : sequence of int
        Array coordinates of the crop's first pixel (may be negative).
    shape : sequence of int
        Crop shape along the first ``len(shape)`` axes.
    fill : scalar
        Value outside the array.

    Returns
    -------
    numpy.ndarray, shape (*shape, ...)
    """
    out = np.full(tuple(int(s) for s in shape) + array.shape[len(shape) :], fill, dtype=array.dtype)
    src, dst = [], []
    for o, s, n in zip(origin, shape, array.shape):
        a, b = max(0, int(o)), min(int(n), int(o) + int(s))
        if b <= a:
            return out
        src.append(slice(a, b))
        dst.append(slice(a - int(o), b - int(o)))
    out[tuple(dst)] = array[tuple(src)]
    return out


def upscale_nearest(rgba: np.ndarray, factor: int) -> np.ndarray:
    """Magnify the first two axes by an integer factor, each pixel becoming a block."""
    factor = int(factor)
    if factor < 1:
        raise ValueError(f"factor: expected a positive integer, got {factor}")
    if factor == 1:
        return rgba
    return np.repeat(np.repeat(rgba, factor, axis=0), factor, axis=1)
