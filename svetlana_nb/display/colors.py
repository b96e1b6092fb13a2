"""Colours: class colours (colour-blind friendly), channel colours, colour maps (NumPy only)."""

from __future__ import annotations

import functools

import numpy as np

#: Class colours: Okabe-Ito, then Paul Tol's muted and light schemes (colour-blind friendly,
#: readable on a dark image). ``class_color(k)`` cycles through them for any number of classes.
CLASS_COLORS: list[str] = [
    "#E69F00",
    "#56B4E9",
    "#009E73",
    "#F0E442",
    "#D55E00",
    "#CC79A7",
    "#0072B2",
    "#CC6677",
    "#88CCEE",
    "#DDCC77",
    "#117733",
    "#AA4499",
    "#44AA99",
    "#999933",
    "#882255",
    "#332288",
    "#77AADD",
    "#EE8866",
    "#EEDD88",
    "#FFAABB",
    "#99DDFF",
    "#44BB99",
    "#AAAA00",
    "#BBBBBB",
]

#: Channel colours used for several channels (blue, green, red, magenta, cyan, yellow, grey).
CHANNEL_COLORS: list[str] = ["#0080ff", "#00ff00", "#ff0000", "#ff00ff", "#00ffff", "#ffff00", "#ffffff"]


#: Smallest CIEDE2000 difference between a class colour and a channel colour shown with it: below
#: this, an object's class fill reads as the channel's own colour (sky blue over a blue nucleus).
MIN_CLASS_CHANNEL_DELTA_E = 25.0


@functools.lru_cache(maxsize=16)
def class_palette(n_channels: int = 1) -> tuple[str, ...]:
    """The class colours for images of ``n_channels`` channels, in order.

    :data:`CLASS_COLORS` without those closer than :data:`MIN_CLASS_CHANNEL_DELTA_E` (CIEDE2000,
    ``skimage.color.deltaE_ciede2000``) to a channel colour of :func:`default_channel_colors`;
    they follow at the end, so any number of classes still gets colours.
    """
    from skimage.color import deltaE_ciede2000, rgb2lab

    def lab(colors: list[str]) -> np.ndarray:
        return rgb2lab(np.array([[hex_to_rgb(c) for c in colors]], dtype=float) / 255.0)[0]

    channels = lab(default_channel_colors(max(1, int(n_channels))))
    classes = lab(CLASS_COLORS)
    distance = deltaE_ciede2000(classes[:, None, :], channels[None, :, :]).min(axis=1)
    far = [c for c, d in zip(CLASS_COLORS, distance) if d >= MIN_CLASS_CHANNEL_DELTA_E]
    return tuple(far + [c for c in CLASS_COLORS if c not in far])


def class_color(k: int, n_channels: int = 1) -> str:
    """Hex colour of class number ``k`` on images of ``n_channels`` channels (cycles for many classes)."""
    palette = class_palette(n_channels)
    return palette[int(k) % len(palette)]


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


#: Colour ramps for :func:`colormap`: ``"confidence"`` (red, doubtful → green, sure; colour-blind
#: readable RdYlGn-like) and ``"heat"`` (black → purple → orange → yellow, inferno-like).
COLORMAPS: dict[str, list[str]] = {
    "confidence": ["#d7191c", "#fdae61", "#ffffbf", "#a6d96a", "#1a9641"],
    "heat": ["#000004", "#420a68", "#932667", "#dd513a", "#fca50a", "#fcffa4"],
}


def colormap(
    values: np.ndarray, name: str = "heat", *, vmin: float = 0.0, vmax: float = 1.0, alpha: int = 255
) -> np.ndarray:
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
