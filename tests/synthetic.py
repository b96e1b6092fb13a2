"""Small generated scenes for the core tests: discs on a grid, class 'b' carries a bright centre."""

from __future__ import annotations

import numpy as np


def grid_scene(*, size: int = 240, spacing: int = 30, ndim: int = 2, channels: int = 0, seed: int = 0,
               depth: int = 12):
    """Objects on a grid; label ids are multiples of 3 (non-consecutive).

    Returns
    -------
    image : (Y, X[, C]) or (Z, Y, X[, C]) float32
    mask : int32 of the spatial shape
    truth : dict label -> "a" | "b"
    """
    rng = np.random.default_rng(seed)
    spatial = (size, size) if ndim == 2 else (depth, size, size)
    mask = np.zeros(spatial, np.int32)
    image = rng.normal(0.1, 0.03, spatial).astype(np.float32)
    cue = np.zeros(spatial, np.float32)
    truth = {}
    yy, xx = np.mgrid[:size, :size]
    label = 3
    for cy in range(spacing // 2, size, spacing):
        for cx in range(spacing // 2, size, spacing):
            radius = rng.uniform(6, 10)
            disc = (yy - cy) ** 2 + (xx - cx) ** 2 <= radius**2
            cls = "b" if rng.random() < 0.5 else "a"
            truth[label] = cls
            brightness = rng.uniform(0.3, 0.6)
            spot = (yy - cy) ** 2 + (xx - cx) ** 2 <= 4
            if ndim == 2:
                mask[disc] = label
                image[disc] += brightness
                if cls == "b":
                    cue[spot] += 0.6
            else:
                z0, z1 = depth // 2 - 3, depth // 2 + 3
                mask[z0:z1][:, disc] = label
                image[z0:z1][:, disc] += brightness
                if cls == "b":
                    cue[z0 + 2:z1 - 2][:, spot] += 0.6
            label += 3
    if channels:
        stack = [image] + [cue + rng.normal(0.05, 0.02, spatial).astype(np.float32)] * (channels - 1)
        return np.stack(stack, axis=-1), mask, truth
    return image + cue, mask, truth
