"""``Classifier``: classes, objects and files around a model backend (a CNN or a random forest)."""

from __future__ import annotations

import copy
import os
from collections.abc import Sequence
from typing import TYPE_CHECKING, Any

import numpy as np
import torch
from torch import nn

from ..objects.batches import network_inputs
from ..objects.objects import Objects
from ..objects.patch_spec import PatchSpec
from ..prediction.confidence import Calibration
from ..prediction.prediction import Prediction
from . import modelfile
from .backend import TrainingData
from .callbacks import Callback, CallbackList, History, TrainingJob
from .config import plan_training
from .network_backend import NetworkBackend
from .pretraining import PretrainedTrunk, pretrain_for_objects
from .registry import CUSTOM, ModelKind, model_kind
from .second_opinion import SecondOpinion
from .settings import ClassifierSettings
from .training import stratified_split

if TYPE_CHECKING:
    from ..objects.annotations import Annotations


class Classifier(ClassifierSettings):
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

    Attributes
    ----------
    calibration : svetlana_nb.prediction.confidence.Calibration
        The temperature :meth:`predict` and :meth:`predict_proba` apply, fitted at the end of
        each :meth:`fit` on held-out annotations (a network's validation split, after its
        second opinion; a forest's out-of-bag scores) and saved with the model. A network
        trained without validation keeps temperature 1 (``calibration.calibrated`` False).
        Changing :attr:`second_opinion` after training keeps it: fit again to recalibrate.

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

    def patches(self, objects: Objects, rows: np.ndarray | None = None) -> np.ndarray:
        """The network's input for some objects, float32, shape (n, C + 1, *input_shape)."""
        self._bind(objects)
        return network_inputs(objects, self.patch, rows)

    # -- training ------------------------------------------------------------------------------
    def fit(
        self,
        annotations: Annotations,
        *,
        epochs: int | None = None,
        callbacks: Sequence[Callback] = (),
        warm_start: bool = False,
        **training_options: Any,
    ) -> History:
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

        Raises
        ------
        TrainingDivergedError
            The loss became non-finite or exploded (a learning rate far too high).
        RuntimeError
            Another fit of this classifier is running (in a background job or another thread).

        If training fails or is refused, the classifier is left as it was before the call:
        weights, classes, objects and history.
        """
        if not self._fit_lock.acquire(blocking=False):
            raise RuntimeError(
                "fit: this classifier is already training (a fit or fit_in_background is running); "
                "wait for it to finish or call stop() first"
            )
        saved = self._state_before_fit(warm_start)
        try:
            return self._fit(annotations, epochs=epochs, callbacks=callbacks, warm_start=warm_start, **training_options)
        except BaseException:
            self.__dict__.update(saved)
            raise
        finally:
            self._fit_lock.release()

    def _state_before_fit(self, warm_start: bool) -> dict[str, Any]:
        """What :meth:`fit` may change, kept to be put back when it fails (the backend copied if trained in place)."""
        names = (
            "backend",
            "class_names",
            "n_classes",
            "objects",
            "history",
            "patch",
            "ndim",
            "image_channels",
            "calibration",
        )
        saved = {name: self.__dict__[name] for name in names}
        if warm_start and self.backend is not None:
            saved["backend"] = copy.deepcopy(self.backend)
        return saved

    def _fit(
        self,
        annotations: Annotations,
        *,
        epochs: int | None,
        callbacks: Sequence[Callback],
        warm_start: bool,
        **training_options: Any,
    ) -> History:
        options = dict(training_options)
        if epochs is not None:
            options["epochs"] = epochs
        config = asked = self.config.updated(**options)
        watchers = CallbackList(callbacks, self._stop_event)
        objects = annotations.objects
        rows, targets = annotations.rows_and_targets()
        present = np.unique(targets)
        if len(present) < 2:
            raise ValueError(
                "annotations: annotate objects of at least 2 classes before training; "
                f"counts per class are {annotations.counts()}"
            )
        rebuild = self._set_classes(list(annotations.class_names))
        self._bind(objects)
        self.objects = objects
        self._stop_event.clear()
        rng = np.random.default_rng(config.seed)
        plan = plan_training(config, len(rows), annotations.counts())
        use_val = plan.validation
        if plan.epochs is not None and plan.epochs != config.epochs:
            config = config.updated(epochs=plan.epochs)
        train_idx, val_idx = (
            stratified_split(targets, config.val_fraction, rng)
            if use_val
            else (np.arange(len(rows)), np.zeros(0, dtype=np.int64))
        )
        if self.backend is None or rebuild or not warm_start:
            if config.seed is not None:
                torch.manual_seed(config.seed)  # the new network's initial weights
            self.backend = self.kind.new_backend(self._setup(), network=self._custom_network)
            if config.pretrain and isinstance(self.backend, NetworkBackend):
                assert self.backend.network is not None
                self.pretrained = pretrain_for_objects(
                    self.backend.network, objects, self.patch, network_name=self.model_name,
                    cached=self.pretrained, config=config, device=self.device, callbacks=watchers,
                )  # fmt: skip
                self._stop_event.clear()  # a stop ended the pretraining; the training goes on
        info = {
            "model": self.model_name,
            "class_names": self.class_names,
            "device_name": self.device_name,
            "patch": self.patch_description,
        }
        data = TrainingData(objects, rows, targets, train_idx, val_idx, config, watchers, info)
        history = self.backend.fit(data, second_opinion=self.second_opinion)
        held_out = self.backend.held_out
        self.calibration = Calibration.from_held_out(held_out)
        history.val_rows = rows[val_idx]
        history.class_names = list(self.class_names or ())
        self.history, self.trained_config = history, asked
        watchers.train_end(history)
        return history

    def stop(self) -> None:
        """Ask a running :meth:`fit` to stop after the current batch (thread-safe)."""
        self._stop_event.set()

    def fit_in_background(self, annotations: Annotations, **fit_options: Any) -> TrainingJob:
        """Run :meth:`fit` in a background thread; returns a :class:`~svetlana_nb.models.callbacks.TrainingJob`."""
        if self._fit_lock.locked():
            raise RuntimeError(
                "fit_in_background: this classifier is already training; wait for it to finish or call stop() first"
            )
        return TrainingJob(lambda: self.fit(annotations, **fit_options), self.stop)

    # -- prediction ----------------------------------------------------------------------------
    def _prediction_rows(self, objects: Objects | None, rows: np.ndarray | None) -> tuple[Objects, np.ndarray]:
        """The objects to predict (checked against the classifier) and their rows (all by default)."""
        objects = self._objects(objects)
        if not self.is_fitted:
            raise RuntimeError("Classifier.predict: the classifier is not trained yet; call fit() first")
        self.check_objects(objects)
        return objects, (np.arange(len(objects)) if rows is None else np.asarray(rows, dtype=np.int64))

    def predict_proba(
        self,
        objects: Objects | None = None,
        rows: np.ndarray | None = None,
        *,
        batch_size: int | None = None,
        calibrated: bool = True,
    ) -> np.ndarray:
        """Class probabilities, float32, shape (n, n_classes), for ``rows`` of ``objects`` (all by default).

        Parameters
        ----------
        objects : Objects, optional
        rows : numpy.ndarray of int, shape (n,), optional
        batch_size : int, keyword-only, optional
        calibrated : bool, keyword-only
            Divide the log-probabilities by the fitted temperature (:attr:`calibration`; no change
            when not calibrated). False: the model's raw probabilities (the second opinion
            included), for experts; the most probable class is the same either way.
        """
        objects, rows = self._prediction_rows(objects, rows)
        assert self.backend is not None
        raw = self.backend.predict_proba(objects, rows, batch_size=batch_size, second_opinion=self.second_opinion)
        return self.calibration.apply(raw) if calibrated else raw

    def network_proba(
        self, objects: Objects | None = None, rows: np.ndarray | None = None, *, batch_size: int | None = None
    ) -> np.ndarray:
        """The network's own class probabilities, shape (n, n_classes), before any second opinion.

        Computed as :meth:`predict_proba` computes them (same batches, same dtype).
        """
        objects, rows = self._prediction_rows(objects, rows)
        if not isinstance(self.backend, NetworkBackend):
            raise ValueError(f"Classifier.network_proba: the {self.model_name} model has no network")
        return self.backend.network_proba(objects, rows, batch_size=batch_size)

    def predict(
        self, objects: Objects | None = None, *, batch_size: int | None = None, calibrated: bool = True
    ) -> Prediction:
        """Classify every object of ``objects`` (default: the training objects).

        Parameters
        ----------
        objects : Objects, optional
        batch_size : int, keyword-only, optional
        calibrated : bool, keyword-only
            Calibrated probabilities and confidence (the default), else the model's raw ones;
            the classes are the same. ``Prediction.raw_probabilities`` has the raw ones anyway.

        Returns
        -------
        Prediction
            ``.classes`` {label: class name}, ``.probabilities`` (n, k), ``.table``,
            ``.class_image()``, ``.calibrated`` and ``.temperature``...
        """
        objects = self._objects(objects)
        assert self.class_names is not None or not self.is_fitted
        raw = self.predict_proba(objects, batch_size=batch_size, calibrated=False)
        names = list(self.class_names or ())
        if not calibrated:
            return Prediction(objects, raw, names, calibration=Calibration.none("raw probabilities, calibrated=False"))
        calibration = self.calibration
        return Prediction(objects, calibration.apply(raw), names, raw_probabilities=raw, calibration=calibration)

    # -- files ---------------------------------------------------------------------------------
    def save(self, path: str | os.PathLike) -> None:
        """Write the trained classifier to one file (safetensors + JSON metadata, no pickle), atomically.

        The training options saved are those of the last :meth:`fit` (``config`` with that call's
        options, e.g. the Trainer's), so a loaded classifier retrains as this one was trained.
        """
        if self.backend is None or not self.is_fitted:
            raise RuntimeError("Classifier.save: the classifier is not trained yet; call fit() first")
        tensors, backend_state = self.backend.state()
        pretrained = self.pretrained if isinstance(self.backend, NetworkBackend) else None
        if pretrained is not None:
            tensors.update(pretrained.tensors())
        opinion = None if self.second_opinion is None else self.second_opinion.to_dict()
        header = {
            "model": self.model_name,
            "class_names": self.class_names,
            "ndim": self.ndim,
            "image_channels": self.image_channels,
            "patch": self.patch.to_dict(),
            "training": (self.trained_config or self.config).to_dict(),
            "second_opinion": opinion,
            "backend": backend_state,
            **({"pretrained": pretrained.metadata()} if pretrained is not None else {}),
            "calibration": self.calibration.to_dict(),
        }
        modelfile.write(path, tensors, header)

    @classmethod
    def _from_header(
        cls,
        tensors: dict[str, torch.Tensor],
        header: dict[str, Any],
        *,
        model: nn.Module | None,
        device: str | torch.device,
    ) -> Classifier:
        """The classifier a checked header and its tensors describe (errors name the setting)."""
        kind: ModelKind = model_kind(header["model"])
        if kind is CUSTOM and model is None:
            raise ValueError(
                "model: this file holds a custom network; pass the module: Classifier.load(path, model=...)"
            )
        opinion = header["second_opinion"]
        if not isinstance(header["training"], dict):
            raise ValueError("training: expected a mapping of training options")
        clf = cls(
            None,
            model=model if model is not None and kind is CUSTOM else kind.name,
            class_names=header["class_names"],
            patch=PatchSpec.from_dict(header["patch"]),
            device=device,
            second_opinion=None if opinion is None else SecondOpinion.from_dict(opinion),
            **header["training"],
        )
        clf.ndim, clf.image_channels = int(header["ndim"]), int(header["image_channels"])
        clf.backend = clf.kind.new_backend(clf._setup(), network=clf._custom_network)
        clf.backend.load_state(tensors, header["backend"])
        if header.get("pretrained") is not None:
            clf.pretrained = PretrainedTrunk.from_file(tensors, header["pretrained"])
        clf.calibration = (
            Calibration.from_dict(header["calibration"])
            if "calibration" in header
            else Calibration.none("a model file saved before calibration: temperature 1")
        )
        return clf

    @classmethod
    def load(
        cls, path: str | os.PathLike, *, model: nn.Module | None = None, device: str | torch.device = "auto"
    ) -> Classifier:
        """Read a classifier written by :meth:`save`; ``model`` supplies the module of a custom network."""
        tensors, header = modelfile.read(path)
        try:
            clf = cls._from_header(tensors, header, model=model, device=device)
        except KeyError as error:
            raise ValueError(f"path: {str(path)!r} is not a usable model file: missing field {error}") from None
        except (ValueError, TypeError, IndexError, RuntimeError) as error:
            raise ValueError(f"path: {str(path)!r} is not a usable model file: {error}") from None
        return clf
