"""The objects one block of a big image owns, as :class:`~svetlana_nb.Objects` over a window of it.

A :class:`WindowObjects` holds the pixels of a window (its block grown by a halo) in memory, and
the objects whose centre lies in the block, with the geometry they have in the whole image:
boxes and centres come from the blockwise scan (shifted into the window), and the intensity
ranges are the whole image's. Everything that reads :class:`~svetlana_nb.Objects` (the patch
batches, the classifier, :class:`~svetlana_nb.Prediction` and its table) then sees each object
exactly as it would in the whole image held in memory.
"""

from __future__ import annotations

from typing import TYPE_CHECKING

import numpy as np

from . import features as _features
from .objects import Objects

if TYPE_CHECKING:
    import pandas as pd


def owned_window(
    block_lo: np.ndarray,
    block_hi: np.ndarray,
    bbox: np.ndarray,
    halo: tuple[int, ...],
    shape: tuple[int, ...],
) -> tuple[np.ndarray, np.ndarray]:
    """The window to read for a block: the block grown by ``halo``, and by its objects' whole boxes.

    Parameters
    ----------
    block_lo, block_hi : numpy.ndarray, shape (ndim,)
        The block ``[lo, hi)``.
    bbox : numpy.ndarray, shape (m, 2 * ndim)
        Boxes (image coordinates) of the objects the block owns.
    halo : tuple of int
        At least the patch shape: every owned object's patch then lies inside the window,
        or crosses the image's own border where the window does.
    shape : tuple of int
        The image's spatial shape (the window is clipped to it).

    Returns
    -------
    lo, hi : numpy.ndarray of int64, shape (ndim,)
    """
    nd = len(shape)
    lo = np.asarray(block_lo, np.int64) - np.asarray(halo, np.int64)
    hi = np.asarray(block_hi, np.int64) + np.asarray(halo, np.int64)
    if len(bbox):
        lo = np.minimum(lo, bbox[:, :nd].min(axis=0))
        hi = np.maximum(hi, bbox[:, nd:].max(axis=0))
    return np.maximum(lo, 0), np.minimum(hi, np.asarray(shape, np.int64))


class WindowObjects(Objects):
    """Objects of a big image owned by one block, over the window of pixels they need.

    Parameters
    ----------
    image : numpy.ndarray, shape (*window, C)
        The window's pixels, channel last.
    mask : numpy.ndarray of int, shape (*window)
    origin : numpy.ndarray of int, shape (ndim,)
        Image coordinates of the window's first pixel.
    labels : numpy.ndarray of int, shape (m,)
        Sorted ids of the owned objects.
    bbox : numpy.ndarray of int, shape (m, 2 * ndim)
        Their boxes in image coordinates (each inside the window).
    ranges : dict of str to numpy.ndarray, shape (C, 2)
        The whole image's intensity range per normalisation.
    patch_shape : tuple of int
        The whole image's patch-shape estimate.
    name : str
        The image's name.

    Notes
    -----
    ``features()`` gives centroids and boxes in image coordinates, as on the whole image.
    """

    def __init__(  # noqa: PLR0913 - every field is the whole image's, given once
        self,
        image: np.ndarray,
        mask: np.ndarray,
        *,
        origin: np.ndarray,
        labels: np.ndarray,
        bbox: np.ndarray,
        ranges: dict[str, np.ndarray],
        patch_shape: tuple[int, ...],
        name: str = "image",
    ) -> None:
        nd = mask.ndim
        self.origin = np.asarray(origin, dtype=np.int64)
        self.names = [name]
        self.images = [image]
        self.masks = [mask]
        self.original_labels = [None]
        self._lazy = [None]
        self.labels = np.asarray(labels, dtype=np.int64)
        self.bbox = np.asarray(bbox, dtype=np.int64) - np.concatenate([self.origin, self.origin])
        self.image_index = np.zeros(len(self.labels), dtype=np.int64)
        self._labels_per_image = [self.labels]
        self._offsets = np.array([0, len(self.labels)])
        self.centres = (self.bbox[:, :nd] + self.bbox[:, nd:]) // 2
        self.patch_shape = tuple(int(s) for s in patch_shape)
        self._ranges = {key: value[np.newaxis] for key, value in ranges.items()}
        self._features = None

    def features(self) -> pd.DataFrame:
        """As :meth:`Objects.features`, with centroids and boxes in image coordinates.

        Ids above the owned ones (objects of other blocks cut by the window) are measured as
        background: :func:`~svetlana_nb.objects.features.measure_objects` sizes its tables by
        the largest id it is asked about.
        """
        if self._features is None:
            import pandas as pd

            mask, top = self.masks[0], int(self.labels.max())
            if int(mask.max()) > top:
                mask = np.where(mask > top, 0, mask)
            whole = self.bbox + np.concatenate([self.origin, self.origin])  # boxes in image coordinates
            columns = _features.measure_objects(self.images[0], mask, self.labels, whole, origin=self.origin)
            table = pd.DataFrame(columns)
            table.insert(0, "label", self.labels)
            table.insert(0, "image", self.names[0])
            self._features = table
        return self._features
