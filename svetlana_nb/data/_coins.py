"""A real photograph for the demos: scikit-image's coins, segmented here."""

from __future__ import annotations

import numpy as np

from ._demo import DemoData


def coins() -> DemoData:
    """Return a real photograph, ``skimage.data.coins()`` (303 x 384, uint8), segmented here.

    The coins are segmented with the region-based watershed of the scikit-image gallery
    (Sobel elevation map, markers from two grey-level thresholds, holes filled), and small
    specks are dropped. Rule for the classes: a coin is ``"large"`` when its area is at
    least 1450 px (13 coins), else ``"small"`` (11 coins). The image ships inside the
    scikit-image wheel, so nothing is downloaded.

    Returns
    -------
    DemoData
        ``image`` (303, 384) uint8, ``mask`` (303, 384) int32, classes ``["small", "large"]``.

    Examples
    --------
    >>> demo = coins()
    >>> demo.image.shape
    (303, 384)
    """
    from scipy import ndimage
    from skimage import data as skdata
    from skimage import filters, measure, morphology, segmentation

    image = skdata.coins()
    markers = np.zeros_like(image, dtype=np.int32)
    markers[image < 30] = 1
    markers[image > 150] = 2
    region = segmentation.watershed(filters.sobel(image), markers) == 2
    region = ndimage.binary_fill_holes(region)
    region = morphology.remove_small_objects(measure.label(region), max_size=200) > 0
    mask = measure.label(region).astype(np.int32)
    area = np.bincount(mask.ravel())[1:]
    truth = {i + 1: ("large" if a >= _COIN_AREA else "small") for i, a in enumerate(area)}
    return DemoData(
        image,
        mask,
        truth,
        ["small", "large"],
        None,
        "coins",
        f"Greek coins (skimage.data.coins), segmented by watershed; 'large' coins have an area >= {_COIN_AREA} px.",
    )


_COIN_AREA = 1450
