"""``Trainer``: model choice, options, Start/Stop, live curves (a :class:`~._monitor.TrainingMonitor`), summary."""

from __future__ import annotations

import dataclasses
import html
import threading
import time
from collections.abc import Callable
from typing import Any

import ipywidgets as widgets
import traitlets
from ipywidgets import CallbackDispatcher

from .._validation import check_channels
from ..models import Classifier, History, SecondOpinion, TrainingConfig
from ..models.callbacks import TrainingJob
from ..models.config import plan_training
from ..models.devices import gpu_advice
from ..models.registry import MODELS, model_kind
from ..objects import Annotations
from ._canvas import plain_error
from ._learning_box import LearningCurveBox
from ._monitor import TrainingMonitor
from ._training_options import TrainingOptions, channel_choice
from ._training_view import (
    confusion_html,
    curve_figure,
    curves_legend,
    device_html,
    plan_html,
    ready_text,
    summary_html,
)


class Trainer(widgets.VBox):
    """Train a classifier on annotations, with live curves: ``Trainer(clf, ann)``.

    Above the options: the model and, for multichannel images, a tick box per channel (the
    classifier sees the ticked ones only; each choice keeps its own trained classifier). Under
    them, what Start will do with the annotations at hand. Beside Start, **Second opinion**
    (:attr:`second_opinion`, on by default; off: the network alone).

    Parameters
    ----------
    classifier : Classifier or None
        The classifier to train (None: a light CNN on ``annotations.objects``).
    annotations : Annotations
    **kwargs
        Initial values of the option controls (any :class:`~svetlana_nb.TrainingConfig`
        field, e.g. ``epochs=20``); other keywords go to :class:`ipywidgets.VBox`.

    Examples
    --------
    >>> trainer = sv.Trainer(clf, ann, epochs=30)   # doctest: +SKIP
    >>> trainer.start(); trainer.wait()             # doctest: +SKIP
    >>> trainer.classifier.predict()                # doctest: +SKIP
    """

    model = traitlets.Unicode("light_cnn", help="Model trained by Start (a key of sv.MODELS)")
    running = traitlets.Bool(False, help="Whether a training run is in progress")
    warm_start = traitlets.Bool(False, help="Continue from the current weights, not restart")
    classifier = traitlets.Instance(
        Classifier, allow_none=True, help="The classifier Start trains (replaced on model change)"
    )
    channels = traitlets.Tuple(help="Image channels the classifier looks at; () for all of them")
    second_opinion = traitlets.Bool(
        True, help="A network's probabilities are averaged with a random forest's where it is unsure"
    )

    def __init__(self, classifier: Classifier | None, annotations: Annotations, **kwargs: Any) -> None:
        if not isinstance(annotations, Annotations):
            raise TypeError(f"annotations: expected svetlana_nb.Annotations, got {type(annotations).__name__}")
        if classifier is None:
            classifier = Classifier(annotations.objects, class_names=annotations.class_names)
        fields = {f.name for f in dataclasses.fields(TrainingConfig)}
        initial = {k: kwargs.pop(k) for k in list(kwargs) if k in fields}
        config = classifier.config.updated(**initial)
        self.annotations = annotations
        self.job: TrainingJob | None = None
        self.history: History | None = None
        self._trained = CallbackDispatcher()
        self._classifiers: dict[tuple[str, tuple[int, ...]], Classifier] = {
            (classifier.model_name, self._normalised(classifier.channels, annotations)): classifier
        }
        kinds = [model_kind(m) for m in MODELS] + ([classifier.kind] if classifier.model_name not in MODELS else [])
        self.model_buttons = widgets.ToggleButtons(
            options=[(kind.label, kind.name) for kind in kinds],
            value=classifier.model_name,
            tooltips=[kind.description for kind in kinds],
            style={"button_width": "120px"},
        )
        self.model_help = widgets.HTML()
        n_channels = annotations.objects.n_channels
        chosen = set(classifier.channels) if classifier.channels else set(range(n_channels))
        self.channel_boxes, self.channel_row = channel_choice(n_channels, chosen)
        for box in self.channel_boxes:
            box.observe(self._on_channel_box, names="value")
        self.controls = TrainingOptions(config)
        # Options given here that no control shows (e.g. pretrain_seconds) still reach fit.
        self._hidden_options = {k: v for k, v in initial.items() if k not in self.controls.values()}
        self.start_button = widgets.Button(
            description="Start",
            icon="play",
            button_style="success",
            tooltip="Train on the current annotations (in the background)",
        )
        self.stop_button = widgets.Button(
            description="Stop",
            icon="stop",
            button_style="danger",
            disabled=True,
            tooltip="Stop after the current batch; the best weights are kept",
        )
        self.warm_toggle = widgets.Checkbox(
            description="Continue from the current weights",
            indent=False,
            layout=widgets.Layout(width="auto", margin="0 0 0 12px"),
            tooltip="Ticked: the next Start continues from the weights trained so far; "
            "unticked: it starts again from new weights",
        )
        #: The second opinion's settings when the box is ticked (the classifier's, else the default).
        self._opinion = classifier.second_opinion or SecondOpinion()
        self.second_opinion_toggle = widgets.Checkbox(
            value=classifier.second_opinion is not None,
            description="Second opinion",
            indent=False,
            layout=widgets.Layout(width="auto", margin="0 0 0 12px"),
            tooltip="Where the network's top probability is below "
            f"{self._opinion.below:g}, average it with a random forest on the "
            "object's measurements (trained with the network, in a fraction of a second). "
            "Off: the network alone.",
        )
        self.device_label = widgets.HTML(
            device_html(classifier.device_name, gpu_advice(classifier.device)),
            layout=widgets.Layout(margin="0 0 0 12px"),
        )
        self.device_label.add_class("svnb-device")
        self.plan_note = widgets.HTML(layout=widgets.Layout(margin="0 0 4px 0"))
        self.plan_note.add_class("svnb-plan")
        self.start_button.on_click(lambda _: self.start())
        self.stop_button.on_click(lambda _: self.stop())
        self.loss_figure, self.loss_line = curve_figure("Loss", "cross-entropy", None, ".2f")
        self.acc_figure, self.acc_line = curve_figure("Accuracy", "accuracy", 1.0, ".0%")
        self.progress = widgets.FloatProgress(value=0.0, min=0.0, max=1.0, layout=widgets.Layout(flex="0 0 180px"))
        self.status = widgets.HTML()
        self.status.add_class("svnb-status")
        self.monitor = TrainingMonitor(self.loss_figure, self.acc_figure, self.progress, self.status)
        self.summary, self.confusion = widgets.HTML(), widgets.HTML()
        self.learning_box = LearningCurveBox(lambda: (self.classifier, self.annotations))
        self.errors = widgets.Output(layout=widgets.Layout(max_height="200px", overflow="auto"))
        center = widgets.Layout(align_items="center")
        super().__init__(
            children=[
                self.model_buttons,
                self.model_help,
                self.channel_row,
                self.controls,
                self.plan_note,
                widgets.HBox(
                    [
                        self.start_button,
                        self.stop_button,
                        self.warm_toggle,
                        self.second_opinion_toggle,
                        self.device_label,
                    ],
                    layout=widgets.Layout(align_items="center", flex_flow="row wrap"),
                ),
                widgets.HBox([self.progress, self.status], layout=center),
                widgets.HTML(curves_legend(), layout=widgets.Layout(margin="6px 0 0 55px")),
                widgets.HBox([self.loss_figure, self.acc_figure]),
                widgets.VBox([self.summary, self.confusion]),
                self.learning_box,
                self.errors,
            ],
            **kwargs,
        )
        self.add_class("svetlana-trainer")
        self.classifier = classifier
        self.model = classifier.model_name
        self.channels = self._normalised(classifier.channels, annotations)
        self.second_opinion = classifier.second_opinion is not None
        widgets.link((self, "model"), (self.model_buttons, "value"))
        widgets.link((self, "warm_start"), (self.warm_toggle, "value"))
        widgets.link((self, "second_opinion"), (self.second_opinion_toggle, "value"))
        self._show_model()
        annotations.on_change(lambda _annotations: self._update_plan())
        self.controls.on_change(self._update_plan)
        self._update_plan()

    def _update_plan(self) -> None:
        """Say before Start what training will do with the annotations at hand (e.g. no validation)."""
        try:
            options = {k: v for k, v in self.controls.values().items() if v is not None}
            plan = plan_training(self._clf.config.updated(**options), len(self.annotations), self.annotations.counts())
        except ValueError:  # an option being typed: its error shows at Start
            return
        if not self.running and self.history is None:
            self.status.value = ready_text(self.annotations.counts())
        self.plan_note.value = plan_html(plan, len(self.annotations), network=model_kind(self.model).is_network)

    def _sync_enabled(self) -> None:
        forest = not model_kind(self.model).is_network  # no epochs, no second opinion
        self.controls.set_disabled(self.running, forest)
        self.warm_toggle.disabled = self.running or forest
        self.second_opinion_toggle.disabled = self.running or forest
        self.model_buttons.disabled = self.start_button.disabled = self.running
        self.stop_button.disabled = not self.running
        for box in self.channel_boxes:
            box.disabled = self.running

    # -- model choice --------------------------------------------------------------------------
    @traitlets.observe("model")
    def _on_model(self, change: dict) -> None:
        if self.classifier is not None and change["new"] != self.classifier.model_name:
            self.classifier = self.classifier_for(change["new"])
            self._show_model()

    @traitlets.observe("second_opinion")
    def _on_second_opinion(self, change: dict) -> None:
        clf = self.classifier
        if clf is None or not clf.kind.is_network:
            return
        self._show_model()  # gives the classifier its second opinion (a run in progress keeps its own)
        if self.running:
            self.status.value = "The second opinion changes after this training run."
        elif change["new"] and clf.backend is not None and clf.is_fitted and clf.backend.opinion is None:
            self.status.value = "The second opinion joins at the next training (Start)."

    def _apply_second_opinion(self, clf: Classifier) -> None:
        """Give ``clf`` this widget's second opinion (None: the network alone); not during a run."""
        if not self.running and clf.kind.is_network:
            clf.second_opinion = self._opinion if self.second_opinion else None

    @staticmethod
    def _normalised(channels: Any, annotations: Annotations) -> tuple[int, ...]:
        """Sorted distinct channels; () when they are all of the objects' channels."""
        n_channels = annotations.objects.n_channels
        try:
            value = check_channels(tuple(sorted({int(c) for c in channels or ()})) or None, n_channels=n_channels) or ()
        except ValueError as error:
            raise traitlets.TraitError(str(error)) from None
        return () if len(value) == n_channels else value  # every channel: the same as ()

    @traitlets.validate("channels")
    def _valid_channels(self, proposal: dict) -> tuple[int, ...]:
        return self._normalised(proposal["value"], self.annotations)

    @traitlets.observe("channels")
    def _on_channels(self, change: dict) -> None:
        chosen = set(change["new"]) or set(range(len(self.channel_boxes)))
        for c, box in enumerate(self.channel_boxes):
            box.value = c in chosen
        if self.classifier is not None and change["new"] != self._normalised(
            self.classifier.channels, self.annotations
        ):
            self.classifier = self.classifier_for(self.model)
            self._show_model()

    def _on_channel_box(self, change: dict) -> None:
        chosen = tuple(c for c, box in enumerate(self.channel_boxes) if box.value)
        if not chosen:  # at least one channel: tick the box again
            change["owner"].value = True
            self.status.value = "The classifier needs at least one channel."
            return
        self.channels = chosen

    @property
    def _clf(self) -> Classifier:
        """The classifier Start trains (the trait allows None only while the widget is built)."""
        assert self.classifier is not None
        return self.classifier

    def _show_model(self) -> None:
        if self.classifier is not None:
            self._apply_second_opinion(self.classifier)
        self.model_help.value = f"<small>{html.escape(self._clf.description)}</small>"
        self._sync_enabled()

    def classifier_for(self, model: str) -> Classifier:
        """Return the classifier of ``model`` on :attr:`channels`, kept per model and channels.

        Switching back keeps its training. A new one has the same objects, classes, patch
        shape, normalisation and options as the current classifier.
        """
        key = (model, self.channels)
        if key not in self._classifiers:
            old = self._clf
            self._classifiers[key] = old.clone(
                objects=self.annotations.objects,
                model=model,
                class_names=old.class_names or self.annotations.class_names,
                channels=list(self.channels) or None,
                second_opinion=self._opinion if self.second_opinion else None,
            )
        return self._classifiers[key]

    # -- training ------------------------------------------------------------------------------
    def options(self) -> dict[str, Any]:
        """Return the keyword arguments Start passes to :meth:`Classifier.fit`.

        Raises
        ------
        ValueError
            Naming the option whose text is not a valid number.
        """
        return {**self._hidden_options, **self.controls.values(), "warm_start": bool(self.warm_start)}

    def start(self) -> TrainingJob | None:
        """Start training in a background thread, as the Start button does.

        Returns
        -------
        TrainingJob or None
            None when an option is invalid (the error shows in the widget).
        """
        if self.running:
            return self.job
        self.errors.outputs = ()
        try:
            options = self.options()
        except ValueError as error:
            self._show_error(error)
            return None
        self.summary.value, self.confusion.value = "", ""
        clf = self._clf
        self._apply_second_opinion(clf)
        self.running = True
        self._sync_enabled()
        pretrained_before = clf.pretrained if options.get("pretrain") else False
        self.job = clf.fit_in_background(self.annotations, callbacks=[self.monitor], **options)
        threading.Thread(
            target=self._watch, args=(self.job, clf, pretrained_before), daemon=True, name="svetlana-nb-trainer-watch"
        ).start()
        return self.job

    def stop(self) -> None:
        """Stop the running training after the current batch (the best weights are kept)."""
        self.monitor.request_stop()
        if self.job is not None:
            self.job.stop()

    def wait(self, timeout: float | None = None) -> History | None:
        """Wait for the current run and its summary; return its history (None on error)."""
        deadline = None if timeout is None else time.monotonic() + timeout
        if self.job is not None:
            self.job.thread.join(timeout)
        while self.running and (deadline is None or time.monotonic() < deadline):
            time.sleep(0.01)
        return self.history if self.job is not None and self.job.error is None else None

    def _watch(self, job: TrainingJob, clf: Classifier, pretrained_before: object = False) -> None:
        """Wait for ``job``; then show its summary. ``pretrained_before``: False without pretraining."""
        job.thread.join()
        try:
            if job.error is not None:
                self.monitor.close()
                self.progress.bar_style = "danger"
                self.status.value = "Training failed (see below)"
                self._show_error(job.error)
            else:
                history = job.history
                assert history is not None  # the job ended without error
                self.history = history
                self.summary.value = summary_html(history, clf.kind.label)
                self.confusion.value = confusion_html(history.confusion, history.class_names)
                done = "Done: " + history.summary()
                if pretrained_before is not False and clf.pretrained is not None:
                    kept = " (kept from an earlier training)" if clf.pretrained is pretrained_before else ""
                    done += f"; {clf.pretrained.describe()}{kept}"
                self.status.value = f"{done}; confidence {clf.calibration.describe()}"
                self._trained(clf, history)
        finally:
            self.running = False
            self._show_model()  # and a second-opinion change made during the run

    def _show_error(self, error: BaseException) -> None:
        text = plain_error(error) + "\n"
        self.errors.outputs = (*self.errors.outputs, {"output_type": "stream", "name": "stderr", "text": text})

    def on_trained(self, callback: Callable[[Classifier, History], None], remove: bool = False) -> None:
        """Register ``callback(classifier, history)``, called after each successful run.

        It runs in a background thread, before :attr:`running` turns False: keep it short
        (start a thread for long work, as :class:`~svetlana_nb.App` does to predict).
        """
        self._trained.register_callback(callback, remove=remove)
