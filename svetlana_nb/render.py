"""Display maths shared by the widgets: colours, contrast, composites, outlines, views.

Headless (NumPy only, no ipywidgets): the annotator and the prediction viewer turn raw image
values into RGBA frames with these functions, and tests check them pixel by pixel.

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

from .resample import (
    crop_padded,
    downsample,
    downsample_view,
    sample_view,
    upscale_nearest,
    view_indices,
)

__all__ = [
    "CLASS_COLORS", "class_color", "hex_to_rgb", "text_color_for", "default_channel_colors",
    "contrast_limits", "composite", "outline", "label_outlines", "overlay", "paint_labels",
    "label_lut", "downsample_view", "downsample", "view_indices", "sample_view",
    "crop_padded", "upscale_nearest", "render_crop",
]

#: Class colours: Okabe-Ito, then Paul Tol's muted and light schemes (colour-blind friendly,
#: readable on a dark image). ``class_color(k)`` cycles through them for any number of classes.
CLASS_COLORS: list[str] = [
    "#E69F00", "#56B4E9", "#009E73", "#F0E442", "#D55E00", "#CC79A7", "#0072B2",
    "#CC6677", "#88CCEE", "#DDCC77", "#117733", "#AA4499", "#44AA99", "#999933", "#882255",
    "#332288", "#77AADD", "#EE8866", "#EEDD88", "#FFAABB", "#99DDFF", "#44BB99", "#AAAA00",
    "#BBBBBB",
]

#: Channel colours used for several channels (blue, green, red, magenta, cyan, yellow, grey).
CHANNEL_COLORS: list[str] = ["#0080ff", "#00ff00", "#ff0000", "#ff00ff", "#00ffff", "#ffff00",
                             "#ffffff"]


def class_color(k: int) -> str:
    """Hex colour of class number ``k`` (cycles after ``len(CLASS_COLORS)``)."""
    return CLASS_COLORS[int(k) % len(CLASS_COLORS)]


def hex_to_rgb(color: str) -> tuple[int, int, int]:
    """``"#rrggbb"`` (or ``"#rgb"``) to an ``(r, g, b)`` tuple of ints in 0..255.

    Examples
    --------
    >>> hex_to_rgb("#ff8000"), hex_to_rgb("#fff")
    ((255, 128, 0), (255, 255, 255))
    """
    text = str(color).strip().lstrip("#")
    if len(text) == 3:
        text = "".join(c * 2 for c in text)
    if len(text) != 6:
        raise ValueError(f"color: expected '#rrggbb', got {color!r}")
    try:
        return int(text[0:2], 16), int(text[2:4], 16), int(text[4:6], 16)
    except ValueError:
        raise ValueError(f"color: expected '#rrggbb', got {color!r}") from None


def text_color_for(background: str) -> str:
    """Black or white, whichever reads better on ``background`` (relative luminance)."""
    r, g, b = hex_to_rgb(background)
    return "#000000" if 0.299 * r + 0.587 * g + 0.114 * b > 140 else "#ffffff"


def default_channel_colors(n_channels: int) -> list[str]:
    """Display colour of each channel: grey for one channel, then blue, green, red, magenta...

    Examples
    --------
    >>> default_channel_colors(1), default_channel_colors(2)
    (['#ffffff'], ['#0080ff', '#00ff00'])
    """
    if n_channels < 1:
        raise ValueError(f"n_channels: expected at least 1, got {n_channels}")
    if n_channels == 1:
        return ["#ffffff"]
    return [CHANNEL_COLORS[i % len(CHANNEL_COLORS)] for i in range(n_channels)]


def contrast_limits(array: np.ndarray, percentiles: tuple[float, float] = (1.0, 99.8), *,
                    max_samples: int = 1_000_000) -> tuple[float, float]:
    """Low and high display values of an array: percentiles of a regular subsample.

    Parameters
    ----------
    array : numpy.ndarray
        Any shape (one channel); only ``max_samples`` evenly strided values are read, so an
        8000 x 8000 image takes milliseconds.
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


def composite(image_yxc: np.ndarray, *, colors: Sequence[str], limits: Sequence[Sequence[float]],
              visible: Sequence[bool] | None = None, rgb: bool = False) -> np.ndarray:
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
        raise ValueError(f"colors, limits: expected {n} of each, "
                         f"got {len(colors)} and {len(limits)}")
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


def _shifted_all(mask: np.ndarray, radius: int, combine) -> np.ndarray:
    """Combine ``mask`` with its 4-neighbour shifts (edge-padded) along the last two axes."""
    result = mask.copy()
    for _ in range(radius):
        pad = [(0, 0)] * (mask.ndim - 2) + [(1, 1), (1, 1)]
        p = np.pad(result, pad, mode="edge")
        centre = p[..., 1:-1, 1:-1]
        result = combine(combine(combine(combine(centre, p[..., :-2, 1:-1]), p[..., 2:, 1:-1]),
                                 p[..., 1:-1, :-2]), p[..., 1:-1, 2:])
    return result


def outline(mask_bool: np.ndarray, *, thickness: int = 1, outer: bool = False) -> np.ndarray:
    """Boundary pixels of a mask (4-connectivity), along its last two axes.

    Parameters
    ----------
    mask_bool : numpy.ndarray of bool, shape (..., Y, X)
    thickness : int
        Width of the boundary in pixels.
    outer : bool
        False: the object's own edge pixels (``mask & ~erosion``); True: the ring just outside
        it (``dilation & ~mask``), which leaves every object pixel visible.

    Returns
    -------
    numpy.ndarray of bool, same shape
        The array's own border does not count as an edge (it is padded by repetition).
    """
    mask = np.asarray(mask_bool, dtype=bool)
    if mask.ndim < 2:
        raise ValueError(f"mask_bool: expected at least 2 dimensions, got shape {mask.shape}")
    if outer:
        return _shifted_all(mask, thickness, np.logical_or) & ~mask
    return mask & ~_shifted_all(mask, thickness, np.logical_and)


def label_outlines(labels: np.ndarray) -> np.ndarray:
    """Pixels of labelled objects (> 0) that touch a different label or the background.

    Parameters
    ----------
    labels : numpy.ndarray of int, shape (Y, X)

    Returns
    -------
    numpy.ndarray of bool, shape (Y, X)
    """
    labels = np.asarray(labels)
    p = np.pad(labels, 1, mode="edge")
    centre = p[1:-1, 1:-1]
    differs = ((centre != p[:-2, 1:-1]) | (centre != p[2:, 1:-1])
               | (centre != p[1:-1, :-2]) | (centre != p[1:-1, 2:]))
    return differs & (centre != 0)


def overlay(rgba: np.ndarray, mask_bool: np.ndarray, color: str | Sequence[int], *,
            alpha: float = 1.0) -> np.ndarray:
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


def _blend_into(rgba: np.ndarray, where: tuple[np.ndarray, ...], rgb: np.ndarray,
                a: np.ndarray) -> None:
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


def paint_labels(rgba: np.ndarray, labels_2d: np.ndarray, lut_rgba: np.ndarray, *,
                 alpha: float = 1.0, outline_only: bool = False) -> np.ndarray:
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


def render_crop(image_yxc: np.ndarray, object_mask: np.ndarray, *, colors: Sequence[str],
                limits: Sequence[Sequence[float]], visible: Sequence[bool] | None = None,
                rgb: bool = False, labels: np.ndarray | None = None, size: int = 320,
                outline_color: str = "#ffff00", neighbour_color: str = "#9a9a9a",
                background: str = "#202020") -> tuple[np.ndarray, int, tuple[int, int]]:
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
    rgba = upscale_nearest(composite(image_yxc, colors=colors, limits=limits, visible=visible,
                                     rgb=rgb), scale)
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
    frame[oy:oy + rgba.shape[0], ox:ox + rgba.shape[1]] = rgba
    return frame, factor, (oy, ox)


#: Colour ramps for :func:`colormap`: ``"confidence"`` (red, doubtful → green, sure; colour-blind
#: readable RdYlGn-like) and ``"heat"`` (black → purple → orange → yellow, inferno-like).
COLORMAPS: dict[str, list[str]] = {
    "confidence": ["#d7191c", "#fdae61", "#ffffbf", "#a6d96a", "#1a9641"],
    "heat": ["#000004", "#420a68", "#932667", "#dd513a", "#fca50a", "#fcffa4"],
}


def colormap(values: np.ndarray, name: str = "heat", *, vmin: float = 0.0, vmax: float = 1.0,
             alpha: int = 255) -> np.ndarray:
    """Map scalar values to RGBA colours along a ramp of :data:`COLORMAPS` (linear interpolation).

    Parameters
    ----------
    values : numpy.ndarray, any shape
    name : {"heat", "confidence"}
    vmin, vmax : float
        Values mapped to the ramp's first and last colour (clipped outside).
    alpha : int
        Opacity 0..255 of every colour.

    Returns
    -------
    numpy.ndarray, uint8, shape (*values.shape, 4)

    Examples
    --------
    >>> colormap(np.array([0.0, 1.0]), "confidence")[:, :3].tolist()
    [[215, 25, 28], [26, 150, 65]]
    """
    if name not in COLORMAPS:
        raise ValueError(f"name: expected one of {sorted(COLORMAPS)}, got {name!r}")
    stops = np.array([hex_to_rgb(c) for c in COLORMAPS[name]], dtype=np.float32)
    span = float(vmax) - float(vmin)
    t = (np.asarray(values, dtype=np.float32) - float(vmin)) / (span if span > 0 else 1.0)
    t = np.clip(np.nan_to_num(t), 0.0, 1.0) * (len(stops) - 1)
    lo = np.minimum(t.astype(np.int64), len(stops) - 2)
    frac = (t - lo)[..., None]
    out = np.empty(t.shape + (4,), dtype=np.uint8)
    mixed = stops[lo] * (1 - frac) + stops[lo + 1] * frac + 0.5
    out[..., :3] = np.clip(mixed, 0, 255).astype(np.uint8)
    out[..., 3] = alpha
    return out
