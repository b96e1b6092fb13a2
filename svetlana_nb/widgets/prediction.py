"""``PredictionViewer``: objects in their predicted class colour; inspect, explain, correct, export.

Only the viewport is ever sent, resampled to the canvas (the annotator's :class:`Overview`):
the 8000 x 8000 demo costs one small frame, refined on zoom. Colours come from per-object
tables (:mod:`._prediction_layers`), so a correction repaints without touching the image.
"""

from __future__ import annotations

import html
import os
from pathlib import Path
from typing import Any

import ipywidgets as widgets
import numpy as np
import traitlets

from .. import display
from ..models import Classifier
from ..objects import Annotations, Key, Objects
from ..prediction import Prediction
from ..prediction import export as write_exports
from ._canvas import ErrorArea
from ._display import DisplayControls
from ._export_box import ExportBox, default_name
from ._object_panel import PANEL_SIZE, ObjectPanel, explain_object, probability_bars
from ._overview import Overview
from ._prediction_layers import build_layers, legend_html
from ._proportions_box import ProportionsBox

CORRECTED_COLOR, SELECTED_COLOR, OUTSIDE_RGB = "#ffffff", "#00e5ff", (32, 32, 32)


class PredictionViewer(widgets.VBox):
    """Overlay a :class:`~svetlana_nb.Prediction` on its image; click an object to inspect it.

    Parameters
    ----------
    objects : Objects
    prediction : Prediction or None
        None shows the image (and annotations) only, until :attr:`prediction` is set.
    annotations : Annotations, optional
        Where corrections go (``ann.add(key, class)``); annotated objects whose class differs
        from the prediction are drawn in their annotated colour with a white ring.
    classifier : Classifier, optional
        For explanations (attribution maps or the forest's top features) and proportions.
    size : int
        Longest side of the canvas in pixels.

    Examples
    --------
    >>> viewer = sv.PredictionViewer(objects, clf.predict(objects), annotations=ann, classifier=clf)  # doctest: +SKIP
    >>> viewer.click_image(120, 200); viewer.correct("fragmented"); viewer.export("results")  # doctest: +SKIP
    """

    prediction = traitlets.Instance(Prediction, allow_none=True, help="The prediction shown")
    classifier = traitlets.Instance(Classifier, allow_none=True, help="Classifier used for the explanations")
    mode = traitlets.Enum(["classes", "confidence"], "classes", help="Colour objects by class or by confidence")
    outline = traitlets.Bool(False, help="Draw objects as outlines instead of filled")
    opacity = traitlets.Float(0.45, min=0.0, max=1.0, help="Opacity of the object colours")
    image = traitlets.Int(0, help="Index of the image shown (several images)")
    selected = traitlets.Any(None, allow_none=True, help="Key (image name, label) of the selected object")

    def __init__(
        self,
        objects: Objects,
        prediction: Prediction | None = None,
        *,
        annotations: Annotations | None = None,
        classifier: Classifier | None = None,
        size: int = 560,
        **kwargs: Any,
    ) -> None:
        if not isinstance(objects, Objects):
            raise TypeError(f"objects: expected svetlana_nb.Objects, got {type(objects).__name__}")
        if annotations is not None and annotations.objects is not objects:
            raise ValueError(
                "annotations: they belong to other objects than this viewer's; "
                "pass the Objects the annotations were made on"
            )
        self.objects, self.annotations = objects, annotations
        self.errors = ErrorArea()
        self.overview = Overview(size=size)
        self.overview.render_base, self.overview.render_overlay = self._render_base, self._overlay
        self.overview.on_click(self.errors.guard("selecting an object")(self.click_image))
        redraw = self.errors.guard("redrawing")(self.overview.refresh)
        self.display_controls = DisplayControls(objects, on_change=redraw)
        self.mode_buttons = widgets.ToggleButtons(
            options=[("Classes", "classes"), ("Confidence", "confidence")],
            style={"button_width": "100px"},
            tooltips=[
                "Colour objects by class",
                "Colour objects by the winning probability (red: doubtful, green: sure)",
            ],
        )
        self.style_buttons = widgets.ToggleButtons(
            options=[("Fill", False), ("Outline", True)],
            style={"button_width": "70px"},
            tooltips=["Fill objects", "Outline objects"],
        )
        self.opacity_slider = widgets.FloatSlider(
            min=0.0,
            max=1.0,
            step=0.05,
            description="opacity",
            readout_format=".0%",
            layout=widgets.Layout(width="220px"),
            style={"description_width": "50px"},
        )
        self.image_dropdown = widgets.Dropdown(
            options=[(n, i) for i, n in enumerate(objects.names)],
            description="image",
            layout=widgets.Layout(width="220px", display=None if objects.n_images > 1 else "none"),
        )
        self.legend = widgets.HTML()
        self.legend.add_class("svetlana-legend")
        self.panel = ObjectPanel([], [], on_correct=self.errors.guard("correcting")(self.correct))
        self._build_export()
        super().__init__(**kwargs)
        for trait, control in (
            ("mode", self.mode_buttons),
            ("outline", self.style_buttons),
            ("opacity", self.opacity_slider),
            ("image", self.image_dropdown),
        ):
            widgets.link((self, trait), (control, "value"))
        tools = widgets.HBox(
            [self.mode_buttons, self.style_buttons, self.opacity_slider, self.image_dropdown],
            layout=widgets.Layout(align_items="center", flex_flow="row wrap"),
        )
        self.overview.shrink_to_fit(320)  # the panel stays beside the image on a laptop
        side = widgets.VBox([self.legend, self.panel], layout=widgets.Layout(flex="1 1 280px", max_width="420px"))
        main = widgets.HBox(
            [self.overview, side], layout=widgets.Layout(flex_flow="row wrap", align_items="flex-start")
        )
        self.children = [tools, main, self.display_controls, self.export_box, self.proportions_box, self.errors]
        self.add_class("svetlana-prediction-viewer")
        if annotations is not None:
            annotations.on_change(self._annotations_changed)
        self.classifier = classifier
        self.prediction = prediction
        if prediction is None:
            self._update_layers()
        self._show_image()

    def close(self) -> None:
        """Close the widget and stop following the annotations."""
        annotations = getattr(self, "annotations", None)  # None when __init__ refused its input
        if annotations is not None:
            annotations.on_change(self._annotations_changed, remove=True)
        super().close()

    # -- colours -------------------------------------------------------------------------------
    @property
    def class_names(self) -> list[str]:
        """Classes shown (the annotations' then any other predicted class), in colour order."""
        return self.layers.names

    def corrected_rows(self) -> np.ndarray:
        """Rows of annotated objects whose annotation differs from the prediction."""
        return np.flatnonzero(self.layers.corrected) - 1

    def _update_layers(self) -> None:
        self.layers = build_layers(self.objects, self.prediction, self.annotations)
        self.panel.set_classes(self.layers.names, self.layers.colors)
        self.legend.value = legend_html(self.layers, self.prediction, self.mode)

    # -- rendering -----------------------------------------------------------------------------
    def _sample(self, ys: np.ndarray, xs: np.ndarray, *, labels: bool) -> np.ndarray:
        """The image (h, w, C) or mask (h, w) shown at rows ``ys`` and columns ``xs`` (z slice or projection)."""
        d = self.display_controls
        sample = self.objects.sample_labels if labels else self.objects.sample_image
        return sample(self.image, ys, xs, z=d.z, projection=d.projection)

    def _render_base(self, ys: np.ndarray, xs: np.ndarray, vy: np.ndarray, vx: np.ndarray) -> np.ndarray:
        d = self.display_controls
        view = self._sample(ys, xs, labels=False)
        rgba = display.composite(view, colors=d.colors, limits=d.limits(), visible=d.visible, rgb=self.objects.is_rgb)
        rgba[~(vy[:, None] & vx[None, :]), :3] = OUTSIDE_RGB
        return rgba

    def _overlay(self, ys: np.ndarray, xs: np.ndarray, vy: np.ndarray, vx: np.ndarray) -> np.ndarray:
        """Transparent RGBA: objects by class or confidence, correction and selection rings."""
        labels = self._sample(ys, xs, labels=True)
        ids = self.objects.rows_of_labels(labels, self.image) + 1  # 0: background
        ids[~(vy[:, None] & vx[None, :])] = 0
        rgba = np.zeros(ids.shape + (4,), dtype=np.uint8)
        lut = self.layers.confidence if self.mode == "confidence" else self.layers.classes
        if self.prediction is None:
            lut = self.layers.classes
        zoomed = self.overview.scale <= 1.0
        strong = min(1.0, 2 * self.opacity)
        if not self.outline:
            display.paint_labels(rgba, ids, lut, alpha=self.opacity)
        if self.outline or zoomed:  # crisp edges once objects are large enough
            display.paint_labels(rgba, ids, lut, alpha=strong, outline_only=True)
        thickness = 2 if zoomed else 1
        if self.selected is not None:  # drawn first: a correction ring stays visible inside it
            row = self.objects.row(self.selected)
            ring = display.outline(ids == row + 1, thickness=thickness + 1, outer=True)
            display.overlay(rgba, ring, SELECTED_COLOR)
        if self.layers.corrected.any():
            ring = display.outline(self.layers.corrected[ids], thickness=thickness, outer=True)
            display.overlay(rgba, ring, CORRECTED_COLOR)
        return rgba

    # -- events --------------------------------------------------------------------------------
    @traitlets.validate("prediction")
    def _check_prediction(self, proposal: dict) -> Prediction | None:
        """Refuse a prediction of other objects before it is stored (a later export would write its rows)."""
        if proposal["value"] is not None and proposal["value"].objects is not self.objects:
            raise ValueError("prediction: it was made for other objects than this viewer's; it keeps its own")
        return proposal["value"]

    @traitlets.observe("prediction")
    def _on_prediction(self, _change: dict) -> None:
        self._update_layers()
        self.overview.refresh(base=False)
        if self.selected is not None:
            self._show_panel(self.objects.row(self.selected))

    @traitlets.observe("mode", "outline", "opacity")
    def _on_style(self, change: dict) -> None:
        self.errors.guard("changing the display")(self._restyle)(change)

    def _restyle(self, change: dict) -> None:
        if hasattr(self, "layers"):
            if change["name"] == "mode":
                self.legend.value = legend_html(self.layers, self.prediction, self.mode)
            self.overview.refresh(base=False)

    @traitlets.observe("image")
    def _on_image(self, _change: dict) -> None:
        self.errors.guard("switching images")(self._switch_image)()

    def _switch_image(self) -> None:
        self.selected = None
        self.panel.clear()
        self._show_image()

    def _show_image(self) -> None:
        self.display_controls.show_image(self.image)
        shape = self.objects.masks[self.image].shape
        if self.objects.spatial_ndim == 3:
            with self.display_controls.silent():
                self.display_controls.set_z_range(0, shape[0] - 1, shape[0] // 2)
        self.overview.render_base = None  # render once below, not on each geometry change
        try:
            self.overview.set_shape(shape[-2:])
            self.overview.fit()
        finally:
            self.overview.render_base = self._render_base
        self.overview.refresh()

    def _annotations_changed(self, _ann: Annotations) -> None:
        self._update_layers()
        self.overview.refresh(base=False)
        if self.selected is not None:
            self._show_panel(self.objects.row(self.selected))

    def click_image(self, y: float, x: float) -> tuple[str, int] | None:
        """Select the object at image position (y, x) of the plane shown; background clears.

        Returns
        -------
        (image name, label) or None
        """
        height, width = self.objects.masks[self.image].shape[-2:]
        iy, ix = int(np.floor(y)), int(np.floor(x))
        row = -1
        if 0 <= iy < height and 0 <= ix < width:
            label = self._sample(np.array([iy]), np.array([ix]), labels=True)[0, 0]
            row = int(self.objects.rows_of_labels(np.array([label]), self.image)[0])
        if row < 0:
            self.selected = None
            self.panel.clear()
            self.overview.refresh(base=False)
            return None
        return self.select(self.objects.key(row))

    def select(self, key: Key) -> tuple[str, int]:
        """Select an object: ring it, show its crop, probabilities and explanation.

        Returns
        -------
        (image name, label)
        """
        row = self.objects.row(key)
        key = self.objects.key(row)
        if int(self.objects.image_index[row]) != self.image:
            self.image = int(self.objects.image_index[row])
        d = self.display_controls
        if self.objects.spatial_ndim == 3 and not d.projection:
            if not self.objects.bbox[row, 0] <= d.z < self.objects.bbox[row, 3]:
                with d.silent():
                    d.z_slider.value = int(self.objects.centres[row, 0])
                self.overview.refresh(overlay=False)
        self.selected = key
        self.overview.refresh(base=False)
        self._show_panel(row)
        return key

    def _show_panel(self, row: int) -> None:
        key = self.objects.key(row)
        name = str(key[1]) if self.objects.n_images == 1 else f"{key[0]}: {key[1]}"
        image, mask, _ = self.objects.crop(row)
        if self.objects.spatial_ndim == 3:
            image, mask = image[image.shape[0] // 2], mask[mask.shape[0] // 2]
        d = self.display_controls
        crop, _, _ = display.render_crop(
            image,
            mask,
            colors=d.colors,
            limits=d.limits(int(self.objects.image_index[row])),
            visible=d.visible,
            rgb=self.objects.is_rgb,
            size=PANEL_SIZE,
        )
        title = f"<b>Object {html.escape(name)}</b>"
        cam, explanation, bars, cam_class = None, "", "<i>No prediction yet.</i>", ""
        pred = self.prediction
        if pred is not None:
            p, k = pred.probabilities[row], int(pred.class_index[row])
            title += f": predicted <b>{html.escape(pred.class_names[k])}</b> ({p[k]:.0%})"
            colors = [display.class_color(self.class_names.index(c), self.objects.n_channels) for c in pred.class_names]
            bars = probability_bars(p, pred.class_names, colors, predicted=k)
            cam, explanation = explain_object(self.classifier, self.objects, key)
            cam_class = pred.class_names[k]
        annotated = self.annotations.get(key) if self.annotations is not None else None
        if annotated is not None:
            note = " (corrected)" if self.layers.corrected[row + 1] else ""
            title += f"<br>annotated <b>{html.escape(annotated)}</b>{note}"
        self.panel.show(
            title=title, crop=crop, probabilities=bars, cam=cam, cam_class=cam_class, explanation=explanation
        )

    def correct(self, class_name: str | None) -> None:
        """Annotate the selected object as ``class_name`` (None removes its annotation)."""
        if self.selected is None:
            raise ValueError("correct: select an object first (click it)")
        if self.annotations is None:
            raise ValueError("correct: this viewer has no annotations to write into (pass annotations=)")
        self.annotations.assign(self.selected, class_name)

    # -- export --------------------------------------------------------------------------------
    def _build_export(self) -> None:
        ann = self.annotations
        here = ann.autosave.parent if ann is not None and ann.autosave is not None else Path.cwd()
        name = default_name(self.objects, None if ann is None else ann.autosave)
        box = self.export_box = ExportBox(here, self.errors.guard("exporting")(self.export), name=name)
        self.folder_text, self.export_buttons, self.export_status = box.folder_text, box.buttons, box.status
        self.proportions_box = ProportionsBox(lambda: (self.prediction, self.classifier, self.annotations))

    def export(
        self,
        folder: str | os.PathLike | None = None,
        *,
        what: tuple[str, ...] = ("table", "classes", "masks"),
        corrections: bool = True,
        overwrite: bool | None = None,
        name: str | None = None,
    ) -> list[Path]:
        """Write the object table (``objects.csv``), class images and per-class masks (TIFF).

        Parameters
        ----------
        folder : path, optional
            Default: the folder box (next to the annotations file when they autosave).
        what : tuple of {"table", "classes", "masks"}
        corrections : bool
            Annotated objects get the class the user gave them (:meth:`Prediction.corrected`;
            the table then says which rows were annotated and what the model predicted).
            False: the model's prediction as it is.
        overwrite : bool, optional
            Replace existing files (default: the box "Replace existing files"); else they stop the export.
        name : str, optional
            File-name prefix when there is one image (default: the Name box).

        Returns
        -------
        list of pathlib.Path
            The files written.
        """
        if self.prediction is None:
            raise ValueError("export: no prediction to export yet")
        folder = Path(self.folder_text.value if folder is None else folder).expanduser()
        prediction = self.prediction
        if corrections and self.annotations is not None:
            prediction = prediction.corrected(self.annotations)
        box, self.export_status.value = self.export_box, ""
        overwrite = box.overwrite_box.value if overwrite is None else overwrite
        paths = write_exports(prediction, folder, what=what, stems=box.stems(self.objects, name), overwrite=overwrite)
        box.say_written(paths, folder)
        return paths
