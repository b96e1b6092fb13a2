"""``TrainingMonitor``: a training callback drawing live curves and progress in a notebook."""

from __future__ import annotations

import threading
import time

import ipywidgets as widgets
import numpy as np
from bqplot import Figure

from ..models import Callback, History
from ._training_view import duration, nice_ticks, set_ticks, status_text


class TrainingMonitor(Callback):
    """Training callback drawing live curves and progress, without slowing training down.

    The training thread only records each epoch's metrics (no drawing there); a drawing thread
    sends them: it reassigns the bqplot marks' ``x`` and ``y`` (never rebuilding a figure)
    and the progress bar, coalescing epochs that end faster than the front end is updated.
    The final state is drawn before :meth:`on_train_end` returns.

    Parameters
    ----------
    loss_figure, acc_figure : bqplot.Figure
        Figures of :func:`curve_figure`: their Lines mark gets new ``x`` (epochs,) and ``y``
        (2, epochs); their axes get round ticks when the range grows.
    progress : ipywidgets.FloatProgress
        Fraction of the epoch budget done.
    status : ipywidgets.Label
        Epoch, elapsed time, ETA.

    Attributes
    ----------
    plot_seconds : list of float
        Time :meth:`on_epoch_end` took in the training thread, per epoch.
    draw_seconds : list of float
        Time of each draw in the drawing thread.
    """

    def __init__(
        self, loss_figure: Figure, acc_figure: Figure, progress: widgets.FloatProgress, status: widgets.Label
    ) -> None:
        self.loss_figure, self.acc_figure = loss_figure, acc_figure
        self.loss_line, self.acc_line = loss_figure.marks[0], acc_figure.marks[0]
        self.progress, self.status = progress, status
        self.plot_seconds: list[float] = []
        self.draw_seconds: list[float] = []
        self._stop = threading.Event()
        self._lock = threading.Lock()
        self._dirty = threading.Event()
        self._drawer: threading.Thread | None = None
        self._closing = False
        self._data = np.zeros((5, 0))
        self._n = self._drawn = 0
        self._fraction = 0.0
        self._metrics: dict = {}
        self._max_epochs = 1

    def request_stop(self) -> None:
        """Ask training to stop after the current batch."""
        self._stop.set()

    def should_stop(self) -> bool:  # noqa: D102
        return self._stop.is_set()

    @property
    def n_points(self) -> int:
        """Epochs recorded so far."""
        return self._n

    def on_train_begin(self, info: dict) -> None:  # noqa: D102
        self.close()
        self._stop.clear()
        self._max_epochs = int(info["max_epochs"])
        self._data = np.full((5, self._max_epochs), np.nan)
        self._n = self._drawn = 0
        self._fraction, self._metrics = 0.0, {}
        self.plot_seconds, self.draw_seconds = [], []
        with self.loss_line.hold_sync(), self.acc_line.hold_sync():
            for line in (self.loss_line, self.acc_line):
                line.x, line.y = np.zeros(0), np.zeros((2, 0))
        self.progress.bar_style, self.progress.value = "info", 0.0
        patch = f"; patches {info['patch']}" if info.get("patch") else ""
        self.status.value = (
            f"Training on {info.get('n_train', '?')} objects, validating on "
            f"{info.get('n_val', 0)} "
            f"({info.get('device_name', info.get('device', ''))}{patch})"
        )
        self._closing = False
        self._drawer = threading.Thread(target=self._draw_loop, name="svetlana-nb-plots", daemon=True)
        self._drawer.start()

    def on_pretrain_step(self, info: dict) -> None:  # noqa: D102
        seconds, budget = float(info["seconds"]), float(info["budget_seconds"])
        fraction = seconds / budget if budget > 0 else 0.0
        if info.get("max_steps"):
            fraction = max(fraction, int(info["step"]) / int(info["max_steps"]))
        self.progress.bar_style, self.progress.value = "info", min(1.0, fraction)
        self.status.value = (
            f"Learning from all {info.get('objects', '?')} objects first, without their labels: "
            f"step {info['step']} · {duration(seconds)} of at most {duration(budget)} "
            "(Stop ends this part and keeps what it learned; the training follows)"
        )

    def on_batch_end(self, batch: int, n_batches: int, loss: float) -> None:  # noqa: D102
        self._fraction = (self._n + batch / max(n_batches, 1)) / self._max_epochs

    def on_epoch_end(self, epoch: int, metrics: dict) -> None:  # noqa: D102
        begin = time.perf_counter()
        with self._lock:
            n = self._n
            if n >= self._data.shape[1]:
                grown = np.full((5, 2 * n + 1), np.nan)
                grown[:, :n] = self._data
                self._data = grown
            for i, name in enumerate(("epoch", "train_loss", "val_loss", "train_acc", "val_acc")):
                value = metrics.get(name)
                self._data[i, n] = np.nan if value is None else float(value)
            self._n, self._metrics = n + 1, dict(metrics)
            self._fraction = epoch / int(metrics.get("max_epochs", self._max_epochs))
        self._dirty.set()
        self.plot_seconds.append(time.perf_counter() - begin)

    def on_train_end(self, history: History) -> None:  # noqa: D102
        self.close()
        self.progress.value = 1.0
        self.progress.bar_style = "warning" if history.stopped == "user" else "success"

    def close(self) -> None:
        """Stop the drawing thread after it has drawn the last epoch recorded."""
        drawer, self._drawer = self._drawer, None
        if drawer is not None:
            self._closing = True
            self._dirty.set()
            drawer.join(10)
        if self._drawn < self._n:
            self.draw()

    def _draw_loop(self) -> None:
        while True:
            self._dirty.wait(0.25)  # also refreshes the progress bar during long epochs
            self._dirty.clear()
            if self._closing:
                return
            self.draw()

    def draw(self) -> None:
        """Send the epochs recorded so far to the figures, the progress bar and the status."""
        begin = time.perf_counter()
        with self._lock:
            n, metrics, fraction = self._n, self._metrics, self._fraction
            data = self._data[:, :n].copy()
        if n > self._drawn:
            with self.loss_line.hold_sync(), self.acc_line.hold_sync():
                self.loss_line.x, self.loss_line.y = data[0], data[1:3]
                self.acc_line.x, self.acc_line.y = data[0], data[3:5]
            self._round_ticks(data)
            self.status.value = status_text(metrics)
            self._drawn = n
        if abs(self.progress.value - fraction) > 1e-3:
            self.progress.value = fraction
        self.draw_seconds.append(time.perf_counter() - begin)

    def _round_ticks(self, data: np.ndarray) -> None:
        """Give the epoch and loss axes round ticks; sent only when they change (rarely)."""
        epochs = data[0, -1]
        x_ticks = nice_ticks(epochs, integer=True)
        x_ticks = np.concatenate([[1.0], x_ticks[(x_ticks > 1) & (x_ticks <= epochs)]])
        for figure in (self.loss_figure, self.acc_figure):
            set_ticks(figure.axes[0], x_ticks)
        loss = data[1:3]
        y_ticks = nice_ticks(np.nanmax(loss) if np.isfinite(loss).any() else 1.0, 5)
        if set_ticks(self.loss_figure.axes[1], y_ticks):
            self.loss_line.scales["y"].max = float(y_ticks[-1])
