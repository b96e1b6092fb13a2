"""``Objects``: the segmented objects of one or several images, with their geometry.

Everything per object is an array (one row per object), computed in one pass over each mask
(:func:`~svetlana_nb.objects.boxes.bounding_boxes`); nothing loops over pixels in Python.
"""

from __future__ import annotations

import os
import warnings
from collections.abc import Sequence
from functools import cached_property
from typing import TYPE_CHECKING, Union

import numpy as np

from .._validation import as_image, as_label_mask, channel_last, check_choice
from . import features as _features
from .boxes import bounding_boxes, compact_labels
from .lazy import is_lazy_source
from .lazy_objects import read_small_files
from .mask_checks import split_labels, split_labels_message
from .patch_spec import NORMALIZATIONS, Normalization, as_patch_shape, estimate_patch_shape
from .pixels import crop_one, intensity_range
from .views import DisplayViews

if TYPE_CHECKING:
    import pandas as pd

    from .lazy_objects import LazyEntry

Key = Union[int, tuple[str, int]]


class Objects(DisplayViews):
    """The objects of a segmentation, ready to annotate, train on and classify.

    Parameters
    ----------
    image : array_like or list of array_like
        Shape (Y, X), (Y, X, C), (Z, Y, X) or (Z, Y, X, C); any integer or float dtype. A list
        gives several images (each with its own mask), annotated and trained on together.
        Lazy inputs stay lazy (never read whole): a zarr array, a dask array, or the path of a
        zarr / OME-Zarr store or of a large tiled TIFF (see :attr:`is_lazy`).
    mask : array_like or list of array_like
        Integer label image(s) of shape (Y, X) or (Z, Y, X): 0 is background, each object one id
        (ids need not be consecutive), e.g. from Cellpose or StarDist. Lazy as the image may be.
    channel_axis : int, optional
        Axis of ``image`` holding the channels. Detected when None (last axis, then first).
    name : str or list of str, optional
        Image names used in annotation files (default ``"image"`` or ``"image_0"``, ...).
    patch_size : int or tuple of int, optional
        Patch side(s) around each object; estimated from the objects' extents when None.

    Notes
    -----
    When an image or its mask is lazy, ``images[i]`` and ``masks[i]`` are array-like views
    (:mod:`~svetlana_nb.objects.lazy_views`) that read only the windows indexed. The objects'
    ids, boxes, centres and areas come from one blockwise pass; patches, crops and the
    measurements are read per object window; the overviews come from the store's pyramid
    levels when it has them (:meth:`sample_image`). Lazy label ids are kept as given (not
    renumbered) and split labels are not looked for.

    Examples
    --------
    >>> import numpy as np
    >>> mask = np.zeros((64, 64), np.int32); mask[10:20, 10:20] = 3; mask[40:50, 30:45] = 7
    >>> objects = Objects(np.random.rand(64, 64), mask)
    >>> len(objects), objects.labels.tolist(), objects.patch_shape
    (2, [3, 7], (20, 20))
    """

    def __init__(
        self,
        image,
        mask,
        *,
        channel_axis: int | None = None,
        name: str | Sequence[str] | None = None,
        patch_size: int | Sequence[int] | None = None,
    ) -> None:
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
        #: Per image: None, or the user's label id of each object when the ids were renumbered
        #: because they were huge and sparse (``original_labels[i][label - 1]``).
        self.original_labels: list[np.ndarray | None] = []
        #: Per image: None for an image held in memory, else its lazy reader.
        self._lazy: list[LazyEntry | None] = []
        all_labels, all_bbox, all_index = [], [], []
        for i, (img, msk) in enumerate(zip(images, masks)):
            suffix = f"[{i}]" if several else ""
            img, msk = read_small_files(img, msk)
            if any(is_lazy_source(a) or isinstance(a, (str, os.PathLike)) for a in (img, msk)):
                from .lazy_objects import open_lazy

                entry = open_lazy(
                    img, msk, channel_axis=channel_axis, image_name=f"image{suffix}", mask_name=f"mask{suffix}"
                )
                self._check_like_first(entry.image, entry.mask, suffix)
                self._lazy.append(entry)
                self.original_labels.append(None)
                self.images.append(entry.image)  # type: ignore[arg-type]  # array-like views
                self.masks.append(entry.mask)  # type: ignore[arg-type]
                all_labels.append(entry.labels)
                all_bbox.append(entry.bbox)
                all_index.append(np.full(len(entry.labels), i, dtype=np.int64))
                continue
            msk = as_label_mask(msk, name=f"mask{suffix}", check_ids=False)  # bounding_boxes checks them
            img = channel_last(
                as_image(img, name=f"image{suffix}"),
                msk.shape,
                channel_axis=channel_axis,
                image_name=f"image{suffix}",
                mask_name=f"mask{suffix}",
            )
            msk, original = compact_labels(msk, name=f"mask{suffix}")
            if original is not None:
                warnings.warn(
                    f"mask{suffix} ({names[i]!r}): its largest label id ({int(original[-1])}) is far above its "
                    f"{len(original)} objects, so they were renumbered 1 to {len(original)}; tables, keys and "
                    "exports use the new ids, and objects.original_labels gives the old id of each",
                    UserWarning,
                    stacklevel=2,
                )
            self.original_labels.append(original)
            labels, bbox = bounding_boxes(msk, name=f"mask{suffix}")
            if len(labels) == 0:
                raise ValueError(f"mask{suffix}: the label image has no objects (all zeros)")
            if split := split_labels(msk, labels, bbox):
                warnings.warn(split_labels_message(split, f"mask{suffix} ({names[i]!r})"), UserWarning, stacklevel=2)
            self._check_like_first(img, msk, suffix)
            self._lazy.append(None)
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
            self.patch_shape = as_patch_shape(patch_size, nd)
        self._ranges: dict[str, np.ndarray] = {}
        self._features: pd.DataFrame | None = None

    def _check_like_first(self, image, mask, suffix: str) -> None:
        """``ValueError`` when an image's channels or dimensions differ from the first image's."""
        if self.images and (image.shape[-1] != self.images[0].shape[-1] or mask.ndim != self.masks[0].ndim):
            raise ValueError(
                f"image{suffix}: all images must have the same number of channels and dimensions; "
                f"got shape {tuple(image.shape)} after {tuple(self.images[0].shape)}"
            )

    @classmethod
    def from_folders(
        cls, images_dir, masks_dir, *, channel_axis: int | None = None, patch_size: int | Sequence[int] | None = None
    ) -> "Objects":
        """Objects of every image/mask pair of two folders (matched by file name; see ``io.find_pairs``).

        Images are named by their file names (relative, as stored in annotation files).
        """
        from ..io import find_pairs, read_image, read_mask

        pairs = find_pairs(images_dir, masks_dir)
        return cls(
            [read_image(i) for i, _ in pairs],
            [read_mask(m) for _, m in pairs],
            channel_axis=channel_axis,
            name=[i.name for i, _ in pairs],
            patch_size=patch_size,
        )

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
        """Number of pixels (voxels) of each object, shape (n,) (of a lazy image: from its blockwise pass)."""
        if self.is_lazy and all(entry is not None for entry in self._lazy):
            return np.concatenate([entry.areas for entry in self._lazy if entry is not None])
        return self.features()["area"].to_numpy()

    @property
    def is_lazy(self) -> bool:
        """Whether some image is read lazily (a zarr / OME-Zarr store, a tiled TIFF, a dask array)."""
        return any(entry is not None for entry in self._lazy)

    def lazy_entry(self, image: int | str) -> LazyEntry | None:
        """The lazy reader of an image (None when it is held in memory)."""
        return self._lazy[self.image_number(image)]

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
                raise KeyError(f"key: with several images give (image_name, label), got the bare label {key}")
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
        row = -1 if label == 0 else int(self.rows_of_labels(np.array([label]), i)[0])
        return None if row < 0 else row  # -1: background, or an id the mask (a store) no longer has

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
                [
                    intensity_range(img, normalization) if entry is None else entry.channel_range(normalization)
                    for img, entry in zip(self.images, self._lazy)
                ]
            )
        return self._ranges[normalization]

    # -- pixels --------------------------------------------------------------------------------
    def crop(
        self, row: int, *, size: Sequence[int] | int | None = None
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
            shape = as_patch_shape(size, nd, name="size")
        i = int(self.image_index[row])
        entry = self._lazy[i]
        if entry is not None:
            from .lazy_reads import crop_lazy

            return crop_lazy(entry.pair, self.centres[row], int(self.labels[row]), shape)
        return crop_one(self.images[i], self.masks[i], self.centres[row], int(self.labels[row]), shape)

    # -- features ------------------------------------------------------------------------------
    def features(self) -> pd.DataFrame:
        """Per-object morphology and intensity measurements (vectorised, cached).

        Returns
        -------
        pandas.DataFrame
            One row per object: image, label, area, centroid, bbox, axis lengths, eccentricity (2D),
            extent, and mean/std/min/max intensity per channel.
        """
        if self._features is None:
            import pandas as pd

            frames = []
            for i in range(self.n_images):
                rows = self.rows_of_image(i)
                entry = self._lazy[i]
                if entry is not None:
                    from .lazy_reads import measure_lazy

                    columns = measure_lazy(entry.pair, self.labels[rows], self.bbox[rows], block=entry.block)
                else:
                    columns = _features.measure_objects(
                        self.images[i], self.masks[i], self.labels[rows], self.bbox[rows]
                    )
                frame = pd.DataFrame(columns)
                frame.insert(0, "label", self.labels[rows])
                frame.insert(0, "image", self.names[i])
                frames.append(frame)
            self._features = pd.concat(frames, ignore_index=True)
        return self._features
