"""``Objects``: the segmented objects of one or several images, with their geometry.

Everything per object is an array (one row per object), computed in one pass over each mask
with :func:`scipy.ndimage.find_objects` (two threads on large masks); nothing loops over
pixels in Python.
"""

from __future__ import annotations

import gc
import itertools
import operator
from collections.abc import Iterator, Sequence
from concurrent.futures import ThreadPoolExecutor
from contextlib import contextmanager
from functools import cached_property
from typing import Literal, Union

import numpy as np
from scipy import ndimage

from . import features as _features
from . import patches as _patches
from ._validation import as_image, as_label_mask, channel_last, check_choice

Key = Union[int, tuple[str, int]]
Normalization = Literal["percentile", "minmax", "none"]
NORMALIZATIONS = ("percentile", "minmax", "none")


@contextmanager
def _garbage_collection_paused() -> Iterator[None]:
    """Pause Python's cyclic garbage collector while inside (restored after, if it was on).

    ``find_objects`` returns one tuple per label id, short-lived: tens of thousands of them
    trigger a full collection, which takes longer than the scan itself once torch and pandas
    are imported (70 ms with 200,000 live objects, every other call on a 16,000-object mask).
    """
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


def _bounding_boxes(mask: np.ndarray, *, name: str = "mask") -> tuple[np.ndarray, np.ndarray]:
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


def estimate_patch_shape(extents: np.ndarray, *, percentile: float = 95.0, margin: float = 1.25,
                         multiple: int = 4, minimum: int = 16) -> tuple[int, ...]:
    """Estimate a patch shape that holds nearly every object with some context.

    A high percentile of the object extents (not the maximum, as the original plugin did)
    keeps one huge outlier object from blowing the patch up.

    Parameters
    ----------
    extents : numpy.ndarray, shape (n, ndim)
        Bounding-box side lengths of the objects.
    percentile : float
        Percentile of the extents to cover.
    margin : float
        Multiplicative context margin.
    multiple : int
        Each side is rounded up to a multiple of this (friendly to pooling layers).
    minimum : int
        Smallest side length (in Y and X; Z may be smaller, down to ``multiple``).

    Returns
    -------
    tuple of int
        One side length per spatial axis; Y and X are equal so 90° rotations keep the shape.
    """
    extents = np.asarray(extents, dtype=float)
    cover = np.percentile(extents, percentile, axis=0) * margin
    sides = np.ceil(cover / multiple).astype(int) * multiple
    yx = max(minimum, int(sides[-2:].max()))
    if extents.shape[1] == 3:
        return (max(multiple, int(sides[0])), yx, yx)
    return (yx, yx)


class Objects:
    """The objects of a segmentation, ready to annotate, train on and classify.

    Parameters
    ----------
    image : array_like or list of array_like
        Shape (Y, X), (Y, X, C), (Z, Y, X) or (Z, Y, X, C); any integer or float dtype. A list
        gives several images (each with its own mask), annotated and trained on together.
    mask : array_like or list of array_like
        Integer label image(s) of shape (Y, X) or (Z, Y, X): 0 is background, each object one id
        (ids need not be consecutive), e.g. from Cellpose or StarDist.
    channel_axis : int, optional
        Axis of ``image`` holding the channels. Detected when None (last axis, then first).
    name : str or list of str, optional
        Image names used in annotation files (default ``"image"`` or ``"image_0"``, ...).
    patch_size : int or tuple of int, optional
        Patch side(s) around each object; estimated from the objects' extents when None.

    Examples
    --------
    >>> import numpy as np
    >>> mask = np.zeros((64, 64), np.int32); mask[10:20, 10:20] = 3; mask[40:50, 30:45] = 7
    >>> objects = Objects(np.random.rand(64, 64), mask)
    >>> len(objects), objects.labels.tolist(), objects.patch_shape
    (2, [3, 7], (20, 20))
    """

    def __init__(self, image, mask, *, channel_axis: int | None = None,
                 name: str | Sequence[str] | None = None,
                 patch_size: int | Sequence[int] | None = None) -> None:
        several = isinstance(image, (list, tuple)) or isinstance(mask, (list, tuple))
        images = list(image) if several else [image]
        masks = list(mask) if several else [mask]
        if len(images) != len(masks):
            raise ValueError(f"image and mask: got {len(images)} images but {len(masks)} masks")
        if not images:
            raise ValueError("image: expected at least one image")
        if name is None:
            names = ["image"] if not several else [f"image_{i}" for i in range(len(images))]
        else:
            names = [name] if isinstance(name, str) else [str(n) for n in name]
        if len(names) != len(images) or len(set(names)) != len(names):
            raise ValueError(f"name: expected {len(images)} distinct image names, got {names}")
        self.names: list[str] = names
        self.images: list[np.ndarray] = []
        self.masks: list[np.ndarray] = []
        all_labels, all_bbox, all_index = [], [], []
        for i, (img, msk) in enumerate(zip(images, masks)):
            suffix = f"[{i}]" if several else ""
            msk = as_label_mask(msk, name=f"mask{suffix}", check_ids=False)  # _bounding_boxes checks them
            img = channel_last(as_image(img, name=f"image{suffix}"), msk.shape,
                               channel_axis=channel_axis, image_name=f"image{suffix}",
                               mask_name=f"mask{suffix}")
            labels, bbox = _bounding_boxes(msk, name=f"mask{suffix}")
            if len(labels) == 0:
                raise ValueError(f"mask{suffix}: the label image has no objects (all zeros)")
            if self.images and (img.shape[-1] != self.images[0].shape[-1] or msk.ndim != self.masks[0].ndim):
                raise ValueError(
                    f"image{suffix}: all images must have the same number of channels and dimensions; "
                    f"got shape {img.shape} after {self.images[0].shape}"
                )
            self.images.append(img)
            self.masks.append(msk)
            all_labels.append(labels)
            all_bbox.append(bbox)
            all_index.append(np.full(len(labels), i, dtype=np.int64))
        self.labels: np.ndarray = np.concatenate(all_labels)
        self.bbox: np.ndarray = np.concatenate(all_bbox)
        self.image_index: np.ndarray = np.concatenate(all_index)
        self._labels_per_image = all_labels
        self._offsets = np.cumsum([0] + [len(x) for x in all_labels])
        nd = self.spatial_ndim
        self.centres: np.ndarray = (self.bbox[:, :nd] + self.bbox[:, nd:]) // 2
        if patch_size is None:
            self.patch_shape = estimate_patch_shape(self.extents)
        else:
            self.patch_shape = _as_patch_shape(patch_size, nd)
        self._ranges: dict[str, np.ndarray] = {}

    @classmethod
    def from_folders(cls, images_dir, masks_dir, *, channel_axis: int | None = None,
                     patch_size: int | Sequence[int] | None = None) -> "Objects":
        """Objects of every image/mask pair of two folders (matched by file name; see ``io.find_pairs``).

        Images are named by their file names (relative, as stored in annotation files).
        """
        from .io import find_pairs, read_image, read_mask

        pairs = find_pairs(images_dir, masks_dir)
        return cls([read_image(i) for i, _ in pairs], [read_mask(m) for _, m in pairs],
                   channel_axis=channel_axis, name=[i.name for i, _ in pairs], patch_size=patch_size)

    # -- shape facts -------------------------------------------------------------------------
    @property
    def spatial_ndim(self) -> int:
        """2 for (Y, X) images, 3 for (Z, Y, X)."""
        return self.masks[0].ndim

    @property
    def n_channels(self) -> int:
        """Number of image channels C (1 for grey images)."""
        return self.images[0].shape[-1]

    @property
    def n_images(self) -> int:
        """Number of (image, mask) pairs."""
        return len(self.images)

    @property
    def is_rgb(self) -> bool:
        """True for 8-bit colour images (3 or 4 channels), shown as they are."""
        return self.images[0].dtype == np.uint8 and self.n_channels in (3, 4)

    @cached_property
    def extents(self) -> np.ndarray:
        """Bounding-box side lengths, shape (n, ndim) (computed once)."""
        nd = self.spatial_ndim
        return self.bbox[:, nd:] - self.bbox[:, :nd]

    def __len__(self) -> int:
        return len(self.labels)

    def __repr__(self) -> str:
        kind = f"{self.spatial_ndim}D, {self.n_channels} channel(s)"
        return f"Objects({len(self)} objects in {self.n_images} image(s), {kind}, patch {self.patch_shape})"

    @cached_property
    def area(self) -> np.ndarray:
        """Number of pixels (voxels) of each object, shape (n,)."""
        return self.features()["area"].to_numpy()

    # -- keys --------------------------------------------------------------------------------
    @property
    def keys(self) -> list[tuple[str, int]]:
        """``(image name, label id)`` of every object, in row order."""
        return [(self.names[i], int(lab)) for i, lab in zip(self.image_index, self.labels)]

    def key(self, row: int) -> tuple[str, int]:
        """The ``(image name, label id)`` key of one row."""
        return self.names[int(self.image_index[row])], int(self.labels[row])

    def image_number(self, image: int | str) -> int:
        """Index of an image given by index or name."""
        if isinstance(image, str):
            if image not in self.names:
                raise KeyError(f"image: no image named {image!r}; images are {self.names}")
            return self.names.index(image)
        if not 0 <= int(image) < self.n_images:
            raise IndexError(f"image: expected 0..{self.n_images - 1}, got {image}")
        return int(image)

    def normalize_key(self, key: Key) -> tuple[str, int]:
        """Return ``key`` as ``(image name, label id)``; a bare label is allowed for one image."""
        self.row(key)
        if isinstance(key, tuple):
            return str(key[0]), int(key[1])
        return self.names[0], int(key)

    def row(self, key: Key) -> int:
        """Row of the object with this key; ``KeyError`` naming the key when it is not in a mask."""
        if isinstance(key, tuple) and len(key) == 2:
            image, label = self.image_number(key[0]), key[1]
        elif isinstance(key, (int, np.integer)) and not isinstance(key, bool):
            if self.n_images > 1:
                raise KeyError(
                    f"key: with several images give (image_name, label), got the bare label {key}"
                )
            image, label = 0, key
        else:
            raise KeyError(f"key: expected a label id or (image_name, label), got {key!r}")
        labels = self._labels_per_image[image]
        pos = int(np.searchsorted(labels, int(label)))
        if pos >= len(labels) or labels[pos] != int(label):
            raise KeyError(f"key: label {label} is not an object of the mask of image {self.names[image]!r}")
        return int(self._offsets[image] + pos)

    def rows(self, keys: Sequence[Key]) -> np.ndarray:
        """Rows of several keys, shape (len(keys),)."""
        return np.array([self.row(k) for k in keys], dtype=np.int64)

    def rows_of_image(self, image: int | str) -> np.ndarray:
        """Rows of the objects of one image."""
        i = self.image_number(image)
        return np.arange(self._offsets[i], self._offsets[i + 1])

    def rows_of_labels(self, labels: np.ndarray, image: int | str = 0) -> np.ndarray:
        """Rows of label ids of one image (vectorised); -1 where a label is not an object."""
        i = self.image_number(image)
        known = self._labels_per_image[i]
        labels = np.asarray(labels)
        pos = np.clip(np.searchsorted(known, labels), 0, len(known) - 1)
        found = known[pos] == labels
        return np.where(found, self._offsets[i] + pos, -1)

    def object_at(self, position: Sequence[float], image: int | str = 0) -> int | None:
        """Row of the object under a pixel position ((y, x) or (z, y, x)), or None for background."""
        i = self.image_number(image)
        mask = self.masks[i]
        index = tuple(int(np.floor(p)) for p in position)
        if len(index) != mask.ndim or any(not 0 <= p < s for p, s in zip(index, mask.shape)):
            return None
        label = int(mask[index])
        return None if label == 0 else int(self.rows_of_labels(np.array([label]), i)[0])

    # -- intensities ---------------------------------------------------------------------------
    def channel_ranges(self, normalization: Normalization = "percentile") -> np.ndarray:
        """Per image and channel intensity range used to normalise patches.

        Returns
        -------
        numpy.ndarray, shape (n_images, C, 2)
            Low and high value; patches are ``(x - low) / (high - low)``.
        """
        check_choice(normalization, NORMALIZATIONS, name="normalization")
        if normalization not in self._ranges:
            self._ranges[normalization] = np.stack(
                [_patches.intensity_range(img, normalization) for img in self.images]
            )
        return self._ranges[normalization]

    # -- pixels --------------------------------------------------------------------------------
    def patches(self, rows: Sequence[int] | np.ndarray | None = None, *,
                patch_shape: Sequence[int] | None = None,
                normalization: Normalization = "percentile",
                context: int | None = None, channels: Sequence[int] | None = None,
                downscale: int = 1) -> np.ndarray:
        """Normalised patches centred on objects, with the object's mask as the last channel.

        Parameters
        ----------
        rows : array_like of int, optional
            Which objects (all when None).
        patch_shape : tuple of int, optional
            Spatial patch shape (default :attr:`patch_shape`).
        normalization : {"percentile", "minmax", "none"}
            Per image and channel: 1st–99.8th percentile, min–max, or raw values.
        context : int, optional
            When given, image channels are multiplied by the object mask dilated by this many
            pixels, hiding neighbours farther away.
        channels : sequence of int, optional
            Keep these image channels only, in this order (default all).
        downscale : int
            Shrink Y and X by this factor after extraction (:func:`~svetlana_nb.patches.shrink`:
            image channels block-averaged, the object channel its block maximum); it must
            divide the patch's Y and X sides.

        Returns
        -------
        numpy.ndarray, float32, shape (n, C + 1, *patch_shape)
            C is ``len(channels)`` when given; Y and X divided by ``downscale``.
        """
        rows = np.arange(len(self)) if rows is None else np.asarray(rows, dtype=np.int64)
        shape = self.patch_shape if patch_shape is None else _as_patch_shape(patch_shape, self.spatial_ndim)
        downscale = _patches.check_downscale(downscale, shape)
        ranges = self.channel_ranges(normalization)
        out = np.empty((len(rows), self.n_channels + 1, *shape), dtype=np.float32)
        for i in np.unique(self.image_index[rows]):
            sel = np.flatnonzero(self.image_index[rows] == i)
            _patches.extract_into(out, sel, self.images[i], self.masks[i], self.centres[rows[sel]],
                                  self.labels[rows[sel]], ranges[i], shape, context=context)
        if channels is not None:
            out = out[:, [*channels, self.n_channels]]
        return _patches.shrink(out, downscale)

    def crop(self, row: int, *, size: Sequence[int] | int | None = None
             ) -> tuple[np.ndarray, np.ndarray, tuple[int, ...]]:
        """Raw pixels around one object, for display.

        Parameters
        ----------
        row : int
            The object.
        size : int or tuple of int, optional
            Spatial crop shape; default: twice the object's extent, at least the patch shape.

        Returns
        -------
        image : numpy.ndarray, shape (*size, C)
            Raw image values (zero outside the image).
        object_mask : numpy.ndarray of bool, shape (*size)
        origin : tuple of int
            Image coordinates of the crop's first pixel (may be negative).
        """
        nd = self.spatial_ndim
        if size is None:
            ext = self.extents[row]
            shape = tuple(int(max(p, 2 * e + 8)) for p, e in zip(self.patch_shape, ext))
        else:
            shape = _as_patch_shape(size, nd)
        i = int(self.image_index[row])
        return _patches.crop_one(self.images[i], self.masks[i], self.centres[row], int(self.labels[row]), shape)

    # -- features ------------------------------------------------------------------------------
    def features(self) -> "pandas.DataFrame":  # noqa: F821
        """Per-object morphology and intensity measurements (vectorised, cached).

        Returns
        -------
        pandas.DataFrame
            One row per object: image, label, area, centroid, bbox, axis lengths, eccentricity (2D),
            extent, and mean/std/min/max intensity per channel.
        """
        if not hasattr(self, "_features"):
            self._features = _features.object_features(self)
        return self._features


def _as_patch_shape(size: int | Sequence[int], ndim: int) -> tuple[int, ...]:
    if isinstance(size, (int, np.integer)):
        shape = (int(size),) * ndim
    else:
        shape = tuple(int(s) for s in size)
    if len(shape) != ndim or any(s < 1 for s in shape):
        raise ValueError(f"patch_size: expected a positive int or {ndim} positive ints, got {size!r}")
    return shape
