"""A strip of the last annotated crops with their class, each clickable to go back to it."""

from __future__ import annotations

from collections.abc import Callable
from typing import Any

import ipywidgets as widgets
import numpy as np
from ipycanvas import Canvas
from PIL import Image, ImageDraw, ImageFont

from .. import display
from ._canvas import Painter, fixed_size

THUMB = 72  # thumbnail side (pixels)
BAND = 16  # class-name band under each thumbnail
GAP = 6  # space between thumbnails


class ThumbnailStrip(widgets.VBox):
    """The most recent annotations, newest on the left, drawn on one canvas.

    Parameters
    ----------
    n_slots : int
        How many thumbnails are kept.

    Attributes
    ----------
    items : list of (key, class_name, color)
        What each slot shows, newest first.
    """

    def __init__(self, n_slots: int = 8, **kwargs: Any) -> None:
        self.n_slots = int(n_slots)
        width = self.n_slots * (THUMB + GAP) - GAP
        self.canvas = Canvas(width=width, height=THUMB + BAND)
        self.canvas.add_class("svnb-thumbnails-canvas")
        fixed_size(self.canvas, width, THUMB + BAND)
        self.painter = Painter(self.canvas, [self.canvas])
        #: Newest first, at most ``n_slots`` (a list: a ``deque(maxlen=)`` built from the new item
        #: followed by the old ones would drop the new item once full).
        self._entries: list[tuple[Any, str, str, np.ndarray]] = []
        self._callbacks: list[Callable[[Any], None]] = []
        self._font = _font()
        title = widgets.HTML("<span class='svnb-muted'>Last annotated (click one to correct it)</span>")
        super().__init__([title, self.canvas], **kwargs)
        self.add_class("svnb-thumbnails")
        self.canvas.on_mouse_down(self._on_mouse_down)

    @property
    def items(self) -> list[tuple[Any, str, str]]:
        """(key, class name, colour) of each slot, newest first."""
        return [(key, name, color) for key, name, color, _ in self._entries]

    def add(self, key: Any, class_name: str, color: str, frame: np.ndarray) -> None:
        """Put an annotated crop first (replacing an older thumbnail of the same object)."""
        small = _shrink(frame, THUMB)
        entries = [e for e in self._entries if e[0] != key]
        tile = self._tile(small, class_name, color)
        self._entries = [(key, class_name, color, tile), *entries][: self.n_slots]
        self.redraw()

    def relabel(self, key: Any, class_name: str | None, color: str) -> None:
        """Update (or drop, when ``class_name`` is None) the thumbnail of ``key``."""
        entries, changed = [], False
        for entry in self._entries:
            if entry[0] == key:
                changed = True
                if class_name is None:
                    continue
                entry = (key, class_name, color, self._tile(entry[3][:THUMB], class_name, color))
            entries.append(entry)
        if changed:
            self._entries = entries
            self.redraw()

    def _tile(self, small: np.ndarray, name: str, color: str) -> np.ndarray:
        """One slot: the thumbnail framed in the class colour, the class name below."""
        image = Image.new("RGBA", (THUMB, THUMB + BAND), color)
        image.paste(Image.fromarray(np.ascontiguousarray(small), "RGBA"), (0, 0))
        draw = ImageDraw.Draw(image)
        draw.rectangle([0, 0, THUMB - 1, THUMB - 1], outline=color, width=2)
        label = name
        while len(label) > 1 and draw.textlength(label, font=self._font) > THUMB - 4:
            label = label[:-2] + "…"
        draw.text(
            (THUMB / 2, THUMB + BAND / 2), label, fill=display.text_color_for(color), font=self._font, anchor="mm"
        )
        return np.asarray(image)

    def redraw(self) -> None:
        """Assemble the strip from the cached tiles and send it."""
        strip = np.zeros((THUMB + BAND, self.canvas.width, 4), dtype=np.uint8)
        for i, entry in enumerate(self._entries):
            x = i * (THUMB + GAP)
            strip[:, x : x + THUMB] = entry[3]
        self.painter.draw(strip, clear=True)

    def on_select(self, callback: Callable[[Any], None], remove: bool = False) -> None:
        """Register ``callback(key)``, called when a thumbnail is clicked."""
        if remove:
            self._callbacks.remove(callback)
        else:
            self._callbacks.append(callback)

    def select(self, slot: int) -> None:
        """Act as if thumbnail ``slot`` (0 = newest) had been clicked."""
        if 0 <= slot < len(self._entries):
            key = self._entries[slot][0]
            for callback in list(self._callbacks):
                callback(key)

    def _on_mouse_down(self, x: float, _y: float) -> None:
        slot = int(x // (THUMB + GAP))
        if x - slot * (THUMB + GAP) < THUMB:
            self.select(slot)


def _shrink(frame: np.ndarray, side: int) -> np.ndarray:
    """Area-averaged shrink of a square RGBA frame to ``side`` x ``side``."""
    image = Image.fromarray(np.ascontiguousarray(frame), "RGBA").resize((side, side), Image.Resampling.BOX)
    return np.asarray(image)


def _font() -> ImageFont.ImageFont | ImageFont.FreeTypeFont:
    try:
        return ImageFont.load_default(size=11)
    except TypeError:  # pragma: no cover - Pillow < 10.1
        return ImageFont.load_default()


def text_frame(size: int, title: str, text: str, background: str) -> np.ndarray:
    """A square RGBA frame of ``size`` px with a title and a line of text in its middle."""
    image = Image.new("RGBA", (size, size), background)
    draw = ImageDraw.Draw(image)
    font = _font()
    middle = size / 2
    draw.text((middle, middle - 10), title, fill="#ffffff", font=font, anchor="mm")
    draw.text((middle, middle + 10), text, fill="#aaaaaa", font=font, anchor="mm")
    return np.asarray(image)
