"""Display controls: channel toggles, colours and contrast, z slice and max projection."""

from __future__ import annotations

import contextlib
from collections.abc import Callable, Iterator
from typing import Any

import ipywidgets as widgets
import numpy as np
from traitlets import Bool, Int, List, Unicode

from .. import display
from ..objects import Objects


def _value_range(image: np.ndarray, channel: int, max_samples: int = 500_000) -> tuple[float, float]:
    """Min and max of one channel on a strided subsample (bounds of its contrast slider)."""
    pixels = image.reshape(-1, image.shape[-1])  # a view for the usual contiguous images
    sample = pixels[:: max(1, pixels.shape[0] // max_samples), channel]
    lo, hi = float(sample.min()), float(sample.max())
    if np.issubdtype(image.dtype, np.integer):
        info = np.iinfo(image.dtype)
        hi = float(min(info.max, hi * 1.5 + 1))
        lo = float(max(info.min, min(lo, 0)))
    return (lo, hi) if hi > lo else (lo, lo + 1.0)


class DisplayControls(widgets.VBox):
    """How images are shown: per channel visibility, colour and contrast; z slice; projection.

    Contrast limits start at the 1st-99.8th percentiles of each image (``Objects.channel_ranges``)
    and are kept per image. RGB images are shown as they are (no channel controls).

    Parameters
    ----------
    objects : Objects
    on_change : callable
        Called with no argument after any display setting changed.
    """

    visible = List(Bool(), help="whether each channel is shown")
    colors = List(Unicode(), help="hex display colour of each channel")
    z = Int(0, help="z slice shown (3D images), in image coordinates")
    projection = Bool(False, help="show the maximum projection along z instead of one slice (3D)")

    def __init__(self, objects: Objects, on_change: Callable[[], None], **kwargs: Any) -> None:
        self.objects = objects
        self._on_change_callback = on_change
        self._silent = 0
        self._image = 0
        self._ranges: dict[tuple[int, int], tuple[float, float]] = {}
        self._shown: int | None = None
        self._limits = np.array(objects.channel_ranges("percentile"), dtype=np.float64)
        n = objects.n_channels
        super().__init__(visible=[True] * n, colors=display.default_channel_colors(n), **kwargs)
        self.add_class("svnb-display")
        self.checks, self.pickers, self.sliders = [], [], []
        rows = []
        integer = np.issubdtype(objects.images[0].dtype, np.integer)
        if not objects.is_rgb:
            for c in range(n):
                check = widgets.Checkbox(
                    value=True, description=f"channel {c}", indent=False, layout=widgets.Layout(width="95px")
                )
                picker = widgets.ColorPicker(value=self.colors[c], concise=True, layout=widgets.Layout(width="32px"))
                slider = widgets.FloatRangeSlider(
                    description="contrast",
                    readout_format=".0f" if integer else ".3g",
                    continuous_update=False,
                    layout=widgets.Layout(width="440px"),
                    style={"description_width": "60px"},
                )
                check.observe(self._channel_changed, names="value")
                picker.observe(self._channel_changed, names="value")
                slider.observe(self._limits_changed, names="value")
                self.checks.append(check)
                self.pickers.append(picker)
                self.sliders.append(slider)
                rows.append(widgets.HBox([check, picker, slider]))
            if n == 1:  # one grey channel: only its contrast
                self.checks[0].layout.display = "none"
                self.pickers[0].layout.display = "none"
        self.z_slider = widgets.IntSlider(
            description="z",
            continuous_update=True,
            layout=widgets.Layout(width="440px"),
            style={"description_width": "60px"},
        )
        self.projection_box = widgets.Checkbox(
            description="max projection", indent=False, layout=widgets.Layout(width="130px")
        )
        widgets.link((self.z_slider, "value"), (self, "z"))
        widgets.link((self.projection_box, "value"), (self, "projection"))
        self.observe(lambda _: self._on_change(), names=["z", "projection"])
        self.z_row = widgets.HBox([self.z_slider, self.projection_box])
        if objects.spatial_ndim == 2:
            self.z_row.layout.display = "none"
        self.children = [*rows, self.z_row]
        self.show_image(0)

    def _on_change(self) -> None:
        if not self._silent:
            self._on_change_callback()

    @contextlib.contextmanager
    def silent(self) -> Iterator[None]:
        """Change settings without calling ``on_change`` (the caller redraws once itself)."""
        self._silent += 1
        try:
            yield
        finally:
            self._silent -= 1

    # -- state ---------------------------------------------------------------------------------
    def limits(self, image: int | None = None) -> np.ndarray:
        """Contrast limits (C, 2) of an image (default: the one shown)."""
        return self._limits[self._image if image is None else int(image)]

    def set_limits(self, channel: int, lo: float, hi: float, image: int | None = None) -> None:
        """Set the contrast of one channel of an image (default: the one shown)."""
        i = self._image if image is None else int(image)
        self._limits[i, channel] = (float(lo), float(hi))
        if i == self._image and self.sliders:
            self._sync_slider(channel)
        self._on_change()

    def show_image(self, image: int) -> None:
        """Make the sliders show (and edit) the limits of ``image``."""
        self._image = int(image)
        if self._shown == self._image:
            return
        self._shown = self._image
        for c, slider in enumerate(self.sliders):
            key = (self._image, c)
            if key not in self._ranges:
                self._ranges[key] = _value_range(self.objects.preview(self._image), c)
            lo, hi = self._ranges[key]
            current = self._limits[self._image, c]
            lo, hi = min(lo, current[0]), max(hi, current[1])
            # new bounds clamp the old value: not a user's change of the limits
            slider.unobserve(self._limits_changed, names="value")
            try:
                with slider.hold_trait_notifications():
                    slider.min, slider.max = -1e300, 1e300  # avoid transient min > max errors
                    slider.min, slider.max = lo, hi
                    slider.step = (hi - lo) / 1000
            finally:
                slider.observe(self._limits_changed, names="value")
            self._sync_slider(c)

    def _sync_slider(self, channel: int) -> None:
        slider = self.sliders[channel]
        slider.unobserve(self._limits_changed, names="value")
        slider.value = tuple(float(v) for v in self._limits[self._image, channel])
        slider.observe(self._limits_changed, names="value")

    def set_z_range(self, low: int, high: int, value: int) -> None:
        """Bounds and value of the z slider (image coordinates), without redrawing twice."""
        s = self.z_slider
        with self.hold_trait_notifications():
            s.min, s.max = 0, max(s.max, high, low)
            s.min, s.max = int(low), int(high)
            s.value = int(np.clip(value, low, high))

    def _channel_changed(self, _change: Any) -> None:
        self.visible = [c.value for c in self.checks]
        self.colors = [p.value for p in self.pickers]
        self._on_change()

    def _limits_changed(self, _change: Any) -> None:
        for c, slider in enumerate(self.sliders):
            self._limits[self._image, c] = slider.value
        self._on_change()
