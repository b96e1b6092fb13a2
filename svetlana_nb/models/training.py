"""The training loop of a network: splits, epochs, class weights, early stopping."""

from __future__ import annotations

import copy
import math
import time
from typing import Any

import numpy as np
import torch
import torch.nn.functional as F
from torch import nn

from .augment import augment
from .callbacks import Callback, CallbackList, History
from .config import TrainingConfig, default_epochs
from .devices import cuda_half_dtype, fast_layout, fast_module
from .losses import class_priors, make_loss


class TrainingDivergedError(ValueError):
    """The training loss became non-finite or exploded: the run stopped, the model was not kept."""


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


def confusion_matrix(annotated: np.ndarray, predicted: np.ndarray, n_classes: int) -> np.ndarray:
    """Counts of (annotated class, predicted class) pairs, shape (n_classes, n_classes), int64."""
    confusion = np.zeros((n_classes, n_classes), dtype=np.int64)
    np.add.at(confusion, (np.asarray(annotated), np.asarray(predicted)), 1)
    return confusion


def _autocast_dtype(device: torch.device, enabled: bool) -> torch.dtype | None:
    """Dtype of mixed-precision training on ``device``, or None for float32 throughout."""
    if enabled and device.type == "cuda":
        return cuda_half_dtype(device)
    return None


def _autocast(device: torch.device, enabled: bool, dtype: torch.dtype | None = None):
    """Autocast context for the forward pass: ``dtype`` (default: :func:`_autocast_dtype`) or off."""
    dtype = dtype if dtype is not None else _autocast_dtype(device, enabled)
    if dtype is None:
        return torch.autocast(device.type, enabled=False)
    return torch.autocast(device.type, dtype=dtype)


def _grad_scaler(device: torch.device, dtype: torch.dtype | None) -> torch.amp.GradScaler:
    """A gradient scaler, enabled only where float16 autocast trains (small gradients underflow in it).

    bfloat16 has float32's range and needs none; a disabled scaler passes the steps through.
    """
    return torch.amp.GradScaler(device.type, enabled=dtype == torch.float16)


def _listens_to_batches(callbacks: CallbackList) -> bool:
    """Whether a callback handles ``on_batch_end`` (then the loss is read after every batch)."""
    return any(
        "on_batch_end" in vars(cb) or type(cb).on_batch_end is not Callback.on_batch_end for cb in callbacks.callbacks
    )


def _check_divergence(
    loss: float, limit: float, first_loss: torch.Tensor, n_classes: int, epoch: int, lr: float
) -> float:
    """Raise :class:`TrainingDivergedError` on a non-finite loss or one past ``limit``; the limit.

    The limit is set, once, to a hundred times the first batch's loss (at least ``log(n_classes)``).
    """
    if limit == math.inf:
        first = float(first_loss)
        if math.isfinite(first):
            limit = 100.0 * max(1.0, math.log(n_classes), first)
    if not math.isfinite(loss) or loss > limit:
        raise TrainingDivergedError(
            f"training diverged: the training loss became {loss:.3g} at epoch {epoch} "
            f"(a sound run stays below {limit:.0f}); lower the learning rate (lr={lr:g})"
        )
    return limit


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
def evaluate(
    model: nn.Module, x: torch.Tensor, y: torch.Tensor, weight: torch.Tensor | None, batch_size: int = 256
) -> tuple[float, float, torch.Tensor]:
    """Mean loss, accuracy and predicted classes of ``model`` on ``(x, y)``."""
    model.eval()
    losses, preds = [], []
    for begin in range(0, len(x), batch_size):
        logits = model(fast_layout(x[begin : begin + batch_size])).float()
        losses.append(F.cross_entropy(logits, y[begin : begin + batch_size], weight=weight, reduction="sum"))
        preds.append(logits.argmax(1))
    pred = torch.cat(preds)
    denom = weight[y].sum() if weight is not None else torch.tensor(float(len(y)))
    return float(torch.stack(losses).sum() / denom), float((pred == y).float().mean()), pred


def train_network(
    model: nn.Module,
    x: torch.Tensor,
    y: torch.Tensor,
    *,
    n_classes: int,
    config: TrainingConfig,
    device: torch.device,
    val: tuple[torch.Tensor, torch.Tensor] | None,
    callbacks: CallbackList | None = None,
    info: dict | None = None,
) -> History:
    """Fit ``model`` on patches ``x`` (N, C+1, ...) with classes ``y`` (N,), on ``device``.

    Returns
    -------
    History
        The model holds the best weights (lowest validation loss) when training ends.
    """
    start = time.perf_counter()
    history = History(n_val=0 if val is None else len(val[0]))
    fast_module(model, x.dim() - 2)
    seed = config.seed
    generator = None
    if seed is not None:
        torch.manual_seed(seed)
        generator = torch.Generator(device=device).manual_seed(seed)
    order_rng = np.random.default_rng(seed)
    weight = class_weights(y, n_classes).to(device) if config.class_weight else None
    priors = class_priors(y, n_classes).to(device) if config.loss == "balanced_softmax" else None
    criterion = make_loss(config.loss, class_weight=weight, label_smoothing=config.label_smoothing, priors=priors)
    max_epochs = config.epochs or default_epochs(len(x), config.batch_size)
    optimizer = torch.optim.AdamW(model.parameters(), lr=config.lr, weight_decay=config.weight_decay)
    scheduler: Any = None
    if config.lr_schedule == "cosine":
        scheduler = torch.optim.lr_scheduler.CosineAnnealingLR(optimizer, T_max=max_epochs, eta_min=config.lr * 0.02)
    elif config.lr_schedule == "plateau":
        scheduler = torch.optim.lr_scheduler.ReduceLROnPlateau(
            optimizer, factor=0.5, patience=max(2, config.patience // 3)
        )
    batch_size = min(config.batch_size, len(x))
    n_batches = math.ceil(len(x) / batch_size)
    begin_info = {
        "n_train": len(x),
        "n_val": 0 if val is None else len(val[0]),
        "max_epochs": max_epochs,
        "n_batches": n_batches,
        "device": str(device),
        **(info or {}),
    }
    callbacks = callbacks or CallbackList()
    callbacks.train_begin(begin_info)

    # A loss a hundred times the first batch's (itself near log(k) for normalised patches) means the
    # weights have blown up (a learning rate far too high): the model would then answer one class
    # with full confidence. Set from the first batch. The figures stay on the device during an epoch
    # and are read once at its end (a read per batch stalls a GPU), unless a callback listens to
    # batches.
    loss_limit = math.inf
    amp_dtype = _autocast_dtype(device, config.mixed_precision)
    scaler = _grad_scaler(device, amp_dtype)
    per_batch = _listens_to_batches(callbacks)
    first_loss: torch.Tensor | None = None
    best_score, best_state, since_best = math.inf, None, 0
    for epoch in range(1, max_epochs + 1):
        model.train()
        perm = torch.from_numpy(order_rng.permutation(len(x))).to(device)
        loss_sum = torch.zeros((), device=device)
        correct = torch.zeros((), device=device, dtype=torch.int64)
        worst = torch.full((), -math.inf, device=device)
        seen, interrupted = 0, False
        for b in range(n_batches):
            idx = perm[b * batch_size : (b + 1) * batch_size]
            xb, yb = fast_layout(augment(x[idx], config.augmentation, generator)), y[idx]
            with _autocast(device, config.mixed_precision, amp_dtype):
                logits = model(xb)
            loss = criterion(logits.float(), yb)
            optimizer.zero_grad(set_to_none=True)
            scaler.scale(loss).backward()
            scaler.step(optimizer)
            scaler.update()
            batch_loss = loss.detach()
            if first_loss is None:
                first_loss = batch_loss
            loss_sum += batch_loss * len(idx)
            worst = torch.maximum(worst, batch_loss)  # NaN propagates
            correct += (logits.detach().argmax(1) == yb).sum()
            seen += len(idx)
            if per_batch:
                loss_value = float(batch_loss)
                loss_limit = _check_divergence(loss_value, loss_limit, first_loss, n_classes, epoch, config.lr)
                callbacks.batch_end(b + 1, n_batches, loss_value)
            if callbacks.stop_requested():
                interrupted = True
                break
        if interrupted and seen < len(x):
            history.stopped = "user"
            break
        assert first_loss is not None
        total, n_correct, worst_value, first_value = torch.stack(
            [loss_sum, correct.to(loss_sum.dtype), worst, first_loss.to(loss_sum.dtype)]
        ).tolist()  # the epoch's one read from the device
        if loss_limit == math.inf and math.isfinite(first_value):
            loss_limit = 100.0 * max(1.0, math.log(n_classes), first_value)
        loss_limit = _check_divergence(worst_value, loss_limit, first_loss, n_classes, epoch, config.lr)
        train_loss, train_acc = total / seen, n_correct / seen
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
        metrics = {
            "epoch": epoch,
            "max_epochs": max_epochs,
            "train_loss": train_loss,
            "train_acc": train_acc,
            "val_loss": val_loss,
            "val_acc": val_acc,
            "lr": lr,
            "best_epoch": history.best_epoch,
            "seconds": time.perf_counter() - start,
        }
        callbacks.epoch_end(history, metrics)
        if interrupted:
            history.stopped = "user"
            break
        if val is not None and config.early_stopping and since_best >= config.patience:
            history.stopped = "early_stopping"
            break
    if best_state is not None:
        model.load_state_dict(best_state)
    if not all(bool(torch.isfinite(p).all()) for p in model.parameters()):
        raise TrainingDivergedError(
            f"training diverged: the network's weights are no longer finite; lower the learning rate (lr={config.lr:g})"
        )
    model.eval()
    if val is not None and len(val[0]):
        _, _, pred = evaluate(model, val[0], val[1], weight)
        history.confusion = confusion_matrix(val[1].cpu().numpy(), pred.cpu().numpy(), n_classes)
    history.seconds = time.perf_counter() - start
    return history
