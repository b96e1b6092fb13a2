"""``LearningCurveBox``: the Trainer's "Do I need more labels?" section.

It runs :func:`svetlana_nb.models.learning_curve` on the Trainer's classifier and annotations in
the background (at most about three trainings), with progress and a Stop that keeps the points
done, then shows the plain-language reading and the curve of the network beside the forest.
"""

from __future__ import annotations

import html
import threading
from collections.abc import Callable
from typing import Any

import ipywidgets as widgets

from ..models import Classifier, FunctionCallback
from ..models.learning_curve import LearningCurve, learning_curve
from ..objects import Annotations
from ._background_section import BackgroundSection

#: What the box needs from its Trainer at the time of the click.
Source = Callable[[], tuple[Classifier | None, Annotations]]


class LearningCurveBox(BackgroundSection):
    """A closed section: "Do I need more labels?", a Stop, a progress line, the reading and the plot.

    Parameters
    ----------
    source : callable
        Returns the Trainer's (classifier, annotations).
    """

    def __init__(self, source: Source) -> None:
        self._source = source
        self.reading = widgets.HTML()
        self.reading.add_class("svnb-curve-reading")
        self.curve: LearningCurve | None = None
        super().__init__(
            title="Do I need more labels? (learning curve)",
            button={
                "description": "Do I need more labels?",
                "icon": "line-chart",
                "tooltip": "Balanced accuracy at growing shares of your annotations, cross-validated, for this "
                "model and a random forest (about three trainings, in the background)",
            },
            results=[self.reading],
            name="curve",
        )
        self.remove_class("svnb-curve-box")
        self.add_class("svnb-learning-box")

    def start(self) -> threading.Thread | None:
        """Run the curve in a background thread, as the button does (None without a classifier)."""
        classifier, annotations = self._source()
        if classifier is None:
            self.status.value = "Choose a model first."
            return None
        return self._launch(self._run, (classifier, annotations), "svetlana-nb-learning-curve")

    def _run(self, classifier: Classifier, annotations: Annotations) -> None:
        def began(info: dict[str, Any]) -> None:
            where = info.get("learning_curve", {})
            if where:
                self.status.value = (
                    f"Training {where['step']} of {where['steps']} ({html.escape(str(where['model']))}, "
                    f"{where['fraction']:.0%} of the annotations)…"
                )

        try:
            self.status.value = "Starting…"
            curve = learning_curve(
                classifier, annotations, callbacks=[FunctionCallback(on_train_begin=began)], stop=self._stop
            )
            self.curve = curve
            self.reading.value = f"<b>{html.escape(curve.reading())}</b>"
            self.show_figure(curve.plot())
            done = "Stopped: the points done so far." if curve.partial else "Done"
            self.status.value = f"{done} ({curve.seconds:.0f} s, {curve.network_fits} network trainings)."
        except Exception as error:  # noqa: BLE001 - shown to the user
            self.show_error("draw the curve", error)
