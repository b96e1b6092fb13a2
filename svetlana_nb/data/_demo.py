"""``DemoData``: a demo image, its label mask and the true class of every object."""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np

from ._synth import _render, _Scene


@dataclass(frozen=True, eq=False)
class DemoData:
    """A generated (or bundled) image with its segmentation and the true class of each object.

    Attributes
    ----------
    image : numpy.ndarray, shape (Y, X), (Y, X, C), (Z, Y, X) or (Z, Y, X, C)
        The image; the channel axis, when present, is last.
    mask : numpy.ndarray of int32, shape (Y, X) or (Z, Y, X)
        Label image, 0 is background; ids are not consecutive.
    truth : dict of int to str
        Label id -> class name, for every object of ``mask``.
    class_names : list of str
        The classes, in a fixed order.
    channel_axis : int or None
        ``-1`` when ``image`` has a channel axis, else None.
    name : str
        Name accepted by :func:`load`.
    description : str
        What the image shows and what tells the classes apart.
    """

    image: np.ndarray
    mask: np.ndarray
    truth: dict[int, str]
    class_names: list[str]
    channel_axis: int | None
    name: str
    description: str

    @property
    def labels(self) -> np.ndarray:
        """Sorted label ids of all objects, shape (n,)."""
        return np.sort(np.fromiter(self.truth, dtype=np.int64, count=len(self.truth)))

    @property
    def n_objects(self) -> int:
        """Number of objects."""
        return len(self.truth)

    def counts(self) -> dict[str, int]:
        """Return the number of objects per class, in ``class_names`` order."""
        values = list(self.truth.values())
        return {name: values.count(name) for name in self.class_names}

    def _lookup(self, labels: object) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
        ids = np.fromiter(self.truth, dtype=np.int64, count=len(self.truth))
        order = np.argsort(ids)
        ids = ids[order]
        query = np.asarray(labels)
        flat = query.astype(np.int64, copy=False).ravel()
        pos = np.clip(np.searchsorted(ids, flat), 0, max(len(ids) - 1, 0))
        missing = flat[ids[pos] != flat] if len(ids) else flat
        if missing.size:
            shown = ", ".join(str(v) for v in np.unique(missing)[:10])
            raise KeyError(f"labels: no ground truth for label id(s) {shown} in {self.name!r}")
        return query, order, pos

    def truth_for(self, labels: object) -> np.ndarray:
        """Return the true class names of some label ids.

        Parameters
        ----------
        labels : array_like of int, any shape
            Label ids present in ``mask``.

        Returns
        -------
        numpy.ndarray of object (str), same shape as ``labels``

        Raises
        ------
        KeyError
            Naming the ids that are not objects of this mask.

        Examples
        --------
        >>> demo = cells_2d(shape=(128, 128), n_objects=10)
        >>> demo.truth_for(demo.labels[:2]).shape
        (2,)
        """
        query, order, pos = self._lookup(labels)
        names = np.array(list(self.truth.values()), dtype=object)[order]
        return names[pos].reshape(query.shape)

    def truth_index(self, labels: object) -> np.ndarray:
        """Return the true class indices (into ``class_names``) of some label ids, dtype int64."""
        query, order, pos = self._lookup(labels)
        index = {name: i for i, name in enumerate(self.class_names)}
        classes = np.array([index[v] for v in self.truth.values()], dtype=np.int64)[order]
        return classes[pos].reshape(query.shape)

    def __repr__(self) -> str:
        return (
            f"DemoData(name={self.name!r}, image={self.image.shape} {self.image.dtype}, "
            f"mask={self.mask.shape} {self.mask.dtype}, channel_axis={self.channel_axis}, "
            f"counts={self.counts()})"
        )


def _make(
    name: str,
    description: str,
    class_names: list[str],
    sc: _Scene,
    cls: np.ndarray,
    labels: np.ndarray,
    rng: np.random.Generator,
    dtype=np.uint16,
) -> DemoData:
    image, mask = _render(sc, rng, dtype)
    truth = {int(lab): class_names[int(c)] for lab, c in zip(labels, cls)}
    return DemoData(
        image, mask, truth, list(class_names), -1 if image.ndim > len(sc.shape) else None, name, description
    )


# --------------------------------------------------------------------------------------------
# Nucleus textures (shared by 2D and 3D)
