"""``Classifier``: classes, objects and files around a model backend (a CNN or a random forest)."""

from __future__ import annotations

import copy
import os
import threading
from collections.abc import Sequence
from typing import TYPE_CHECKING, Any

import numpy as np
import torch
from torch import nn

from ..objects.batches import network_inputs
from ..objects.objects import Objects
from ..objects.patch_spec import KEYWORDS, Normalization, PatchSpec, spec_from
from ..prediction.prediction import Prediction
from . import modelfile
from .backend import Backend, BackendSetup, TrainingData
from .callbacks import Callback, CallbackList, History, TrainingJob
from .config import TrainingConfig
from .devices import choose_device, describe_device
from .network_backend import NetworkBackend
from .networks import count_parameters
from .registry import CUSTOM, ModelKind, kind_of, model_kind
from .second_opinion import SecondOpinion
from .training import stratified_split

if TYPE_CHECKING:
    from ..objects.annotations import Annotations


class Classifier:
    """Classify objects from their patches with a small CNN (default) or a random forest.

    Parameters
    ----------
    objects : Objects, optional
        Objects it will be trained on; fixes channels, dimensions and the patch shape (else taken
        from the annotations at the first :meth:`fit`).
    n_classes : int, optional
        Number of classes (else taken from the annotations).
    model : str or torch.nn.Module
        ``"light_cnn"`` (the paper's ~3k-parameter network), ``"light_cnn_deep"``, ``"resnet"``,
        ``"random_forest"`` (``sv.MODELS``), or your own module mapping ``(N, C + 1, *patch)``
        to logits ``(N, k)`` (e.g. a pretrained network to fine-tune).
    class_names : list of str, optional
    patch : PatchSpec, optional
        What each object's patch holds, as one value. Or give its settings one by one:
    patch_size, normalization, context, channels, downscale
        The settings of :class:`~svetlana_nb.PatchSpec` (``patch_size`` is its ``shape``):
        e.g. ``channels=[1]`` when you know that channel 1 shows the class.
    second_opinion : SecondOpinion or None
        For networks: where the network is unsure, its probabilities are averaged with those of
        a random forest on the object's measurements, trained along with it (default
        ``SecondOpinion()``). None: the network alone. Ignored by ``model="random_forest"``.
    device : str
        ``"auto"`` (CUDA, then MPS, then CPU), ``"cpu"``, ``"cuda"``, ``"mps"``.
    **training_options
        Defaults for :meth:`fit` (see :class:`~svetlana_nb.TrainingConfig`).

    Examples
    --------
    >>> import svetlana_nb as sv
    >>> demo = sv.data.cells_2d()
    >>> objects = sv.Objects(demo.image, demo.mask)
    >>> ann = sv.Annotations(objects, demo.class_names)
    >>> for label in objects.labels[:30]:
    ...     ann.add(int(label), demo.truth[int(label)])
    >>> clf = sv.Classifier(objects, n_classes=2)
    >>> history = clf.fit(ann, epochs=5)
    >>> result = clf.predict(objects)
    >>> len(result.classes) == len(objects)
    True
    """

    def __init__(self, objects: Objects | None = None, n_classes: int | None = None, *,
                 model: str | nn.Module = "light_cnn", class_names: Sequence[str] | None = None,
                 patch: PatchSpec | None = None, patch_size: int | Sequence[int] | None = None,
                 normalization: Normalization | None = None, context: int | None = None,
                 channels: Sequence[int] | None = None, downscale: int | None = None,
                 second_opinion: SecondOpinion | None = SecondOpinion(), device: str | torch.device = "auto",
                 **training_options: Any) -> None:
        self.kind, self._custom_network = kind_of(model)
        self.kind.preload()
        self.patch = spec_from(patch, patch_size=patch_size, normalization=normalization, context=context,
                               channels=channels, downscale=downscale)
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
        self._stop_event = threading.Event()

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
        return (f"Classifier({self.model_name}{forest}, {state}, classes={self.class_names}, "
                f"patch={self.patch_shape}{shrunk}, {channels}{self.device_name})")

    def n_parameters(self) -> int | None:
        """Trainable parameters of the network (None for the random forest or before fit)."""
        return None if self.network is None else count_parameters(self.network)

    def clone(self, **changes: Any) -> Classifier:
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
            "objects": self.objects, "model": model, "second_opinion": self.second_opinion, "device": self.device,
            **({"class_names": self.class_names} if self.class_names else {"n_classes": self.n_classes}),
            **self.config.to_dict(),
        }
        patch_changes = {KEYWORDS[k]: changes.pop(k) for k in list(changes) if k in KEYWORDS}
        if "shape" in patch_changes and "downscale" not in patch_changes:
            patch_changes["downscale"] = None
        options["patch"] = changes.pop("patch", self.patch.replace(**patch_changes))
        options.update(changes)
        return Classifier(**options)

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

    def patches(self, objects: Objects, rows: np.ndarray | None = None) -> np.ndarray:
        """The network's input for some objects, float32, shape (n, C + 1, *input_shape)."""
        self._bind(objects)
        return network_inputs(objects, self.patch, rows)

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
            raise ValueError(f"annotations: {len(names)} classes {names} but the classifier has "
                             f"n_classes={self.n_classes}")
        changed = self.class_names is not None and list(self.class_names) != names
        if changed and self._custom_network is not None:
            raise ValueError(f"annotations: classes {names} differ from the classifier's {self.class_names}")
        self.class_names, self.n_classes = list(names), len(names)
        return changed

    # -- training ------------------------------------------------------------------------------
    def fit(self, annotations: Annotations, *, epochs: int | None = None, callbacks: Sequence[Callback] = (),
            warm_start: bool = False, **training_options: Any) -> History:
        """Train on the annotated objects.

        Parameters
        ----------
        annotations : Annotations
            At least two classes must have annotated objects.
        epochs : int, optional
            Maximum number of epochs (None: chosen from the number of annotations).
        callbacks : sequence of Callback
            Receive per-batch and per-epoch metrics; ``should_stop`` ends training early.
        warm_start : bool
            Continue from the current weights instead of restarting (ignored if the classes changed).
        **training_options
            Any :class:`~svetlana_nb.TrainingConfig` field for this run (lr, batch_size, ...).

        Returns
        -------
        History
        """
        options = dict(training_options)
        if epochs is not None:
            options["epochs"] = epochs
        config = self.config.updated(**options)
        watchers = CallbackList(callbacks, self._stop_event)
        objects = annotations.objects
        rows, targets = annotations.rows_and_targets()
        present = np.unique(targets)
        if len(present) < 2:
            raise ValueError("annotations: annotate objects of at least 2 classes before training; "
                             f"counts per class are {annotations.counts()}")
        rebuild = self._set_classes(list(annotations.class_names))
        self._bind(objects)
        self.objects = objects
        self._stop_event.clear()
        rng = np.random.default_rng(config.seed)
        use_val = (config.val_fraction > 0 and len(rows) >= config.min_val_annotations
                   and np.bincount(targets)[present].min() >= 2)
        train_idx, val_idx = (stratified_split(targets, config.val_fraction, rng) if use_val
                              else (np.arange(len(rows)), np.zeros(0, dtype=np.int64)))
        if self.backend is None or rebuild or not warm_start:
            if config.seed is not None:
                torch.manual_seed(config.seed)  # the new network's initial weights
            self.backend = self.kind.new_backend(self._setup(), network=self._custom_network)
        info = {"model": self.model_name, "class_names": self.class_names, "device_name": self.device_name,
                "patch": self.patch_description}
        data = TrainingData(objects, rows, targets, train_idx, val_idx, config, watchers, info)
        history = self.backend.fit(data, second_opinion=self.second_opinion)
        history.val_rows = rows[val_idx]
        history.class_names = list(self.class_names or ())
        self.history = history
        watchers.train_end(history)
        return history

    def stop(self) -> None:
        """Ask a running :meth:`fit` to stop after the current batch (thread-safe)."""
        self._stop_event.set()

    def fit_in_background(self, annotations: Annotations, **fit_options: Any) -> TrainingJob:
        """Run :meth:`fit` in a background thread; returns a :class:`~svetlana_nb.models.callbacks.TrainingJob`."""
        return TrainingJob(lambda: self.fit(annotations, **fit_options), self.stop)

    # -- prediction ----------------------------------------------------------------------------
    def _prediction_rows(self, objects: Objects | None, rows: np.ndarray | None) -> tuple[Objects, np.ndarray]:
        """The objects to predict (checked against the classifier) and their rows (all by default)."""
        objects = self._objects(objects)
        if not self.is_fitted:
            raise RuntimeError("Classifier.predict: the classifier is not trained yet; call fit() first")
        self.check_objects(objects)
        return objects, (np.arange(len(objects)) if rows is None else np.asarray(rows, dtype=np.int64))

    def predict_proba(self, objects: Objects | None = None, rows: np.ndarray | None = None, *,
                      batch_size: int | None = None) -> np.ndarray:
        """Class probabilities, float32, shape (n, n_classes), for ``rows`` of ``objects`` (all by default)."""
        objects, rows = self._prediction_rows(objects, rows)
        assert self.backend is not None
        return self.backend.predict_proba(objects, rows, batch_size=batch_size, second_opinion=self.second_opinion)

    def network_proba(self, objects: Objects | None = None, rows: np.ndarray | None = None, *,
                      batch_size: int | None = None) -> np.ndarray:
        """The network's own class probabilities, shape (n, n_classes), before any second opinion.

        Computed as :meth:`predict_proba` computes them (same batches, same dtype).
        """
        objects, rows = self._prediction_rows(objects, rows)
        if not isinstance(self.backend, NetworkBackend):
            raise ValueError(f"Classifier.network_proba: the {self.model_name} model has no network")
        return self.backend.network_proba(objects, rows, batch_size=batch_size)

    def predict(self, objects: Objects | None = None, *, batch_size: int | None = None) -> Prediction:
        """Classify every object of ``objects`` (default: the training objects).

        Returns
        -------
        Prediction
            ``.classes`` {label: class name}, ``.probabilities`` (n, k), ``.table``, ``.class_image()``...
        """
        objects = self._objects(objects)
        assert self.class_names is not None or not self.is_fitted
        return Prediction(objects, self.predict_proba(objects, batch_size=batch_size), list(self.class_names or ()))

    # -- files ---------------------------------------------------------------------------------
    def save(self, path: str | os.PathLike) -> None:
        """Write the trained classifier to one file (safetensors + JSON metadata, no pickle), atomically."""
        if self.backend is None or not self.is_fitted:
            raise RuntimeError("Classifier.save: the classifier is not trained yet; call fit() first")
        tensors, backend_state = self.backend.state()
        opinion = None if self.second_opinion is None else self.second_opinion.to_dict()
        header = {"model": self.model_name, "class_names": self.class_names, "ndim": self.ndim,
                  "image_channels": self.image_channels, "patch": self.patch.to_dict(),
                  "training": self.config.to_dict(), "second_opinion": opinion, "backend": backend_state}
        modelfile.write(path, tensors, header)

    @classmethod
    def load(cls, path: str | os.PathLike, *, model: nn.Module | None = None,
             device: str | torch.device = "auto") -> Classifier:
        """Read a classifier written by :meth:`save`; ``model`` supplies the module of a custom network."""
        tensors, header = modelfile.read(path)
        kind: ModelKind = model_kind(header["model"])
        if kind is CUSTOM and model is None:
            raise ValueError("model: this file holds a custom network; pass the module: Classifier.load(path, model=...)")
        opinion = header["second_opinion"]
        clf = cls(None, model=model if kind is CUSTOM else kind.name, class_names=header["class_names"],
                  patch=PatchSpec.from_dict(header["patch"]), device=device,
                  second_opinion=None if opinion is None else SecondOpinion.from_dict(opinion), **header["training"])
        clf.ndim, clf.image_channels = int(header["ndim"]), int(header["image_channels"])
        clf.backend = clf.kind.new_backend(clf._setup(), network=clf._custom_network)
        try:
            clf.backend.load_state(tensors, header["backend"])
        except (ValueError, KeyError) as error:
            raise ValueError(f"path: {str(path)!r} does not match its declared model ({error})") from None
        return clf

