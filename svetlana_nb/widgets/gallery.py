"""``QCGallery``: thumbnails of the objects to check by eye, per class and group; annotate, save a sheet.

The selection is the core's :func:`svetlana_nb.prediction.gallery.qc_selection`; each block of
it (a class and a group: most confident, least confident, disagrees with its annotation) is one
canvas of thumbnails. Clicking a thumbnail shows the object in the prediction viewer's panel,
whose class buttons write into the annotations; the contact sheet is
:func:`svetlana_nb.prediction.gallery.contact_sheet`.
"""

from __future__ import annotations

import html
import os
from collections.abc import Callable
from pathlib import Path
from typing import Any

import ipywidgets as widgets
import numpy as np
import traitlets
from ipycanvas import Canvas
from PIL import Image, ImageDraw

from .. import display
from ..models import Classifier
from ..objects import Annotations, Key, Objects
from ..prediction import Prediction
from ..prediction.gallery import contact_sheet, object_thumbnail, qc_selection
from ._canvas import ErrorArea, Painter, fixed_size
from ._object_panel import PANEL_SIZE, ObjectPanel, explain_object, probability_bars
from ._thumbs import _font

THUMB, BAND, GAP = 72, 16, 6  # thumbnail side, caption band under it, space between (pixels)
SELECTED_COLOR = "#00e5ff"
HINT = "<i>Click a thumbnail to see the object, then a class button to annotate or correct it.</i>"


class ThumbnailGrid(widgets.VBox):
    """One block of the gallery: a heading and its objects' thumbnails on one canvas.

    Parameters
    ----------
    title : str
        Plain text heading.
    color : str
        Hex colour of the heading and of the thumbnails' frames.
    rows : numpy.ndarray of int, shape (m,)
        Object rows, in the order shown.
    frames : callable
        ``frames(row)`` → RGBA thumbnail, uint8, shape (THUMB, THUMB, 4).
    captions : callable
        ``captions(row)`` → (text, band colour) under the thumbnail.
    columns : int
        Thumbnails per line.
    """

    def __init__(
        self,
        title: str,
        color: str,
        rows: np.ndarray,
        frames: Callable[[int], np.ndarray],
        captions: Callable[[int], tuple[str, str]],
        *,
        columns: int = 8,
    ) -> None:
        self.rows = np.asarray(rows, dtype=np.int64)
        self.columns = max(1, min(int(columns), self.rows.size))
        self._frames, self._captions, self._font = frames, captions, _font()
        self.color = color
        lines = int(np.ceil(self.rows.size / self.columns))
        self.canvas = Canvas(width=self.columns * (THUMB + GAP), height=lines * (THUMB + BAND + GAP))
        fixed_size(self.canvas, self.canvas.width, self.canvas.height)
        self.canvas.add_class("svnb-qc-canvas")
        self.painter = Painter(self.canvas, [self.canvas])
        self._callbacks: list[Callable[[int], None]] = []
        heading = widgets.HTML(f"<b style='color:{color}'>{html.escape(title)}</b> <small>({self.rows.size})</small>")
        super().__init__([heading, self.canvas])
        self.add_class("svnb-qc-block")
        self.canvas.on_mouse_down(self._on_mouse_down)

    def redraw(self, selected: int | None = None) -> None:
        """Draw every thumbnail with its caption; ``selected`` (a row) gets a cyan frame."""
        mosaic = np.zeros((self.canvas.height, self.canvas.width, 4), dtype=np.uint8)
        for i, row in enumerate(self.rows.tolist()):
            y, x = (i // self.columns) * (THUMB + BAND + GAP), (i % self.columns) * (THUMB + GAP)
            mosaic[y : y + THUMB + BAND, x : x + THUMB] = self._tile(row, selected == row)
        self.painter.draw(mosaic, clear=True)

    def _tile(self, row: int, selected: bool) -> np.ndarray:
        text, band = self._captions(row)
        image = Image.new("RGBA", (THUMB, THUMB + BAND), band)
        image.paste(Image.fromarray(np.ascontiguousarray(self._frames(row)), "RGBA"), (0, 0))
        draw = ImageDraw.Draw(image)
        frame = SELECTED_COLOR if selected else self.color
        draw.rectangle([0, 0, THUMB - 1, THUMB - 1], outline=frame, width=3 if selected else 1)
        while len(text) > 1 and draw.textlength(text, font=self._font) > THUMB - 4:
            text = text[:-2] + "…"
        draw.text((THUMB / 2, THUMB + BAND / 2), text, fill=display.text_color_for(band), font=self._font, anchor="mm")
        return np.asarray(image)

    def on_select(self, callback: Callable[[int], None]) -> None:
        """Register ``callback(row)``, called when a thumbnail is clicked."""
        self._callbacks.append(callback)

    def click(self, index: int) -> None:
        """Act as if thumbnail ``index`` (0 = first) had been clicked."""
        if 0 <= index < self.rows.size:
            for callback in list(self._callbacks):
                callback(int(self.rows[index]))

    def _on_mouse_down(self, x: float, y: float) -> None:
        column, line = int(x // (THUMB + GAP)), int(y // (THUMB + BAND + GAP))
        if column < self.columns and x - column * (THUMB + GAP) < THUMB:
            self.click(line * self.columns + column)


class QCGallery(widgets.VBox):
    """Quality control of a prediction: the objects to check by eye, per class, clickable.

    Per predicted class, the most and the least confident objects and, given out-of-fold
    predictions, the annotations the classifier disagrees with
    (:func:`~svetlana_nb.prediction.gallery.qc_selection`). Click a thumbnail to see the
    object's crop and probabilities, then a class button to annotate or correct it; "Save
    contact sheet…" writes the same selection as a PNG or PDF page.

    Parameters
    ----------
    objects : Objects
    prediction : Prediction
        Made on ``objects``.
    annotations : Annotations
        Made on ``objects``; the class buttons write into it (``ann.add(key, class)``).
    out_of_fold : OutOfFold, optional, keyword-only
        From :func:`svetlana_nb.models.cross_validation.out_of_fold`: adds the disagreements.
    classifier : Classifier, optional, keyword-only
        For the selected object's explanation (as in the prediction viewer).
    per_class : int, keyword-only
        Objects of each class in each of the two confidence groups.
    columns : int, keyword-only
        Thumbnails per line.

    Examples
    --------
    >>> gallery = sv.QCGallery(objects, prediction, ann, out_of_fold=oof)  # doctest: +SKIP
    >>> gallery.select(gallery.selection["row"][0]); gallery.correct("fragmented")  # doctest: +SKIP
    >>> gallery.save_sheet("qc.pdf")  # doctest: +SKIP
    """

    selected = traitlets.Any(None, allow_none=True, help="Key (image name, label) of the selected object")

    def __init__(
        self,
        objects: Objects,
        prediction: Prediction,
        annotations: Annotations,
        *,
        out_of_fold: Any = None,
        classifier: Classifier | None = None,
        per_class: int = 8,
        columns: int = 8,
        **kwargs: Any,
    ) -> None:
        if not isinstance(objects, Objects):
            raise ValueError(f"objects: expected svetlana_nb.Objects, got {type(objects).__name__}")
        if not isinstance(prediction, Prediction) or prediction.objects is not objects:
            raise ValueError("prediction: expected a Prediction made on these objects")
        if not isinstance(annotations, Annotations) or annotations.objects is not objects:
            raise ValueError("annotations: expected Annotations made on these objects")
        self.objects, self.prediction, self.annotations = objects, prediction, annotations
        self.classifier = classifier
        self.selection = qc_selection(prediction, per_class=per_class, out_of_fold=out_of_fold)
        self.errors = ErrorArea()
        self._frames: dict[int, np.ndarray] = {}
        self.grids: list[ThumbnailGrid] = []
        selection = self.selection
        block = selection.groupby(["class", "group"], sort=False).ngroup().to_numpy()
        for b, first in enumerate(np.unique(block, return_index=True)[1]):
            name, group = str(selection["class"].iat[first]), str(selection["group"].iat[first])
            rows = selection["row"].to_numpy()[block == b]
            grid = ThumbnailGrid(
                f"{name}: {group}", self._color(name), rows, self._frame, self._caption, columns=columns
            )
            grid.on_select(self.errors.guard("selecting an object")(self._select_row))
            self.grids.append(grid)
        self.panel = ObjectPanel(
            annotations.class_names, self._colors(), on_correct=self.errors.guard("annotating")(self.correct)
        )
        self.panel.title.value = HINT
        here = annotations.autosave.parent if annotations.autosave is not None else Path.cwd()
        self.sheet_text = widgets.Text(
            value=str(here / "qc_contact_sheet.pdf"),
            description="Sheet",
            layout=widgets.Layout(width="420px"),
            style={"description_width": "45px"},
            tooltip="A .png or .pdf file",
        )
        self.sheet_button = widgets.Button(
            description="Save contact sheet…", icon="save", layout=widgets.Layout(width="auto")
        )
        self.sheet_button.on_click(self.errors.guard("saving the contact sheet")(lambda _: self.save_sheet()))
        self.sheet_status = widgets.HTML()
        empty = widgets.HTML("<i>No objects to show.</i>")
        blocks = widgets.VBox(
            self.grids or [empty], layout=widgets.Layout(max_height="640px", overflow="auto", flex="0 1 auto")
        )
        side = widgets.VBox([self.panel], layout=widgets.Layout(flex="1 1 280px", max_width="420px"))
        main = widgets.HBox([blocks, side], layout=widgets.Layout(flex_flow="row wrap", align_items="flex-start"))
        sheet = widgets.HBox(
            [self.sheet_text, self.sheet_button, self.sheet_status],
            layout=widgets.Layout(flex_flow="row wrap", align_items="center"),
        )
        super().__init__([main, sheet, self.errors], **kwargs)
        self.add_class("svetlana-qc-gallery")
        annotations.on_change(self._annotations_changed)
        self._redraw()

    def close(self) -> None:
        """Close the widget and stop following the annotations."""
        annotations = getattr(self, "annotations", None)
        if annotations is not None:
            annotations.on_change(self._annotations_changed, remove=True)
        super().close()

    # -- drawing -------------------------------------------------------------------------------
    def _color(self, name: str) -> str:
        names = list(self.annotations.class_names)
        names += [c for c in self.prediction.class_names if c not in names]
        names += [c for c in self.selection["class"].unique() if c not in names]
        return display.class_color(names.index(name), self.objects.n_channels)

    def _colors(self) -> list[str]:
        return [self._color(name) for name in self.annotations.class_names]

    def _frame(self, row: int) -> np.ndarray:
        if row not in self._frames:
            self._frames[row] = object_thumbnail(self.objects, row, size=THUMB)
        return self._frames[row]

    def _caption(self, row: int) -> tuple[str, str]:
        label = int(self.objects.labels[row])
        annotated = self.annotations.get(self.objects.key(row))
        if annotated is None:
            return f"{label} · {self.prediction.confidence[row]:.0%}", "#303030"
        return f"{label}: {annotated}", self._color(annotated)  # ASCII: Pillow's default font has no arrow

    def _redraw(self) -> None:
        selected = None if self.selected is None else self.objects.row(self.selected)
        for grid in self.grids:
            grid.redraw(selected)

    def _annotations_changed(self, _annotations: Annotations) -> None:
        self.panel.set_classes(self.annotations.class_names, self._colors())
        self._redraw()
        if self.selected is not None:
            self._show_panel(self.objects.row(self.selected))

    # -- actions -------------------------------------------------------------------------------
    def _select_row(self, row: int) -> None:
        self.select(self.objects.key(row))

    def select(self, key: Key | int) -> tuple[str, int]:
        """Select an object (a key or a bare label id with one image): frame it, show its panel."""
        if isinstance(key, (int, np.integer)) and self.objects.n_images > 1:
            raise ValueError("key: give (image name, label id) when there are several images")
        row = self.objects.row(key)
        self.selected = self.objects.key(row)
        self._redraw()
        self._show_panel(row)
        return self.selected

    def _show_panel(self, row: int) -> None:
        key = self.objects.key(row)
        name = str(key[1]) if self.objects.n_images == 1 else f"{key[0]}: {key[1]}"
        crop = object_thumbnail(self.objects, row, size=PANEL_SIZE)
        pred, k = self.prediction, int(self.prediction.class_index[row])
        title = (
            f"<b>Object {html.escape(name)}</b>: predicted <b>{html.escape(pred.class_names[k])}</b> "
            f"({pred.confidence[row]:.0%})"
        )
        in_selection = self.selection[self.selection["row"] == row]
        for group, annotated in zip(in_selection["group"], in_selection["annotated class"]):
            if annotated is not None and group.startswith("disagrees"):
                title += f"<br><i>out of fold: not {html.escape(str(annotated))}</i>"
        annotated_now = self.annotations.get(key)
        if annotated_now is not None:
            title += f"<br>annotated <b>{html.escape(annotated_now)}</b>"
        colors = [self._color(c) for c in pred.class_names]
        bars = probability_bars(pred.probabilities[row], pred.class_names, colors, predicted=k)
        cam, explanation = explain_object(self.classifier, self.objects, key)
        self.panel.show(
            title=title, crop=crop, probabilities=bars, cam=cam, cam_class=pred.class_names[k], explanation=explanation
        )

    def correct(self, class_name: str | None) -> None:
        """Annotate the selected object as ``class_name`` (None removes its annotation)."""
        if self.selected is None:
            raise ValueError("class_name: select an object first (click a thumbnail)")
        self.annotations.assign(self.selected, class_name)

    def save_sheet(self, path: str | os.PathLike | None = None, *, size: int = 64, columns: int = 8) -> Path:
        """Write the selection as a contact sheet (PNG or PDF by the suffix); default path: the text box."""
        self.sheet_status.value = ""
        target = Path(self.sheet_text.value if path is None else path).expanduser()
        written = contact_sheet(self.objects, self.prediction, self.selection, target, size=size, columns=columns)
        self.sheet_status.value = f"Saved <code>{html.escape(str(written))}</code>"
        return written
