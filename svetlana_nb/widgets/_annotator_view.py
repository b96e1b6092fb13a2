"""Layout and drawing of the :class:`~svetlana_nb.widgets.annotator.Annotator` (private base).

The subclass owns the state and the actions (``label``, ``skip``, ...); this base builds the
widgets, wires their events to those actions (errors go to an Output in the widget) and turns
the state into pixels with :mod:`svetlana_nb.display`.
"""

from __future__ import annotations

import html
from typing import Any

import ipywidgets as widgets
import numpy as np
from ipycanvas import Canvas

from .. import display
from ..objects import Objects
from ._canvas import ErrorArea, Painter, fixed_size, on_key
from ._display import DisplayControls
from ._focus import FocusKeeper, keeps_focus
from ._overview import Overview
from ._queue import mode_options, shortcut_keys
from ._thumbs import ThumbnailStrip, text_frame
from ._tints import class_tints

BACKGROUND = "#202020"
SELECTED = "#ffff00"

CSS = """<style>
.svnb-annotator .svnb-class-button { font-weight: 600; }
.svnb-annotator .svnb-muted { color: var(--jp-ui-font-color2, #666); font-size: 12px; }
.svnb-annotator .svnb-chip { display: inline-block; border-radius: 4px; padding: 0 6px;
  margin: 1px 4px 1px 0; font-size: 12px; }
.svnb-annotator canvas:focus { outline: 2px solid var(--jp-brand-color1, #1976d2);
  outline-offset: -2px; }
.svnb-annotator .svnb-info { min-height: 64px; }
</style>"""


def chip(text: str, color: str) -> str:
    """HTML of a small coloured label."""
    style = f"background:{color};color:{display.text_color_for(color)}"
    return f"<span class='svnb-chip' style='{style}'>{html.escape(text)}</span>"


class AnnotatorView(widgets.VBox):
    """Widgets, event wiring and rendering of the annotator (see ``Annotator``)."""

    #: The last object's crop: (row, image crop, object mask, label crop, origin).
    _crop: tuple[int, np.ndarray, np.ndarray, np.ndarray, tuple[int, ...]] | None = None

    def __init__(self, objects: Objects, *, size: int = 320) -> None:
        self.size = int(size)
        self._frame: np.ndarray | None = None
        self._overview_key: tuple[int, int] | None = None
        self.errors = ErrorArea()
        guard = self.errors.guard
        # header: mode, image, progress
        self.mode_dropdown = widgets.Dropdown(
            options=mode_options(None),
            value="propose",
            description="Mode",
            layout=widgets.Layout(width="250px"),
        )
        self.mode_dropdown.add_class("svnb-mode")
        self.mode_dropdown.observe(guard("changing the mode")(self._mode_chosen), names="value")
        names = [("all images", -1)] + [(n, i) for i, n in enumerate(objects.names)]
        self.image_dropdown = widgets.Dropdown(
            options=names, value=-1, description="Image", layout=widgets.Layout(width="250px")
        )
        self.image_dropdown.observe(guard("changing the image")(self._image_chosen), names="value")
        if objects.n_images == 1:
            self.image_dropdown.layout.display = "none"
        self.progress = widgets.IntProgress(min=0, max=len(objects), layout=widgets.Layout(width="160px"))
        self.progress_label = widgets.HTML()
        self.progress_label.add_class("svnb-progress")
        header = widgets.HBox(
            [self.mode_dropdown, self.image_dropdown, self.progress, self.progress_label],
            layout=widgets.Layout(align_items="center", flex_flow="row wrap"),
        )
        # image area: the crop canvas or the click-mode overview
        self.crop_canvas = Canvas(width=self.size, height=self.size)
        self.crop_canvas.add_class("svnb-crop-canvas")
        fixed_size(self.crop_canvas, self.size, self.size)
        self.crop_painter = Painter(self.crop_canvas, [self.crop_canvas])
        self.overview = Overview(size=2 * self.size)
        self.overview.shrink_to_fit(300)  # click mode: the class buttons stay beside it on a laptop
        self.overview.render_base = self._render_base
        self.overview.render_overlay = self._render_overlay
        self.overview.on_click(guard("selecting an object")(self._clicked))
        self.overview.layout.display = "none"
        keys = guard("handling a key")(self._key)
        for canvas in (self.crop_canvas, self.overview.canvas):
            on_key(canvas, keys)
        # side panel: info, class buttons, navigation, counts
        self.info = widgets.HTML()
        self.info.add_class("svnb-info")
        self.class_box = widgets.VBox(layout=widgets.Layout(width="100%"))
        refocus = self._then_refocus
        self.back_button = self._nav_button(
            "Undo",
            "undo",
            "Undo the last label and show it again (Backspace)",
            refocus(guard("undoing")(lambda: self.undo())),
        )
        self.redo_button = self._nav_button(
            "Redo", "repeat", "Redo (Ctrl+Y)", refocus(guard("redoing")(lambda: self.redo()))
        )
        self.skip_button = self._nav_button(
            "Skip", "forward", "Skip this object (Space)", refocus(guard("skipping")(lambda: self.skip()))
        )
        nav = widgets.HBox([self.back_button, self.redo_button, self.skip_button])
        self.counts, self.hint = widgets.HTML(), widgets.HTML()
        side_layout = widgets.Layout(flex="0 0 300px", margin="0 0 0 12px")
        side = widgets.VBox([self.info, self.class_box, nav, self.counts, self.hint], layout=side_layout)
        body = widgets.HBox([self.crop_canvas, self.overview, side], layout=widgets.Layout(align_items="flex-start"))
        # thumbnails, display controls, errors
        self.thumbnails = ThumbnailStrip()
        self.thumbnails.on_select(guard("going back to an object")(lambda key: self.select(key)))
        on_key(self.thumbnails.canvas, keys)
        self.display = DisplayControls(objects, guard("redrawing")(self._display_changed))
        self.display_panel = widgets.Accordion(children=[self.display], titles=("Display",), selected_index=None)
        super().__init__(
            [widgets.HTML(CSS), FocusKeeper(), header, body, self.thumbnails, self.display_panel, self.errors]
        )
        self.add_class("svnb-annotator")

    @staticmethod
    def _nav_button(text: str, icon: str, tooltip: str, action: Any) -> widgets.Button:
        button = widgets.Button(description=text, icon=icon, tooltip=tooltip, layout=widgets.Layout(width="90px"))
        keeps_focus(button).add_class(f"svnb-{text.lower()}-button")
        button.on_click(lambda _: action())
        return button

    def _then_refocus(self, action: Any) -> Any:
        def run(*args: Any) -> None:
            try:
                action(*args)
            finally:
                self._refocus()

        return run

    # -- events --------------------------------------------------------------------------------
    def _key(self, key: str, *, shift: bool = False, ctrl: bool = False, meta: bool = False) -> None:
        self.press_key(key, shift=shift, ctrl=ctrl, meta=meta)

    def _clicked(self, y: float, x: float) -> None:
        self.click_image(y, x)

    def _mode_chosen(self, change: Any) -> None:
        try:
            self.mode = change["new"]
        except Exception:
            self.mode_dropdown.value = self.mode
            raise

    def _image_chosen(self, change: Any) -> None:
        self.image = change["new"]

    def _display_changed(self) -> None:
        if self.mode == "click":
            self._overview_key = (self.shown_image, self.display.z)
            self.overview.refresh()
        else:
            self._draw_crop()

    # -- side panel ----------------------------------------------------------------------------
    def _build_class_buttons(self) -> None:
        buttons = []
        names = self.class_names
        for k, (name, key) in enumerate(zip(names, shortcut_keys(len(names)))):
            color = display.class_color(k, self.objects.n_channels)
            button = widgets.Button(
                description=f"{key} · {name}" if key else name,
                tooltip=f"Label as {name}" + (f" (key {key})" if key else ""),
                layout=widgets.Layout(width="100%", height="34px"),
            )
            button.style.button_color = color
            button.style.text_color = display.text_color_for(color)
            button.add_class("svnb-class-button")
            keeps_focus(button).add_class(f"svnb-class-{k}")
            button.on_click(
                self._then_refocus(self.errors.guard(f"labelling as {name!r}")(lambda _, name=name: self.label(name)))
            )
            buttons.append(button)
        self.class_box.children = buttons
        self._update_hint()

    def _update_hint(self) -> None:
        keys = [k for k in shortcut_keys(len(self.class_names)) if k]
        span = f"{keys[0]}–{keys[-1]}" if len(keys) > 1 else (keys[0] if keys else "")
        lines = [
            f"Click the image, then press <b>{span}</b> to label",
            "<b>Space</b> skip · <b>Backspace</b> undo · <b>Ctrl+Y</b> redo",
        ]
        if self.mode == "click":
            lines = [
                "Click an object to select it; drag to pan, wheel or <b>+</b> <b>−</b> <b>0</b> to zoom",
                f"<b>{span}</b> label the selection · <b>Backspace</b> undo",
            ]
        if self.objects.spatial_ndim == 3:
            lines.append("<b>↑</b> <b>↓</b> change the z slice")
        self.hint.value = "".join(f"<div class='svnb-muted'>{line}</div>" for line in lines)

    def _update_progress(self) -> None:
        counts = self.annotations.counts()
        total = len(self.objects)
        done = int((self._klass >= 0).sum())
        self.progress.value = done
        self.progress_label.value = f"<b>{done}</b> / {total} annotated"
        self.counts.value = "".join(
            chip(f"{name}: {n}", display.class_color(k, self.objects.n_channels))
            for k, (name, n) in enumerate(counts.items())
        )
        self.back_button.disabled = not self.annotations.can_undo
        self.redo_button.disabled = not self.annotations.can_redo
        self._update_info()

    def _update_info(self) -> None:
        row = self._row
        if row is None:
            if self.mode == "click":
                self.info.value = "<div class='svnb-muted'>Click an object to select it.</div>"
            else:
                self.info.value = (
                    "<b>Nothing left to propose</b><div class='svnb-muted'>"
                    "every object here is annotated (or skipped)</div>"
                )
            return
        name, label = self.objects.key(row)
        nd = self.objects.spatial_ndim
        centre = self.objects.centres[row]
        where = " · ".join(f"{a} {int(v)}" for a, v in zip("zyx"[3 - nd :], centre))
        extent = " × ".join(str(int(e)) for e in self._extent(row)[-2:])
        image = f" in <b>{html.escape(name)}</b>" if self.objects.n_images > 1 else ""
        lines = [f"<b>Object {label}</b>{image}", f"<span class='svnb-muted'>{where} · {extent} px</span>"]
        k = int(self._klass[row])
        if k >= 0:
            lines.append("annotated " + chip(self.class_names[k], display.class_color(k, self.objects.n_channels)))
        if self._proba is not None:
            p = self._proba[row]
            best = int(np.argmax(p))
            guess = self._proba_names[best] if best < len(self._proba_names) else str(best)
            names = self.class_names
            color = display.class_color(names.index(guess), self.objects.n_channels) if guess in names else "#999999"
            lines.append(f"model's guess {chip(guess, color)} {100 * p[best]:.0f} %")
        self.info.value = "<br>".join(lines)

    def _extent(self, row: int) -> np.ndarray:
        """Bounding-box side lengths of one object (``Objects.extents`` computes all of them)."""
        nd = self.objects.spatial_ndim
        return self.objects.bbox[row, nd:] - self.objects.bbox[row, :nd]

    def _refocus(self) -> None:
        """Give the keyboard back to the image canvas after a button click.

        Keys then keep labelling, and never reach JupyterLab's command-mode shortcuts (a
        focused canvas stops their propagation; a focused button would not).
        """
        (self.overview.canvas if self.mode == "click" else self.crop_canvas).focus()

    def _sync_mode_view(self) -> None:
        click = self.mode == "click"
        options = mode_options(getattr(self, "classifier", None))
        if list(self.mode_dropdown.options) != options:
            self.mode_dropdown.options = options
        self.mode_dropdown.value = self.mode
        self.image_dropdown.value = self.image
        self.crop_canvas.layout.display = "none" if click else ""
        self.overview.layout.display = "" if click else "none"
        self.display.projection_box.disabled = click
        self._update_hint()
        if click:
            self._overview_key = None

    # -- drawing -------------------------------------------------------------------------------
    def _show(self, row: int | None, *, from_click: bool = False) -> None:
        """Make ``row`` the current object and draw it."""
        self._row = row
        self._frame = None
        self._update_info()
        nd = self.objects.spatial_ndim
        if self.mode == "click":
            i = self.shown_image
            z = self.display.z
            if nd == 3 and row is not None and not from_click:
                z = int(self.objects.centres[row][0])
            if self._overview_key != (i, z):
                depth = self.objects.masks[i].shape[0] - 1 if nd == 3 else 0
                with self.display.silent():
                    self.display.show_image(i)
                    self.display.set_z_range(0, depth, z)
                self._overview_key = (i, self.display.z)
                if not self.overview.set_shape(self.objects.masks[i].shape[-2:]):
                    self.overview.refresh()
            elif row is None or from_click or not self._reveal(row):
                self.overview.refresh(base=False)
            return
        if row is not None:
            with self.display.silent():
                self.display.show_image(self._row_image(row))
                if nd == 3:
                    _, image, _, _, origin = self._crop_arrays(row)
                    depth = self.objects.masks[self._row_image(row)].shape[0]
                    low, high = max(0, origin[0]), min(depth, origin[0] + image.shape[0]) - 1
                    self.display.set_z_range(low, high, int(self.objects.centres[row][0]))
        self._draw_crop()

    def _reveal(self, row: int) -> bool:
        """Centre the overview on ``row`` if it is out of view; return whether it moved."""
        y, x = self.objects.centres[row][-2:]
        y0, x0, y1, x1 = self.overview.viewport
        if y0 <= y < y1 and x0 <= x < x1:
            return False
        before = self.overview.viewport
        self.overview.centre_on(float(y), float(x))
        return self.overview.viewport != before

    def _draw_crop(self) -> None:
        if self._row is None:
            self.crop_painter.draw(text_frame(self.size, "All done here", "Nothing left to propose", BACKGROUND))
            return
        self._frame = self._crop_frame(self._row, z=self.display.z, projection=self.display.projection)
        self.crop_painter.draw(self._frame)

    def _crop_arrays(self, row: int) -> tuple[int, np.ndarray, np.ndarray, np.ndarray, tuple[int, ...]]:
        """Image crop, object mask, label crop and origin of ``row`` (cached for the last row)."""
        if self._crop is not None and self._crop[0] == row:
            return self._crop
        ext = self._extent(row)
        side = max(self.objects.patch_shape[-1], 2 * int(ext[-2:].max()) + 8)
        shape = (side, side) if self.objects.spatial_ndim == 2 else (int(ext[0]) + 2, side, side)
        image, mask, origin = self.objects.crop(row, size=shape)
        labels = self.objects.label_crop(self._row_image(row), origin, shape)
        self._crop = (row, image, mask, labels, origin)
        return self._crop

    def _crop_frame(self, row: int, *, z: int | None = None, projection: bool = False) -> np.ndarray:
        """Render the (size, size, 4) display frame of one object."""
        _, image, mask, crop_labels, origin = self._crop_arrays(row)
        labels: np.ndarray | None = crop_labels
        if self.objects.spatial_ndim == 3:
            if projection:
                image, mask, labels = image.max(axis=0), np.asarray(mask.any(axis=0)), None
            else:
                zc = int(self.objects.centres[row][0]) if z is None else int(z)
                zi = int(np.clip(zc - origin[0], 0, image.shape[0] - 1))
                image, mask, labels = image[zi], mask[zi], crop_labels[zi]
        i = self._row_image(row)
        frame, _, _ = display.render_crop(
            image,
            mask,
            colors=self.display.colors,
            limits=self.display.limits(i),
            visible=self.display.visible,
            rgb=self.objects.is_rgb,
            labels=labels,
            size=self.size,
            outline_color=SELECTED,
            background=BACKGROUND,
        )
        return frame

    def _render_base(self, ys: np.ndarray, xs: np.ndarray, vy: np.ndarray, vx: np.ndarray) -> np.ndarray:
        i = self.shown_image
        rgba = display.composite(
            self.objects.sample_image(i, ys, xs, z=self.display.z),
            colors=self.display.colors,
            limits=self.display.limits(i),
            visible=self.display.visible,
            rgb=self.objects.is_rgb,
        )
        rgba[~vy] = (*display.hex_to_rgb(BACKGROUND), 255)
        rgba[:, ~vx] = (*display.hex_to_rgb(BACKGROUND), 255)
        return rgba

    def _render_overlay(self, ys: np.ndarray, xs: np.ndarray, vy: np.ndarray, vx: np.ndarray) -> np.ndarray:
        i = self.shown_image
        labels = self.objects.sample_labels(i, ys, xs, z=self.display.z) * (vy[:, None] & vx[None, :])
        layer = class_tints(self.objects, i, labels, self._klass, len(self.class_names), self._luts)
        if self.overview.scale <= 1.0:
            display.overlay(layer, display.label_outlines(labels), "#ffffff", alpha=0.3)
        if self._row is not None and self._row_image(self._row) == i:
            selected = labels == self.objects.labels[self._row]
            if selected.any():
                ring = display.outline(selected, thickness=2, outer=True)
                display.overlay(layer, ring, SELECTED)
        return layer
