"""``ProportionsBox``: the viewer's class proportions, corrected for the classifier's errors.

A raw count of predicted classes carries the classifier's bias. The box measures the errors on
the user's annotations by cross-validation (a few trainings, in the background, with progress
and a Stop), then shows per image the raw and corrected proportion of each class with its 95 %
interval (:meth:`svetlana_nb.Prediction.summary`) and the bar plot a figure can use
(:func:`svetlana_nb.prediction.plots.proportion_plot`).
"""

from __future__ import annotations

import html
import threading
from collections.abc import Callable
from typing import Any

import ipywidgets as widgets
import pandas as pd

from ..models import Classifier, FunctionCallback
from ..models.cross_validation import out_of_fold
from ..objects import Annotations
from ..prediction import Prediction
from ._background_section import BackgroundSection

#: What the box needs from its viewer: (prediction, classifier, annotations), each possibly None.
Source = Callable[[], tuple[Prediction | None, Classifier | None, Annotations | None]]


def proportions_html(table: pd.DataFrame) -> str:
    """The summary as an HTML table: image, class, count, raw %, corrected % and its interval."""
    key = "group" if "group" in table.columns else "image"
    rows = "".join(
        f"<tr><td>{html.escape(str(r[key]))}</td><td>{html.escape(str(r['class']))}</td>"
        f"<td style='text-align:right'>{int(r['count'])}</td>"
        f"<td style='text-align:right'>{100 * r['proportion']:.1f} %</td>"
        f"<td style='text-align:right'>{100 * r['corrected']:.1f} %</td>"
        f"<td style='text-align:right'><b>{100 * r['estimate']:.1f} %</b> ({html.escape(str(r['basis']))})</td>"
        f"<td>{100 * r['low']:.1f}–{100 * r['high']:.1f} %</td></tr>"
        for _, r in table.iterrows()
    )
    head = "".join(f"<th>{h}</th>" for h in (key, "class", "objects", "raw", "corrected", "estimate", "95 % interval"))
    return f"<table class='svnb-proportions' style='font-size:12px'><tr>{head}</tr>{rows}</table>"


class ProportionsBox(BackgroundSection):
    """A section, closed at first: an "Estimate proportions" button, a progress line, the table and the plot.

    Parameters
    ----------
    source : callable
        Returns the viewer's (prediction, classifier, annotations) at the time of the click.
    folds : int, keyword-only
        Cross-validation folds: the trainings the estimate costs.
    """

    def __init__(self, source: Source, *, folds: int = 5) -> None:
        self._source, self.folds = source, int(folds)
        self.table_html = widgets.HTML()
        self.table: pd.DataFrame | None = None
        super().__init__(
            title="Class proportions, corrected for the classifier's errors (95 % intervals)",
            button={
                "description": "Estimate proportions",
                "icon": "percent",
                "tooltip": f"Class proportions corrected for the classifier's errors, measured on your annotations "
                f"by {folds}-fold cross-validation ({folds} trainings, in the background)",
            },
            results=[self.table_html],
            name="proportions",
        )

    def start(self) -> threading.Thread | None:
        """Estimate in a background thread, as the button does; None when something is missing."""
        prediction, classifier, annotations = self._source()
        missing = [
            what
            for what, value in (
                ("a prediction", prediction),
                ("a classifier", classifier),
                ("annotations", annotations),
            )
            if value is None
        ]
        if missing:
            self.status.value = f"Needs {' and '.join(missing)} (give them to the viewer)."
            return None
        return self._launch(self._run, (prediction, classifier, annotations), "svetlana-nb-proportions")

    def _run(self, prediction: Prediction, classifier: Classifier, annotations: Annotations) -> None:
        done = [0]

        def trained(_history: Any) -> None:
            done[0] += 1
            self.status.value = f"Measuring the classifier's errors: training {done[0]} of {self.folds} done…"

        progress = FunctionCallback(on_train_end=trained, should_stop=self._stop.is_set)
        try:
            self.status.value = f"Measuring the classifier's errors: training 1 of {self.folds}…"
            errors = out_of_fold(classifier, annotations, folds=self.folds, callbacks=[progress])
            if self._stop.is_set():
                self.status.value = "Stopped; press Estimate proportions to start again."
                return
            from ..prediction.plots import proportion_plot

            table = prediction.corrected(annotations).summary(errors)
            self.table = table
            self.table_html.value = proportions_html(table)
            self.show_figure(proportion_plot(table))
            basis = (
                "the raw share is the estimate: these annotations show no bias beyond the correction's own uncertainty"
                if (table["basis"] == "raw").all()
                else "the corrected share is the estimate where the annotations show a bias"
            )
            self.status.value = (
                f"Errors measured on {len(annotations)} annotations ({self.folds}-fold cross-validation); "
                f"{basis}. The interval allows for the classifier's errors; annotated objects count as annotated."
            )
        except Exception as error:  # noqa: BLE001 - shown to the user
            self.show_error("estimate", error)
