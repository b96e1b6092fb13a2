"""Downsampled views of a lazy image and mask for display: stored pyramid levels, else a computed overview.

The annotator's and the viewer's overviews ask for one pixel per canvas pixel of a viewport
(``ys``, ``xs`` from :func:`svetlana_nb.display.view_indices`). :meth:`Pyramid.sample` reads them
from the coarsest level still at least as fine as the view: an OME-Zarr store's own levels
(its ``multiscales`` datasets) when it has them, so a zoomed-out view never reads the full
resolution; else an overview computed once, blockwise with dask (block means of the image,
every ``factor``-th id of the mask), about ``display_size`` pixels a side. A view finer than
every level reads the pixels shown of the full resolution (orthogonal indexing: only the
chunks holding them).
"""

from __future__ import annotations

import math
import os
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import numpy as np

from .lazy import LazyPair, _read

#: Default largest side of the computed overview (pixels).
DISPLAY_SIZE = 1024


@dataclass
class Level:
    """One resolution of an image or a mask.

    Attributes
    ----------
    factors : tuple of int
        Downsampling factor per spatial axis (1 for the full resolution).
    array : array_like
        The level as stored (zarr, dask or NumPy), channel axis included for an image.
    channel_axis : int or None
        Stored channel axis of an image level (None for a mask or a one-channel image).
    shape : tuple of int
        Spatial shape.
    """

    factors: tuple[int, ...]
    array: Any
    channel_axis: int | None
    shape: tuple[int, ...]

    def read(self, spatial: list[np.ndarray], *, image: bool) -> np.ndarray:
        """The level at the given indices of each spatial axis (orthogonal indexing): channel last for an image.

        Parameters
        ----------
        spatial : list of numpy.ndarray of int
            Ascending distinct indices, one array per spatial axis.

        Returns
        -------
        numpy.ndarray, shape (*lengths[, C])
        """
        index = list(spatial)
        if image and self.channel_axis is not None:
            index.insert(self.channel_axis, np.arange(int(self.array.shape[self.channel_axis])))
        values = _orthogonal(self.array, index)
        if image:
            values = (
                values[..., np.newaxis] if self.channel_axis is None else np.moveaxis(values, self.channel_axis, -1)
            )
            return values.astype(np.uint8) if values.dtype == bool else values
        return values.astype(np.int64) if values.dtype == np.uint64 else values


def _orthogonal(array: Any, index: list[np.ndarray]) -> np.ndarray:
    """``array`` at the outer product of per-axis integer indices (only the chunks holding them are read)."""
    if isinstance(array, np.ndarray):
        return array[np.ix_(*index)]
    if hasattr(array, "oindex"):  # zarr
        return np.asarray(array.oindex[tuple(index)])
    if hasattr(array, "compute"):  # dask: one axis at a time, then computed
        for axis, idx in enumerate(index):
            array = array[(slice(None),) * axis + (idx,)]
        return np.asarray(array.compute(scheduler="synchronous"))
    window = _read(array, tuple(slice(int(i[0]), int(i[-1]) + 1) for i in index))
    return window[np.ix_(*[i - i[0] for i in index])]


def stored_levels(source: Any) -> list[Any]:
    """Every resolution of an OME-Zarr image (its ``multiscales`` datasets, finest first), else []."""
    if not isinstance(source, (str, os.PathLike)) or not Path(source).is_dir():
        return []
    import zarr

    try:
        node = zarr.open(str(source), mode="r")
    except Exception:  # not a store: open_array already said so when it mattered
        return []
    if not isinstance(node, zarr.Group):
        return []
    attrs: dict[str, Any] = dict(node.attrs)
    multiscales: Any = attrs.get("multiscales") or dict(attrs.get("ome", {})).get("multiscales")
    if not multiscales:
        return []
    return [node[d["path"]] for d in multiscales[0]["datasets"]]


def _levels(base: Any, arrays: list[Any], channel_axis: int | None, spatial: tuple[int, ...]) -> list[Level]:
    """Levels of the stored arrays (the first the full resolution ``base``), factors from their shapes."""
    full = Level((1,) * len(spatial), base, channel_axis, spatial)
    levels = [full]
    n_axes = len(base.shape)
    for array in arrays[1:]:
        if len(array.shape) != n_axes:
            continue
        shape = [int(s) for s in array.shape]
        if channel_axis is not None:
            if shape[channel_axis] != int(base.shape[channel_axis]):
                continue
            del shape[channel_axis]
        if 0 in shape:
            continue
        factors = tuple(max(1, round(a / b)) for a, b in zip(spatial, shape))
        levels.append(Level(factors, array, channel_axis, tuple(shape)))
    return sorted(levels, key=lambda level: min(level.factors[-2:]))


def _computed(level: Level, factor: int, *, image: bool) -> Level:
    """A coarser level of ``level`` computed blockwise with dask: Y/X block means (image) or strides (mask)."""
    import dask.array as da

    array = level.array
    if not isinstance(array, da.Array):
        chunks = getattr(array, "chunks", None)
        array = da.from_array(array, chunks=tuple(chunks) if chunks else "auto", asarray=True)
    nd = len(level.shape)
    axes = [a for a in range(len(array.shape)) if a != level.channel_axis][nd - 2 :]  # stored Y and X axes
    if image:
        dtype = np.dtype(array.dtype)
        small = da.coarsen(np.mean, array.astype(np.float32), {a: factor for a in axes}, trim_excess=True)
        if dtype.kind == "b":
            small = (small >= 0.5).astype(np.uint8)
        elif np.issubdtype(dtype, np.integer):
            small = da.round(small).astype(dtype)
    else:
        index = [slice(None)] * len(array.shape)
        for a in axes:
            index[a] = slice(factor // 2, None, factor)
        small = array[tuple(index)]
    pixels = np.asarray(small.compute())
    shape = [int(s) for k, s in enumerate(pixels.shape) if k != level.channel_axis]
    factors = tuple(f * (factor if k >= nd - 2 else 1) for k, f in enumerate(level.factors))
    return Level(factors, pixels, level.channel_axis, tuple(shape))


class Pyramid:
    """Resolutions of one lazy image and its mask, sampled for display.

    Parameters
    ----------
    pair : LazyPair
        The full resolution (as the Objects reads it).
    image_source, mask_source : path, zarr.Array, dask.array.Array or array_like
        What the user gave: an OME-Zarr folder contributes its stored levels.
    display_size : int
        Largest side of the overview computed when a store has no coarse enough level.

    Attributes
    ----------
    image_levels, mask_levels : list of Level
        Finest first; the computed overview is appended on first need.
    """

    def __init__(self, pair: LazyPair, image_source: Any, mask_source: Any, *, display_size: int = DISPLAY_SIZE):
        self.pair = pair
        self.display_size = int(display_size)
        axis = pair.channel_axis_stored
        self.image_levels = _levels(pair.image, stored_levels(image_source), axis, pair.shape)
        self.mask_levels = _levels(pair.mask, stored_levels(mask_source), None, pair.shape)
        self._computed = {"image": False, "mask": False}

    def _choose(self, step: float, *, image: bool) -> Level:
        """The coarsest level whose Y/X factor is at most ``step`` (the overview computed on first need)."""
        kind = "image" if image else "mask"
        levels = self.image_levels if image else self.mask_levels
        fits = [level for level in levels if min(level.factors[-2:]) <= step]
        best = fits[-1] if fits else levels[0]
        if 2 * min(best.factors[-2:]) <= step and not self._computed[kind]:
            coarsest = levels[-1]
            factor = math.ceil(max(coarsest.shape[-2:]) / self.display_size)
            self._computed[kind] = True
            if factor >= 2:
                levels.append(_computed(coarsest, factor, image=image))
                levels.sort(key=lambda level: min(level.factors[-2:]))
            return self._choose(step, image=image)
        return best

    def sample(
        self,
        ys: np.ndarray,
        xs: np.ndarray,
        *,
        z: int | None = None,
        projection: bool = False,
        image: bool = True,
    ) -> np.ndarray:
        """The image (or mask) at the full-resolution rows ``ys`` and columns ``xs``, from a coarse level.

        Parameters
        ----------
        ys, xs : numpy.ndarray of int, shape (h,), (w,)
            Ascending pixel indices of the full resolution (:func:`svetlana_nb.display.view_indices`).
        z : int, optional
            The z slice of a 3D image (full-resolution index).
        projection : bool
            Maximum over z instead of one slice (3D).
        image : bool
            The image (channel last) or the mask.

        Returns
        -------
        numpy.ndarray, shape (h, w, C) for the image, (h, w) for the mask
        """
        ys, xs = np.asarray(ys, np.int64), np.asarray(xs, np.int64)
        spans = [(a[-1] - a[0]) / (len(a) - 1) if len(a) > 1 else 1.0 for a in (ys, xs)]
        level = self._choose(max(1.0, min(spans)), image=image)
        fy, fx = level.factors[-2:]
        uy, iy = np.unique(np.clip(ys // fy, 0, level.shape[-2] - 1), return_inverse=True)
        ux, ix = np.unique(np.clip(xs // fx, 0, level.shape[-1] - 1), return_inverse=True)
        spatial = [uy, ux]
        if len(level.shape) == 3:
            if projection:
                spatial.insert(0, np.arange(level.shape[0]))
            else:
                zl = int(np.clip((0 if z is None else int(z)) // level.factors[0], 0, level.shape[0] - 1))
                spatial.insert(0, np.array([zl]))
        window = level.read(spatial, image=image)
        if len(level.shape) == 3:
            window = window.max(axis=0) if projection else window[0]
        return window[iy.reshape(-1)[:, None], ix.reshape(-1)[None, :]]

    def preview(self, *, size: int = 512) -> np.ndarray:
        """A small image (about ``size`` a side, channel last) for value ranges: the middle z of a 3D one."""
        shape = self.pair.shape
        ys, xs = (np.linspace(0, n - 1, min(size, n)).round().astype(np.int64) for n in shape[-2:])
        z = shape[0] // 2 if len(shape) == 3 else None
        return self.sample(ys, xs, z=z)
