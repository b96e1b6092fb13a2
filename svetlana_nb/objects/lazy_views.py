"""Array-like views of a lazy image and mask, as :class:`~svetlana_nb.Objects` holds them.

A lazy :class:`~svetlana_nb.Objects` keeps, in ``objects.images`` and ``objects.masks``, a
:class:`LazyImage` (channel last, like the in-memory images) and a :class:`LazyMask`: they have
``shape``, ``dtype`` and ``ndim``, and indexing them with integers and slices reads only that
window (:class:`~svetlana_nb.objects.lazy.LazyPair`). Nothing converts them to NumPy in one go:
``numpy.asarray`` on them raises, naming what reads a big image instead.
"""

from __future__ import annotations

from typing import Any

import numpy as np

from .lazy import LazyPair

#: The error for a whole read of a lazy array.
WHOLE_READ = (
    "{what} is lazy (a zarr / OME-Zarr store, a tiled TIFF or a dask array) and is not read whole; "
    "index a window of it (e.g. {what}[y0:y1, x0:x1]), or use svetlana_nb.batch.predict_large for "
    "images larger than memory"
)


def _window(index: Any, shape: tuple[int, ...]) -> tuple[np.ndarray, np.ndarray, tuple[Any, ...], tuple[Any, ...]]:
    """The spatial window ``[lo, hi)`` an index reads, and the index to apply to that window.

    Returns
    -------
    lo, hi : numpy.ndarray of int64, shape (ndim,)
    local : tuple
        The index relative to the window (integers dropped axes, slices keep their steps).
    rest : tuple
        Index entries past the spatial axes (the channel axis of an image).
    """
    if not isinstance(index, tuple):
        index = (index,)
    if any(i is Ellipsis or i is None for i in index):
        raise IndexError("lazy arrays take integers and slices only (no Ellipsis or newaxis)")
    nd = len(shape)
    spatial, rest = index[:nd], index[nd:]
    lo: list[int] = []
    hi: list[int] = []
    local: list[Any] = []
    for k, n in enumerate(shape):
        item = spatial[k] if k < len(spatial) else slice(None)
        if isinstance(item, slice):
            start, stop, step = item.indices(n)
            if step < 1:
                raise IndexError("lazy arrays take slices with a positive step only")
            stop = max(start, stop)
            lo.append(start)
            hi.append(max(start, stop))
            local.append(slice(0, stop - start, step))
        elif isinstance(item, (int, np.integer)) and not isinstance(item, bool):
            i = int(item) + (n if int(item) < 0 else 0)
            if not 0 <= i < n:
                raise IndexError(f"index {int(item)} is out of bounds for axis {k} of size {n}")
            lo.append(i)
            hi.append(i + 1)
            local.append(0)
        else:
            raise IndexError(f"lazy arrays take integers and slices only, got {item!r}")
    return np.array(lo, np.int64), np.array(hi, np.int64), tuple(local), tuple(rest)


class _LazyView:
    """Common part of :class:`LazyImage` and :class:`LazyMask`."""

    def __init__(self, pair: LazyPair) -> None:
        self.pair = pair

    @property
    def ndim(self) -> int:
        """Number of axes."""
        return len(self.shape)

    @property
    def shape(self) -> tuple[int, ...]:
        """The shape."""
        raise NotImplementedError

    def _read(self, lo: np.ndarray, hi: np.ndarray) -> np.ndarray:
        raise NotImplementedError

    def __getitem__(self, index: Any) -> np.ndarray:
        lo, hi, local, rest = _window(index, self.pair.shape)
        if np.any(hi <= lo):
            empty = tuple(int(b - a) for a, b in zip(lo, hi)) + self.shape[self.pair.spatial_ndim :]
            return np.zeros(empty, dtype=self.dtype)[local + rest]
        return self._read(lo, hi)[local + rest]

    def __array__(self, *args: Any, **kwargs: Any) -> np.ndarray:
        raise TypeError(WHOLE_READ.format(what=self._what))

    _what = "the array"
    dtype: np.dtype


class LazyImage(_LazyView):
    """An image read window by window, channel last: shape ``(*spatial, C)``.

    Parameters
    ----------
    pair : LazyPair
    """

    _what = "the image"

    def __init__(self, pair: LazyPair) -> None:
        super().__init__(pair)
        stored = np.dtype(pair.image.dtype)
        self.dtype = np.dtype(np.uint8) if stored.kind == "b" else stored

    @property
    def shape(self) -> tuple[int, ...]:
        """``(*spatial, C)``."""
        return (*self.pair.shape, self.pair.n_channels)

    def _read(self, lo: np.ndarray, hi: np.ndarray) -> np.ndarray:
        return self.pair.read_image(lo, hi)

    def __repr__(self) -> str:
        return f"LazyImage(shape={self.shape}, dtype={self.dtype})"


class LazyMask(_LazyView):
    """A label mask read window by window: shape ``(*spatial)``.

    Parameters
    ----------
    pair : LazyPair
    """

    _what = "the mask"

    def __init__(self, pair: LazyPair) -> None:
        super().__init__(pair)
        stored = np.dtype(pair.mask.dtype)
        self.dtype = np.dtype(np.int64) if stored == np.uint64 else stored

    @property
    def shape(self) -> tuple[int, ...]:
        """The spatial shape."""
        return self.pair.shape

    def _read(self, lo: np.ndarray, hi: np.ndarray) -> np.ndarray:
        return _checked_mask(self.pair, lo, hi)

    def __repr__(self) -> str:
        return f"LazyMask(shape={self.shape}, dtype={self.dtype})"


def _checked_mask(pair: LazyPair, lo: np.ndarray, hi: np.ndarray) -> np.ndarray:
    """The mask of a window, ids checked >= 0 and uint64 cast to int64 (as :meth:`LazyPair.read`)."""
    mask = pair.read_mask(lo, hi)
    if np.issubdtype(mask.dtype, np.signedinteger) and mask.size and mask.min() < 0:
        raise ValueError(f"{pair.mask_name}: label ids must be >= 0 (0 is background), found {mask.min()}")
    return mask.astype(np.int64) if mask.dtype == np.uint64 else mask


def is_lazy_array(array: Any) -> bool:
    """Whether ``array`` is one of these views (an image or mask of a lazy Objects)."""
    return isinstance(array, _LazyView)
