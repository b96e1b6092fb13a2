"""Quality control of a prediction: which objects to look at, and a contact sheet of them.

:func:`qc_selection` picks, per predicted class, the objects the classifier is surest of, those
it is least sure of and (given out-of-fold predictions) the annotations it disagrees with;
:func:`contact_sheet` draws their crops on one page (PNG or PDF) for a lab notebook or a paper's
supplement. The widget :class:`svetlana_nb.widgets.gallery.QCGallery` shows the same selection.
"""

from __future__ import annotations

import os
from pathlib import Path
from typing import TYPE_CHECKING, Any

import numpy as np
import pandas as pd

from .. import display
from .._files import atomic_path

if TYPE_CHECKING:
    from ..objects.objects import Objects
    from .prediction import Prediction

__all__ = ["GROUPS", "SELECTION_COLUMNS", "contact_sheet", "object_thumbnail", "qc_selection"]

#: The groups of a selection, in the order they are shown.
GROUPS = ("most confident", "least confident", "disagrees with its annotation")
#: The columns of :func:`qc_selection`'s table.
SELECTION_COLUMNS = ("image", "label", "row", "class", "group", "confidence", "annotated class")
#: File formats :func:`contact_sheet` writes, by suffix.
SHEET_FORMATS = {".png": "png", ".pdf": "pdf"}


def _positive_int(value: Any, name: str) -> int:
    if isinstance(value, bool) or not isinstance(value, (int, np.integer)) or value < 1:
        raise ValueError(f"{name}: expected a positive integer, got {value!r}")
    return int(value)


def _ranks(classes: np.ndarray, confidence: np.ndarray, k: int) -> tuple[np.ndarray, np.ndarray]:
    """Rank of each object by ascending confidence within its class, and its class's size.

    Ties are broken by row, so the result does not depend on the sort's stability.

    Returns
    -------
    rank : numpy.ndarray of int64, shape (n,)
    size : numpy.ndarray of int64, shape (n,)
    """
    n = classes.size
    order = np.lexsort((np.arange(n), confidence, classes))
    counts = np.bincount(classes, minlength=k)
    starts = np.concatenate([[0], np.cumsum(counts)[:-1]])
    rank = np.empty(n, dtype=np.int64)
    rank[order] = np.arange(n) - starts[classes[order]]
    return rank, counts[classes]


def _check_out_of_fold(out_of_fold: Any, n: int) -> tuple[np.ndarray, np.ndarray, np.ndarray, list[str]]:
    try:
        rows = np.asarray(out_of_fold.rows, dtype=np.int64)
        annotated = np.asarray(out_of_fold.annotated, dtype=np.int64)
        probabilities = np.asarray(out_of_fold.probabilities, dtype=np.float32)
        names = list(out_of_fold.class_names)
    except AttributeError as error:
        raise ValueError(
            f"out_of_fold: expected the result of svetlana_nb.models.cross_validation.out_of_fold, "
            f"got {type(out_of_fold).__name__}"
        ) from error
    if probabilities.shape != (rows.size, len(names)) or annotated.shape != rows.shape:
        raise ValueError(
            f"out_of_fold: rows {rows.shape}, annotated {annotated.shape} and probabilities "
            f"{probabilities.shape} do not match {len(names)} classes"
        )
    if rows.size and (rows.min() < 0 or rows.max() >= n):
        raise ValueError(f"out_of_fold: rows outside the prediction's {n} objects (made on other objects?)")
    return rows, annotated, probabilities, names


def qc_selection(prediction: Prediction, *, per_class: int = 8, out_of_fold: Any = None) -> pd.DataFrame:
    """The objects to check by eye: per predicted class, the surest, the least sure, the disagreements.

    Parameters
    ----------
    prediction : Prediction
    per_class : int, keyword-only
        How many objects of each class in each of the groups "most confident" and "least
        confident". A class with fewer than ``2 * per_class`` objects shows each once: the
        least confident group then holds those not already among the most confident.
    out_of_fold : OutOfFold, optional, keyword-only
        From :func:`svetlana_nb.models.cross_validation.out_of_fold` on annotations of the
        prediction's objects: adds every annotated object whose out-of-fold class differs from
        its annotation (group "disagrees with its annotation"), filed under its out-of-fold
        class with the out-of-fold confidence, surest mistakes first.

    Returns
    -------
    pandas.DataFrame
        One row per selected object, with the columns :data:`SELECTION_COLUMNS`: ``image``
        (name), ``label``, ``row`` (in the objects), ``class`` (predicted), ``group``,
        ``confidence``, ``annotated class`` (None for an object without annotation). Sorted by
        class (the prediction's order), group (:data:`GROUPS`' order) then confidence:
        decreasing for "most confident" and the disagreements, increasing for "least confident".
    """
    per_class = _positive_int(per_class, "per_class")
    names = list(prediction.class_names)
    n, k = len(prediction), len(names)
    classes = np.asarray(prediction.class_index, dtype=np.int64)
    confidence = np.asarray(prediction.confidence, dtype=np.float64)
    annotated = np.where(np.asarray(prediction.annotated, dtype=bool), classes, -1)

    rank, size = _ranks(classes, confidence, k)
    most = rank >= size - per_class
    least = rank < np.minimum(per_class, size - per_class)
    parts = [(np.flatnonzero(most), 0), (np.flatnonzero(least), 1)]
    part_classes = [classes[parts[0][0]], classes[parts[1][0]]]
    part_confidence = [confidence[parts[0][0]], confidence[parts[1][0]]]

    if out_of_fold is not None:
        rows, truth, probabilities, oof_names = _check_out_of_fold(out_of_fold, n)
        names = names + [c for c in oof_names if c not in names]
        to_ours = np.array([names.index(c) for c in oof_names], dtype=np.int64)
        predicted, truth = to_ours[probabilities.argmax(axis=1)], to_ours[truth]
        annotated[rows] = truth
        wrong = predicted != truth
        parts.append((rows[wrong], 2))
        part_classes.append(predicted[wrong])
        part_confidence.append(probabilities.max(axis=1)[wrong].astype(np.float64))

    row = np.concatenate([p for p, _ in parts]).astype(np.int64)
    group = np.concatenate([np.full(p.size, g, dtype=np.int64) for p, g in parts])
    cls = np.concatenate(part_classes).astype(np.int64)
    conf = np.concatenate(part_confidence)
    # class, then group, then confidence (decreasing except in "least confident"), then row
    order = np.lexsort((row, np.where(group == 1, conf, -conf), group, cls))
    row, group, cls, conf = row[order], group[order], cls[order], conf[order]

    objects = prediction.objects
    names_array = np.asarray(names, dtype=object)
    annotation = annotated[row]
    annotated_names = np.full(row.size, None, dtype=object)
    annotated_names[annotation >= 0] = names_array[annotation[annotation >= 0]]
    return pd.DataFrame(
        {
            "image": np.asarray(objects.names, dtype=object)[np.asarray(objects.image_index)[row]],
            "label": np.asarray(objects.labels, dtype=np.int64)[row],
            "row": row,
            "class": names_array[cls],
            "group": np.asarray(GROUPS, dtype=object)[group],
            "confidence": conf,
            "annotated class": annotated_names,
        },
        columns=list(SELECTION_COLUMNS),
    )


def object_thumbnail(objects: Objects, row: int, *, size: int = 64, limits: np.ndarray | None = None) -> np.ndarray:
    """One object's crop as the widgets draw it: its channels composited, outlined, square.

    Parameters
    ----------
    objects : Objects
    row : int
    size : int, keyword-only
        Side of the frame in pixels.
    limits : numpy.ndarray, shape (C, 2), optional, keyword-only
        Display range per channel; default: the image's 1st-99.8th percentiles
        (``objects.channel_ranges("percentile")``). Ignored for RGB images.

    Returns
    -------
    numpy.ndarray, uint8, shape (size, size, 4)
        Opaque RGBA; a 3D object shows its middle z slice.
    """
    image, mask, _ = objects.crop(int(row))
    if objects.spatial_ndim == 3:
        image, mask = image[image.shape[0] // 2], mask[mask.shape[0] // 2]
    if limits is None:
        limits = objects.channel_ranges("percentile")[int(objects.image_index[int(row)])]
    frame, _, _ = display.render_crop(
        image,
        mask,
        colors=display.default_channel_colors(objects.n_channels),
        limits=limits,
        rgb=objects.is_rgb,
        size=size,
    )
    return frame


def _check_selection(selection: Any, n: int) -> pd.DataFrame:
    if not isinstance(selection, pd.DataFrame):
        raise ValueError(f"selection: expected the DataFrame of qc_selection, got {type(selection).__name__}")
    missing = [c for c in ("row", "class", "group", "label", "confidence") if c not in selection.columns]
    if missing:
        raise ValueError(f"selection: expected the columns of qc_selection; missing {missing}")
    if selection.empty:
        raise ValueError("selection: it holds no objects")
    rows = selection["row"].to_numpy()
    if not np.issubdtype(rows.dtype, np.integer) or rows.min() < 0 or rows.max() >= n:
        raise ValueError(f"selection: rows must be integers in [0, {n}) (a selection of these objects)")
    return selection


def contact_sheet(
    objects: Objects,
    prediction: Prediction,
    selection: pd.DataFrame,
    path: str | os.PathLike,
    *,
    size: int = 64,
    columns: int = 8,
) -> Path:
    """Draw the selected objects' crops on one page and save it as PNG or PDF.

    One block per (class, group) of ``selection``, in its order: a heading in the class
    colour, then the crops, ``columns`` per line, each titled with its label and confidence.
    The figure is made without pyplot (a notebook's current figure is left alone).

    Parameters
    ----------
    objects : Objects
        The prediction's objects.
    prediction : Prediction
    selection : pandas.DataFrame
        From :func:`qc_selection` (or a subset of its rows).
    path : str or PathLike
        Ends in ``.png`` or ``.pdf`` (the format); its folder must exist. Written atomically.
    size : int, keyword-only
        Side of each crop in pixels.
    columns : int, keyword-only
        Crops per line (at most; fewer when no block has that many).

    Returns
    -------
    pathlib.Path
    """
    from matplotlib.backends.backend_agg import FigureCanvasAgg
    from matplotlib.figure import Figure

    path = Path(path)
    fmt = SHEET_FORMATS.get(path.suffix.lower())
    if fmt is None:
        raise ValueError(f"path: a contact sheet is written as .png or .pdf, not {path.suffix or 'no suffix'!r}")
    size, columns = _positive_int(size, "size"), _positive_int(columns, "columns")
    if prediction.objects is not objects:
        raise ValueError("prediction: it was made on other objects than those given")
    selection = _check_selection(selection, len(objects))

    band, heading, gap = 14, 22, 4  # title band under each crop, block heading, space between crops
    cell_w, cell_h = size + gap, size + band + gap
    block = selection.groupby(["class", "group"], sort=False).ngroup().to_numpy()  # in the selection's order
    firsts = np.unique(block, return_index=True)[1]
    blocks = [
        ((str(selection["class"].iat[first]), str(selection["group"].iat[first])), np.flatnonzero(block == b))
        for b, first in enumerate(firsts)
    ]
    columns = min(columns, max(len(members) for _, members in blocks))  # no empty margin on the right
    lines = [int(np.ceil(len(members) / columns)) for _, members in blocks]
    width = columns * cell_w + gap
    height = len(blocks) * heading + sum(lines) * cell_h + gap
    mosaic = np.full((height, width, 3), 255, dtype=np.uint8)
    rows = selection["row"].to_numpy(dtype=np.int64)
    labels = selection["label"].to_numpy()
    confidence = selection["confidence"].to_numpy(dtype=np.float64)
    class_order = list(prediction.class_names)
    texts: list[tuple[float, float, str, dict[str, Any]]] = []
    y = 0
    for ((name, group), members), n_lines in zip(blocks, lines):
        index = class_order.index(name) if name in class_order else len(class_order)
        color = display.class_color(index, objects.n_channels)
        texts.append((gap, y + heading / 2 + 2, f"{name}: {group}", {"color": color, "weight": "bold", "size": 9}))
        y += heading
        for i, member in enumerate(members):
            top, left = y + (i // columns) * cell_h, gap + (i % columns) * cell_w
            mosaic[top : top + size, left : left + size] = object_thumbnail(objects, rows[member], size=size)[..., :3]
            caption = f"{labels[member]} · {confidence[member]:.0%}"
            texts.append((left + size / 2, top + size + band / 2, caption, {"size": 6, "ha": "center"}))
        y += n_lines * cell_h

    dpi = 100
    figure = Figure(figsize=(width / dpi, height / dpi), dpi=dpi)
    FigureCanvasAgg(figure)
    ax = figure.add_axes((0.0, 0.0, 1.0, 1.0))
    ax.imshow(mosaic, interpolation="nearest", extent=(0, width, height, 0))
    ax.set_axis_off()
    for x, y_text, text, style in texts:
        ax.text(x, y_text, text, va="center", **style)
    with atomic_path(path) as tmp:
        figure.savefig(tmp, format=fmt, dpi=2 * dpi)
    return path
