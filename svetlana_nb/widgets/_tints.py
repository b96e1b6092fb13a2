"""Annotated objects tinted with their class colour, as one lookup per frame (the annotator)."""

from __future__ import annotations

import numpy as np

from .. import display
from ..objects import Objects

#: Opacity of the tint over an annotated object.
TINT_ALPHA = 120
#: Largest label id looked up directly (above it, objects are looked up by row).
MAX_LUT = 1 << 24


def class_tints(
    objects: Objects, image: int, labels: np.ndarray, klass: np.ndarray, n_classes: int, cache: dict[int, np.ndarray]
) -> np.ndarray:
    """Transparent RGBA layer tinting the annotated objects of a view with their class colour.

    Parameters
    ----------
    objects : Objects
    image : int
        The image the view shows.
    labels : numpy.ndarray of int, shape (H, W)
        Label ids under each pixel of the view (0: background).
    klass : numpy.ndarray of int, shape (n_objects,)
        Annotated class of every object row, -1 where not annotated.
    n_classes : int
    cache : dict
        Lookup tables per image, kept between frames (clear it when annotations change).

    Returns
    -------
    numpy.ndarray, uint8, shape (H, W, 4)
    """
    rows = objects.rows_of_image(image)
    lab, classes = objects.labels[rows], klass[rows]
    done = classes >= 0
    palette = np.array(
        [display.hex_to_rgb(display.class_color(k, objects.n_channels)) for k in range(n_classes)], dtype=np.uint8
    )
    if int(lab.max()) < MAX_LUT:  # lookup by label id
        if image not in cache:
            lut = np.zeros((int(lab.max()) + 1, 4), dtype=np.uint8)
            lut[lab[done], :3] = palette[classes[done]]
            lut[lab[done], 3] = TINT_ALPHA
            cache[image] = lut
        return cache[image][labels]
    lut = np.zeros((len(rows) + 1, 4), dtype=np.uint8)  # huge ids: look up by row
    lut[np.flatnonzero(done), :3] = palette[classes[done]]
    lut[np.flatnonzero(done), 3] = TINT_ALPHA
    local = objects.rows_of_labels(labels, image)
    return lut[np.where(local >= 0, local - rows[0], len(rows))]
