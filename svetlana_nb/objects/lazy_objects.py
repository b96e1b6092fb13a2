"""Opening one lazy image and mask for :class:`~svetlana_nb.Objects`: one blockwise pass, nothing held.

:func:`open_lazy` checks the pair from shapes and dtypes (:class:`~svetlana_nb.objects.lazy.LazyPair`),
runs the blockwise scan once (:func:`~svetlana_nb.objects.blockwise.scan`: every object's box
and area, and the percentile intensity ranges, vectorised per block), and returns array-like
views the Objects keeps in place of NumPy arrays (:mod:`.lazy_views`), with the
:class:`~svetlana_nb.objects.pyramid.Pyramid` its overviews read.
"""

from __future__ import annotations

import os
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import numpy as np

from .blockwise import scan
from .lazy import LazyPair, choose_block
from .lazy_views import LazyImage, LazyMask
from .pixels import intensity_range
from .pyramid import Pyramid


@dataclass
class LazyEntry:
    """One lazy image of an :class:`~svetlana_nb.Objects`.

    Attributes
    ----------
    pair : LazyPair
    block : tuple of int
        Block shape of the passes over it.
    image : LazyImage
        Shape (*spatial, C).
    mask : LazyMask
        Shape (*spatial).
    labels : numpy.ndarray of int64, shape (n,)
    bbox : numpy.ndarray of int64, shape (n, 2 * ndim)
    areas : numpy.ndarray of int64, shape (n,)
    pyramid : Pyramid
    ranges : dict of str to numpy.ndarray, shape (C, 2)
        Intensity ranges per normalisation, found so far.
    """

    pair: LazyPair
    block: tuple[int, ...]
    image: LazyImage
    mask: LazyMask
    labels: np.ndarray
    bbox: np.ndarray
    areas: np.ndarray
    pyramid: Pyramid
    ranges: dict[str, np.ndarray] = field(default_factory=dict)

    def channel_range(self, normalization: str) -> np.ndarray:
        """Intensity range (C, 2) of the whole image for ``normalization`` (one more pass if new)."""
        if normalization not in self.ranges:
            if normalization == "none":
                self.ranges[normalization] = intensity_range(np.zeros((1, self.pair.n_channels)), "none")
            else:
                self.ranges[normalization] = scan(self.pair, self.block, normalization).ranges
        return self.ranges[normalization]

    def painted(self, labels: np.ndarray, values: np.ndarray) -> Any:
        """The mask with each object's id replaced by its value (0 elsewhere), as a lazy dask array.

        Parameters
        ----------
        labels : numpy.ndarray, shape (n,)
            Sorted ids of the objects.
        values : numpy.ndarray, shape (n,)
            Value of each (its dtype is the result's).

        Returns
        -------
        dask.array.Array, shape (*spatial), ``values``' dtype
            Computed block by block only when read (``.compute()``, slicing, ``to_zarr``).
        """
        import dask.array as da

        mask = self.pair.mask
        if not isinstance(mask, da.Array):
            mask = da.from_array(mask, chunks=self.block, asarray=True)
        zero = np.zeros(1, dtype=values.dtype)
        table = np.concatenate([zero, values])  # position 0: not an object

        def paint(ids: np.ndarray) -> np.ndarray:
            where = np.clip(np.searchsorted(labels, ids), 0, len(labels) - 1)
            return table[np.where(labels[where] == ids, where + 1, 0)]

        return mask.map_blocks(paint, dtype=values.dtype)


def open_lazy(
    image: Any,
    mask: Any,
    *,
    channel_axis: int | None,
    image_name: str,
    mask_name: str,
    block: int | tuple[int, ...] | None = None,
) -> LazyEntry:
    """Check a lazy image and mask and find their objects in one blockwise pass.

    Parameters
    ----------
    image, mask : path, zarr.Array, dask.array.Array or array_like
        See :func:`~svetlana_nb.objects.lazy.open_array`.
    channel_axis : int, optional
    image_name, mask_name : str
        The inputs' names in error messages (``"image[1]"``...).
    block : int or tuple of int, optional
        Block shape of the pass (default: the stored chunks grown to about 4096 a side).

    Raises
    ------
    ValueError, TypeError
        Naming the input: shapes that do not match, a mask of floats, negative ids, no objects.
    """
    pair = LazyPair(image, mask, channel_axis=channel_axis, image_name=image_name, mask_name=mask_name)
    chosen = choose_block(pair, block)
    found = scan(pair, chosen, "percentile")
    return LazyEntry(
        pair=pair,
        block=chosen,
        image=LazyImage(pair),
        mask=LazyMask(pair),
        labels=found.labels,
        bbox=found.bbox,
        areas=found.areas,
        pyramid=Pyramid(pair, image, mask),
        ranges={"percentile": found.ranges},
    )


def read_small_files(image: Any, mask: Any) -> tuple[Any, Any]:
    """Image and mask files that are no zarr store nor large tiled TIFF, read into memory (else as given)."""
    from ..io import read_image, read_mask
    from .lazy import is_lazy_source

    if isinstance(image, (str, os.PathLike)) and Path(image).is_file() and not is_lazy_source(image):
        image = read_image(image)
    if isinstance(mask, (str, os.PathLike)) and Path(mask).is_file() and not is_lazy_source(mask):
        mask = read_mask(mask)
    return image, mask
