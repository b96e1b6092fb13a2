"""``App``: tabs Annotate | Train | Predict | Check sharing one Annotations and one Classifier."""

from __future__ import annotations

import html
import os
import threading
import time
from collections.abc import Sequence
from typing import Any

import ipywidgets as widgets
import traitlets

from ..models import Classifier, History
from ..objects import Objects
from ..prediction import Prediction
from ._canvas import plain_error
from .annotator import Annotator
from .gallery import QCGallery
from .prediction import PredictionViewer
from .training import Trainer


class App(widgets.Tab):
    """Annotate, train and predict in one widget.

    The tabs share one :class:`~svetlana_nb.Annotations` (corrections made in Predict or Check
    go into the next training) and one :class:`~svetlana_nb.Classifier` (the Trainer's: choosing
    another network there replaces it). After each training run, every object is predicted in
    a background thread and the Predict tab refreshes; the Check tab then shows, per class, the
    most and least confident objects (:class:`~svetlana_nb.QCGallery`, built when opened).

    Parameters
    ----------
    images : numpy.ndarray or list of numpy.ndarray
        Image(s), (Y, X[, C]) or (Z, Y, X[, C]).
    masks : numpy.ndarray or list of numpy.ndarray
        Label image(s) of the same spatial shape(s).
    classes : sequence of str
        Class names (at least two).
    channel_axis : int, optional
        Axis of the channels in ``images`` (None: no channel axis, or RGB last).
    autosave : str or PathLike, optional
        Annotations file, written after every change and resumed when it exists; exports go
        next to it.
    model : str
        Initial network (a key of :data:`svetlana_nb.MODELS`).
    names : str or list of str, optional
        Image names (keys of the annotations).
    training_options : dict, optional
        Classifier and training defaults (``patch_size``, ``normalization``, ``context``,
        ``channels``, ``device``, ``epochs``, ``lr``, ``batch_size``...), passed to
        :class:`~svetlana_nb.Classifier`.

    Examples
    --------
    >>> demo = sv.data.cells_2d()
    >>> app = sv.App(demo.image, demo.mask, demo.class_names)   # doctest: +SKIP
    >>> app                                                     # doctest: +SKIP
    """

    prediction = traitlets.Instance(Prediction, allow_none=True, help="Prediction of the last trained classifier")

    def __init__(
        self,
        images: Any,
        masks: Any,
        classes: Sequence[str],
        *,
        channel_axis: int | None = None,
        autosave: str | os.PathLike | None = None,
        model: str = "light_cnn",
        names: str | Sequence[str] | None = None,
        training_options: dict[str, Any] | None = None,
        **kwargs: Any,
    ) -> None:
        self.objects = Objects(images, masks, channel_axis=channel_axis, name=names)
        self.annotator = Annotator(self.objects, list(classes), autosave=autosave)
        self.annotations = self.annotator.annotations
        clf = Classifier(
            self.objects, class_names=self.annotations.class_names, model=model, **(training_options or {})
        )
        self.trainer = Trainer(clf, self.annotations)
        self.viewer = PredictionViewer(self.objects, None, annotations=self.annotations)
        self.status = widgets.HTML("<i>Train a classifier (Train tab): every object is then predicted here.</i>")
        self.status.add_class("svetlana-app-status")
        self._predicted = threading.Event()
        self._predicted.set()
        self._prediction_error: BaseException | None = None
        predict_tab = widgets.VBox([self.status, self.viewer])
        #: The Check tab's gallery of the last prediction (None until the tab is opened after one).
        self.gallery: QCGallery | None = None
        self.check_status = widgets.HTML(
            "<i>After a training, the objects worth checking appear here: per class, the most and the "
            "least confident. Click one to annotate or correct it.</i>"
        )
        self.check_tab = widgets.VBox([self.check_status])
        super().__init__(children=[self.annotator, self.trainer, predict_tab, self.check_tab], **kwargs)
        self.titles = ("Annotate", "Train", "Predict", "Check")
        self.add_class("svetlana-app")
        self.trainer.on_trained(self._on_trained)
        self.observe(self._tab_opened, names="selected_index")
        self.observe(self._tab_opened, names="prediction")  # a new prediction while Check is open

    @property
    def classifier(self) -> Classifier:
        """The classifier trained by the Train tab."""
        classifier = self.trainer.classifier
        assert classifier is not None  # the Trainer always has one
        return classifier

    def _on_trained(self, clf: Classifier, _history: History) -> None:
        self._predicted.clear()
        threading.Thread(target=self._predict, args=(clf,), name="svetlana-nb-app-predict", daemon=True).start()

    def _predict(self, clf: Classifier) -> None:
        """Predict every object with ``clf`` and show it (runs in its own thread)."""
        self._prediction_error = None
        try:
            self.status.value = f"<i>Predicting {len(self.objects)} objects with the new classifier...</i>"
            begin = time.perf_counter()
            prediction = clf.predict(self.objects)
            self.viewer.classifier = clf
            self.viewer.prediction = prediction
            self.prediction = prediction
            if self.annotator.classifier is clf:  # retrained in place: no trait change
                self.annotator.refresh_uncertainty()
            else:
                self.annotator.classifier = clf
            self.status.value = (
                f"Predicted {len(prediction)} objects in "
                f"{time.perf_counter() - begin:.1f} s with the "
                f"{clf.description.split(':')[0]}. Click an object to inspect "
                "or correct it; corrections go into the next training."
            )
        except Exception as error:  # noqa: BLE001 - shown to the user, re-raised by wait()
            self._prediction_error = error
            self.status.value = f"<span style='color:#c00'>Prediction failed: {type(error).__name__}: {error}</span>"
        finally:
            self._predicted.set()

    def check(self) -> QCGallery | None:
        """Build the Check tab's gallery for the last prediction (as opening the tab does); None before one."""
        prediction = self.prediction
        if prediction is None:
            return None
        if self.gallery is None or self.gallery.prediction is not prediction:
            self.gallery = QCGallery(self.objects, prediction, self.annotations, classifier=self.viewer.classifier)
            self.check_tab.children = [self.gallery]
        return self.gallery

    def _tab_opened(self, _change: Any) -> None:
        if self.selected_index != 3:
            return
        try:
            self.check()
        except Exception as error:  # noqa: BLE001 - shown in the tab, not lost in a thread
            message = html.escape(plain_error(error), quote=False)
            self.check_status.value = f"<span style='color:#c00'>Could not show the gallery: {message}</span>"
            self.check_tab.children = [self.check_status]

    def wait(self, timeout: float | None = 600) -> Prediction | None:
        """Wait for the running training and the prediction after it; return the prediction."""
        deadline = None if timeout is None else time.monotonic() + timeout
        self.trainer.wait(timeout)  # on_trained, which starts the prediction, runs before
        remaining = None if deadline is None else max(0.0, deadline - time.monotonic())
        self._predicted.wait(remaining)
        if self._prediction_error is not None:
            raise self._prediction_error
        return self.prediction
