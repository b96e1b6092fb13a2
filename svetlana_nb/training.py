"""The training loop: options, callbacks, history, early stopping, background jobs.

The loop knows nothing of who watches it: widgets, loggers and tests are :class:`Callback` s.
"""

from __future__ import annotations

import copy
import dataclasses
import math
import threading
import time
from collections.abc import Callable, Sequence
from dataclasses import asdict, dataclass, field, fields
from typing import Any, Literal

import numpy as np
import torch
import torch.nn.functional as F
from torch import nn

from .augment import Augmentation, augment
from .devices import fast_layout, fast_module


@dataclass
class TrainingConfig:
    """Options of :meth:`Classifier.fit` (every field can be passed to ``fit`` as a keyword).

    Attributes
    ----------
    epochs : int or None
        Maximum number of epochs; None picks it from the number of annotations (early stopping
        usually ends sooner).
    lr : float
        Adam learning rate.
    batch_size : int
    weight_decay : float
        AdamW weight decay.
    lr_schedule : {"cosine", "plateau", "none"}
    class_weight : bool
        Weight the loss by inverse class frequency (unbalanced annotations).
    val_fraction : float
        Fraction of annotations held out (stratified) for validation and early stopping, used
        when there are at least ``min_val_annotations`` annotations.
    min_val_annotations : int
    early_stopping : bool
        Stop when the validation loss has not improved for ``patience`` epochs; keep the best weights.
    patience : int
    augmentation : Augmentation
    seed : int or None
        Seed for the split, initial weights and augmentation (None: not reproducible).
    mixed_precision : bool
        bfloat16/float16 autocast on CUDA.
    label_smoothing : float
    """

    epochs: int | None = None
    lr: float = 3e-3
    batch_size: int = 32
    weight_decay: float = 1e-4
    lr_schedule: Literal["cosine", "plateau", "none"] = "cosine"
    class_weight: bool = True
    val_fraction: float = 0.2
    min_val_annotations: int = 40
    early_stopping: bool = True
    patience: int = 30
    augmentation: Augmentation = field(default_factory=Augmentation)
    seed: int | None = 0
    mixed_precision: bool = True
    label_smoothing: float = 0.05

    def updated(self, **options: Any) -> "TrainingConfig":
        """A copy with some options changed; ``TypeError`` naming an unknown option."""
        known = {f.name for f in fields(self)}
        for name in options:
            if name not in known:
                raise TypeError(f"{name}: unknown training option; options are {sorted(known)}")
        if isinstance(options.get("augmentation"), bool):
            options["augmentation"] = Augmentation() if options["augmentation"] else Augmentation.none()
        if isinstance(options.get("augmentation"), dict):
            options["augmentation"] = Augmentation(**options["augmentation"])
        new = dataclasses.replace(self, **options)
        new.validate()
        return new

    def validate(self) -> None:
        """Raise ``ValueError`` naming the first invalid option."""
        if self.epochs is not None and self.epochs < 1:
            raise ValueError(f"epochs: expected None or a positive int, got {self.epochs}")
        if not self.lr > 0:
            raise ValueError(f"lr: expected a positive learning rate, got {self.lr}")
        if self.batch_size < 1:
            raise ValueError(f"batch_size: expected a positive int, got {self.batch_size}")
        if not 0 <= self.val_fraction < 1:
            raise ValueError(f"val_fraction: expected 0 <= val_fraction < 1, got {self.val_fraction}")
        if self.lr_schedule not in ("cosine", "plateau", "none"):
            raise ValueError(f"lr_schedule: expected 'cosine', 'plateau' or 'none', got {self.lr_schedule!r}")

    def to_dict(self) -> dict:
        """JSON-ready options."""
        return asdict(self)


class Callback:
    """Receives training events; override what you need. Called from the training thread."""

    def on_train_begin(self, info: dict) -> None:
        """``info``: n_train, n_val, max_epochs, n_batches, device, model, class_names."""

    def on_batch_end(self, batch: int, n_batches: int, loss: float) -> None:
        """After each optimisation step of an epoch."""

    def on_epoch_end(self, epoch: int, metrics: dict) -> None:
        """``metrics``: train_loss, train_acc, val_loss, val_acc (None without validation), lr, seconds."""

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

    def to_frame(self):
        """Metrics as a pandas DataFrame, one row per epoch."""
        import pandas as pd

        return pd.DataFrame({"epoch": self.epoch, "train_loss": self.train_loss, "train_acc": self.train_acc,
                             "val_loss": self.val_loss, "val_acc": self.val_acc})

    @property
    def best_val_acc(self) -> float | None:
        """Validation accuracy at the best epoch (None without validation)."""
        if self.best_epoch is None or not self.val_acc:
            return None
        return self.val_acc[self.epoch.index(self.best_epoch)]

    def summary(self) -> str:
        """One line: epochs, best epoch, accuracy, time."""
        acc = self.best_val_acc
        acc_text = f", validation accuracy {acc:.1%}" if acc is not None else ""
        if acc is not None and self.second_opinion_val_acc is not None:
            acc_text += f" ({self.second_opinion_val_acc:.1%} with the second opinion)"
        return (f"{len(self.epoch)} epochs ({self.stopped}), best epoch {self.best_epoch}{acc_text}, "
                f"{self.seconds:.1f} s")


def stratified_split(targets: np.ndarray, fraction: float, rng: np.random.Generator) -> tuple[np.ndarray, np.ndarray]:
    """Split indices into train/validation keeping class proportions (at least one per class).

    Returns
    -------
    train, val : numpy.ndarray of int
    """
    train, val = [], []
    for cls in np.unique(targets):
        idx = rng.permutation(np.flatnonzero(targets == cls))
        n_val = int(round(len(idx) * fraction))
        n_val = min(max(n_val, 1), len(idx) - 1)
        val.append(idx[:n_val])
        train.append(idx[n_val:])
    return np.sort(np.concatenate(train)), np.sort(np.concatenate(val))


def default_epochs(n_train: int, batch_size: int) -> int:
    """Epoch budget giving ~1500 optimisation steps, between 60 and 300 epochs."""
    batches = max(1, math.ceil(n_train / batch_size))
    return int(min(300, max(60, math.ceil(1500 / batches))))


def _autocast(device: torch.device, enabled: bool):
    if enabled and device.type == "cuda":
        dtype = torch.bfloat16 if torch.cuda.is_bf16_supported() else torch.float16
        return torch.autocast("cuda", dtype=dtype)
    return torch.autocast(device.type, enabled=False)


def class_weights(y: torch.Tensor, n_classes: int) -> torch.Tensor:
    """Loss weight of each class, inversely proportional to its count (balanced: all 1).

    Parameters
    ----------
    y : torch.Tensor of int, shape (N,)
        Training classes.
    n_classes : int

    Returns
    -------
    torch.Tensor, shape (n_classes,)
        ``N / (n_classes * count)``; a class with no example counts as one.
    """
    counts = torch.bincount(y, minlength=n_classes).float()
    return counts.sum() / (n_classes * counts.clamp(min=1))


@torch.no_grad()
def evaluate(model: nn.Module, x: torch.Tensor, y: torch.Tensor, weight: torch.Tensor | None,
             batch_size: int = 256) -> tuple[float, float, torch.Tensor]:
    """Mean loss, accuracy and predicted classes of ``model`` on ``(x, y)``."""
    model.eval()
    losses, preds = [], []
    for begin in range(0, len(x), batch_size):
        logits = model(fast_layout(x[begin:begin + batch_size])).float()
        losses.append(F.cross_entropy(logits, y[begin:begin + batch_size], weight=weight, reduction="sum"))
        preds.append(logits.argmax(1))
    pred = torch.cat(preds)
    denom = weight[y].sum() if weight is not None else torch.tensor(float(len(y)))
    return float(torch.stack(losses).sum() / denom), float((pred == y).float().mean()), pred


def train_network(model: nn.Module, x: torch.Tensor, y: torch.Tensor, *, n_classes: int,
                  config: TrainingConfig, device: torch.device, val: tuple[torch.Tensor, torch.Tensor] | None,
                  callbacks: Sequence[Callback] = (), stop_event: threading.Event | None = None,
                  info: dict | None = None) -> History:
    """Fit ``model`` on patches ``x`` (N, C+1, ...) with classes ``y`` (N,), on ``device``.

    Returns
    -------
    History
        The model holds the best weights (lowest validation loss) when training ends.
    """
    start = time.perf_counter()
    history = History()
    fast_module(model, x.dim() - 2)
    seed = config.seed
    generator = None
    if seed is not None:
        torch.manual_seed(seed)
        generator = torch.Generator(device=device).manual_seed(seed)
    order_rng = np.random.default_rng(seed)
    weight = class_weights(y, n_classes).to(device) if config.class_weight else None
    max_epochs = config.epochs or default_epochs(len(x), config.batch_size)
    optimizer = torch.optim.AdamW(model.parameters(), lr=config.lr, weight_decay=config.weight_decay)
    scheduler: Any = None
    if config.lr_schedule == "cosine":
        scheduler = torch.optim.lr_scheduler.CosineAnnealingLR(optimizer, T_max=max_epochs, eta_min=config.lr * 0.02)
    elif config.lr_schedule == "plateau":
        scheduler = torch.optim.lr_scheduler.ReduceLROnPlateau(optimizer, factor=0.5,
                                                               patience=max(2, config.patience // 3))
    batch_size = min(config.batch_size, len(x))
    n_batches = math.ceil(len(x) / batch_size)
    begin_info = {"n_train": len(x), "n_val": 0 if val is None else len(val[0]), "max_epochs": max_epochs,
                  "n_batches": n_batches, "device": str(device), **(info or {})}
    for cb in callbacks:
        cb.on_train_begin(begin_info)

    def stop_requested() -> bool:
        return (stop_event is not None and stop_event.is_set()) or any(cb.should_stop() for cb in callbacks)

    best_score, best_state, since_best = math.inf, None, 0
    for epoch in range(1, max_epochs + 1):
        model.train()
        perm = torch.from_numpy(order_rng.permutation(len(x))).to(device)
        loss_sum, correct, seen, interrupted = 0.0, 0, 0, False
        for b in range(n_batches):
            idx = perm[b * batch_size:(b + 1) * batch_size]
            xb, yb = fast_layout(augment(x[idx], config.augmentation, generator)), y[idx]
            with _autocast(device, config.mixed_precision):
                logits = model(xb)
            loss = F.cross_entropy(logits.float(), yb, weight=weight, label_smoothing=config.label_smoothing)
            optimizer.zero_grad(set_to_none=True)
            loss.backward()
            optimizer.step()
            loss_value = float(loss.detach())
            loss_sum += loss_value * len(idx)
            correct += int((logits.detach().argmax(1) == yb).sum())
            seen += len(idx)
            for cb in callbacks:
                cb.on_batch_end(b + 1, n_batches, loss_value)
            if stop_requested():
                interrupted = True
                break
        if interrupted and seen < len(x):
            history.stopped = "user"
            break
        train_loss, train_acc = loss_sum / seen, correct / seen
        val_loss = val_acc = None
        if val is not None:
            val_loss, val_acc, _ = evaluate(model, val[0], val[1], weight)
        score = val_loss if val_loss is not None else train_loss
        if score < best_score - 1e-6:
            best_score, since_best = score, 0
            best_state = copy.deepcopy(model.state_dict())
            history.best_epoch = epoch
        else:
            since_best += 1
        if val is None:  # keep the latest weights: with no held-out data the last epoch is the best guess
            best_state, history.best_epoch = None, epoch
        lr = optimizer.param_groups[0]["lr"]
        if isinstance(scheduler, torch.optim.lr_scheduler.ReduceLROnPlateau):
            scheduler.step(score)
        elif scheduler is not None:
            scheduler.step()
        for name, value in (("epoch", epoch), ("train_loss", train_loss), ("train_acc", train_acc),
                            ("val_loss", val_loss), ("val_acc", val_acc)):
            getattr(history, name).append(value)
        metrics = {"epoch": epoch, "max_epochs": max_epochs, "train_loss": train_loss, "train_acc": train_acc,
                   "val_loss": val_loss, "val_acc": val_acc, "lr": lr, "best_epoch": history.best_epoch,
                   "seconds": time.perf_counter() - start}
        for cb in callbacks:
            cb.on_epoch_end(epoch, metrics)
        if interrupted:
            history.stopped = "user"
            break
        if val is not None and config.early_stopping and since_best >= config.patience:
            history.stopped = "early_stopping"
            break
    if best_state is not None:
        model.load_state_dict(best_state)
    model.eval()
    if val is not None and len(val[0]):
        _, _, pred = evaluate(model, val[0], val[1], weight)
        confusion = torch.zeros(n_classes, n_classes, dtype=torch.long)
        confusion.index_put_((val[1].cpu(), pred.cpu()), torch.ones(len(pred), dtype=torch.long), accumulate=True)
        history.confusion = confusion.numpy()
    history.seconds = time.perf_counter() - start
    return history


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
                self._done.set()

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
