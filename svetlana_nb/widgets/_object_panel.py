"""The side panel of the prediction view: one object's crop, probabilities, explanation, correction.

Rendering is plain functions (arrays in, RGBA out) so tests can check them without a browser.
"""

from __future__ import annotations

import html
from collections.abc import Callable, Sequence
from typing import Any

import ipywidgets as widgets
import numpy as np

from .. import render
from ._canvas import encode_image

PANEL_SIZE = 168


def cam_frame(patch: np.ndarray, heatmap: np.ndarray, *, size: int = PANEL_SIZE, alpha: float = 0.75) -> np.ndarray:
    """The network's input patch (grey or colour) with a Grad-CAM heat map blended over it.

    Parameters
    ----------
    patch : numpy.ndarray, shape (C + 1, *patch_shape)
        Normalised image channels then the object mask (as :func:`svetlana_nb.grad_cam` returns it).
    heatmap : numpy.ndarray, shape (*patch_shape), values in [0, 1]
    size : int
        Output side (the patch is magnified by the largest integer factor that fits).
    alpha : float
        Largest opacity of the heat map (reached where the heat is 1; cold regions stay clear).

    Returns
    -------
    numpy.ndarray, uint8, shape (h, w, 4) with h, w <= size
        3D patches show their middle z slice.
    """
    patch, heatmap = np.asarray(patch), np.asarray(heatmap)
    if heatmap.ndim == 3:  # (Z, Y, X): the middle slice
        z = heatmap.shape[0] // 2
        patch, heatmap = patch[:, z], heatmap[z]
    channels = np.moveaxis(patch[:-1], 0, -1)
    n = channels.shape[-1]
    colors = render.default_channel_colors(n)
    base = render.composite(channels, colors=colors, limits=[(0.0, 1.0)] * n)
    heat = render.colormap(heatmap, "heat")
    rgba = base.copy()
    a = (alpha * np.clip(heatmap, 0.0, 1.0))[..., None]
    blended = base[..., :3].astype(np.float32) * (1 - a) + heat[..., :3].astype(np.float32) * a
    rgba[..., :3] = np.clip(blended + 0.5, 0, 255).astype(np.uint8)
    scale = max(1, size // max(heatmap.shape))
    rgba = render.upscale_nearest(rgba, scale)
    edge = render.outline(render.upscale_nearest(patch[-1] > 0.5, scale), thickness=1, outer=True)
    return render.overlay(rgba, edge, "#ffffff", alpha=0.8)


def probability_bars(probabilities: Sequence[float], class_names: Sequence[str], colors: Sequence[str], *,
                     predicted: int | None = None) -> str:
    """HTML bars, one per class, with the probability written beside each."""
    rows = []
    for k, (p, name) in enumerate(zip(probabilities, class_names)):
        weight = "bold" if k == predicted else "normal"
        rows.append(
            "<div style='display:flex;align-items:center;gap:6px;margin:2px 0'>"
            f"<span style='width:90px;text-align:right;font-weight:{weight};overflow:hidden;"
            f"text-overflow:ellipsis;white-space:nowrap'>{html.escape(name)}</span>"
            "<span style='flex:1;background:#eee;height:14px;border-radius:3px;min-width:120px'>"
            f"<span style='display:block;height:14px;width:{100 * float(p):.1f}%;background:{colors[k]};"
            "border-radius:3px'></span></span>"
            f"<span class='svetlana-probability' style='width:48px'>{100 * float(p):.1f}%</span></div>")
    return "<div class='svetlana-probabilities'>" + "".join(rows) + "</div>"


def features_html(features: list[tuple[str, float, float]]) -> str:
    """The random forest's top features: importance bars and this object's z-score."""
    top = max([imp for _, imp, _ in features] + [1e-12])
    rows = "".join(
        f"<tr><td>{html.escape(name)}</td><td><span style='display:inline-block;height:10px;"
        f"width:{60 * imp / top:.0f}px;background:#7a7'></span> {imp:.2f}</td><td>{z:+.1f} σ</td></tr>"
        for name, imp, z in features)
    return ("<b>Top features</b> (random forest): importance, this object's value in σ of the training objects"
            f"<table style='font-size:12px'>{rows}</table>")


class ObjectPanel(widgets.VBox):
    """Details of the selected object: crop, explanation, probabilities and correction buttons.

    Parameters
    ----------
    class_names : sequence of str
    colors : sequence of str
        Hex colour per class.
    on_correct : callable
        ``on_correct(class_name or None)`` when a correction button is pressed (None: remove).
    """

    def __init__(self, class_names: Sequence[str], colors: Sequence[str],
                 on_correct: Callable[[str | None], Any], **kwargs: Any) -> None:
        self.title = widgets.HTML("<i>Click an object to see its class probabilities and explanation.</i>")
        self.crop_image = widgets.Image(format="png", layout=widgets.Layout(width=f"{PANEL_SIZE}px",
                                                                            height=f"{PANEL_SIZE}px"))
        self.cam_image = widgets.Image(format="png", layout=widgets.Layout(width=f"{PANEL_SIZE}px",
                                                                           height=f"{PANEL_SIZE}px"))
        self.crop_caption = widgets.HTML("<small>object</small>")
        self.cam_caption = widgets.HTML("<small>Grad-CAM</small>")
        self.crop_box = widgets.VBox([self.crop_image, self.crop_caption])
        self.cam_box = widgets.VBox([self.cam_image, self.cam_caption])
        self.pictures = widgets.HBox([self.crop_box, self.cam_box])
        self.probabilities = widgets.HTML()
        self.probabilities.add_class("svetlana-probabilities-panel")
        self.explanation = widgets.HTML()
        self._on_correct = on_correct
        self.correct_box = widgets.HBox(layout=widgets.Layout(flex_flow="row wrap"))
        self.set_classes(class_names, colors)
        super().__init__(children=[self.title], layout=widgets.Layout(width="380px", padding="0 0 0 12px"), **kwargs)
        self.add_class("svetlana-object-panel")

    def set_classes(self, class_names: Sequence[str], colors: Sequence[str]) -> None:
        """(Re)build the correction buttons, one per class, in the class colours."""
        buttons = []
        for name, color in zip(class_names, colors):
            button = widgets.Button(description=name, tooltip=f"Correct: this object is {name}",
                                    layout=widgets.Layout(width="auto", margin="2px"))
            button.style.button_color = color
            button.style.text_color = render.text_color_for(color)
            button.on_click(lambda _, name=name: self._on_correct(name))
            buttons.append(button)
        clear = widgets.Button(description="Clear", icon="times", tooltip="Remove this object's annotation",
                               layout=widgets.Layout(width="auto", margin="2px"))
        clear.on_click(lambda _: self._on_correct(None))
        self.correct_buttons = buttons
        self.correct_box.children = [widgets.Label("Correct to:"), *buttons, clear]

    def clear(self) -> None:
        """Show the hint only (nothing selected)."""
        self.title.value = "<i>Click an object to see its class probabilities and explanation.</i>"
        self.children = [self.title]

    def show(self, *, title: str, crop: np.ndarray, probabilities: str, cam: np.ndarray | None = None,
             explanation: str = "") -> None:
        """Show one object (``crop``/``cam`` RGBA frames, ``probabilities``/``explanation`` HTML)."""
        self.title.value = title
        self.crop_image.value = encode_image(crop)
        self.probabilities.value = probabilities
        self.explanation.value = explanation
        if cam is not None:
            self.cam_image.value = encode_image(cam)
            self.pictures.children = [self.crop_box, self.cam_box]
        else:
            self.pictures.children = [self.crop_box]
        self.children = [self.title, self.pictures, self.probabilities, self.explanation, self.correct_box]
