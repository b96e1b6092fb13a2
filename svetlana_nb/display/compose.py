"""RGBA frames from raw image values: contrast, channel composites, overlays, label colours.

Every RGBA array is ``uint8`` of shape (Y, X, 4); every mask is ``bool``. Nothing here loops
over pixels or objects in Python.

Examples
--------
>>> import numpy as np
>>> image = np.arange(12, dtype=np.uint16).reshape(3, 4, 1)
>>> rgba = composite(image, colors=["#ffffff"], limits=[(0, 11)])
>>> rgba.shape, rgba.dtype, rgba[2, 3].tolist()
((3, 4, 4), dtype('uint8'), [255, 255, 255, 255])
"""

from __future__ import annotations

from collections.abc import Sequence

import numpy as np

from .colors import hex_to_rgb
from .outlines import label_outlines, outline
from .resample import upscale_nearest


def contrast_limits(
    array: np.ndarray, percentiles: tuple[float, float] = (1.0, 99.8), *, max_samples: int = 1_000_000
) -> tuple[float, float]:
    """Low and high display values of an array: percentiles of a regular subsample.

    Parameters
    ----------
    array : numpy.ndarray
        Any shape (one channel); only ``max_samples`` evenly strided values are read, so a
        large image costs what a small one does.
    percentiles : tuple of float
        Low and high percentile.
    max_samples : int
        Upper bound on the values used.

    Returns
    -------
    (float, float)
        ``hi > lo`` always (``hi = lo + 1`` for a constant array).
    """
    array = np.asarray(array)
    flat = array.reshape(-1)  # a view when the array is contiguous
    step = max(1, flat.size // max_samples)
    sample = flat[::step].astype(np.float32)
    if sample.size == 0:
        return 0.0, 1.0
    lo, hi = (float(v) for v in np.percentile(sample, percentiles))
    return (lo, hi) if hi > lo else (lo, lo + 1.0)


def composite(
    image_yxc: np.ndarray,
    *,
    colors: Sequence[str],
    limits: Sequence[Sequence[float]] | np.ndarray,
    visible: Sequence[bool] | None = None,
    rgb: bool = False,
) -> np.ndarray:
    """Additive colour composite of the channels of an image.

    Each visible channel is scaled to [0, 1] by its ``(lo, hi)`` limits, multiplied by its
    colour, and the channels are summed and clipped.

    Parameters
    ----------
    image_yxc : numpy.ndarray, shape (Y, X, C) or (Y, X)
    colors : sequence of str
        One hex colour per channel.
    limits : sequence of (float, float)
        One display range per channel.
    visible : sequence of bool, optional
        Which channels to show (all by default).
    rgb : bool
        Show an 8-bit RGB(A) image as it is (``colors``/``limits``/``visible`` ignored).

    Returns
    -------
    numpy.ndarray, uint8, shape (Y, X, 4)
        Opaque RGBA.
    """
    image = np.asarray(image_yxc)
    if image.ndim == 2:
        image = image[..., None]
    if image.ndim != 3:
        raise ValueError(f"image_yxc: expected shape (Y, X, C), got {image.shape}")
    out = np.empty(image.shape[:2] + (4,), dtype=np.uint8)
    out[..., 3] = 255
    if rgb:
        if image.shape[2] < 3:
            raise ValueError(f"image_yxc: rgb=True needs 3 or 4 channels, got {image.shape[2]}")
        out[..., :3] = np.clip(image[..., :3], 0, 255)
        return out
    n = image.shape[2]
    if len(colors) < n or len(limits) < n:
        raise ValueError(f"colors, limits: expected {n} of each, got {len(colors)} and {len(limits)}")
    show = [True] * n if visible is None else [bool(v) for v in visible]
    acc = np.zeros(image.shape[:2] + (3,), dtype=np.float32)
    for c in range(n):
        if not show[c]:
            continue
        lo, hi = float(limits[c][0]), float(limits[c][1])
        scale = 1.0 / (hi - lo) if hi > lo else 1.0
        value = (image[..., c].astype(np.float32) - lo) * scale
        np.clip(value, 0.0, 1.0, out=value)
        rgb_c = np.asarray(hex_to_rgb(colors[c]), dtype=np.float32)
        acc += value[..., None] * rgb_c
    np.clip(acc, 0.0, 255.0, out=acc)
    out[..., :3] = (acc + 0.5).astype(np.uint8)
    return out


def overlay(rgba: np.ndarray, mask_bool: np.ndarray, color: str | Sequence[int], *, alpha: float = 1.0) -> np.ndarray:
    """Blend ``color`` into ``rgba`` where ``mask_bool`` is set, in place.

    Parameters
    ----------
    rgba : numpy.ndarray, uint8, shape (Y, X, 4)
    mask_bool : numpy.ndarray of bool, shape (Y, X)
    color : str or (r, g, b)
    alpha : float
        1 paints the colour; smaller values blend it over the image.

    Returns
    -------
    numpy.ndarray
        ``rgba`` itself.
    """
    rgb = np.asarray(hex_to_rgb(color) if isinstance(color, str) else color[:3], dtype=np.float32)
    if alpha >= 1.0:  # opaque paint: no blending needed
        mask = np.asarray(mask_bool, dtype=bool)
        rgba[mask, :3] = rgb.astype(np.uint8)
        rgba[mask, 3] = 255
        return rgba
    where = np.nonzero(np.asarray(mask_bool, dtype=bool))
    if where[0].size and alpha > 0.0:
        a = np.full((where[0].size, 1), min(1.0, float(alpha)), dtype=np.float32)
        _blend_into(rgba, where, np.broadcast_to(rgb, (where[0].size, 3)), a)
    return rgba


def _blend_into(rgba: np.ndarray, where: tuple[np.ndarray, ...], rgb: np.ndarray, a: np.ndarray) -> None:
    """Composite colours ``rgb`` (m, 3) with opacity ``a`` (m, 1) over ``rgba[where]``.

    The usual "over" operator, so painting on a transparent layer keeps the colour unchanged
    and painting on an opaque image is a plain blend.
    """
    dst = rgba[where].astype(np.float32)
    dst_a = dst[:, 3:4] / 255.0
    out_a = a + dst_a * (1.0 - a)
    safe = np.where(out_a > 0, out_a, 1.0)
    out_rgb = (rgb * a + dst[:, :3] * dst_a * (1.0 - a)) / safe
    rgba[where + (slice(0, 3),)] = np.clip(out_rgb + 0.5, 0, 255).astype(np.uint8)
    rgba[where + (3,)] = np.clip(out_a[:, 0] * 255.0 + 0.5, 0, 255).astype(np.uint8)


def label_lut(n_labels: int, colors: dict[int, str], *, alpha: int = 255) -> np.ndarray:
    """Build a lookup table for :func:`paint_labels`: label id -> RGBA (transparent elsewhere).

    Parameters
    ----------
    n_labels : int
        Table length (largest label id + 1).
    colors : dict of int to str
        Colour of each label id to paint.
    alpha : int
        Opacity 0..255 of the painted labels.

    Returns
    -------
    numpy.ndarray, uint8, shape (n_labels, 4)
    """
    lut = np.zeros((int(n_labels), 4), dtype=np.uint8)
    if colors:
        ids = np.fromiter(colors, dtype=np.int64, count=len(colors))
        palette = {c: hex_to_rgb(c) for c in set(colors.values())}
        lut[ids, :3] = np.array([palette[c] for c in colors.values()], dtype=np.uint8)
        lut[ids, 3] = alpha
    return lut


def paint_labels(
    rgba: np.ndarray, labels_2d: np.ndarray, lut_rgba: np.ndarray, *, alpha: float = 1.0, outline_only: bool = False
) -> np.ndarray:
    """Paint labelled regions with colours from a lookup table, in place.

    Parameters
    ----------
    rgba : numpy.ndarray, uint8, shape (Y, X, 4)
    labels_2d : numpy.ndarray of int, shape (Y, X)
    lut_rgba : numpy.ndarray, uint8, shape (max_label + 1, 4)
        Colour and opacity of each label id; alpha 0 leaves a label unpainted, and ids beyond
        the table are left unpainted too.
    alpha : float
        Global opacity multiplied with the table's alpha.
    outline_only : bool
        Paint only the labels' boundary pixels (:func:`label_outlines`).

    Returns
    -------
    numpy.ndarray
        ``rgba`` itself.
    """
    labels = np.asarray(labels_2d)
    lut = np.asarray(lut_rgba, dtype=np.uint8)
    inside = (labels >= 0) & (labels < len(lut))
    ids = np.where(inside, labels, 0)
    weight = lut[:, 3][ids]
    sel = (weight > 0) & inside
    if outline_only:
        sel &= label_outlines(labels)
    where = np.nonzero(sel)
    if not where[0].size:
        return rgba
    colors = lut[ids[where]].astype(np.float32)
    _blend_into(rgba, where, colors[:, :3], (colors[:, 3:4] / 255.0) * float(alpha))
    return rgba


def render_crop(
    image_yxc: np.ndarray,
    object_mask: np.ndarray,
    *,
    colors: Sequence[str],
    limits: Sequence[Sequence[float]] | np.ndarray,
    visible: Sequence[bool] | None = None,
    rgb: bool = False,
    labels: np.ndarray | None = None,
    size: int = 320,
    outline_color: str = "#ffff00",
    neighbour_color: str = "#9a9a9a",
    background: str = "#202020",
) -> tuple[np.ndarray, int, tuple[int, int]]:
    """Render a readable, square frame of one object over its context.

    The crop is composited, magnified by the largest integer factor that fits ``size`` (or
    subsampled when it is larger), the object is outlined just outside its edge and the
    edges of the neighbouring objects are drawn faintly. The frame is padded to ``size`` x ``size``.

    Parameters
    ----------
    image_yxc : numpy.ndarray, shape (Y, X, C)
    object_mask : numpy.ndarray of bool, shape (Y, X)
    colors, limits, visible, rgb
        As in :func:`composite`.
    labels : numpy.ndarray of int, shape (Y, X), optional
        The label crop, for the neighbours' outlines.
    size : int
        Frame side in pixels.
    outline_color, neighbour_color, background : str
        Hex colours.

    Returns
    -------
    frame : numpy.ndarray, uint8, shape (size, size, 4)
    factor : int
        Magnification (negative: subsampling step).
    offset : (int, int)
        Frame position of the crop's pixel (0, 0).
    """
    h, w = object_mask.shape
    if max(h, w) > size:
        step = int(np.ceil(max(h, w) / size))
        image_yxc, object_mask = image_yxc[::step, ::step], object_mask[::step, ::step]
        labels = None if labels is None else labels[::step, ::step]
        factor, scale = -step, 1
    else:
        scale = max(1, size // max(h, w))
        factor = scale
    rgba = upscale_nearest(composite(image_yxc, colors=colors, limits=limits, visible=visible, rgb=rgb), scale)
    obj = upscale_nearest(object_mask, scale)
    if labels is not None:
        edges = label_outlines(upscale_nearest(labels, scale)) & ~obj
        overlay(rgba, edges, neighbour_color, alpha=0.45)
    ring = outline(obj, thickness=max(1, min(3, scale // 3)), outer=True)
    overlay(rgba, ring, outline_color)
    frame = np.empty((size, size, 4), dtype=np.uint8)
    frame[..., :3] = hex_to_rgb(background)
    frame[..., 3] = 255
    oy, ox = (size - rgba.shape[0]) // 2, (size - rgba.shape[1]) // 2
    frame[oy : oy + rgba.shape[0], ox : ox + rgba.shape[1]] = rgba
    return frame, factor, (oy, ox)


#: Colour ramps for :func:`colormap`: ``"confidence"`` (red, doubtful → green, sure; colour-blind
#: readable RdYlGn-like) and ``"heat"`` (black → purple → orange → yellow, inferno-like).
COLORMAPS: dict[str, list[str]] = {
    "confidence": ["#d7191c", "#fdae61", "#ffffbf", "#a6d96a", "#1a9641"],
    "heat": ["#000004", "#420a68", "#932667", "#dd513a", "#fca50a", "#fcffa4"],
}
