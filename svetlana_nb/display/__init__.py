"""Display helpers the widgets use: colours, composites, outlines and views (NumPy only).

Headless: the annotator and the prediction viewer turn raw image values into RGBA frames with
these functions, and tests check them pixel by pixel. A viewport of a large image is never
read at full resolution (:mod:`.resample`).
"""

from .colors import (
    CHANNEL_COLORS,
    CLASS_COLORS,
    COLORMAPS,
    class_color,
    colormap,
    default_channel_colors,
    hex_to_rgb,
    text_color_for,
)
from .compose import composite, contrast_limits, label_lut, overlay, paint_labels, render_crop
from .outlines import label_outlines, outline
from .resample import crop_padded, downsample, downsample_view, sample_view, upscale_nearest, view_indices

__all__ = [
    "CHANNEL_COLORS",
    "CLASS_COLORS",
    "COLORMAPS",
    "class_color",
    "colormap",
    "composite",
    "contrast_limits",
    "crop_padded",
    "default_channel_colors",
    "downsample",
    "downsample_view",
    "hex_to_rgb",
    "label_lut",
    "label_outlines",
    "outline",
    "overlay",
    "paint_labels",
    "render_crop",
    "sample_view",
    "text_color_for",
    "upscale_nearest",
    "view_indices",
]
