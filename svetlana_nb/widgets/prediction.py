"""``PredictionViewer``: every object in its predicted class colour; inspect, explain, correct, export.

Only the viewport is ever sent, resampled to the canvas (the annotator's :class:`Overview`):
the 8000 x 8000 demo costs one small frame, refined on zoom. Colours come from per-object
lookup tables (object row + 1 -> RGBA), so a correction repaints without touching pixels.
"""

from __future__ import annotations

import html
import os
from pathlib import Path
from typing import Any

import ipywidgets as widgets
import numpy as np
import traitlets

from .. import render
from ..annotations import Annotations
from ..classifier import Classifier
from ..explain import grad_cam, top_features
from ..objects import Key, Objects
from ..predict import Prediction
from ._canvas import ErrorArea
from ._display import DisplayControls
from ._object_panel import ObjectPanel, cam_frame, features_html, probability_bars
from ._overview import Overview

CORRECTED_COLOR, SELECTED_COLOR, OUTSIDE_COLOR = "#ffffff", "#00e5ff", (32, 32, 32)


class PredictionViewer(widgets.VBox):
    """Overlay a :class:`~svetlana_nb.Prediction` on its image; click an object to inspect and correct it.

    Parameters
    ----------
    objects : Objects
    prediction : Prediction or None
        None shows the image only, until :attr:`prediction` is set.
    annotations : Annotations, optional
        Where corrections go (``ann.add(key, class)``); annotated objects whose class differs
        from the prediction are drawn with a white ring.
    classifier : Classifier, optional
        For the explanation: Grad-CAM (networks) or top features (random forest).
    size : int
        Longest side of the canvas in pixels.

    Examples
    --------
    >>> viewer = sv.PredictionViewer(objects, clf.predict(objects), annotations=ann, classifier=clf)  # doctest: +SKIP
    >>> viewer.click_image(120, 200); viewer.correct("fragmented")  # doctest: +SKIP
    """

    prediction = traitlets.Instance(Prediction, allow_none=True, help="The prediction shown")
    classifier = traitlets.Instance(Classifier, allow_none=True, help="Classifier used for explanations")
    mode = traitlets.Enum(["classes", "confidence"], "classes", help="Colour objects by class or by confidence")
    outline = traitlets.Bool(False, help="Draw objects as outlines instead of filled")
    opacity = traitlets.Float(0.45, min=0.0, max=1.0, help="Opacity of the class colours")
    image = traitlets.Int(0, help="Index of the image shown (several images)")
    selected = traitlets.Any(None, allow_none=True, help="Key (image name, label) of the selected object")

    def __init__(self, objects: Objects, prediction: Prediction | None = None, *,
                 annotations: Annotations | None = None, classifier: Classifier | None = None,
                 size: int = 640, **kwargs: Any) -> None:
        if not isinstance(objects, Objects):
            raise TypeError(f"objects: expected svetlana_nb.Objects, got {type(objects).__name__}")
        self.objects, self.annotations = objects, annotations
        self.errors = ErrorArea()
        self.overview = Overview(size=size)
        self.overview.render_base = self._render_base
        self.overview.render_overlay = self._render_overlay
        self.overview.on_click(self.errors.guard("selecting an object")(self.click_image))
        self.display_controls = DisplayControls(objects, on_change=lambda: self.overview.refresh())
        self.mode_buttons = widgets.ToggleButtons(
            options=[("Classes", "classes"), ("Confidence", "confidence")], style={"button_width": "90px"},
            tooltips=["Colour objects by predicted class", "Colour objects by the winning probability "
                      "(red: doubtful, green: sure)"])
        self.style_buttons = widgets.ToggleButtons(options=[("Fill", False), ("Outline", True)],
                                                   style={"button_width": "70px"},
                                                   tooltips=["Fill objects", "Outline objects"])
        self.opacity_slider = widgets.FloatSlider(min=0.0, max=1.0, step=0.05, description="opacity",
                                                  readout_format=".0%", layout=widgets.Layout(width="220px"),
                                                  style={"description_width": "50px"})
        self.image_dropdown = widgets.Dropdown(options=[(n, i) for i, n in enumerate(objects.names)],
                                               description="image", layout=widgets.Layout(width="220px"))
        if objects.n_images == 1:
            self.image_dropdown.layout.display = "none"
        self.legend = widgets.HTML()
        self.legend.add_class("svetlana-legend")
        self._build_export()
        self._names: list[str] = []
        self.panel = ObjectPanel([], [], on_correct=self.errors.guard("correcting")(self.correct))
        super().__init__(**kwargs)
        for trait, control in (("mode", self.mode_buttons), ("outline", self.style_buttons),
                               ("opacity", self.opacity_slider), ("image", self.image_dropdown)):
            widgets.link((self, trait), (control, "value"))
        tools = widgets.HBox([self.mode_buttons, self.style_buttons, self.opacity_slider, self.image_dropdown],
                             layout=widgets.Layout(align_items="center", flex_flow="row wrap"))
        right = widgets.VBox([self.legend, self.panel], layout=widgets.Layout(min_width="380px"))
        self.children = [tools, widgets.HBox([self.overview, right]), self.display_controls,
                         self.export_box, self.errors]
        self.add_class("svetlana-prediction-viewer")
        if annotations is not None:
            annotations.on_change(self._annotations_changed)
        self.classifier = classifier
        self.prediction = prediction
        self._show_image()
        if self.prediction is None:
            self._update_tables()

    # -- state -> colours ---------------------------------------------------------------------
    @property
    def class_names(self) -> list[str]:
        """Classes shown: the annotation classes, then any other predicted class."""
        names = list(self.annotations.class_names) if self.annotations is not None else []
        if self.prediction is not None:
            names += [n for n in self.prediction.class_names if n not in names]
        return names

    def colors(self) -> list[str]:
        """Hex colour of each of :attr:`class_names`."""
        return [render.class_color(k) for k in range(len(self.class_names))]

    def shown_classes(self) -> np.ndarray:
        """Class number (in :attr:`class_names`) shown for each object row: a correction wins; -1 unknown."""
        names = self.class_names
        shown = np.full(len(self.objects), -1, dtype=np.int64)
        if self.prediction is not None:
            remap = np.array([names.index(n) for n in self.prediction.class_names])
            shown = remap[self.prediction.class_index]
        for key, cls in (self.annotations.items() if self.annotations is not None else ()):
            shown[self.objects.row(key)] = names.index(cls)
        return shown

    def corrected_rows(self) -> np.ndarray:
        """Rows of annotated objects whose annotation differs from the prediction."""
        if self.annotations is None or self.prediction is None or not len(self.annotations):
            return np.zeros(0, dtype=np.int64)
        keys = [key for key, _ in self.annotations.items()]
        rows = self.objects.rows(keys)
        predicted = np.asarray(self.prediction.class_names, dtype=object)[self.prediction.class_index[rows]]
        annotated = np.array([cls for _, cls in self.annotations.items()], dtype=object)
        return rows[predicted != annotated]

    def _update_tables(self) -> None:
        """Rebuild the per-object lookup tables and the legend (after a prediction or correction)."""
        n = len(self.objects)
        shown = self.shown_classes()
        colors = np.array([render.hex_to_rgb(c) for c in self.colors()] + [(0, 0, 0)], dtype=np.uint8)
        self._class_lut = np.zeros((n + 1, 4), dtype=np.uint8)
        self._class_lut[1:, :3] = colors[shown]
        self._class_lut[1:, 3] = np.where(shown >= 0, 255, 0)
        self._conf_lut = np.zeros((n + 1, 4), dtype=np.uint8)
        if self.prediction is not None:
            k = len(self.prediction.class_names)
            self._conf_lut[1:] = render.colormap(self.prediction.confidence, "confidence", vmin=1.0 / k, vmax=1.0)
        self._corrected = np.zeros(n + 1, dtype=bool)
        self._corrected[self.corrected_rows() + 1] = True
        self.panel.set_classes(self.class_names, self.colors())
        self.legend.value = self._legend_html(shown)

    def _legend_html(self, shown: np.ndarray) -> str:
        if self.prediction is None:
            return "<i>No prediction yet: train a classifier.</i>"
        if self.mode == "confidence":
            k = len(self.prediction.class_names)
            ramp = ", ".join(render.COLORMAPS["confidence"])
            doubtful = int((self.prediction.confidence < 0.6).sum())
            return (f"<div><b>Confidence</b> (winning probability)</div><div style='display:flex;gap:6px;"
                    f"align-items:center'><span>{100 / k:.0f}%</span><span style='width:160px;height:12px;"
                    f"background:linear-gradient(to right, {ramp})'></span><span>100%</span></div>"
                    f"<div>{doubtful} of {len(shown)} objects below 60%</div>")
        counts = np.bincount(shown[shown >= 0], minlength=len(self.class_names))
        items = "".join(
            f"<span style='display:inline-flex;align-items:center;margin-right:12px'><span style='width:14px;"
            f"height:14px;background:{c};border-radius:3px;margin-right:5px'></span>{html.escape(name)}: "
            f"<b style='margin-left:3px'>{count}</b></span>"
            for name, c, count in zip(self.class_names, self.colors(), counts))
        n_corrected = int(self._corrected.sum())
        ring = (f"<span style='margin-right:12px'><span style='display:inline-block;width:10px;height:10px;"
                f"border:2px solid #999;border-radius:7px'></span> corrected: {n_corrected}</span>")
        return f"<div style='display:flex;flex-wrap:wrap;align-items:center'>{items}{ring}</div>"

    # -- rendering -----------------------------------------------------------------------------
    def _plane(self, array: np.ndarray) -> np.ndarray:
        """The 2D plane shown of an image (Z, Y, X[, C]) or mask: slice z or max projection."""
        if self.objects.spatial_ndim == 2:
            return array
        if self.display_controls.projection:
            return array.max(axis=0)
        return array[int(np.clip(self.display_controls.z, 0, array.shape[0] - 1))]

    def _render_base(self, ys: np.ndarray, xs: np.ndarray, vy: np.ndarray, vx: np.ndarray) -> np.ndarray:
        d = self.display_controls
        view = render.sample_view(self._plane(self.objects.images[self.image]), ys, xs)
        rgba = render.composite(view, colors=d.colors, limits=d.limits(), visible=d.visible,
                                rgb=self.objects.is_rgb)
        rgba[~(vy[:, None] & vx[None, :]), :3] = OUTSIDE_COLOR
        return rgba

    def _ids(self, ys: np.ndarray, xs: np.ndarray, vy: np.ndarray, vx: np.ndarray) -> np.ndarray:
        """Object row + 1 under each canvas pixel (0: background or outside the image)."""
        labels = render.sample_view(self._plane(self.objects.masks[self.image]), ys, xs)
        ids = self.objects.rows_of_labels(labels, self.image) + 1
        ids[~(vy[:, None] & vx[None, :])] = 0
        return ids

    def _render_overlay(self, ys: np.ndarray, xs: np.ndarray, vy: np.ndarray, vx: np.ndarray) -> np.ndarray:
        ids = self._ids(ys, xs, vy, vx)
        rgba = np.zeros(ids.shape + (4,), dtype=np.uint8)
        if self.prediction is None and (self.annotations is None or not len(self.annotations)):
            return rgba
        lut = self._class_lut if self.mode == "classes" or self.prediction is None else self._conf_lut
        zoomed = self.overview.scale <= 1.0
        if self.outline:
            render.paint_labels(rgba, ids, lut, alpha=min(1.0, 2 * self.opacity), outline_only=True)
        else:
            render.paint_labels(rgba, ids, lut, alpha=self.opacity)
            if zoomed:
                render.paint_labels(rgba, ids, lut, alpha=min(1.0, 2 * self.opacity), outline_only=True)
        thickness = 2 if zoomed else 1
        if self.selected is not None:  # drawn first: a corrected ring stays visible inside it
            row = self.objects.row(self.selected)
            render.overlay(rgba, render.outline(ids == row + 1, thickness=thickness + 1, outer=True), SELECTED_COLOR)
        if self._corrected.any():
            render.overlay(rgba, render.outline(self._corrected[ids], thickness=thickness, outer=True),
                           CORRECTED_COLOR)
        return rgba

    # -- events --------------------------------------------------------------------------------
    @traitlets.observe("prediction")
    def _on_prediction(self, _change: dict) -> None:
        if self.prediction is not None and self.prediction.objects is not self.objects:
            raise ValueError("prediction: it was made for other objects than this viewer's")
        self._update_tables()
        self.overview.refresh(base=False)
        if self.selected is not None:
            self.select(self.selected)

    @traitlets.observe("mode", "outline", "opacity")
    def _on_style(self, _change: dict) -> None:
        if hasattr(self, "_class_lut"):
            if _change["name"] == "mode":
                self.legend.value = self._legend_html(self.shown_classes())
            self.overview.refresh(base=False)

    @traitlets.observe("image")
    def _on_image(self, _change: dict) -> None:
        self.selected = None
        self.panel.clear()
        self._show_image()

    def _show_image(self) -> None:
        self.display_controls.show_image(self.image)
        shape = self.objects.masks[self.image].shape
        if self.objects.spatial_ndim == 3:
            self.display_controls.set_z_range(0, shape[0] - 1, shape[0] // 2)
        self.overview.render_base = None  # one render below, not one per geometry change
        try:
            self.overview.set_shape(shape[-2:])
            self.overview.fit()
        finally:
            self.overview.render_base = self._render_base
        self.overview.refresh()

    def _annotations_changed(self, _ann: Annotations) -> None:
        self._update_tables()
        self.overview.refresh(base=False)
        if self.selected is not None:
            self._show_panel(self.objects.row(self.selected))

    def click_image(self, y: float, x: float) -> Any:
        """Select the object at image position (y, x) of the shown plane (clears on background).

        Returns
        -------
        key or None
            The selected object's key.
        """
        if self.objects.spatial_ndim == 3 and not self.display_controls.projection:
            row = self.objects.object_at((self.display_controls.z, y, x), image=self.image)
        else:
            plane = self._plane(self.objects.masks[self.image])
            iy, ix = int(np.floor(y)), int(np.floor(x))
            inside = 0 <= iy < plane.shape[0] and 0 <= ix < plane.shape[1]
            found = self.objects.rows_of_labels(np.array([plane[iy, ix]]), self.image)[0] if inside else -1
            row = None if found < 0 else int(found)
        if row is None:
            self.selected = None
            self.panel.clear()
            self.overview.refresh(base=False)
            return None
        return self.select(self.objects.key(row))

    def select(self, key: Key) -> tuple[str, int]:
        """Select an object: outline it, show its crop, probabilities and explanation."""
        row = self.objects.row(key)
        key = self.objects.key(row)
        i = int(self.objects.image_index[row])
        if i != self.image:
            self.image = i
        if self.objects.spatial_ndim == 3 and not self.display_controls.projection:
            z0, z1 = self.objects.bbox[row, 0], self.objects.bbox[row, 3]
            if not z0 <= self.display_controls.z < z1:
                with self.display_controls.silent():
                    self.display_controls.z_slider.value = int(self.objects.centres[row, 0])
                self.overview.refresh(overlay=False)
        self.selected = key
        self.overview.refresh(base=False)
        self._show_panel(row)
        return key

    def _show_panel(self, row: int) -> None:
        key = self.objects.key(row)
        shown_key = int(key[1]) if self.objects.n_images == 1 else key
        image, mask, _ = self.objects.crop(row)
        if self.objects.spatial_ndim == 3:
            image, mask = image[image.shape[0] // 2], mask[mask.shape[0] // 2]
        d = self.display_controls
        crop, _, _ = render.render_crop(image, mask, colors=d.colors, limits=d.limits(int(self.objects.image_index[row])),
                                        visible=d.visible, rgb=self.objects.is_rgb, size=168)
        annotated = self.annotations.get(key) if self.annotations is not None else None
        title = f"<b>Object {html.escape(str(shown_key))}</b>"
        cam, explanation, bars = None, "", "<i>No prediction yet.</i>"
        if self.prediction is not None:
            p = self.prediction.probabilities[row]
            k = int(self.prediction.class_index[row])
            names = self.prediction.class_names
            title += f": predicted <b>{html.escape(names[k])}</b> ({p[k]:.0%})"
            colors = [render.class_color(self.class_names.index(n)) for n in names]
            bars = probability_bars(p, names, colors, predicted=k)
            cam, explanation = self._explain(key)
        if annotated is not None:
            differs = self.prediction is not None and annotated != self.prediction.class_names[
                int(self.prediction.class_index[row])]
            title += f"<br>annotated <b>{html.escape(annotated)}</b>" + (" (corrected)" if differs else "")
        self.panel.show(title=title, crop=crop, probabilities=bars, cam=cam, explanation=explanation)

    def _explain(self, key: Key) -> tuple[np.ndarray | None, str]:
        clf = self.classifier
        if clf is None or not clf.is_fitted:
            return None, ""
        try:
            if clf.model_name == "random_forest":
                return None, features_html(top_features(clf, self.objects, key))
            gc = grad_cam(clf, self.objects, key)
        except (ValueError, RuntimeError) as error:  # e.g. a custom network without convolutions
            return None, f"<i>No explanation: {html.escape(str(error))}</i>"
        return cam_frame(gc.patch, gc.heatmap), ""

    def correct(self, class_name: str | None) -> None:
        """Annotate the selected object as ``class_name`` (None removes its annotation)."""
        if self.selected is None:
            raise ValueError("correct: select an object first (click it)")
        if self.annotations is None:
            raise ValueError("correct: this viewer has no annotations to write into (pass annotations=)")
        if class_name is None:
            if self.selected in self.annotations:
                self.annotations.remove(self.selected)
        else:
            self.annotations.add(self.selected, class_name)

    # -- export --------------------------------------------------------------------------------
    def _build_export(self) -> None:
        ann = self.annotations
        default = ann.autosave.parent if ann is not None and ann.autosave is not None else Path.cwd()
        self.folder_text = widgets.Text(value=str(default), description="Export to",
                                        layout=widgets.Layout(width="360px"), style={"description_width": "65px"},
                                        tooltip="Folder the exports are written to")
        buttons = []
        for label, what, tip in (("Table (CSV)", "table", "Per-object table: class, probabilities, measurements"),
                                 ("Class image", "classes", "TIFF: 0 background, k + 1 for class k"),
                                 ("Class masks", "masks", "One label TIFF per class")):
            button = widgets.Button(description=label, icon="download", tooltip=tip,
                                    layout=widgets.Layout(width="auto"))
            button.on_click(lambda _, what=what: self.errors.guard("exporting")(self.export)(what=(what,)))
            buttons.append(button)
        self.export_buttons = buttons
        self.export_status = widgets.HTML()
        self.export_box = widgets.HBox([self.folder_text, *buttons, self.export_status],
                                       layout=widgets.Layout(align_items="center", flex_flow="row wrap"))

    def export(self, folder: str | os.PathLike | None = None, *,
               what: tuple[str, ...] = ("table", "classes", "masks")) -> list[Path]:
        """Write the object table (``objects.csv``), class images and per-class masks (TIFF).

        Parameters
        ----------
        folder : path, optional
            Default: the folder text box (next to the annotations file when it autosaves).
        what : tuple of {"table", "classes", "masks"}

        Returns
        -------
        list of pathlib.Path
            The files written.
        """
        if self.prediction is None:
            raise ValueError("export: no prediction to export yet")
        folder = Path(self.folder_text.value if folder is None else folder).expanduser()
        folder.mkdir(parents=True, exist_ok=True)
        paths: list[Path] = []
        if "table" in what:
            paths.append(self.prediction.to_csv(folder / "objects.csv"))
        for i, name in enumerate(self.objects.names):
            if "classes" in what:
                paths.append(self.prediction.save_class_image(folder / f"{name}_classes.tif", image=i))
            if "masks" in what:
                paths += self.prediction.save_class_masks(folder, image=i)
        self.export_status.value = f"<small>Wrote {len(paths)} file(s) to {html.escape(str(folder))}</small>"
        return paths
