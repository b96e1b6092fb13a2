"""A real astronomical photograph: scikit-image's Hubble eXtreme Deep Field, segmented here."""

from __future__ import annotations

import numpy as np

from ._demo import DemoData

#: Colour index above which an object is ``"red"``: (mean R - mean B) / (mean R + mean B).
_RED_INDEX = 0.0


def hubble_deep_field() -> DemoData:
    """Return the Hubble eXtreme Deep Field (``skimage.data.hubble_deep_field()``), segmented here.

    A real RGB photograph (872 x 1000, uint8) of about 345 galaxies and stars, 7 to 55 px
    across (median 11 px). It ships inside the scikit-image wheel, so nothing is downloaded;
    NASA's images may be freely used (public domain).

    The objects are segmented by a threshold (0.15) on the grey image smoothed by a Gaussian
    (sigma 1 px), objects under 31 px dropped. Rule for the classes, the astronomer's colour
    index: an object is ``"red"`` when ``(R - B) / (R + B) > 0`` over its pixels (about 35 %),
    else ``"blue"``. The network sees the three channels normalised per channel, so it must
    compare channels within the object; the mask's shape says nothing of the class.

    Returns
    -------
    DemoData
        ``image`` (872, 1000, 3) uint8 (channel axis last), ``mask`` (872, 1000) int32,
        classes ``["blue", "red"]``.

    Examples
    --------
    >>> demo = hubble_deep_field()
    >>> demo.image.shape, demo.channel_axis
    ((872, 1000, 3), -1)
    """
    from scipy import ndimage
    from skimage import color, filters, measure, morphology
    from skimage import data as skdata

    image = skdata.hubble_deep_field()
    grey = filters.gaussian(color.rgb2gray(image), sigma=1)
    mask = measure.label(morphology.remove_small_objects(grey > 0.15, max_size=30)).astype(np.int32)
    index = np.arange(1, int(mask.max()) + 1)
    red = np.asarray(ndimage.mean(image[..., 0].astype(np.float64), mask, index))
    blue = np.asarray(ndimage.mean(image[..., 2].astype(np.float64), mask, index))
    colour = (red - blue) / np.maximum(red + blue, 1e-9)
    truth = {int(i): ("red" if c > _RED_INDEX else "blue") for i, c in zip(index, colour)}
    return DemoData(
        image,
        mask,
        truth,
        ["blue", "red"],
        -1,
        "hubble_deep_field",
        "Hubble eXtreme Deep Field (skimage.data.hubble_deep_field, NASA, public domain), segmented by a "
        "threshold; 'red' objects have a colour index (R - B) / (R + B) > 0.",
    )
