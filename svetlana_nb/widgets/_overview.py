"""A zoomable, pannable view of a (large) 2D image on a two-layer canvas.

Only the current viewport is ever sent, resampled to the canvas size (at most ``max_pixels``
on a side): an 8000 x 8000 image zoomed out costs one 640 x 640 frame, and zooming in refines
it. Layer 0 holds the image (sent as JPEG: noisy microscopy compresses badly as PNG), layer 1
a transparent overlay (PNG) that changes on its own when objects are labelled or selected.
"""

from __future__ import annotations

import asyncio
from collections.abc import Callable
from typing import Any

import ipywidgets as widgets
import numpy as np
from ipycanvas import MultiCanvas
from traitlets import Float, Tuple

from .. import display
from ._canvas import ImageFormat, Painter, fixed_size

#: Smallest viewport side relative to the canvas (image pixels are magnified up to 16x).
MAX_MAGNIFICATION = 16.0
#: Mouse movement (canvas pixels) below which a press and release is a click, not a drag.
CLICK_TOLERANCE = 4.0
#: Wheel events arriving within this many seconds are drawn once (a trackpad sends dozens).
WHEEL_COALESCE_S = 0.04

Renderer = Callable[[np.ndarray, np.ndarray, np.ndarray, np.ndarray], np.ndarray]


class Overview(widgets.VBox):
    """Image viewer with zoom buttons, mouse-wheel zoom, drag to pan and click callbacks.

    Parameters
    ----------
    size : int
        Longest canvas side in pixels (the other follows the image's aspect ratio).
    base_format : {"jpeg", "png"}
        Encoding of the image layer.

    Attributes
    ----------
    render_base : callable
        ``render_base(ys, xs, valid_y, valid_x) -> (H, W, 4) uint8`` draws the image for the
        nearest-neighbour sample rows ``ys`` and columns ``xs`` (see :func:`display.view_indices`);
        rows/columns outside the image have ``valid_* == False``.
    render_overlay : callable
        Same signature; returns a transparent RGBA overlay.
    """

    viewport = Tuple(
        Float(),
        Float(),
        Float(),
        Float(),
        default_value=(0.0, 0.0, 1.0, 1.0),
        help="(y0, x0, y1, x1): the image region shown, in image coordinates",
    )

    def __init__(self, *, size: int = 640, base_format: ImageFormat = "jpeg", **kwargs: Any) -> None:
        self.size = int(size)
        self.base_format = base_format
        self.shape: tuple[int, int] = (1, 1)
        self.canvas = MultiCanvas(2, width=self.size, height=self.size)
        self.canvas.add_class("svnb-overview-canvas")
        self.min_width: int | None = None  # see shrink_to_fit
        self._size_canvas(self.size, self.size)
        self.painter = Painter(self.canvas, [self.canvas[0], self.canvas[1]])
        self.render_base: Renderer | None = None
        self.render_overlay: Renderer | None = None
        self._click_callbacks: list[Callable[[float, float], None]] = []
        self._press: tuple[float, float] | None = None
        self._pointer: tuple[float, float] | None = None
        self._deferring = False  # wheel zoom: redraw later, once
        self._redraw_pending = False
        self.zoom_in_button = self._button("search-plus", "Zoom in (+)", lambda: self.zoom(1.5))
        self.zoom_out_button = self._button("search-minus", "Zoom out (-)", lambda: self.zoom(1 / 1.5))
        self.fit_button = self._button("expand", "Show the whole image (0)", self.fit)
        self.zoom_label = widgets.Label("")
        self.zoom_label.add_class("svnb-zoom-label")
        tools = widgets.HBox(
            [self.zoom_in_button, self.zoom_out_button, self.fit_button, self.zoom_label],
            layout=widgets.Layout(align_items="center"),
        )
        super().__init__([self.canvas, tools], **kwargs)
        self.add_class("svnb-overview")
        self.canvas.on_mouse_down(self._on_mouse_down)
        self.canvas.on_mouse_up(self._on_mouse_up)
        self.canvas.on_mouse_move(self._on_mouse_move)
        self.canvas.on_mouse_wheel(self._on_wheel)
        self.observe(self._on_viewport, names="viewport")

    @staticmethod
    def _button(icon: str, tooltip: str, action: Callable[[], None]) -> widgets.Button:
        button = widgets.Button(icon=icon, tooltip=tooltip, layout=widgets.Layout(width="36px"))
        button.on_click(lambda _: action())
        return button

    # -- geometry ------------------------------------------------------------------------------
    def shrink_to_fit(self, min_width: int) -> None:
        """Let the image shrink to the width its row leaves (not below ``min_width`` px).

        On a laptop (a 1100 px window with the file browser open) a side panel then stays
        beside the image instead of dropping below it, off-screen. The canvas keeps its pixels
        and its aspect; the browser scales it down, and clicks map back (ipycanvas scales the
        event coordinates by the shown size).
        """
        self.min_width = int(min_width)
        self.layout.flex = f"3 1 {self.min_width}px"
        self.layout.min_width = f"{self.min_width}px"
        self._size_canvas(int(self.canvas.width), int(self.canvas.height))

    def _size_canvas(self, width: int, height: int) -> None:
        if self.min_width is None:
            fixed_size(self.canvas, width, height)
            return
        self.layout.max_width = f"{width}px"
        layout = self.canvas.layout
        layout.width, layout.max_width, layout.height, layout.min_width = "100%", f"{width}px", "auto", "0"

    @property
    def frame_shape(self) -> tuple[int, int]:
        """Canvas (height, width) in pixels."""
        return int(self.canvas.height), int(self.canvas.width)

    def set_shape(self, shape_yx: tuple[int, int]) -> bool:
        """Show an image of this (Y, X) shape: size the canvas to its aspect and fit it.

        Returns True when the shape changed (the view was then redrawn once), False when it
        was already this shape (nothing was drawn).
        """
        shape = (int(shape_yx[0]), int(shape_yx[1]))
        if shape == self.shape:
            return False
        self.shape = shape
        h, w = shape
        cw, ch = (
            (self.size, max(64, round(self.size * h / w))) if w >= h else (max(64, round(self.size * w / h)), self.size)
        )
        with self.canvas.hold_trait_notifications():
            self.canvas.width, self.canvas.height = cw, ch
        self._size_canvas(cw, ch)
        before = self.viewport
        self.fit()
        if self.viewport == before:  # no viewport change, so no redraw happened
            self.refresh()
        return True

    def fit(self) -> None:
        """Show the whole image."""
        h, w = self.shape
        fh, fw = self.frame_shape
        scale = max(h / fh, w / fw)
        cy, cx = h / 2, w / 2
        hh, hw = fh * scale / 2, fw * scale / 2
        self.viewport = (cy - hh, cx - hw, cy + hh, cx + hw)

    @property
    def scale(self) -> float:
        """Image pixels per canvas pixel (below 1 when zoomed in past 100 %)."""
        return (self.viewport[3] - self.viewport[1]) / self.frame_shape[1]

    def to_image(self, cx: float, cy: float) -> tuple[float, float]:
        """Image (y, x) under canvas pixel (cx, cy)."""
        y0, x0 = self.viewport[:2]
        return y0 + cy * self.scale, x0 + cx * self.scale

    def to_canvas(self, y: float, x: float) -> tuple[float, float]:
        """Canvas (cx, cy) of image position (y, x)."""
        y0, x0 = self.viewport[:2]
        return (x - x0) / self.scale, (y - y0) / self.scale

    def zoom(self, factor: float, at: tuple[float, float] | None = None) -> None:
        """Magnify by ``factor`` (> 1 zooms in) keeping image point ``at`` (y, x) in place."""
        h, w = self.shape
        fh, fw = self.frame_shape
        fit_scale = max(h / fh, w / fw)
        new = float(np.clip(self.scale / factor, 1.0 / MAX_MAGNIFICATION, fit_scale))
        y0, x0, y1, x1 = self.viewport
        ay, ax = at if at is not None else ((y0 + y1) / 2, (x0 + x1) / 2)
        ratio = new / self.scale
        ny0, nx0 = ay - (ay - y0) * ratio, ax - (ax - x0) * ratio
        self._set_clamped(ny0, nx0, new)

    def pan(self, dy: float, dx: float) -> None:
        """Move the view by (dy, dx) image pixels."""
        y0, x0 = self.viewport[:2]
        self._set_clamped(y0 + dy, x0 + dx, self.scale)

    def centre_on(self, y: float, x: float) -> None:
        """Move the view so that image point (y, x) is in the middle."""
        fh, fw = self.frame_shape
        self._set_clamped(y - fh * self.scale / 2, x - fw * self.scale / 2, self.scale)

    def _set_clamped(self, y0: float, x0: float, scale: float) -> None:
        h, w = self.shape
        fh, fw = self.frame_shape
        vh, vw = fh * scale, fw * scale
        # keep the view's centre over the image
        y0 = float(np.clip(y0, -vh / 2, h - vh / 2)) if vh < h else (h - vh) / 2
        x0 = float(np.clip(x0, -vw / 2, w - vw / 2)) if vw < w else (w - vw) / 2
        self.viewport = (y0, x0, y0 + vh, x0 + vw)

    def indices(self) -> tuple[np.ndarray, np.ndarray, np.ndarray, np.ndarray]:
        """Sample rows, columns and their validity for the current viewport and canvas."""
        y0, x0, y1, x1 = self.viewport
        fh, fw = self.frame_shape
        ys, xs = display.view_indices(self.shape, self.viewport, (fh, fw))
        raw_y = y0 + (np.arange(fh) + 0.5) * (y1 - y0) / fh
        raw_x = x0 + (np.arange(fw) + 0.5) * (x1 - x0) / fw
        valid_y = (raw_y >= 0) & (raw_y < self.shape[0])
        valid_x = (raw_x >= 0) & (raw_x < self.shape[1])
        return ys, xs, valid_y, valid_x

    # -- drawing -------------------------------------------------------------------------------
    def _on_viewport(self, _change: Any) -> None:
        if not self._deferring:
            self.refresh()
            return
        if self._redraw_pending:
            return
        try:
            loop = asyncio.get_running_loop()
        except RuntimeError:  # no event loop (plain Python): draw now
            self.refresh()
            return
        self._redraw_pending = True
        loop.call_later(WHEEL_COALESCE_S, self._deferred_refresh)

    def _deferred_refresh(self) -> None:
        self._redraw_pending = False
        self.refresh()

    def refresh(self, *, base: bool = True, overlay: bool = True) -> None:
        """Re-render and send the image layer and/or the overlay for the current viewport."""
        if self.render_base is None or self.shape == (1, 1):
            return
        args = self.indices()
        if base:
            self.painter.draw(self.render_base(*args), layer=0, fmt=self.base_format)
        if overlay and self.render_overlay is not None:
            self.painter.draw(self.render_overlay(*args), layer=1, clear=True)
        self.zoom_label.value = f"{100 / self.scale:.0f} %"

    # -- events --------------------------------------------------------------------------------
    def on_click(self, callback: Callable[[float, float], None], remove: bool = False) -> None:
        """Register ``callback(y, x)`` (image coordinates) for clicks on the image."""
        if remove:
            self._click_callbacks.remove(callback)
        else:
            self._click_callbacks.append(callback)

    def click(self, y: float, x: float) -> None:
        """Fire the click callbacks for image position (y, x), as a mouse click would."""
        for callback in list(self._click_callbacks):
            callback(y, x)

    def _on_mouse_down(self, cx: float, cy: float) -> None:
        self._press = (cx, cy)

    def _on_mouse_move(self, cx: float, cy: float) -> None:
        self._pointer = (cx, cy)

    def _on_mouse_up(self, cx: float, cy: float) -> None:
        press, self._press = self._press, None
        if press is None:
            return
        dx, dy = cx - press[0], cy - press[1]
        if abs(dx) <= CLICK_TOLERANCE and abs(dy) <= CLICK_TOLERANCE:
            self.click(*self.to_image(cx, cy))
        else:
            self.pan(-dy * self.scale, -dx * self.scale)

    def _on_wheel(self, _delta_x: float, delta_y: float) -> None:
        if delta_y == 0:
            return
        at = self.to_image(*self._pointer) if self._pointer is not None else None
        self._deferring = True
        try:
            self.zoom(1.25 if delta_y < 0 else 1 / 1.25, at=at)
        finally:
            self._deferring = False
