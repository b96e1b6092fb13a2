"""Figures for a paper: class proportions with their intervals, a reliability diagram, a learning curve."""

from __future__ import annotations

from typing import TYPE_CHECKING

import numpy as np
import pandas as pd

if TYPE_CHECKING:
    from matplotlib.axes import Axes
    from matplotlib.figure import Figure

__all__ = ["learning_curve_plot", "proportion_plot", "reliability_diagram"]

_NEEDED = ("class", "proportion", "corrected", "low", "high")


def proportion_plot(
    table: pd.DataFrame,
    *,
    ax: Axes | None = None,
    title: str | None = None,
    percent: bool = True,
) -> Figure:
    """Grouped bars of the class proportions per image (or group), with their 95 % interval.

    One group of bars per image or group (the table's ``image`` or ``group`` column), one bar
    per class: the estimate (``estimate``: corrected where the annotations show a bias, else
    raw) with the 95 % interval as an error bar. Where the table has
    no corrected proportion (``summary.csv`` written without annotations), the raw proportion
    is drawn, hatched, without an error bar, and the legend says so.

    Parameters
    ----------
    table : pandas.DataFrame
        As returned by :meth:`svetlana_nb.Prediction.summary` (or read from the CLI's
        ``summary.csv``): columns ``image`` or ``group``, ``class``, ``proportion``,
        ``corrected``, ``low``, ``high``.
    ax : matplotlib.axes.Axes, optional, keyword-only
        Draw there (a panel of a larger figure); a new figure otherwise.
    title : str, optional, keyword-only
    percent : bool, keyword-only
        Proportions as percentages (default) or fractions.

    Returns
    -------
    matplotlib.figure.Figure
        The figure drawn on (``fig.savefig("proportions.pdf")`` for a paper). It is made
        without pyplot, so a script's or notebook's current figure is left alone.
    """
    from matplotlib.figure import Figure

    if not isinstance(table, pd.DataFrame):
        raise TypeError(f"table: expected the DataFrame of Prediction.summary, got {type(table).__name__}")
    by = "group" if "group" in table.columns else "image" if "image" in table.columns else None
    missing = [c for c in _NEEDED if c not in table.columns]
    if by is None or missing:
        raise ValueError(
            f"table: expected the columns of Prediction.summary (image or group, {', '.join(_NEEDED)}); "
            f"missing {missing if missing else ['image or group']}"
        )
    if table.empty:
        raise ValueError("table: no rows to plot")
    groups = list(dict.fromkeys(table[by]))
    classes = list(dict.fromkeys(table["class"]))
    scale = 100.0 if percent else 1.0
    grid = table.set_index([by, "class"])
    if grid.index.duplicated().any():
        raise ValueError(f"table: more than one row for one ({by}, class)")
    full = pd.MultiIndex.from_product([groups, classes])
    values = grid.reindex(full)
    if ax is None:
        figure = Figure(figsize=(max(4.0, 1.0 + 0.5 * len(groups) * len(classes)), 3.5), layout="constrained")
        ax = figure.add_subplot()
    else:
        figure = ax.get_figure()  # type: ignore[assignment]
    width = 0.8 / len(classes)
    x = np.arange(len(groups), dtype=float)
    corrected_any = False
    for c, name in enumerate(classes):
        rows = values.xs(name, level=1).reindex(groups)
        corrected = rows["corrected"].to_numpy(dtype=float)
        raw = rows["proportion"].to_numpy(dtype=float)
        has = ~np.isnan(corrected)
        # the bar: the figure to report (raw or corrected, see proportion_table) where the table has it
        shown = rows["estimate"].to_numpy(dtype=float) if "estimate" in rows else corrected
        heights = np.where(has, shown, raw) * scale
        low = np.where(has, rows["low"].to_numpy(dtype=float), np.nan) * scale
        high = np.where(has, rows["high"].to_numpy(dtype=float), np.nan) * scale
        positions = x - 0.4 + width * (c + 0.5)
        bars = ax.bar(positions, heights, width, label=name)
        for bar, corrected_bar in zip(bars.patches, has):
            if not corrected_bar:
                bar.set_hatch("//")  # a raw proportion: no interval
        if has.any():
            corrected_any = True
            ax.errorbar(
                positions[has],
                heights[has],
                yerr=np.vstack([heights[has] - low[has], high[has] - heights[has]]),
                fmt="none",
                ecolor="black",
                capsize=3,
                linewidth=1,
            )
    tilted = len(groups) > 4
    ax.set_xticks(x, [str(g) for g in groups], rotation=30 if tilted else 0, ha="right" if tilted else "center")
    unit = "%" if percent else "fraction"
    kind = "proportion, 95 % interval" if corrected_any else "raw proportion (no annotations to correct it)"
    ax.set_ylabel(f"{kind} ({unit})")
    ax.set_ylim(0, scale)
    ax.set_xlabel(by if len(groups) > 1 else "")  # one bar group: its tick names it, "image" twice is noise
    ax.legend(title="class", frameon=False, loc="upper left", bbox_to_anchor=(1.0, 1.0))
    if title is not None:
        ax.set_title(title)
    return figure


def reliability_diagram(
    probabilities: np.ndarray,
    annotated: np.ndarray,
    *,
    bins: int = 10,
    calibrated: np.ndarray | None = None,
    ax: Axes | None = None,
) -> Figure:
    """Accuracy against confidence per bin, the diagonal of a calibrated model, and the ECE.

    Parameters
    ----------
    probabilities : numpy.ndarray, shape (A, k)
        Out-of-fold probabilities of the annotations
        (:attr:`~svetlana_nb.models.cross_validation.OutOfFold.probabilities`).
    annotated : numpy.ndarray of int, shape (A,)
        Their annotated class index.
    bins : int, keyword-only
        Equal-width confidence bins (:func:`~svetlana_nb.prediction.calibration.reliability_curve`).
    calibrated : numpy.ndarray, shape (A, k), optional, keyword-only
        The same objects' probabilities after calibration (e.g. temperature scaling), drawn as a
        second curve.
    ax : matplotlib.axes.Axes, optional, keyword-only

    Returns
    -------
    matplotlib.figure.Figure
        A point per non-empty bin: its mean confidence and its accuracy; the legend gives each
        curve's expected calibration error.
    """
    from matplotlib.figure import Figure

    from .calibration import expected_calibration_error, reliability_curve

    curves = {"model": probabilities} if calibrated is None else {"model": probabilities, "calibrated": calibrated}
    if ax is None:
        figure = Figure(figsize=(4.2, 4.0), layout="constrained")
        ax = figure.add_subplot()
    else:
        figure = ax.get_figure()  # type: ignore[assignment]
    ax.plot([0, 1], [0, 1], linestyle="--", color="grey", linewidth=1, label="calibrated model")
    for name, values in curves.items():
        curve = reliability_curve(values, annotated, bins=bins)
        filled = curve[curve["n"] > 0]
        ece = expected_calibration_error(values, annotated, bins=bins)
        ax.plot(
            filled["confidence"],
            filled["accuracy"],
            marker="o",
            label=f"{name} (ECE {100 * ece:.1f} %)",
        )
    ax.set_xlim(0, 1)
    ax.set_ylim(0, 1)
    ax.set_xlabel("confidence (mean in bin)")
    ax.set_ylabel("accuracy (annotations, out of fold)")
    ax.set_aspect("equal")
    ax.legend(frameon=False, loc="upper left")
    return figure


_CURVE = ("model", "n_annotations", "mean", "low", "high")


def learning_curve_plot(table: pd.DataFrame, *, ax: Axes | None = None, title: str | None = None) -> Figure:
    """Balanced accuracy against annotations, one line per model, its interval as a band.

    Parameters
    ----------
    table : pandas.DataFrame
        :attr:`svetlana_nb.models.learning_curve.LearningCurve.table`: columns ``model``,
        ``n_annotations``, ``mean``, ``low``, ``high``.
    ax : matplotlib.axes.Axes, optional, keyword-only
    title : str, optional, keyword-only

    Returns
    -------
    matplotlib.figure.Figure
        Made without pyplot.
    """
    from matplotlib.figure import Figure

    missing = [c for c in _CURVE if c not in getattr(table, "columns", ())]
    if not isinstance(table, pd.DataFrame) or missing:
        raise ValueError(f"table: expected a learning curve's table with columns {list(_CURVE)}; missing {missing}")
    if ax is None:
        figure = Figure(figsize=(5.0, 3.5), layout="constrained")
        ax = figure.add_subplot()
    else:
        figure = ax.get_figure()  # type: ignore[assignment]
    for model, rows in table.groupby("model", sort=False):
        rows = rows.sort_values("n_annotations")
        (line,) = ax.plot(rows["n_annotations"], rows["mean"], marker="o", label=str(model))
        ax.fill_between(rows["n_annotations"], rows["low"], rows["high"], color=line.get_color(), alpha=0.2)
    ax.set_xlabel("annotations trained on")
    ax.set_ylabel("balanced accuracy (held-out folds, ± 1 SE)")
    ax.set_ylim(min(0.5, float(table["low"].min()) if len(table) else 0.5), 1.0)
    if len(table):
        ax.legend(title="model", frameon=False, loc="lower right")
    if title is not None:
        ax.set_title(title)
    return figure
