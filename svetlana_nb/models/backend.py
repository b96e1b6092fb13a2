"""What every model backend is given, and the small protocol each implements.

A :class:`~svetlana_nb.Classifier` keeps the class bookkeeping and the files; the model
behind it (a network, a random forest) is a backend: it fits on :class:`TrainingData` and
returns a :class:`~.callbacks.History`, gives probabilities for objects, and turns its state
into tensors and metadata for a model file and back. The classifier never asks which model
it holds.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Any, Protocol

import numpy as np
import torch
from torch import nn

from ..objects.objects import Objects
from ..objects.patch_spec import PatchSpec
from .callbacks import CallbackList, History
from .config import TrainingConfig
from .second_opinion import OpinionForest, SecondOpinion


@dataclass(frozen=True)
class BackendSetup:
    """The shape of the problem a backend is built for.

    Attributes
    ----------
    spec : PatchSpec
        Resolved: what each object's patch holds.
    n_classes : int
    ndim : int
        Spatial dimensions of the images (2 or 3).
    image_channels : int
        Channels of the images the classifier works on (the patch may keep fewer).
    device : torch.device
    """

    spec: PatchSpec
    n_classes: int
    ndim: int
    image_channels: int
    device: torch.device

    @property
    def in_channels(self) -> int:
        """Channels of a network input: the image channels kept, then the object."""
        return self.spec.n_image_channels(self.image_channels) + 1


@dataclass(frozen=True)
class HeldOut:
    """A fitted model's probabilities of annotated objects it did not learn from.

    Attributes
    ----------
    probabilities : numpy.ndarray, shape (m, n_classes)
        As the classifier would output them (a network's after its second opinion).
    annotated : numpy.ndarray of int, shape (m,)
        Their annotated class index.
    source : {"validation", "out-of-bag"}
        The validation split of a network, or a random forest's out-of-bag scores.
    """

    probabilities: np.ndarray
    annotated: np.ndarray
    source: str


@dataclass
class TrainingData:
    """The annotated objects of one training run, split for validation.

    Attributes
    ----------
    objects : Objects
    rows : numpy.ndarray of int, shape (n,)
        Rows of the annotated objects.
    targets : numpy.ndarray of int, shape (n,)
        Their class indices.
    train_idx, val_idx : numpy.ndarray of int
        Positions in ``rows`` of the training and validation objects.
    config : TrainingConfig
    callbacks : CallbackList
    info : dict
        What ``on_train_begin`` reports besides the counts (model, classes, device, patch).
    """

    objects: Objects
    rows: np.ndarray
    targets: np.ndarray
    train_idx: np.ndarray
    val_idx: np.ndarray
    config: TrainingConfig
    callbacks: CallbackList = field(default_factory=CallbackList)
    info: dict[str, Any] = field(default_factory=dict)


class Backend(Protocol):
    """What a :class:`~svetlana_nb.Classifier` asks of the model behind it."""

    setup: BackendSetup
    #: The network, for explanations and fine-tuning (None for models without one).
    network: nn.Module | None
    #: The fitted second opinion (None when the model has none).
    opinion: OpinionForest | None
    #: Probabilities of annotations the last fit did not learn from (None: it has none), which
    #: calibrate the classifier's confidence.
    held_out: HeldOut | None

    @property
    def is_fitted(self) -> bool:
        """Whether the model has been trained or loaded."""
        ...

    def fit(self, data: TrainingData, *, second_opinion: SecondOpinion | None) -> History:
        """Train on ``data``; a second opinion is trained too where the model has one."""
        ...

    def predict_proba(
        self, objects: Objects, rows: np.ndarray, *, batch_size: int | None, second_opinion: SecondOpinion | None
    ) -> np.ndarray:
        """Class probabilities, float32, shape (len(rows), n_classes)."""
        ...

    def state(self) -> tuple[dict[str, torch.Tensor], dict[str, Any]]:
        """Tensors and JSON-ready metadata for a model file."""
        ...

    def load_state(self, tensors: dict[str, torch.Tensor], metadata: dict[str, Any]) -> None:
        """Take back what :meth:`state` gave; ``ValueError`` when it does not fit this model."""
        ...

    def n_parameters(self) -> int | None:
        """Trainable parameters of the network (None without one)."""
        ...
