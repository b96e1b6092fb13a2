"""Who watches a training run: callbacks, the history they see, and background jobs.

The training loop knows nothing of who watches it: widgets, loggers and tests are
:class:`Callback` s, reached through one :class:`CallbackList`.
"""

from __future__ import annotations

import atexit
import threading
import time
from collections.abc import Callable, Sequence
from dataclasses import dataclass, field

import numpy as np


class Callback:
    """Receives training events; override what you need. Called from the training thread."""

    def on_train_begin(self, info: dict) -> None:
        """``info``: n_train, n_val, max_epochs, n_batches, device, model, class_names."""

    def on_batch_end(self, batch: int, n_batches: int, loss: float) -> None:
        """After each optimisation step of an epoch."""

    def on_epoch_end(self, epoch: int, metrics: dict) -> None:
        """``metrics``: train_loss, train_acc, val_loss, val_acc (None without validation), lr, seconds."""

    def on_pretrain_step(self, info: dict) -> None:
        """After each step of self-supervised pretraining (``pretrain=True``), before the epochs.

        ``info``: step, max_steps (None: bounded by time only), seconds, budget_seconds, loss,
        objects (how many objects' patches it learns from).
        """

    def should_stop(self) -> bool:
        """Return True to stop after the current batch (the best weights are kept)."""
        return False

    def on_train_end(self, history: "History") -> None:
        """Once, after training ended (normally, early-stopped or stopped)."""


class FunctionCallback(Callback):
    """Wrap plain functions as a callback: ``FunctionCallback(on_epoch_end=print)``."""

    def __init__(self, **functions: Callable) -> None:
        for name, function in functions.items():
            if not hasattr(Callback, name):
                raise TypeError(f"{name}: not a callback event")
            setattr(self, name, function)


#: How a run ended (:attr:`History.stopped`), in words for people.
STOP_REASONS = {"completed": "completed", "early_stopping": "stopped early, no more progress", "user": "stopped by you"}


@dataclass
class History:
    """Per-epoch metrics of one training run.

    Attributes
    ----------
    epoch, train_loss, train_acc, val_loss, val_acc : list
        One entry per completed epoch (validation entries are None without validation).
    best_epoch : int or None
        Epoch whose weights were kept.
    stopped : {"completed", "early_stopping", "user"}
    seconds : float
    confusion : numpy.ndarray or None, shape (k, k)
        Validation confusion matrix (rows: annotated class, columns: predicted).
    val_rows : numpy.ndarray
        Rows of the objects used for validation.
    class_names : list of str
    n_val : int
        Objects held out for validation (0 without validation).
    second_opinion_val_acc : float or None
        Validation accuracy of the network with its second opinion (the classifier's
        prediction), the forest scoring each validation object out of bag (by the trees
        that did not see it); None without validation or without a second opinion.
    """

    epoch: list[int] = field(default_factory=list)
    train_loss: list[float] = field(default_factory=list)
    train_acc: list[float] = field(default_factory=list)
    val_loss: list[float | None] = field(default_factory=list)
    val_acc: list[float | None] = field(default_factory=list)
    best_epoch: int | None = None
    stopped: str = "completed"
    seconds: float = 0.0
    confusion: np.ndarray | None = None
    val_rows: np.ndarray = field(default_factory=lambda: np.zeros(0, dtype=np.int64))
    class_names: list[str] = field(default_factory=list)
    second_opinion_val_acc: float | None = None
    n_val: int = 0

    def record(self, metrics: dict) -> None:
        """Append one epoch's ``epoch``, ``train_loss``, ``train_acc``, ``val_loss``, ``val_acc``."""
        for name in ("epoch", "train_loss", "train_acc", "val_loss", "val_acc"):
            getattr(self, name).append(metrics[name])

    @property
    def best_val_counts(self) -> tuple[int, int] | None:
        """Validation objects right and in all at the best epoch, e.g. ``(8, 9)`` (None without validation)."""
        acc = self.best_val_acc
        if acc is None or self.n_val <= 0:
            return None
        return int(round(acc * self.n_val)), self.n_val

    @property
    def best_val_interval(self) -> tuple[float, float] | None:
        """95 % Wilson interval of the validation accuracy at the best epoch (None without validation).

        With 9 validation objects, "8 of 9" is compatible with anything from about 57 % to 98 %:
        the interval says how little a small validation set tells.
        """
        counts = self.best_val_counts
        if counts is None:
            return None
        from scipy.stats import binomtest

        interval = binomtest(*counts).proportion_ci(confidence_level=0.95, method="wilson")
        return float(interval.low), float(interval.high)

    def validation_text(self) -> str | None:
        """Plain text such as "8 of 9 validation objects right (95 % interval 57–98 %)"; None without validation."""
        counts, interval = self.best_val_counts, self.best_val_interval
        if counts is None or interval is None:
            return None
        return (
            f"{counts[0]} of {counts[1]} validation objects right (95 % interval {interval[0]:.0%}–{interval[1]:.0%})"
        )

    def to_frame(self):
        """Metrics as a pandas DataFrame, one row per epoch."""
        import pandas as pd

        return pd.DataFrame(
            {
                "epoch": self.epoch,
                "train_loss": self.train_loss,
                "train_acc": self.train_acc,
                "val_loss": self.val_loss,
                "val_acc": self.val_acc,
            }
        )

    @property
    def best_val_acc(self) -> float | None:
        """Validation accuracy at the best epoch (None without validation)."""
        if self.best_epoch is None or not self.val_acc:
            return None
        return self.val_acc[self.epoch.index(self.best_epoch)]

    def summary(self) -> str:
        """One line: epochs, best epoch, accuracy, time."""
        acc = self.best_val_acc
        counted = self.validation_text()
        acc_text = f", {counted}" if counted else (f", validation accuracy {acc:.1%}" if acc is not None else "")
        if acc is not None and self.second_opinion_val_acc is not None:
            acc_text += f" ({self.second_opinion_val_acc:.1%} with the second opinion)"
        return (
            f"{len(self.epoch)} epochs ({STOP_REASONS.get(self.stopped, self.stopped)}), best epoch "
            f"{self.best_epoch}{acc_text}, {self.seconds:.1f} s"
        )


class CallbackList:
    """The callbacks of one training run as one, with the classifier's own stop request.

    Every model's training reports through this: the network's epochs and the forest's one
    step alike.

    Parameters
    ----------
    callbacks : sequence of Callback
    stop_event : threading.Event, optional
        Set by :meth:`Classifier.stop` (from another thread).
    """

    def __init__(self, callbacks: Sequence[Callback] = (), stop_event: threading.Event | None = None) -> None:
        self.callbacks = list(callbacks)
        for cb in self.callbacks:
            if not isinstance(cb, Callback):
                raise TypeError(f"callbacks: expected svetlana_nb.Callback objects, got {type(cb).__name__}")
        self.stop_event = stop_event

    def train_begin(self, info: dict) -> None:
        """Tell every callback that training begins."""
        for cb in self.callbacks:
            cb.on_train_begin(info)

    def batch_end(self, batch: int, n_batches: int, loss: float) -> None:
        """Tell every callback that an optimisation step ended."""
        for cb in self.callbacks:
            cb.on_batch_end(batch, n_batches, loss)

    def pretrain_step(self, info: dict) -> None:
        """Tell every callback that a pretraining step ended."""
        for cb in self.callbacks:
            cb.on_pretrain_step(info)

    def epoch_end(self, history: History, metrics: dict) -> None:
        """Record an epoch in ``history``, then tell every callback."""
        history.record(metrics)
        for cb in self.callbacks:
            cb.on_epoch_end(int(metrics["epoch"]), metrics)

    def stop_requested(self) -> bool:
        """Whether the classifier or a callback asks training to stop."""
        return (self.stop_event is not None and self.stop_event.is_set()) or any(
            cb.should_stop() for cb in self.callbacks
        )

    def train_end(self, history: History) -> None:
        """Tell every callback that training ended."""
        for cb in self.callbacks:
            cb.on_train_end(history)


#: Jobs still running, stopped and waited for when Python exits (see :func:`_stop_running_jobs`).
_RUNNING: set["TrainingJob"] = set()
_RUNNING_LOCK = threading.Lock()
#: How long the exit waits for a stopped job (a batch, or a forest's fit, which cannot be interrupted).
EXIT_WAIT_SECONDS = 60.0


def _stop_running_jobs() -> None:
    """Stop every running training and wait for it, so that Python never exits under a torch thread.

    Python kills daemon threads at exit; one inside a torch operation then aborts the process
    ("terminate called without an active exception"). Registered with :mod:`atexit`, which runs
    while daemon threads still live.
    """
    with _RUNNING_LOCK:
        jobs = list(_RUNNING)
    for job in jobs:
        job.stop()
    deadline = time.monotonic() + EXIT_WAIT_SECONDS
    for job in jobs:
        job.wait(max(0.0, deadline - time.monotonic()))


atexit.register(_stop_running_jobs)


class TrainingJob:
    """A fit running in a background thread, so a notebook stays responsive.

    Attributes
    ----------
    thread : threading.Thread
    history : History or None
        Set when training ended.
    error : BaseException or None
        Set when training failed.
    """

    def __init__(self, target: Callable[[], History], stop: Callable[[], None]) -> None:
        self.history: History | None = None
        self.error: BaseException | None = None
        self._stop = stop
        self._done = threading.Event()

        def run() -> None:
            try:
                self.history = target()
            except BaseException as error:  # reported through .error and the callbacks' owner
                self.error = error
            finally:
                with _RUNNING_LOCK:
                    _RUNNING.discard(self)
                self._done.set()

        with _RUNNING_LOCK:
            _RUNNING.add(self)

        self.thread = threading.Thread(target=run, name="svetlana-nb-training", daemon=True)
        self.thread.start()

    @property
    def done(self) -> bool:
        """Whether training has ended (successfully or not)."""
        return self._done.is_set()

    def stop(self) -> None:
        """Ask training to stop after the current batch (best weights are kept)."""
        self._stop()

    def wait(self, timeout: float | None = None) -> bool:
        """Wait up to ``timeout`` seconds for the end, never raising; True when training ended."""
        return self._done.wait(timeout)

    def join(self, timeout: float | None = None) -> History | None:
        """Wait for the end; re-raise the training error if there was one."""
        self._done.wait(timeout)
        if self.error is not None:
            raise self.error
        return self.history
