"""``LearningCurveBox``: the Trainer's "Do I need more labels?" section.

It runs :func:`svetlana_nb.models.learning_curve` on the Trainer's classifier and annotations in
the background (at most about three trainings), with progress and a Stop that keeps the points
done, then shows the plain-language reading and the curve of the network beside the forest.
"""

from __future__ import annotations

import html
import io
import threading
from collections.abc import Callable
from typing import Any

import ipywidgets as widgets

from ..models import Classifier, FunctionCallback
from ..models.learning_curve import LearningCurve, learning_curve
from ..objects import Annotations
from ._canvas import plain_error

#: What the box needs from its Trainer at the time of the click.
Source = Callable[[], tuple[Classifier | None, Annotations]]


class LearningCurveBox(widgets.Accordion):
    """A closed section: "Do I need more labels?", a Stop, a progress line, the reading and the plot.

    Parameters
    ----------
    source : callable
        Returns the Trainer's (classifier, annotations).
    """

    def __init__(self, source: Source) -> None:
        self._source = source
        self.button = widgets.Button(
            description="Do I need more labels?",
            icon="line-chart",
            tooltip="Balanced accuracy at growing shares of your annotations, cross-validated, for this "
            "model and a random forest (about three trainings, in the background)",
            layout=widgets.Layout(width="auto"),
        )
        self.stop_button = widgets.Button(
            description="Stop", icon="stop", disabled=True, layout=widgets.Layout(width="auto")
        )
        self.status = widgets.HTML()
        self.status.add_class("svnb-curve-status")
        self.reading = widgets.HTML()
        self.reading.add_class("svnb-curve-reading")
        self.plot = widgets.Image(format="png", layout=widgets.Layout(max_width="100%", height="auto", display="none"))
        self.curve: LearningCurve | None = None
        self.thread: threading.Thread | None = None
        self._stop = threading.Event()
        self.button.on_click(lambda _: self.start())
        self.stop_button.on_click(lambda _: self._stop.set())
        row = widgets.HBox([self.button, self.stop_button, self.status], layout=widgets.Layout(align_items="center"))
        super().__init__(
            children=[widgets.VBox([row, self.reading, self.plot])],
            titles=("Do I need more labels? (learning curve)",),
            selected_index=None,
        )
        self.add_class("svnb-learning-box")

    def start(self) -> threading.Thread | None:
        """Run the curve in a background thread, as the button does (None without a classifier)."""
        classifier, annotations = self._source()
        if classifier is None:
            self.status.value = "Choose a model first."
            return None
        if self.thread is not None and self.thread.is_alive():
            return self.thread
        self._stop.clear()
        self.button.disabled, self.stop_button.disabled = True, False
        self.thread = threading.Thread(
            target=self._run, args=(classifier, annotations), daemon=True, name="svetlana-nb-learning-curve"
        )
        self.thread.start()
        return self.thread

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
            buffer = io.BytesIO()
            curve.plot().savefig(buffer, format="png", dpi=100, bbox_inches="tight")
            png = buffer.getvalue()
            self.plot.value = png
            self.plot.layout.width, self.plot.layout.display = f"{int.from_bytes(png[16:20], 'big')}px", ""
            done = "Stopped: the points done so far." if curve.partial else "Done"
            self.status.value = f"{done} ({curve.seconds:.0f} s, {curve.network_fits} network trainings)."
        except Exception as error:  # noqa: BLE001 - shown to the user
            self.status.value = (
                f"<span style='color:#b00020'>Could not draw the curve: {html.escape(plain_error(error))}</span>"
            )
        finally:
            self.button.disabled, self.stop_button.disabled = False, True
