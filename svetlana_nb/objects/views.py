"""What the widgets show of an :class:`~svetlana_nb.Objects`: planes sampled for overviews, label crops.

In memory, a view is a NumPy gather of the pixels shown (as :func:`svetlana_nb.display.sample_view`);
of a lazy image, it reads the coarsest pyramid level still at least as fine as the view
(:class:`~svetlana_nb.objects.pyramid.Pyramid`): the widgets call these methods and never read an
image whole.
"""

from __future__ import annotations

from collections.abc import Sequence
from typing import TYPE_CHECKING, Any

import numpy as np

if TYPE_CHECKING:
    from .lazy_objects import LazyEntry


class DisplayViews:
    """Display reads of :class:`~svetlana_nb.Objects` (a mixin: it uses the objects' images, masks and readers)."""

    images: list[Any]
    masks: list[Any]
    _lazy: list[LazyEntry | None]

    if TYPE_CHECKING:  # defined by Objects

        def image_number(self, image: int | str) -> int:
            """Index of an image given by index or name."""

        @property
        def spatial_ndim(self) -> int:
            """2 for (Y, X) images, 3 for (Z, Y, X)."""

    def label_crop(self, image: int | str, origin: Sequence[int], shape: Sequence[int]) -> np.ndarray:
        """The mask's ids in a window that may cross the image border (0 outside).

        Parameters
        ----------
        image : int or str
        origin : sequence of int
            Image coordinates of the window's first pixel (may be negative).
        shape : sequence of int
            Spatial shape of the window.

        Returns
        -------
        numpy.ndarray, shape (*shape)
        """
        i = self.image_number(image)
        entry = self._lazy[i]
        if entry is not None:
            from .lazy_reads import label_crop_lazy

            return label_crop_lazy(entry.pair, origin, shape)
        from ..display import crop_padded

        return crop_padded(self.masks[i], origin, shape)

    # -- display views ---------------------------------------------------------------------------
    def sample_image(
        self, image: int | str, ys: np.ndarray, xs: np.ndarray, *, z: int | None = None, projection: bool = False
    ) -> np.ndarray:
        """The image at rows ``ys`` and columns ``xs`` of one plane, for an overview of it.

        Parameters
        ----------
        image : int or str
        ys, xs : numpy.ndarray of int, shape (h,), (w,)
            Ascending pixel indices (:func:`svetlana_nb.display.view_indices`).
        z : int, optional
            The z slice of a 3D image (default 0).
        projection : bool
            The maximum projection along z instead (3D).

        Returns
        -------
        numpy.ndarray, shape (h, w, C)
            Of a lazy image: read from the coarsest pyramid level (stored, else computed once)
            still at least as fine as the view, never the whole full resolution.
        """
        return self._sample(image, ys, xs, z=z, projection=projection, pixels=True)

    def sample_labels(
        self, image: int | str, ys: np.ndarray, xs: np.ndarray, *, z: int | None = None, projection: bool = False
    ) -> np.ndarray:
        """The mask's ids at rows ``ys`` and columns ``xs`` of one plane (see :meth:`sample_image`).

        Returns
        -------
        numpy.ndarray of int, shape (h, w)
        """
        return self._sample(image, ys, xs, z=z, projection=projection, pixels=False)

    def _sample(
        self, image: int | str, ys: np.ndarray, xs: np.ndarray, *, z: int | None, projection: bool, pixels: bool
    ) -> np.ndarray:
        i = self.image_number(image)
        entry = self._lazy[i]
        if entry is not None:
            return entry.pyramid.sample(ys, xs, z=z, projection=projection, image=pixels)
        array = self.images[i] if pixels else self.masks[i]
        index = (ys[:, None], xs[None, :])
        if self.spatial_ndim == 3:
            if projection:
                return array[(slice(None),) + index].max(axis=0)
            array = array[int(np.clip(0 if z is None else z, 0, array.shape[0] - 1))]
        return array[index]

    def preview(self, image: int | str) -> np.ndarray:
        """The image, or for a lazy one a small sample of it (about 512 a side), channel last: for value ranges."""
        i = self.image_number(image)
        entry = self._lazy[i]
        return self.images[i] if entry is None else entry.pyramid.preview()
