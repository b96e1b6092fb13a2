"""``Trainer``: training options, Start/Stop, live loss and accuracy curves, summary and confusion matrix.

The training loop knows nothing of this widget: :class:`TrainingMonitor` is one
:class:`~svetlana_nb.training.Callback` among others, updating bqplot marks in place.
"""

from __future__ import annotations

import html
import threading
import time
from collections.abc import Callable
from typing import Any

import numpy as np
import ipywidgets as widgets
import traitlets
from bqplot import Axis, Figure, LinearScale, Lines
from ipywidgets import CallbackDispatcher

from ..annotations import Annotations
from ..augment import Augmentation
from ..classifier import Classifier
from ..models import DESCRIPTIONS, MODELS
from ..training import Callback, History, TrainingJob

#: Short button labels of the registered models.
MODEL_LABELS = {"light_cnn": "Light CNN", "light_cnn_deep": "Deeper CNN", "resnet": "Small ResNet",
                "random_forest": "Random forest", "custom": "Custom"}
TRAIN_COLOR, VAL_COLOR = "#1f77b4", "#ff7f0e"


def _curve_figure(title: str, y_label: str, y_max: float | None) -> tuple[Figure, Lines]:
    """A small bqplot figure with one two-row Lines mark (training, validation)."""
    x_scale = LinearScale()
    y_scale = LinearScale(min=0.0, max=y_max) if y_max is not None else LinearScale(min=0.0)
    line = Lines(x=np.zeros(0), y=np.zeros((2, 0)), scales={"x": x_scale, "y": y_scale},
                 colors=[TRAIN_COLOR, VAL_COLOR], labels=["training", "validation"], display_legend=True,
                 stroke_width=2)
    axes = [Axis(scale=x_scale, label="epoch", tick_format="d", num_ticks=6),
            Axis(scale=y_scale, label=y_label, side="left", num_ticks=5)]
    fig = Figure(marks=[line], axes=axes, title=title, legend_location="top-right",
                 fig_margin={"top": 40, "bottom": 40, "left": 50, "right": 15},
                 layout=widgets.Layout(width="50%", min_width="260px", height="240px"))
    return fig, line


class TrainingMonitor(Callback):
    """Training callback that draws live curves and progress (cheap: a few ms per epoch).

    Parameters
    ----------
    loss_line, acc_line : bqplot.Lines
        Marks whose ``x`` (epochs) and ``y`` (2, epochs) are reassigned every epoch.
    progress : ipywidgets.FloatProgress
        Fraction of the epoch budget done.
    status : ipywidgets.Label
        Epoch, elapsed time, ETA.

    Attributes
    ----------
    plot_seconds : list of float
        Time spent in :meth:`on_epoch_end` (the training thread's cost of plotting), per epoch.
    """

    def __init__(self, loss_line: Lines, acc_line: Lines, progress: widgets.FloatProgress,
                 status: widgets.Label) -> None:
        self.loss_line, self.acc_line, self.progress, self.status = loss_line, acc_line, progress, status
        self.plot_seconds: list[float] = []
        self._stop = threading.Event()
        self._data = np.zeros((5, 0))
        self._n = 0
        self._max_epochs = 1
        self._n_batches = 1
        self._start = time.perf_counter()
        self._last_batch_draw = 0.0

    def request_stop(self) -> None:
        """Ask training to stop after the current batch."""
        self._stop.set()

    def should_stop(self) -> bool:  # noqa: D102
        return self._stop.is_set()

    def on_train_begin(self, info: dict) -> None:  # noqa: D102
        self._stop.clear()
        self._max_epochs, self._n_batches = int(info["max_epochs"]), max(1, int(info["n_batches"]))
        self._data = np.full((5, self._max_epochs), np.nan)
        self._n = 0
        self.plot_seconds = []
        self._start = time.perf_counter()
        with self.loss_line.hold_sync(), self.acc_line.hold_sync():
            for line in (self.loss_line, self.acc_line):
                line.x, line.y = np.zeros(0), np.zeros((2, 0))
        self.progress.bar_style, self.progress.value = "info", 0.0
        self.status.value = f"Training on {info.get('n_train', '?')} objects, validating on " \
                            f"{info.get('n_val', 0)} ({info.get('device_name', info.get('device', ''))})"

    def on_batch_end(self, batch: int, n_batches: int, loss: float) -> None:  # noqa: D102
        now = time.perf_counter()
        if now - self._last_batch_draw > 0.25:  # throttled: a progress message at most 4 times a second
            self._last_batch_draw = now
            self.progress.value = (self._n + batch / max(n_batches, 1)) / self._max_epochs

    def on_epoch_end(self, epoch: int, metrics: dict) -> None:  # noqa: D102
        begin = time.perf_counter()
        if self._n >= self._data.shape[1]:
            self._data = np.concatenate([self._data, np.full((5, self._data.shape[1] + 1), np.nan)], axis=1)
        n = self._n
        for i, name in enumerate(("epoch", "train_loss", "val_loss", "train_acc", "val_acc")):
            value = metrics.get(name)
            self._data[i, n] = np.nan if value is None else float(value)
        self._n = n + 1
        data = self._data[:, :n + 1]
        with self.loss_line.hold_sync(), self.acc_line.hold_sync():
            self.loss_line.x, self.loss_line.y = data[0].copy(), data[1:3].copy()
            self.acc_line.x, self.acc_line.y = data[0].copy(), data[3:5].copy()
        elapsed = metrics.get("seconds", time.perf_counter() - self._start)
        max_epochs = int(metrics.get("max_epochs", self._max_epochs))
        eta = elapsed / epoch * (max_epochs - epoch)
        acc = metrics.get("val_acc") if metrics.get("val_acc") is not None else metrics.get("train_acc")
        self.progress.value = epoch / max_epochs
        self.status.value = (f"Epoch {epoch}/{max_epochs} · {_duration(elapsed)} elapsed · "
                             f"ETA ≤ {_duration(eta)} · loss {metrics['train_loss']:.3f} · "
                             f"{'val' if metrics.get('val_acc') is not None else 'train'} acc {acc:.1%}")
        self.plot_seconds.append(time.perf_counter() - begin)

    def on_train_end(self, history: History) -> None:  # noqa: D102
        self.progress.value = 1.0
        self.progress.bar_style = "warning" if history.stopped == "user" else "success"

    @property
    def n_points(self) -> int:
        """Epochs plotted so far."""
        return self._n


def _duration(seconds: float) -> str:
    seconds = max(0.0, float(seconds))
    if seconds < 60:
        return f"{seconds:.1f} s"
    return f"{int(seconds // 60)} min {int(seconds % 60):02d} s"


def confusion_html(confusion: np.ndarray | None, class_names: list[str]) -> str:
    """The validation confusion matrix as a small shaded HTML table (rows: annotated, columns: predicted)."""
    if confusion is None:
        return "<i>No validation objects: annotate more objects (≥ 2 per class, 40 in all) for a confusion matrix.</i>"
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
    return (f"<table style='border-collapse:collapse;font-size:12px'><caption style='font-size:12px'>"
            f"validation: annotated (rows) × predicted (columns)</caption><tr><th></th>{head}</tr>"
            f"{''.join(rows)}</table>")


def summary_html(history: History, model_name: str) -> str:
    """Best epoch, accuracy and time of a finished run."""
    acc = history.best_val_acc
    if acc is not None:
        acc_text = f"validation accuracy <b>{acc:.1%}</b>"
    elif history.train_acc:
        acc_text = f"training accuracy <b>{history.train_acc[-1]:.1%}</b> (no validation split)"
    else:
        acc_text = "no epoch completed"
    stopped = {"completed": "completed", "early_stopping": "early stopping", "user": "stopped"}.get(
        history.stopped, history.stopped)
    return (f"<b>{html.escape(MODEL_LABELS.get(model_name, model_name))}</b>: {len(history.epoch)} epoch(s), "
            f"{stopped}; best epoch <b>{history.best_epoch}</b>, {acc_text}, {_duration(history.seconds)}")


def _numbers(text: str, name: str, kind: type = int) -> Any:
    text = text.strip()
    if not text or text.lower() in ("auto", "none"):
        return None
    try:
        value = kind(text)
    except ValueError:
        raise ValueError(f"{name}: expected a number or blank, got {text!r}") from None
    return value


class Trainer(widgets.VBox):
    """Train a classifier on annotations with live curves; ``Trainer(clf, ann)``.

    Parameters
    ----------
    classifier : Classifier or None
        The classifier to train (None: a light CNN on ``annotations.objects``).
    annotations : Annotations

    Examples
    --------
    >>> trainer = sv.Trainer(clf, ann)   # doctest: +SKIP
    >>> trainer.start(); trainer.wait()  # doctest: +SKIP
    >>> trainer.classifier.predict()     # doctest: +SKIP
    """

    model = traitlets.Unicode("light_cnn", help="Name of the model to train (a key of svetlana_nb.MODELS)")
    running = traitlets.Bool(False, help="Whether a training run is in progress")
    warm_start = traitlets.Bool(False, help="Continue from the current weights instead of restarting")
    classifier = traitlets.Instance(Classifier, allow_none=True, help="The classifier trained by Start (replaced on model change)")

    def __init__(self, classifier: Classifier | None, annotations: Annotations, **kwargs: Any) -> None:
        if not isinstance(annotations, Annotations):
            raise TypeError(f"annotations: expected svetlana_nb.Annotations, got {type(annotations).__name__}")
        if classifier is None:
            classifier = Classifier(annotations.objects, class_names=annotations.class_names)
        self.annotations = annotations
        self.job: TrainingJob | None = None
        self.history: History | None = None
        self._trained = CallbackDispatcher()
        self._classifiers: dict[str, Classifier] = {classifier.model_name: classifier}
        self._build_controls(classifier)
        self.loss_figure, self.loss_line = _curve_figure("Loss", "cross-entropy", None)
        self.acc_figure, self.acc_line = _curve_figure("Accuracy", "accuracy", 1.0)
        self.progress = widgets.FloatProgress(value=0.0, min=0.0, max=1.0, layout=widgets.Layout(width="40%"))
        self.status = widgets.Label("Ready: annotate objects of at least two classes, then Start.")
        self.monitor = TrainingMonitor(self.loss_line, self.acc_line, self.progress, self.status)
        self.summary = widgets.HTML()
        self.confusion = widgets.HTML()
        self.errors = widgets.Output(layout=widgets.Layout(max_height="200px", overflow="auto"))
        super().__init__(children=[
            self.model_buttons, self.model_help, self.options_box,
            widgets.HBox([self.start_button, self.stop_button, self.warm_toggle, self.device_label],
                         layout=widgets.Layout(align_items="center")),
            widgets.HBox([self.progress, self.status], layout=widgets.Layout(align_items="center")),
            widgets.HBox([self.loss_figure, self.acc_figure]),
            widgets.HBox([self.summary, self.confusion], layout=widgets.Layout(justify_content="space-between")),
            self.errors], **kwargs)
        self.add_class("svetlana-trainer")
        self.classifier = classifier
        self.model = classifier.model_name
        widgets.link((self, "model"), (self.model_buttons, "value"))
        widgets.link((self, "warm_start"), (self.warm_toggle, "value"))
        self._sync_enabled()

    # -- layout --------------------------------------------------------------------------------
    def _build_controls(self, clf: Classifier) -> None:
        names = [m for m in MODELS] + (["custom"] if clf.model_name == "custom" else [])
        self.model_buttons = widgets.ToggleButtons(
            options=[(MODEL_LABELS.get(m, m), m) for m in names], value=clf.model_name,
            tooltips=[DESCRIPTIONS.get(m, "your own torch module") for m in names],
            style={"button_width": "120px"})
        self.model_help = widgets.HTML(f"<small>{html.escape(clf.description)}</small>")
        cfg = clf.config
        half = widgets.Layout(width="210px")
        desc = {"description_width": "110px"}
        self.epochs_text = widgets.Text(value="" if cfg.epochs is None else str(cfg.epochs), placeholder="auto",
                                        description="Epochs", style=desc, layout=half,
                                        tooltip="Maximum epochs; blank: chosen from the number of annotations")
        self.lr_text = widgets.BoundedFloatText(value=cfg.lr, min=1e-6, max=1.0, step=1e-4, description="Learning rate",
                                                style=desc, layout=half, tooltip="AdamW learning rate")
        self.batch_text = widgets.BoundedIntText(value=cfg.batch_size, min=1, max=4096, description="Batch size",
                                                 style=desc, layout=half, tooltip="Patches per optimisation step")
        self.decay_text = widgets.BoundedFloatText(value=cfg.weight_decay, min=0.0, max=1.0, step=1e-4,
                                                   description="Weight decay", style=desc, layout=half,
                                                   tooltip="AdamW weight decay (regularisation)")
        self.val_slider = widgets.FloatSlider(value=cfg.val_fraction, min=0.0, max=0.5, step=0.05,
                                              description="Validation", style=desc, layout=half, readout_format=".0%",
                                              tooltip="Fraction of annotations held out to validate and stop early "
                                                      f"(used from {cfg.min_val_annotations} annotations)")
        self.seed_text = widgets.Text(value="" if cfg.seed is None else str(cfg.seed), placeholder="random",
                                      description="Seed", style=desc, layout=half,
                                      tooltip="Seed of the split, initial weights and augmentation; blank: random")
        self.early_check = widgets.Checkbox(value=cfg.early_stopping, description="Early stopping", indent=False,
                                            layout=widgets.Layout(width="130px"),
                                            tooltip="Stop when the validation loss stops improving; keep the best weights")
        self.patience_text = widgets.BoundedIntText(value=cfg.patience, min=1, max=1000, description="patience",
                                                    style={"description_width": "60px"},
                                                    layout=widgets.Layout(width="130px"),
                                                    tooltip="Epochs without improvement before stopping")
        self.weight_check = widgets.Checkbox(value=cfg.class_weight, description="Class weighting", indent=False,
                                             layout=widgets.Layout(width="140px"),
                                             tooltip="Weight the loss by inverse class frequency (unbalanced classes)")
        aug = cfg.augmentation
        self.rotate_check = widgets.Checkbox(value=aug.rotate, description="rotations", indent=False,
                                             layout=widgets.Layout(width="95px"), tooltip="Random 90° rotations")
        self.flip_check = widgets.Checkbox(value=aug.flip, description="flips", indent=False,
                                           layout=widgets.Layout(width="70px"), tooltip="Random flips")
        self.noise_check = widgets.Checkbox(value=aug.intensity > 0 or aug.blur > 0, description="noise/blur",
                                            indent=False, layout=widgets.Layout(width="100px"),
                                            tooltip="Random intensity jitter, Gaussian noise and light blur")
        row = widgets.Layout(align_items="center", flex_flow="row wrap")
        self.options_box = widgets.VBox([
            widgets.HBox([self.epochs_text, self.lr_text, self.batch_text], layout=row),
            widgets.HBox([self.decay_text, self.val_slider, self.seed_text], layout=row),
            widgets.HBox([self.early_check, self.patience_text, self.weight_check,
                          widgets.Label("Augmentation:", layout=widgets.Layout(margin="0 6px 0 12px")),
                          self.rotate_check, self.flip_check, self.noise_check], layout=row)])
        self.start_button = widgets.Button(description="Start", icon="play", button_style="success",
                                           tooltip="Train on the current annotations (in the background)")
        self.stop_button = widgets.Button(description="Stop", icon="stop", button_style="danger", disabled=True,
                                          tooltip="Stop after the current batch; the best weights are kept")
        self.warm_toggle = widgets.ToggleButton(value=False, description="Continue training", icon="forward",
                                                tooltip="On: continue from the current weights; "
                                                        "off: restart from new weights")
        self.device_label = widgets.HTML(f"<span style='margin-left:12px'>Device: <b>{html.escape(clf.device_name)}"
                                         "</b></span>")
        self.start_button.on_click(lambda _: self.start())
        self.stop_button.on_click(lambda _: self.stop())

    def _sync_enabled(self) -> None:
        forest = self.model == "random_forest"
        for w in (self.epochs_text, self.lr_text, self.batch_text, self.decay_text, self.early_check,
                  self.patience_text, self.rotate_check, self.flip_check, self.noise_check, self.warm_toggle):
            w.disabled = self.running or forest
        for w in (self.val_slider, self.seed_text, self.weight_check, self.model_buttons):
            w.disabled = self.running
        self.start_button.disabled = self.running
        self.stop_button.disabled = not self.running

    # -- model choice --------------------------------------------------------------------------
    @traitlets.observe("model")
    def _on_model(self, change: dict) -> None:
        if self.classifier is None or change["new"] == self.classifier.model_name:
            return
        self.classifier = self.classifier_for(change["new"])
        self.model_help.value = f"<small>{html.escape(self.classifier.description)}</small>"
        self._sync_enabled()

    def classifier_for(self, model: str) -> Classifier:
        """The classifier of ``model`` (kept per model, so switching back keeps a trained one)."""
        if model not in self._classifiers:
            old = self.classifier
            self._classifiers[model] = Classifier(
                self.annotations.objects, model=model,
                class_names=old.class_names or self.annotations.class_names,
                patch_size=old.patch_shape, normalization=old.normalization, context=old.context,
                device=old.device.type, **old.config.to_dict())
        return self._classifiers[model]

    # -- training ------------------------------------------------------------------------------
    def options(self) -> dict[str, Any]:
        """The training options of the controls, as keyword arguments of :meth:`Classifier.fit`.

        Raises
        ------
        ValueError
            Naming the option whose text is not a number.
        """
        epochs, seed = _numbers(self.epochs_text.value, "epochs"), _numbers(self.seed_text.value, "seed")
        if epochs is not None and epochs < 1:
            raise ValueError(f"epochs: expected a positive number or blank, got {epochs}")
        noise = self.noise_check.value
        default = Augmentation()
        augmentation = Augmentation(rotate=self.rotate_check.value, flip=self.flip_check.value,
                                    intensity=default.intensity if noise else 0.0, blur=default.blur if noise else 0.0)
        return {"epochs": epochs, "lr": float(self.lr_text.value), "batch_size": int(self.batch_text.value),
                "weight_decay": float(self.decay_text.value), "val_fraction": float(self.val_slider.value),
                "early_stopping": bool(self.early_check.value), "patience": int(self.patience_text.value),
                "class_weight": bool(self.weight_check.value), "augmentation": augmentation, "seed": seed,
                "warm_start": bool(self.warm_start)}

    def start(self) -> TrainingJob | None:
        """Start training in a background thread (what the Start button does); None on an invalid option."""
        if self.running:
            return self.job
        self.errors.outputs = ()
        try:
            options = self.options()
        except ValueError as error:
            self._show_error(error)
            return None
        self.summary.value, self.confusion.value = "", ""
        self.running = True
        self._sync_enabled()
        clf = self.classifier
        self.job = clf.fit_in_background(self.annotations, callbacks=[self.monitor], **options)
        threading.Thread(target=self._watch, args=(self.job, clf), name="svetlana-nb-trainer-watch",
                         daemon=True).start()
        return self.job

    def stop(self) -> None:
        """Stop the running training after the current batch (the best weights are kept)."""
        self.monitor.request_stop()
        if self.job is not None:
            self.job.stop()

    def wait(self, timeout: float | None = None) -> History | None:
        """Block until the current run and its summary are done; return its history (None on error)."""
        if self.job is not None:
            self.job._done.wait(timeout)
        deadline = None if timeout is None else time.monotonic() + timeout
        while self.running and (deadline is None or time.monotonic() < deadline):
            time.sleep(0.01)
        return self.history if self.job is not None and self.job.error is None else None

    def _watch(self, job: TrainingJob, clf: Classifier) -> None:
        job._done.wait()
        try:
            if job.error is not None:
                self.progress.bar_style = "danger"
                self.status.value = "Training failed (see below)"
                self._show_error(job.error)
            else:
                self.history = job.history
                self.summary.value = summary_html(job.history, clf.model_name)
                self.confusion.value = confusion_html(job.history.confusion, job.history.class_names)
                self.status.value = "Done: " + job.history.summary()
        finally:
            self.running = False
            self._sync_enabled()
        if job.error is None:
            self._trained(clf, job.history)

    def _show_error(self, error: BaseException) -> None:
        text = f"{type(error).__name__}: {error}\n"
        self.errors.outputs = (*self.errors.outputs, {"output_type": "stream", "name": "stderr", "text": text})

    def on_trained(self, callback: Callable[[Classifier, History], None], remove: bool = False) -> None:
        """Register ``callback(classifier, history)``, called (from a background thread) after each run."""
        self._trained.register_callback(callback, remove=remove)
