"""Training losses a user can choose: cross-entropy (the default), focal and balanced softmax.

:func:`make_loss` builds the criterion of a training run from :attr:`TrainingConfig.loss`.
Validation and early stopping keep measuring the (class-weighted) cross-entropy of the plain
logits whatever the training loss, so that runs stay comparable.
"""

from __future__ import annotations

from collections.abc import Callable

import torch
import torch.nn.functional as F

from .._validation import check_choice, check_number

#: The losses, in the order the Trainer lists them.
LOSSES = ("cross_entropy", "focal", "balanced_softmax")

#: A criterion: (logits (N, K), classes (N,)) -> mean loss (a scalar tensor).
Loss = Callable[[torch.Tensor, torch.Tensor], torch.Tensor]


def focal_loss(
    logits: torch.Tensor,
    target: torch.Tensor,
    *,
    gamma: float = 2.0,
    weight: torch.Tensor | None = None,
    label_smoothing: float = 0.0,
) -> torch.Tensor:
    """Focal loss (Lin et al. 2017): cross-entropy scaled by ``(1 - p) ** gamma``.

    Confident, right predictions (``p`` near 1) contribute little, so training dwells on the hard
    examples. At ``gamma=0`` it equals :func:`torch.nn.functional.cross_entropy` with the same
    ``weight`` (the focal paper's alpha) and ``label_smoothing``, reduced the same way.

    Parameters
    ----------
    logits : torch.Tensor, shape (N, K)
    target : torch.Tensor of int, shape (N,)
    gamma : float
        Focusing strength (0: cross-entropy).
    weight : torch.Tensor, shape (K,), optional
        Weight of each class; the mean is then divided by the weights of the targets.
    label_smoothing : float
        Share of the target spread evenly over the classes.

    Returns
    -------
    torch.Tensor
        The mean loss, a scalar.
    """
    n_classes = logits.shape[1]
    log_p = F.log_softmax(logits, dim=1)
    focus = (1.0 - log_p.exp()).clamp(min=0.0) ** gamma
    per_class = -focus * log_p  # (N, K): the focal term of every class
    if weight is not None:
        per_class = per_class * weight
    true = per_class.gather(1, target[:, None])[:, 0]
    loss = (1.0 - label_smoothing) * true + (label_smoothing / n_classes) * per_class.sum(1)
    denom = weight[target].sum() if weight is not None else torch.tensor(float(len(target)), device=logits.device)
    return loss.sum() / denom


def make_loss(
    name: str,
    *,
    class_weight: torch.Tensor | None = None,
    label_smoothing: float = 0.0,
    priors: torch.Tensor | None = None,
    gamma: float = 2.0,
) -> Loss:
    """The training criterion called ``name`` (one of :data:`LOSSES`).

    Parameters
    ----------
    name : {"cross_entropy", "focal", "balanced_softmax"}
        ``"cross_entropy"``: :func:`torch.nn.functional.cross_entropy`, as before the choice
        existed. ``"focal"``: :func:`focal_loss` with ``gamma``, ``class_weight`` as its alpha.
        ``"balanced_softmax"`` (Ren et al. 2020): cross-entropy of ``logits + log(priors)``
        during training, so the plain logits the model answers with are balanced between
        classes; the priors do the balancing, so ``class_weight`` is not applied on top.
    class_weight : torch.Tensor, shape (K,), optional
        Weight of each class (see :func:`~svetlana_nb.models.training.class_weights`).
    label_smoothing : float
        In ``[0, 0.5]``.
    priors : torch.Tensor, shape (K,), optional
        Share of each class among the training examples (needed by ``"balanced_softmax"``).
    gamma : float
        The focal loss's focusing strength, ``>= 0``.

    Returns
    -------
    callable
        ``loss(logits, target)`` returning the mean loss.
    """
    check_choice(name, LOSSES, name="loss")
    check_number(label_smoothing, name="label_smoothing", low=0.0, high=0.5)
    check_number(gamma, name="gamma", low=0.0, high=10.0)
    if name == "cross_entropy":

        def cross_entropy(logits: torch.Tensor, target: torch.Tensor) -> torch.Tensor:
            return F.cross_entropy(logits, target, weight=class_weight, label_smoothing=label_smoothing)

        return cross_entropy
    if name == "focal":

        def focal(logits: torch.Tensor, target: torch.Tensor) -> torch.Tensor:
            return focal_loss(logits, target, gamma=gamma, weight=class_weight, label_smoothing=label_smoothing)

        return focal
    if priors is None:
        raise ValueError("priors: expected the share of each class for loss='balanced_softmax', got None")
    if priors.dim() != 1 or not bool((priors > 0).all()):
        raise ValueError(f"priors: expected a 1D tensor of positive class shares, got {priors.tolist()!r}")
    log_priors = priors.float().log()

    def balanced_softmax(logits: torch.Tensor, target: torch.Tensor) -> torch.Tensor:
        return F.cross_entropy(logits + log_priors.to(logits.device), target, label_smoothing=label_smoothing)

    return balanced_softmax


def class_priors(y: torch.Tensor, n_classes: int) -> torch.Tensor:
    """Share of each class among the training classes ``y`` (a class with no example counts as one).

    Parameters
    ----------
    y : torch.Tensor of int, shape (N,)
    n_classes : int

    Returns
    -------
    torch.Tensor, shape (n_classes,)
        Positive shares summing to 1.
    """
    counts = torch.bincount(y, minlength=n_classes).float().clamp(min=1)
    return counts / counts.sum()
