"""What the prediction view paints: per-object colour tables and the legend.

Headless (no widgets): object row + 1 indexes every table, 0 being the background, so a
frame is coloured by one gather whatever the label ids are.
"""

from __future__ import annotations

import html
from dataclasses import dataclass

import numpy as np

from .. import display
from ..objects import Annotations, Objects
from ..prediction import Prediction


@dataclass
class Layers:
    """Colour tables of a prediction (with corrections) for :func:`svetlana_nb.display.paint_labels`.

    Attributes
    ----------
    names : list of str
        Classes shown: the annotation classes, then any other predicted class.
    shown : numpy.ndarray of int, shape (n,)
        Class number (in ``names``) shown per object: an annotation wins; -1 when unknown.
    classes : numpy.ndarray, uint8, shape (n + 1, 4)
        RGBA per object row + 1 by class.
    confidence : numpy.ndarray, uint8, shape (n + 1, 4)
        RGBA per object row + 1 by winning probability (red: doubtful, green: sure).
    corrected : numpy.ndarray of bool, shape (n + 1,)
        Annotated objects whose annotation differs from the prediction.
    """

    names: list[str]
    shown: np.ndarray
    classes: np.ndarray
    confidence: np.ndarray
    corrected: np.ndarray
    n_channels: int = 1

    @property
    def colors(self) -> list[str]:
        """Hex colour of each of :attr:`names` (as in the annotator)."""
        return [display.class_color(k, self.n_channels) for k in range(len(self.names))]


def build_layers(objects: Objects, prediction: Prediction | None, annotations: Annotations | None) -> Layers:
    """Compute the colour tables of ``prediction`` with the corrections of ``annotations``."""
    n = len(objects)
    names = list(annotations.class_names) if annotations is not None else []
    if prediction is not None:
        names += [c for c in prediction.class_names if c not in names]
    shown = np.full(n, -1, dtype=np.int64)
    corrected = np.zeros(n + 1, dtype=bool)
    confidence = np.zeros((n + 1, 4), dtype=np.uint8)
    if prediction is not None:
        shown = np.array([names.index(c) for c in prediction.class_names])[prediction.class_index]
        k = len(prediction.class_names)
        confidence[1:] = display.colormap(prediction.confidence, "confidence", vmin=1.0 / k)
    items = list(annotations.items()) if annotations is not None else []
    if items:
        rows = objects.rows([key for key, _ in items])
        annotated = np.array([names.index(c) for _, c in items])
        if prediction is not None:
            corrected[rows[annotated != shown[rows]] + 1] = True
        shown[rows] = annotated
    palette = np.array(
        [display.hex_to_rgb(display.class_color(k, objects.n_channels)) for k in range(len(names))] + [(0, 0, 0)],
        dtype=np.uint8,
    )
    classes = np.zeros((n + 1, 4), dtype=np.uint8)
    classes[1:, :3] = palette[shown]
    classes[1:, 3] = np.where(shown >= 0, 255, 0)
    return Layers(names, shown, classes, confidence, corrected, objects.n_channels)


def legend_html(layers: Layers, prediction: Prediction | None, mode: str) -> str:
    """Legend of the view: classes with counts (and corrections), or the confidence ramp."""
    if prediction is None:
        return "<i>No prediction yet: train a classifier.</i>"
    if mode == "confidence":
        ramp = ", ".join(display.COLORMAPS["confidence"])
        doubtful = int((prediction.confidence < 0.6).sum())
        calibrated = "calibrated" if prediction.calibrated else "not calibrated"
        return (
            f"<div><b>Confidence</b> (winning probability, {calibrated})</div><div style='display:flex;"
            f"gap:6px;align-items:center'><span>{100 / len(prediction.class_names):.0f}%</span>"
            "<span style='width:160px;height:12px;background:linear-gradient(to right, "
            f"{ramp})'>"
            f"</span><span>100%</span></div><div>{doubtful} of {len(prediction)} objects "
            "below 60%</div>"
        )
    counts = np.bincount(layers.shown[layers.shown >= 0], minlength=len(layers.names))
    items = "".join(
        "<span style='display:inline-flex;align-items:center;margin-right:12px'><span style='"
        f"width:14px;height:14px;background:{color};border-radius:3px;margin-right:5px'></span>"
        f"{html.escape(name)}: <b style='margin-left:3px'>{count}</b></span>"
        for name, color, count in zip(layers.names, layers.colors, counts)
    )
    ring = (
        "<span style='margin-right:12px' title='Annotated objects whose class differs from "
        "the prediction (corrections), drawn with a white ring'><span style='display:"
        "inline-block;width:10px;height:10px;border:2px solid #999;border-radius:7px'></span>"
        f" corrected: {int(layers.corrected.sum())}</span>"
    )
    return f"<div style='display:flex;flex-wrap:wrap;align-items:center'>{items}{ring}</div>"
