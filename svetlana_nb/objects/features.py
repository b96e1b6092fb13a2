"""Per-object morphology and intensity measurements, vectorised with chunked ``bincount``.

One pass over the mask (in row blocks, to bound memory) accumulates per-label sums of
coordinates, squared coordinates and intensities (``bincount``) and intensity extremes
(``maximum.at`` / ``minimum.at``, far faster than ``scipy.ndimage.maximum`` with a label
index); moments give centroids, axis lengths and eccentricity without any per-object loop.
"""

from __future__ import annotations

import numpy as np

_BLOCK = 4_000_000


def _moments(
    image: np.ndarray, mask: np.ndarray, n_bins: int, origin: np.ndarray | None = None
) -> dict[str, np.ndarray]:
    """Accumulate per-label pixel counts, coordinate moments, intensity sums and extremes.

    Returns arrays indexed by label (``n_bins`` = largest label + 1): ``count`` (n_bins,),
    ``first`` (ndim, n_bins), ``second`` (ndim, ndim, n_bins), and per channel ``isum``,
    ``isq``, ``imax``, ``imin`` (C, n_bins); labels absent from the mask keep 0 and -/+inf.
    Coordinates are counted from ``origin`` (default 0): the pixel ``mask[0, 0]`` is at ``origin``.
    """
    ndim = mask.ndim
    n_channels = image.shape[-1]
    count = np.zeros(n_bins)
    first = np.zeros((ndim, n_bins))
    second = np.zeros((ndim, ndim, n_bins))
    isum = np.zeros((n_channels, n_bins))
    isq = np.zeros((n_channels, n_bins))
    imax = np.full((n_channels, n_bins), -np.inf)
    imin = np.full((n_channels, n_bins), np.inf)
    rows_per_block = max(1, _BLOCK // max(1, int(np.prod(mask.shape[1:]))))
    shift = np.zeros(ndim) if origin is None else np.asarray(origin, dtype=np.float64)
    grids = np.indices(mask.shape[1:], dtype=np.float64) if ndim > 1 else None
    if grids is not None:
        grids += shift[1:].reshape((-1,) + (1,) * (ndim - 1))
    for begin in range(0, mask.shape[0], rows_per_block):
        block = mask[begin : begin + rows_per_block]
        lab = block.ravel().astype(np.intp)
        keep = lab > 0
        lab = lab[keep]
        count += np.bincount(lab, minlength=n_bins)
        coords = [
            np.broadcast_to(
                (np.arange(begin, begin + block.shape[0], dtype=np.float64) + shift[0]).reshape(
                    (-1,) + (1,) * (ndim - 1)
                ),
                block.shape,
            ).ravel()[keep]
        ]
        coords += [np.broadcast_to(g, block.shape).ravel()[keep] for g in (grids if grids is not None else ())]
        for a in range(ndim):
            first[a] += np.bincount(lab, coords[a], minlength=n_bins)
            for b in range(a, ndim):
                second[a, b] += np.bincount(lab, coords[a] * coords[b], minlength=n_bins)
        pixels = image[begin : begin + rows_per_block].reshape(-1, n_channels)[keep].astype(np.float64)
        for c in range(n_channels):
            isum[c] += np.bincount(lab, pixels[:, c], minlength=n_bins)
            isq[c] += np.bincount(lab, pixels[:, c] ** 2, minlength=n_bins)
            np.maximum.at(imax[c], lab, pixels[:, c])
            np.minimum.at(imin[c], lab, pixels[:, c])
    return {"count": count, "first": first, "second": second, "isum": isum, "isq": isq, "imax": imax, "imin": imin}


def measure_objects(
    image: np.ndarray,
    mask: np.ndarray,
    labels: np.ndarray,
    bbox: np.ndarray,
    *,
    origin: np.ndarray | None = None,
) -> dict[str, np.ndarray]:
    """Measure the objects of one image.

    Parameters
    ----------
    image : numpy.ndarray, shape (*spatial, C)
    mask : numpy.ndarray of int, shape (*spatial)
    labels : numpy.ndarray, shape (n,)
        Label ids of the objects, all present in ``mask``.
    bbox : numpy.ndarray, shape (n, 2 * ndim)
        Their bounding boxes (minimum corner, then exclusive maximum corner), as reported.
    origin : numpy.ndarray, shape (ndim,), optional
        Image coordinates of ``mask[0, 0]`` when ``image`` and ``mask`` are a window of a larger
        image: centroids are then in the larger image's coordinates, computed from the same
        integer coordinates as on the whole image (exact sums, so equal to the last bit).

    Returns
    -------
    dict of str to numpy.ndarray, each shape (n,)
        ``area``, ``centroid_*``, ``major_axis_length``, ``minor_axis_length``,
        ``eccentricity`` (2D), ``extent``, ``bbox_*``, and per channel c ``mean_intensity_c``,
        ``std_intensity_c``, ``max_intensity_c``, ``min_intensity_c``.
    """
    ndim = mask.ndim
    n_bins = int(labels.max()) + 1
    m = _moments(image, mask, n_bins, origin)
    count = m["count"][labels]
    safe = np.maximum(count, 1)
    axes = "zyx"[-ndim:]
    out: dict[str, np.ndarray] = {"area": count.astype(np.int64)}
    mean = m["first"][:, labels] / safe
    for a in range(ndim):
        out[f"centroid_{axes[a]}"] = mean[a]
    cov = np.zeros((len(labels), ndim, ndim))
    for a in range(ndim):
        for b in range(a, ndim):
            value = m["second"][a, b, labels] / safe - mean[a] * mean[b]
            cov[:, a, b] = cov[:, b, a] = value
    eig = np.clip(np.linalg.eigvalsh(cov + np.eye(ndim) / 12.0), 0, None)  # pixel-size prior
    out["major_axis_length"] = 4 * np.sqrt(eig[:, -1])
    out["minor_axis_length"] = 4 * np.sqrt(eig[:, 0])
    if ndim == 2:
        out["eccentricity"] = np.sqrt(np.clip(1 - eig[:, 0] / np.maximum(eig[:, 1], 1e-12), 0, 1))
    extent = np.prod(bbox[:, ndim:] - bbox[:, :ndim], axis=1)
    out["extent"] = count / np.maximum(extent, 1)
    for a in range(ndim):
        out[f"bbox_{axes[a]}0"] = bbox[:, a]
        out[f"bbox_{axes[a]}1"] = bbox[:, ndim + a]
    for c in range(image.shape[-1]):
        mean_i = m["isum"][c, labels] / safe
        var = np.clip(m["isq"][c, labels] / safe - mean_i**2, 0, None)
        out[f"mean_intensity_{c}"] = mean_i
        out[f"std_intensity_{c}"] = np.sqrt(var)
        out[f"max_intensity_{c}"] = m["imax"][c, labels]
        out[f"min_intensity_{c}"] = m["imin"][c, labels]
    return out
