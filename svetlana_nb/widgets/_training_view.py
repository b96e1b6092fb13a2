"""Pieces of the Trainer's view: curves, plan, end-of-run summary and confusion."""

from __future__ import annotations

import html
from typing import Any

import ipywidgets as widgets
import numpy as np
from bqplot import Axis, Figure, LinearScale, Lines

from ..models import History
from ..models.callbacks import STOP_REASONS
from ..models.config import TrainingPlan

#: Short button labels of the registered models.
TRAIN_COLOR, VAL_COLOR = "#1f77b4", "#ff7f0e"


def nice_ticks(high: float, most: int = 6, *, integer: bool = False) -> np.ndarray:
    """Round tick values ``0, step, 2 step...`` covering ``[0, high]``, at most ``most`` of them.

    ``integer=True`` keeps whole-number steps (epochs).

    Examples
    --------
    >>> nice_ticks(0.69).tolist(), nice_ticks(30).tolist()
    ([0.0, 0.2, 0.4, 0.6, 0.8], [0.0, 10.0, 20.0, 30.0])
    """
    high = float(high) if np.isfinite(high) and high > 0 else 1.0
    base = 10.0 ** np.floor(np.log10(high / most))
    steps = [m * base for m in (1, 2, 2.5, 5, 10, 20)]
    if integer:
        steps = [s for s in steps if s >= 1 and s == int(s)] + [20 * max(base, 1.0)]
    step = next(s for s in steps if np.ceil(high / s) < most)
    return np.round(np.arange(np.ceil(high / step) + 1) * step, 10)


def curve_figure(title: str, y_label: str, y_max: float | None, tick_format: str) -> tuple[Figure, Lines]:
    """Build a small bqplot figure with one Lines mark of two rows (training, validation).

    Returns
    -------
    figure : bqplot.Figure
    line : bqplot.Lines
        Empty; update it in place: ``line.x`` (epochs,) and ``line.y`` (2, epochs).
    """
    x_scale = LinearScale(allow_padding=False)
    y_scale = LinearScale(min=0.0, max=y_max, allow_padding=False)
    line = Lines(
        x=np.zeros(0),
        y=np.zeros((2, 0)),
        scales={"x": x_scale, "y": y_scale},
        colors=[TRAIN_COLOR, VAL_COLOR],
        labels=["training", "validation"],
        stroke_width=2,
    )
    axes = [
        Axis(scale=x_scale, label="epoch", tick_format="d", grid_lines="none", tick_values=np.array([1.0])),
        Axis(
            scale=y_scale,
            label=y_label,
            side="left",
            tick_format=tick_format,
            grid_color="#eee",
            tick_values=nice_ticks(y_max or 1.0, 5),
        ),
    ]
    fig = Figure(
        marks=[line],
        axes=axes,
        title=title,
        title_style={"font-size": "14px"},
        fig_margin={"top": 38, "bottom": 40, "left": 55, "right": 15},
        layout=widgets.Layout(width="50%", min_width="260px", height="230px"),
    )
    return fig, line


def curves_legend() -> str:
    """HTML legend of the two curves (outside the plots, where it hides no data)."""

    def item(color: str, name: str) -> str:
        return (
            f"<span style='display:inline-flex;align-items:center;margin-right:14px'>"
            f"<span style='display:inline-block;width:22px;height:3px;background:{color};"
            f"margin-right:5px'></span>{name}</span>"
        )

    return f"<div style='font-size:12px'>{item(TRAIN_COLOR, 'training')}{item(VAL_COLOR, 'validation')}</div>"


def duration(seconds: float) -> str:
    """Format seconds as ``"12.3 s"`` or ``"2 min 05 s"``."""
    seconds = max(0.0, float(seconds))
    if seconds < 60:
        return f"{seconds:.1f} s"
    return f"{int(seconds // 60)} min {int(seconds % 60):02d} s"


def confusion_html(confusion: np.ndarray | None, class_names: list[str]) -> str:
    """Render a confusion matrix (rows: annotated, columns: predicted) as a shaded HTML table."""
    if confusion is None:
        return (
            "<i>No validation objects: annotate more (at least 2 per class and 40 in all) for a confusion matrix.</i>"
        )
    confusion = np.asarray(confusion)
    totals = np.maximum(confusion.sum(1, keepdims=True), 1)
    cell = "padding:3px 8px;text-align:center;border:1px solid #ddd"
    head = "".join(f"<th style='{cell}'>{html.escape(n)}</th>" for n in class_names)
    rows = []
    for i, name in enumerate(class_names):
        tds = []
        for j in range(len(class_names)):
            share = confusion[i, j] / totals[i, 0]
            rgb = "40,160,80" if i == j else "220,60,60"
            tds.append(f"<td style='{cell};background:rgba({rgb},{0.1 + 0.6 * share:.2f})'>{confusion[i, j]}</td>")
        rows.append(f"<tr><th style='{cell};text-align:right'>{html.escape(name)}</th>{''.join(tds)}</tr>")
    corner = f"<th style='{cell};font-weight:normal;color:#666'>annotated ↓ predicted →</th>"
    return (
        "<div style='font-size:12px;margin-bottom:2px'><b>Confusion matrix</b> "
        "(validation objects)</div><table style='border-collapse:collapse;font-size:12px'>"
        f"<tr>{corner}{head}</tr>{''.join(rows)}</table>"
    )


def plan_html(plan: TrainingPlan, n_annotations: int, *, network: bool) -> str:
    """The line under the options: what Start will do with the annotations at hand."""
    if not network:
        return ""
    if plan.note:
        return f"<span style='color:#8a5300'>⚠ {html.escape(plan.note)}</span>"
    stopping = ", then early stopping" if plan.early_stopping else ""
    return (
        f"<small>{plan.n_validation} of {n_annotations} annotations will be held out for validation{stopping}.</small>"
    )


def summary_html(history: History, model_label: str) -> str:
    """Summarise a finished run: model, epochs, how it ended, best epoch, accuracy, time."""
    acc = history.best_val_acc
    counted = history.validation_text()
    if acc is not None:
        acc_text = f"<b>{html.escape(counted)}</b>" if counted else f"validation accuracy <b>{acc:.1%}</b>"
        if history.second_opinion_val_acc is not None:
            acc_text += f" (<b>{history.second_opinion_val_acc:.1%}</b> with the second opinion)"
    elif history.train_acc:
        acc_text = f"training accuracy <b>{history.train_acc[-1]:.1%}</b> (no validation split)"
    else:
        acc_text = "no epoch completed"
    ended = STOP_REASONS
    kept = (
        f"weights of epoch <b>{history.best_epoch}</b> kept (lowest validation loss)"
        if acc is not None
        else f"weights of the last epoch (<b>{history.best_epoch}</b>) kept"
    )
    return (
        f"<b>{html.escape(model_label)}</b>: "
        f"{len(history.epoch)} epoch(s), {ended.get(history.stopped, history.stopped)}; "
        f"{kept}; {acc_text}, {duration(history.seconds)}"
    )


def ready_text(counts: dict[str, int]) -> str:
    """The status before the first run: what is annotated, and what is still needed to start."""
    n, used = sum(counts.values()), [name for name, k in counts.items() if k > 0]
    if len(used) < 2:
        return f"Ready when objects of at least two classes are annotated ({n} annotated so far)."
    return f"Ready: {n} annotations of {len(used)} classes; press Start."


def device_html(device_name: str, advice: str | None) -> str:
    """The device line beside Start, on one line, with what to do for a GPU when there is advice."""
    line = f"<span style='white-space:nowrap'>Device: <b>{html.escape(device_name)}</b></span>"
    if advice:
        line += f"<br><span class='svnb-gpu-advice' style='color:#8a5300'>⚠ {html.escape(advice)}</span>"
    return line


def set_ticks(axis: Any, ticks: np.ndarray) -> bool:
    """Set an axis' tick values unless they are already these; return whether they changed."""
    if axis.tick_values is not None and np.array_equal(axis.tick_values, ticks):
        return False
    axis.tick_values = ticks
    return True


def status_text(metrics: dict) -> str:
    """Describe the last epoch: number, elapsed time, ETA, loss and accuracy."""
    epoch, max_epochs = int(metrics["epoch"]), int(metrics["max_epochs"])
    elapsed = float(metrics.get("seconds") or 0.0)
    eta = elapsed / epoch * (max_epochs - epoch)
    val = metrics.get("val_acc") is not None
    acc = metrics["val_acc"] if val else metrics.get("train_acc", 0.0)
    return (
        f"Epoch {epoch}/{max_epochs} · {duration(elapsed)} elapsed · ETA ≤ {duration(eta)} · "
        f"loss {metrics['train_loss']:.3f} · {'val' if val else 'train'} acc {acc:.1%}"
    )
