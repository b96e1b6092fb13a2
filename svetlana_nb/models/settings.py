"""``ClassifierSettings``: what a classifier is set to be, before and after it learns.

The model kind, the patch spec, the second opinion, the classes, the device and the training
options, the shape of the objects it is bound to, and their descriptions for widgets.
:class:`~.classifier.Classifier` adds what it does with them: fit, predict, save and load.
"""

from __future__ import annotations

import copy
import threading
from collections.abc import Sequence
from typing import Any

import torch
from torch import nn

from ..objects.objects import Objects
from ..objects.patch_spec import KEYWORDS, Normalization, PatchSpec, spec_from
from ..prediction.confidence import Calibration
from .backend import Backend, BackendSetup
from .callbacks import History
from .config import TrainingConfig
from .devices import choose_device, describe_device
from .networks import count_parameters
from .pretraining import PretrainedTrunk
from .registry import kind_of
from .second_opinion import SecondOpinion


class ClassifierSettings:
    """The settings and bookkeeping of a :class:`~svetlana_nb.Classifier` (see its parameters)."""

    def __init__(
        self,
        objects: Objects | None = None,
        n_classes: int | None = None,
        *,
        model: str | nn.Module = "light_cnn",
        class_names: Sequence[str] | None = None,
        patch: PatchSpec | None = None,
        patch_size: int | Sequence[int] | None = None,
        normalization: Normalization | None = None,
        context: int | None = None,
        channels: Sequence[int] | None = None,
        downscale: int | None = None,
        second_opinion: SecondOpinion | None = SecondOpinion(),
        device: str | torch.device = "auto",
        **training_options: Any,
    ) -> None:
        self.kind, self._custom_network = kind_of(model)
        self.kind.preload()
        self.patch = spec_from(
            patch,
            patch_size=patch_size,
            normalization=normalization,
            context=context,
            channels=channels,
            downscale=downscale,
        )
        self.second_opinion = second_opinion
        if n_classes is not None and (isinstance(n_classes, bool) or int(n_classes) != n_classes or n_classes < 2):
            raise ValueError(f"n_classes: expected an int >= 2, got {n_classes!r}")
        if class_names is not None and n_classes is not None and len(class_names) != n_classes:
            raise ValueError(f"class_names: {len(class_names)} names given for n_classes={n_classes}")
        self.n_classes = int(n_classes) if n_classes is not None else (len(class_names) if class_names else None)
        self.class_names: list[str] | None = list(class_names) if class_names is not None else None
        self.device = choose_device(device)
        self.config = TrainingConfig().updated(**training_options)
        self.objects = objects
        self.ndim: int | None = None
        self.image_channels: int | None = None  # channels of the images it works on
        if objects is not None:
            self._bind(objects)
        self.backend: Backend | None = None
        self.history: History | None = None
        #: The options of the last training (``config`` with that ``fit``'s options), saved with the model.
        self.trained_config: TrainingConfig | None = None
        #: The trunk pretrained without annotations (``pretrain=True``), reused while the objects stay.
        self.pretrained: PretrainedTrunk | None = None
        #: The temperature its probabilities are divided by, fitted at the end of each ``fit`` on
        #: held-out annotations (:mod:`svetlana_nb.prediction.confidence`), saved with the model.
        self.calibration = Calibration.none("not trained yet")
        self._stop_event = threading.Event()
        self._fit_lock = threading.Lock()  # one fit at a time: two would corrupt each other's gradients

    # -- settings ------------------------------------------------------------------------------
    @property
    def second_opinion(self) -> SecondOpinion | None:
        """The second opinion's settings (None: the network alone); takes effect at once.

        A second opinion turned on after training joins at the next :meth:`fit`, which trains
        its forest.
        """
        return self._second_opinion

    @second_opinion.setter
    def second_opinion(self, value: SecondOpinion | None) -> None:
        if value is not None and not isinstance(value, SecondOpinion):
            raise TypeError(f"second_opinion: expected svetlana_nb.SecondOpinion or None, got {value!r}")
        self._second_opinion = value

    @property
    def model_name(self) -> str:
        """The model's name (a key of ``sv.MODELS``, or ``"custom"``)."""
        return self.kind.name

    @property
    def network(self) -> nn.Module | None:
        """The network (None for the random forest, and before training a registered network)."""
        if self.backend is not None:
            return self.backend.network
        return self._custom_network

    @property
    def channels(self) -> tuple[int, ...] | None:
        """The image channels the classifier looks at (None: all)."""
        return self.patch.channels

    @property
    def patch_shape(self) -> tuple[int, ...] | None:
        """Spatial patch shape in image pixels (None until it meets objects)."""
        return self.patch.shape if self.patch.is_resolved else None  # type: ignore[return-value]

    @property
    def downscale(self) -> int:
        """Y/X shrink factor of the patches (1 until it meets objects)."""
        return self.patch.factor

    @property
    def input_shape(self) -> tuple[int, ...] | None:
        """Spatial shape of the network's input (None until it meets objects)."""
        return self.patch.input_shape if self.patch.is_resolved else None

    @property
    def in_channels(self) -> int | None:
        """Channels of the network's input: the image channels it looks at, then the object."""
        return None if self.image_channels is None else self.patch.n_image_channels(self.image_channels) + 1

    @property
    def patch_description(self) -> str:
        """The patch in words, e.g. ``"96×96 px, shrunk 2× to 48×48"`` (for widgets)."""
        return self.patch.describe()

    @property
    def device_name(self) -> str:
        """The device in use, readable (``"GPU: ..."`` or ``"CPU (n threads)"``)."""
        return describe_device(self.device)

    @property
    def is_fitted(self) -> bool:
        """Whether the classifier has been trained (or loaded)."""
        return self.backend is not None and self.backend.is_fitted

    @property
    def description(self) -> str:
        """The model's description (for widgets)."""
        if self.second_opinion is None or not self.kind.is_network:
            return self.kind.description
        return f"{self.kind.description}; {self.second_opinion.describe()}"

    def __repr__(self) -> str:
        state = "fitted" if self.is_fitted else "not fitted"
        channels = "" if self.channels is None else f"channels={list(self.channels)}, "
        shrunk = f" shrunk {self.downscale}x to {self.input_shape}" if self.downscale > 1 else ""
        opinion = self.backend is not None and self.backend.opinion is not None and self.second_opinion is not None
        forest = f" + forest x{self.second_opinion.weight:g}" if opinion and self.second_opinion else ""
        return (
            f"Classifier({self.model_name}{forest}, {state}, classes={self.class_names}, "
            f"patch={self.patch_shape}{shrunk}, {channels}{self.device_name})"
        )

    def n_parameters(self) -> int | None:
        """Trainable parameters of the network (None for the random forest or before fit)."""
        return None if self.network is None else count_parameters(self.network)

    def clone(self, **changes: Any) -> Any:
        """A new, untrained classifier with the same settings, some changed.

        Parameters
        ----------
        **changes
            Any constructor keyword (``model``, ``channels``, ``second_opinion``, ``lr``...). A
            patch setting changes the patch spec; a new ``patch_size`` lets the downscale be
            chosen again unless ``downscale`` is given too.

        Examples
        --------
        >>> forest = clf.clone(model="random_forest")  # doctest: +SKIP
        """
        model: str | nn.Module = self.model_name
        if self._custom_network is not None:
            model = copy.deepcopy(self._custom_network)
        options: dict[str, Any] = {
            "objects": self.objects,
            "model": model,
            "second_opinion": self.second_opinion,
            "device": self.device,
            **({"class_names": self.class_names} if self.class_names else {"n_classes": self.n_classes}),
            **self.config.to_dict(),
        }
        patch_changes = {KEYWORDS[k]: changes.pop(k) for k in list(changes) if k in KEYWORDS}
        if "shape" in patch_changes and "downscale" not in patch_changes:
            patch_changes["downscale"] = None
        options["patch"] = changes.pop("patch", self.patch.replace(**patch_changes))
        options.update(changes)
        return type(self)(**options)

    # -- objects -------------------------------------------------------------------------------
    def _bind(self, objects: Objects) -> None:
        """Meet the objects: fix the patch for them (once), then check them."""
        if self.ndim is None:
            self.patch = self.patch.resolve(objects)
            self.ndim, self.image_channels = objects.spatial_ndim, objects.n_channels
        self.check_objects(objects)

    def check_objects(self, objects: Objects) -> None:
        """``ValueError`` when ``objects`` have other channels or dimensions than the training data."""
        if self.ndim is None:
            return
        if objects.spatial_ndim != self.ndim or objects.n_channels != self.image_channels:
            raise ValueError(
                f"objects: the classifier works on {self.ndim}D images with {self.image_channels} channel(s); "
                f"these objects are {objects.spatial_ndim}D with {objects.n_channels} channel(s)"
            )

    def _objects(self, objects: Objects | None) -> Objects:
        if objects is None:
            if self.objects is None:
                raise ValueError("objects: no objects given and none bound to the classifier")
            return self.objects
        if not isinstance(objects, Objects):
            raise TypeError(f"objects: expected svetlana_nb.Objects, got {type(objects).__name__}")
        return objects

    def _setup(self) -> BackendSetup:
        assert self.n_classes is not None and self.ndim is not None and self.image_channels is not None
        return BackendSetup(self.patch, self.n_classes, self.ndim, self.image_channels, self.device)

    def _set_classes(self, names: list[str]) -> bool:
        """Adopt the annotation classes; return True when the model must be built anew."""
        if self.n_classes is not None and self.class_names is None and len(names) != self.n_classes:
            raise ValueError(
                f"annotations: {len(names)} classes {names} but the classifier has n_classes={self.n_classes}"
            )
        changed = self.class_names is not None and list(self.class_names) != names
        if changed and self._custom_network is not None:
            raise ValueError(f"annotations: classes {names} differ from the classifier's {self.class_names}")
        self.class_names, self.n_classes = list(names), len(names)
        return changed
