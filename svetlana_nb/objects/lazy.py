"""Images and masks read lazily, window by window: zarr / OME-Zarr stores, tiled TIFFs, dask arrays.

Nothing here reads a whole image: :class:`LazyPair` checks an image and its mask from their
shapes and dtypes alone, and :meth:`LazyPair.read` returns the pixels of one window, channel
last, as :class:`~svetlana_nb.Objects` holds them. The blockwise passes over such a pair are in
:mod:`.blockwise`; the prediction that uses them is :func:`svetlana_nb.batch.predict_large`.
"""

from __future__ import annotations

import os
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import numpy as np

#: Suffixes of files read through tifffile's zarr view (tiles read on demand).
TIFF_SUFFIXES = (".tif", ".tiff")
#: A tiled TIFF with at least this many pixels (per plane set) goes through the lazy path in batches.
LAZY_TIFF_PIXELS = 1 << 26


def is_zarr_store(path: str | os.PathLike) -> bool:
    """Whether ``path`` is a folder holding a zarr store (v2 or v3, array or group, OME-Zarr too)."""
    path = Path(path)
    if not path.is_dir():
        return False
    return path.suffix.lower() == ".zarr" or any(
        (path / marker).is_file() for marker in ("zarr.json", ".zarray", ".zgroup")
    )


def is_large_tiff(path: str | os.PathLike, *, min_pixels: int = LAZY_TIFF_PIXELS) -> bool:
    """Whether ``path`` is a tiled TIFF of at least ``min_pixels`` pixels (read lazily, tile by tile)."""
    path = Path(path)
    if not path.is_file() or path.suffix.lower() not in TIFF_SUFFIXES:
        return False
    import tifffile

    try:
        with tifffile.TiffFile(path) as tif:
            page = tif.pages.first
            series = tif.series[0]
            return bool(page.is_tiled) and int(np.prod(series.shape)) >= min_pixels
    except (OSError, ValueError, IndexError, tifffile.TiffFileError):
        return False


def is_lazy_source(source: Any) -> bool:
    """Whether ``source`` is read lazily by :class:`~svetlana_nb.Objects`.

    True for a zarr array, a dask array (anything with ``chunks`` that is no NumPy array), a
    zarr / OME-Zarr store folder and a large tiled TIFF (:func:`is_large_tiff`).
    """
    if isinstance(source, (str, os.PathLike)):
        return is_zarr_store(source) or is_large_tiff(source)
    if isinstance(source, np.ndarray):
        return False
    return all(hasattr(source, a) for a in ("shape", "dtype", "chunks", "__getitem__"))


def _ome_level0(group: Any, name: str) -> tuple[Any, int | None]:
    """The full-resolution array of an OME-Zarr image group, and the index of its channel axis."""
    attrs = dict(group.attrs)
    multiscales = attrs.get("multiscales") or dict(attrs.get("ome", {})).get("multiscales")
    if not multiscales:
        arrays = list(group.array_keys())
        if len(arrays) == 1:
            return group[arrays[0]], None
        raise ValueError(
            f"{name}: the zarr group holds {len(arrays)} arrays and no OME-Zarr 'multiscales' metadata; "
            "give the path of one array"
        )
    first = multiscales[0]
    array = group[first["datasets"][0]["path"]]
    axes = [a.get("name") if isinstance(a, dict) else a for a in first.get("axes", [])]
    kinds = [a.get("type") if isinstance(a, dict) else None for a in first.get("axes", [])]
    channel = next((i for i, (a, k) in enumerate(zip(axes, kinds)) if k == "channel" or a == "c"), None)
    return array, channel


def open_array(source: Any, *, name: str) -> tuple[Any, int | None]:
    """An array-like that reads windows on demand, and the channel axis a store names (else None).

    Parameters
    ----------
    source : path, zarr.Array, dask.array.Array or array_like
        A zarr store or OME-Zarr image folder (its full resolution), a TIFF file (tiled TIFFs
        are read tile by tile), a zarr or dask array, or an in-memory array.
    name : str
        The input's name in error messages (``"image"``, ``"mask"``).
    """
    if isinstance(source, (str, os.PathLike)):
        path = Path(source)
        if not path.exists():
            raise FileNotFoundError(f"{name}: no such file or zarr store {str(path)!r}")
        import zarr

        if path.is_dir():
            try:
                node = zarr.open(str(path), mode="r")
            except Exception as error:  # zarr raises several kinds for a folder that is no store
                raise ValueError(f"{name}: {str(path)!r} is not a readable zarr store ({error})") from None
            if isinstance(node, zarr.Group):
                return _ome_level0(node, name)
            return node, None
        if path.suffix.lower() in TIFF_SUFFIXES:
            import tifffile

            try:
                store = tifffile.imread(path, aszarr=True)
                return zarr.open(store, mode="r"), None
            except (OSError, ValueError, IndexError, tifffile.TiffFileError) as error:
                raise ValueError(f"{name}: cannot read the TIFF file {str(path)!r} ({error})") from None
        raise ValueError(f"{name}: expected a zarr store, an OME-Zarr folder or a TIFF file, got {str(path)!r}")
    if hasattr(source, "shape") and hasattr(source, "dtype") and hasattr(source, "__getitem__"):
        return source, None
    return np.asarray(source), None


def _read(array: Any, index: tuple[slice, ...]) -> np.ndarray:
    """The pixels of ``array[index]`` in memory (dask arrays computed here, in this thread)."""
    part = array[index]
    if hasattr(part, "compute"):
        part = part.compute(scheduler="synchronous")
    return np.asarray(part)


def read_channel_last(array: Any, axis: int | None, spatial: list[slice]) -> np.ndarray:
    """``array`` read at the spatial slices (one per spatial axis), channel last: shape ``(*window, C)``.

    ``axis`` is the stored channel axis (None: one channel, no axis). Slices may have steps.
    """
    if axis is None:
        return _read(array, tuple(spatial))[..., np.newaxis]
    index = spatial[:axis] + [slice(None)] + spatial[axis:]
    return np.moveaxis(_read(array, tuple(index)), axis, -1)


@dataclass
class LazyPair:
    """An image and its label mask, checked from their shapes and dtypes, read window by window.

    Parameters
    ----------
    image, mask : path, zarr.Array, dask.array.Array or array_like
        See :func:`open_array`. The image is (Y, X), (Z, Y, X), or either with one channel axis;
        the mask (Y, X) or (Z, Y, X) of integers (0 background, one id per object).
    channel_axis : int, optional
        Axis of the image holding channels; detected when None (the store's OME-Zarr axes, then
        the last axis, then the first).
    image_name, mask_name : str
        Names of the inputs in error messages.

    Attributes
    ----------
    shape : tuple of int
        The mask's (spatial) shape.
    n_channels : int
    """

    image: Any
    mask: Any
    channel_axis: int | None = None
    image_name: str = "image"
    mask_name: str = "mask"

    def __post_init__(self) -> None:
        self.image, stored_axis = open_array(self.image, name=self.image_name)
        self.mask, _ = open_array(self.mask, name=self.mask_name)
        mask_dtype, image_dtype = np.dtype(self.mask.dtype), np.dtype(self.image.dtype)
        if mask_dtype.kind == "b" or not np.issubdtype(mask_dtype, np.integer):
            raise TypeError(
                f"{self.mask_name}: expected an integer label image (one integer id per object), got dtype "
                f"{mask_dtype}" + ("; label its connected components first" if mask_dtype.kind == "b" else "")
            )
        if len(self.mask.shape) not in (2, 3) or 0 in self.mask.shape:
            raise ValueError(
                f"{self.mask_name}: expected a 2D (Y, X) or 3D (Z, Y, X) label image, "
                f"got shape {tuple(self.mask.shape)}"
            )
        if not (
            image_dtype.kind == "b" or np.issubdtype(image_dtype, np.integer) or np.issubdtype(image_dtype, np.floating)
        ):
            raise TypeError(f"{self.image_name}: expected a numeric array, got dtype {image_dtype}")
        self.shape: tuple[int, ...] = tuple(int(s) for s in self.mask.shape)
        self._axis = self._find_channel_axis(self.channel_axis if self.channel_axis is not None else stored_axis)
        self.n_channels: int = 1 if self._axis is None else int(self.image.shape[self._axis])

    def _find_channel_axis(self, given: int | None) -> int | None:
        shape, want = tuple(int(s) for s in self.image.shape), self.shape
        mismatch = (
            f"{self.image_name} and {self.mask_name} do not match: {self.image_name} has shape {shape}, "
            f"{self.mask_name} has shape {want}; the image must have the mask's shape, optionally with one "
            "extra channel axis (pass channel_axis= to say which)"
        )
        if given is not None:
            if len(shape) != len(want) + 1:
                raise ValueError(mismatch)
            axis = int(given) % len(shape)
            if shape[:axis] + shape[axis + 1 :] != want:
                raise ValueError(mismatch)
            return axis
        if shape == want:
            return None
        if len(shape) == len(want) + 1:
            if shape[:-1] == want:
                return len(shape) - 1
            if shape[1:] == want:
                return 0
        raise ValueError(mismatch)

    @property
    def spatial_ndim(self) -> int:
        """2 for (Y, X), 3 for (Z, Y, X)."""
        return len(self.shape)

    @property
    def mask_dtype(self) -> np.dtype:
        """The mask's integer dtype."""
        return np.dtype(self.mask.dtype)

    def storage_chunks(self) -> tuple[int, ...] | None:
        """The mask's regular chunk shape as stored (zarr, tiled TIFF, dask), or None."""
        chunks = getattr(self.mask, "chunks", None)
        if not chunks:
            return None
        if isinstance(chunks[0], tuple):  # dask: one tuple of sizes per axis
            return tuple(int(c[0]) for c in chunks)
        return tuple(int(c) for c in chunks)

    def read_mask(self, lo: np.ndarray, hi: np.ndarray) -> np.ndarray:
        """The mask in the window ``[lo, hi)``, shape ``hi - lo``."""
        return _read(self.mask, tuple(slice(int(a), int(b)) for a, b in zip(lo, hi)))

    @property
    def channel_axis_stored(self) -> int | None:
        """The image's channel axis as stored (None for one channel without an axis)."""
        return self._axis

    def read_image(self, lo: np.ndarray, hi: np.ndarray) -> np.ndarray:
        """The image in the window ``[lo, hi)``, channel last: shape ``(*(hi - lo), C)``."""
        pixels = read_channel_last(self.image, self._axis, [slice(int(a), int(b)) for a, b in zip(lo, hi)])
        if pixels.dtype == bool:
            pixels = pixels.astype(np.uint8)
        if np.issubdtype(pixels.dtype, np.floating) and not np.isfinite(pixels).all():
            raise ValueError(f"{self.image_name}: the image contains NaN or infinite values (window {tuple(lo)})")
        return pixels

    def read(self, lo: np.ndarray, hi: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
        """Image (channel last) and mask of the window ``[lo, hi)``; the mask's ids checked >= 0."""
        mask = self.read_mask(lo, hi)
        if np.issubdtype(mask.dtype, np.signedinteger) and mask.size and mask.min() < 0:
            raise ValueError(f"{self.mask_name}: label ids must be >= 0 (0 is background), found {mask.min()}")
        if mask.dtype == np.uint64:
            mask = mask.astype(np.int64)
        return self.read_image(lo, hi), mask


def block_grid(shape: tuple[int, ...], block: tuple[int, ...]) -> tuple[np.ndarray, np.ndarray]:
    """The regular grid of blocks covering ``shape``.

    Returns
    -------
    lo, hi : numpy.ndarray of int64, shape (n_blocks, ndim)
        First and one-past-last pixel of each block, in C order of the grid.
    """
    counts = [-(-s // b) for s, b in zip(shape, block)]
    index = np.indices(counts).reshape(len(shape), -1).T.astype(np.int64)
    lo = index * np.asarray(block, dtype=np.int64)
    hi = np.minimum(lo + np.asarray(block, dtype=np.int64), np.asarray(shape, dtype=np.int64))
    return lo, hi


def choose_block(pair: LazyPair, block: int | tuple[int, ...] | None, *, side: int = 4096) -> tuple[int, ...]:
    """The block shape: ``block`` as given, else the stored chunks grown to about ``side`` per Y/X axis.

    A 3D block spans the whole Z axis unless given. ``ValueError`` naming ``block`` when it is
    not a positive int or one positive int per axis.
    """
    nd = pair.spatial_ndim
    if block is not None:
        sides = (block,) * nd if isinstance(block, (int, np.integer)) else tuple(block)
        if (
            isinstance(block, bool)
            or len(sides) != nd
            or any(isinstance(s, bool) or not isinstance(s, (int, np.integer)) or s < 1 for s in sides)
        ):
            raise ValueError(f"block: expected a positive int or {nd} positive ints, got {block!r}")
        return tuple(min(int(s), n) for s, n in zip(sides, pair.shape))
    chunks = pair.storage_chunks() or (1,) * nd
    sides = tuple(max(1, int(c)) * max(1, side // max(1, int(c))) for c in chunks)
    if nd == 3:
        sides = (pair.shape[0],) + sides[1:]
    return tuple(min(s, n) for s, n in zip(sides, pair.shape))
