"""Checks of a label mask that catch a user's mistake before it turns into silent nonsense.

A semantic or binary mask (one value per class, or 0/1) given where one label per object is
expected makes a few huge "objects", each made of many separate cells; so does a label id
reused for two objects. Nothing fails: the patch size follows these giants (640 px instead of
32 on the demo image) and every object is classified wrongly. :func:`split_labels` finds them
cheaply: only objects far larger than the rest, or the only few objects of a mask, are looked
at, and only inside their bounding box.
"""

from __future__ import annotations

import numpy as np
from scipy import ndimage

__all__ = ["split_labels", "split_labels_message"]

#: An object is looked at when its largest side is this many times the median object's.
OUTLIER_FACTOR = 4.0
#: At most this many of the largest outliers are looked at (each costs a labelling of its box).
MAX_CHECKED = 20


def split_labels(mask: np.ndarray, labels: np.ndarray, bbox: np.ndarray) -> dict[int, int]:
    """Label ids that cover several separate pieces, among the suspiciously large objects.

    Parameters
    ----------
    mask : numpy.ndarray, shape (Y, X) or (Z, Y, X)
        Integer label image.
    labels : numpy.ndarray, shape (n,)
        The label ids present.
    bbox : numpy.ndarray, shape (n, 2 * ndim)
        Their bounding boxes (minimum corner, then exclusive maximum corner).

    Returns
    -------
    dict of int to int
        Label id → number of separate pieces (>= 2), for the objects checked: those whose
        largest side is over :data:`OUTLIER_FACTOR` times the median's, or all of them when the
        mask has 3 objects or fewer and one spans half the image; at most :data:`MAX_CHECKED`.
    """
    nd = mask.ndim
    sides = (bbox[:, nd:] - bbox[:, :nd]).max(axis=1)
    suspicious = sides > OUTLIER_FACTOR * max(float(np.median(sides)), 1.0)
    if len(labels) <= 3:
        suspicious |= sides >= 0.5 * max(mask.shape[-2:])
    rows = np.flatnonzero(suspicious)
    rows = rows[np.argsort(-sides[rows], kind="stable")][:MAX_CHECKED]
    split = {}
    for row in rows:  # only a few outliers, each labelled inside its own box
        box = tuple(slice(int(lo), int(hi)) for lo, hi in zip(bbox[row, :nd], bbox[row, nd:]))
        _, pieces = ndimage.label(mask[box] == labels[row])
        if pieces >= 2:
            split[int(labels[row])] = int(pieces)
    return split


def split_labels_message(split: dict[int, int], where: str) -> str:
    """The warning for :func:`split_labels`' findings in the mask named ``where``."""
    examples = ", ".join(f"label {label}: {pieces} pieces" for label, pieces in list(split.items())[:3])
    n = len(split)
    return (
        f"{where}: {n} label{'s each cover' if n > 1 else ' covers'} several separate pieces ({examples}). "
        "Each object needs its own label id: is this a semantic or binary mask, or an id used twice? "
        "Label it first, e.g. skimage.measure.label(mask), or sv.io.read_mask(path, label_binary=True). "
        "Until then each such label is classified as one object, and the patch size follows them."
    )
