"""Side panel of the prediction view: an object's crop, probabilities, explanation, correction.

Rendering is plain functions (arrays in, RGBA or HTML out), tested without a browser.
"""

from __future__ import annotations

import html
from collections.abc import Callable, Sequence
from typing import TYPE_CHECKING, Any

import ipywidgets as widgets
import numpy as np

from .. import display
from ..models import Classifier
from ..models.explain import explain_network, opinions, top_features
from ..objects import Key, Objects
from ._canvas import encode_image

if TYPE_CHECKING:
    from ..models.explain import Opinions

PANEL_SIZE = 160
HINT = "<i>Click an object to see its class probabilities and explanation.</i>"


def cam_frame(patch: np.ndarray, heatmap: np.ndarray, *, size: int = PANEL_SIZE, alpha: float = 0.75) -> np.ndarray:
    """Blend an evidence heat map over the network's input patch.

    Parameters
    ----------
    patch : numpy.ndarray, shape (C + 1, *patch_shape)
        Normalised image channels, then the object mask (as :func:`svetlana_nb.grad_cam` gives).
    heatmap : numpy.ndarray, shape (*patch_shape), values in [0, 1]
    size : int
        Largest output side (the patch is magnified by the largest integer factor that fits).
    alpha : float
        Opacity of the heat map where it is 1 (cold regions stay clear).

    Returns
    -------
    numpy.ndarray, uint8, shape (h, w, 4) with h, w <= size
        The object's outline in white; 3D patches show their middle z slice.
    """
    patch, heatmap = np.asarray(patch), np.asarray(heatmap)
    if heatmap.ndim == 3:  # (Z, Y, X): the middle slice
        z = heatmap.shape[0] // 2
        patch, heatmap = patch[:, z], heatmap[z]
    channels = np.moveaxis(patch[:-1], 0, -1)
    n = channels.shape[-1]
    rgba = display.composite(channels, colors=display.default_channel_colors(n), limits=[(0.0, 1.0)] * n)
    heat = display.colormap(heatmap, "heat")[..., :3].astype(np.float32)
    a = (alpha * np.clip(heatmap, 0.0, 1.0))[..., None]
    rgba[..., :3] = np.clip(rgba[..., :3] * (1 - a) + heat * a + 0.5, 0, 255).astype(np.uint8)
    scale = max(1, size // max(heatmap.shape))
    rgba = display.upscale_nearest(rgba, scale)
    edge = display.outline(display.upscale_nearest(patch[-1] > 0.5, scale), outer=True)
    return display.overlay(rgba, edge, "#ffffff", alpha=0.8)


def probability_bars(
    probabilities: Sequence[float], class_names: Sequence[str], colors: Sequence[str], *, predicted: int | None = None
) -> str:
    """Render one HTML bar per class, its probability written beside it."""
    rows = []
    for k, (p, name) in enumerate(zip(probabilities, class_names)):
        weight = "bold" if k == predicted else "normal"
        rows.append(
            "<div style='display:flex;align-items:center;gap:6px;margin:2px 0'>"
            f"<span style='width:90px;text-align:right;font-weight:{weight};overflow:hidden;"
            f"text-overflow:ellipsis;white-space:nowrap'>{html.escape(name)}</span>"
            "<span style='flex:1;background:#eee;height:14px;border-radius:3px;min-width:120px'>"
            f"<span style='display:block;height:14px;width:{100 * float(p):.1f}%;"
            f"background:{colors[k]};border-radius:3px'></span></span>"
            f"<span style='width:48px'>{100 * float(p):.1f}%</span></div>"
        )
    return "<div class='svetlana-probabilities'>" + "".join(rows) + "</div>"


#: Measurement names (``features.py``, ``measurements.py``) in words.
FEATURE_WORDS = {
    "area": "area",
    "major_axis_length": "length",
    "minor_axis_length": "width",
    "eccentricity": "elongation",
    "extent": "fill of its box",
    "mean_intensity": "mean intensity",
    "std_intensity": "intensity spread",
    "max_intensity": "brightest pixel",
    "min_intensity": "darkest pixel",
}


def readable_feature(name: str) -> str:
    """``"patch_std_intensity_1"`` -> ``"intensity spread, channel 1 (patch)"``; unknown names as given."""
    stem, patch = (name[6:], " (patch)") if name.startswith("patch_") else (name, "")
    base, _, channel = stem.rpartition("_")
    if base in FEATURE_WORDS and channel.isdigit():
        return f"{FEATURE_WORDS[base]}, channel {channel}{patch}"
    return FEATURE_WORDS.get(stem, stem.replace("_", " ")) + patch


def features_html(features: list[tuple[str, float, float]]) -> str:
    """Render the random forest's top features: importance bars and this object's z-score."""
    top = max([imp for _, imp, _ in features] + [1e-12])
    rows = "".join(
        f"<tr><td>{html.escape(readable_feature(name))}</td><td><span style='display:inline-block;height:10px;"
        f"width:{60 * imp / top:.0f}px;background:#7a7'></span> {imp:.2f}</td>"
        f"<td>{z:+.1f} σ</td></tr>"
        for name, imp, z in features
    )
    return (
        "<b>Top features</b> (random forest): importance, and this object's value in σ "
        f"of the training objects<table style='font-size:12px'>{rows}</table>"
    )


def opinion_html(opinion: Opinions | None, class_names: list[str]) -> str:
    """The network's and the forest's probabilities of an object the forest was consulted on."""
    if opinion is None:
        return ""

    def line(p) -> str:
        return ", ".join(f"{html.escape(name)} {v:.0%}" for name, v in zip(class_names, p))

    return (
        f"<b>Second opinion</b>: the network was unsure ({line(opinion.network)}); the random forest "
        f"on the object's measurements says {line(opinion.forest)}; the two are averaged "
        f"(forest weight {opinion.weight:g})"
        + ("." if opinion.temperature == 1.0 else f", then calibrated (temperature {opinion.temperature:.3g}).")
    )


class ObjectPanel(widgets.VBox):
    """Details of the selected object: crop, explanation, probabilities, correction buttons.

    Parameters
    ----------
    class_names : sequence of str
    colors : sequence of str
        Hex colour per class.
    on_correct : callable
        ``on_correct(class_name)`` when a correction button is pressed (None: "Clear").
    """

    def __init__(
        self, class_names: Sequence[str], colors: Sequence[str], on_correct: Callable[[str | None], Any], **kwargs: Any
    ) -> None:
        self.title = widgets.HTML(HINT)

        def picture() -> widgets.Image:  # PANEL_SIZE px, smaller when the panel is narrow
            return widgets.Image(
                format="png", layout=widgets.Layout(width="100%", max_width=f"{PANEL_SIZE}px", height="auto")
            )

        def column() -> widgets.Layout:
            return widgets.Layout(flex="1 1 0", min_width="0", max_width=f"{PANEL_SIZE + 4}px", margin="0 4px 0 0")

        self.crop_image, self.cam_image = picture(), picture()
        self.crop_box = widgets.VBox([self.crop_image, widgets.HTML("<small>object</small>")], layout=column())
        self.cam_caption = widgets.HTML("<small>evidence</small>")
        self.cam_box = widgets.VBox([self.cam_image, self.cam_caption], layout=column())
        self.pictures = widgets.HBox([self.crop_box, self.cam_box])
        self.probabilities = widgets.HTML()
        self.explanation = widgets.HTML()
        self._on_correct = on_correct
        self.correct_buttons: list[widgets.Button] = []
        self.correct_box = widgets.HBox(layout=widgets.Layout(flex_flow="row wrap", align_items="center"))
        self.set_classes(class_names, colors)
        super().__init__(children=[self.title], **kwargs)
        self.layout = widgets.Layout(padding="0 0 0 12px")
        self.add_class("svetlana-object-panel")

    def set_classes(self, class_names: Sequence[str], colors: Sequence[str]) -> None:
        """(Re)build the correction buttons, one per class, in the class colours."""
        if [b.description for b in self.correct_buttons] == list(class_names):
            return
        buttons = []
        for name, color in zip(class_names, colors):
            button = widgets.Button(
                description=name,
                tooltip=f"Correct: this object is {name}",
                layout=widgets.Layout(width="auto", margin="2px"),
            )
            button.style.button_color = color
            button.style.text_color = display.text_color_for(color)
            button.on_click(lambda _, name=name: self._on_correct(name))
            buttons.append(button)
        clear = widgets.Button(
            description="Clear",
            icon="times",
            tooltip="Remove its annotation",
            layout=widgets.Layout(width="auto", margin="2px"),
        )
        clear.on_click(lambda _: self._on_correct(None))
        self.correct_buttons = buttons
        self.correct_box.children = [widgets.Label("Correct to:"), *buttons, clear]

    def clear(self) -> None:
        """Show the hint only (nothing selected)."""
        self.title.value = HINT
        self.children = [self.title]

    def show(
        self,
        *,
        title: str,
        crop: np.ndarray,
        probabilities: str,
        cam: np.ndarray | None = None,
        cam_class: str = "",
        explanation: str = "",
    ) -> None:
        """Show an object: ``crop``/``cam`` RGBA frames, ``probabilities``/``explanation`` HTML.

        ``cam_class`` names the class whose evidence the ``cam`` frame shows.
        """
        self.title.value = title
        self.cam_caption.value = f"<small>evidence for {html.escape(cam_class)}</small>"
        self.crop_image.value = encode_image(crop)
        self.probabilities.value = probabilities
        self.explanation.value = explanation
        if cam is not None:
            self.cam_image.value = encode_image(cam)
        self.pictures.children = [self.crop_box] + ([self.cam_box] if cam is not None else [])
        self.children = [self.title, self.pictures, self.probabilities, self.correct_box, self.explanation]


def explain_object(clf: Classifier | None, objects: Objects, key: Key) -> tuple[np.ndarray | None, str]:
    """The panel's explanation of one object: an evidence frame and the opinions, or the forest's measurements.

    A network's map without evidence gives no frame (it would look like the plain crop) but its
    note, in an element of class ``svetlana-no-evidence``.
    """
    if clf is None or not clf.is_fitted:
        return None, ""
    try:
        if clf.network is None:  # the random forest: its most important measurements
            return None, features_html(top_features(clf, objects, key))
        found = explain_network(clf, objects, key)
        opinion = opinions(clf, objects, key)
    except (ValueError, RuntimeError) as error:  # e.g. a custom network that fails on its patch
        return None, f"<i>No explanation: {html.escape(str(error))}</i>"
    text = opinion_html(opinion, list(clf.class_names or ()))
    if not found.evidence:
        note = f"<div class='svetlana-no-evidence' style='margin:4px 0'><i>{html.escape(found.note)}</i></div>"
        return None, note + text
    return cam_frame(found.patch, found.heatmap), text
