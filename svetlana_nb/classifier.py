"""``Classifier``: trains a network (or a random forest) on annotated objects and predicts classes."""

from __future__ import annotations

import os
import threading
from collections.abc import Callable, Sequence
from typing import TYPE_CHECKING, Any

import numpy as np
import torch
from torch import nn

from . import forest as forest_module
from . import modelfile
from ._validation import check_channels, check_choice, check_number
from .devices import choose_device, cpu_supports_bf16, describe_device, fast_layout, fast_module
from .features import feature_matrix
from .forest import ForestModel
from .inference import PatchBatches, inference_network, measure_batches, predict_batches
from .models import DESCRIPTIONS, MODELS, build_network, count_parameters
from .objects import NORMALIZATIONS, Normalization, Objects, _as_patch_shape
from .patch_measurements import measurement_names, patch_measurements
from .patches import check_downscale, choose_downscale
from .predict import Prediction
from .training import Callback, History, TrainingConfig, TrainingJob, stratified_split, train_network

if TYPE_CHECKING:
    from .annotations import Annotations


#: Default ``forest_weight``: share of the random forest on patch measurements in a network's
#: probabilities where it is consulted, an equal average (the README's accuracy section).
FOREST_WEIGHT = 0.5
#: Default ``second_opinion_below``: the forest is consulted on the objects whose network top
#: probability is below this. On the demo sets it changes the same decisions as consulting it on
#: every object, measuring 1 % (``cells_2d``) to 17 % (``infected_cells_2d``) of them.
SECOND_OPINION_BELOW = 0.8


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
        ``"random_forest"``, or your own module mapping ``(N, C + 1, *patch)`` to logits ``(N, k)``
        (e.g. a pretrained network to fine-tune).
    class_names : list of str, optional
    patch_size : int or tuple of int, optional
        Overrides ``objects.patch_shape``.
    normalization : {"percentile", "minmax", "none"}
        Per image and channel intensity normalisation of patches.
    context : int, optional
        Hide what lies farther than this many pixels from the object (dilated-mask multiplication).
    channels : sequence of int, optional
        The image channels the classifier looks at (indices along the objects' channel axis;
        default all). When you know which channel shows the class, giving only that one helps
        with few annotations: a channel that carries no class information is noise to a network
        trained on 20 examples (``benchmarks/explore_defaults.py --image-channels``).
    downscale : int, optional
        Shrink patches by this factor in Y and X before the network sees them (image channels
        block-averaged, the object channel where the object touches the block). Default: the
        smallest factor that brings the patch's sides to 64 px or less
        (:func:`~svetlana_nb.patches.choose_downscale`), so 1 for objects up to about 50 px;
        large cells then cost what small ones do, and the two small convolutions see their
        shape. The patch side is rounded up to a multiple of it.
    forest_weight : float
        For networks: share, from 0 to 1, of a second opinion in the class probabilities of the
        objects the network is unsure of: a random forest on the object's measurements in its
        patch (:func:`~svetlana_nb.patch_measurements.patch_measurements`: size, shape and
        intensity per channel), trained on every annotated object along with the network
        (0.2 s). 0 gives the network alone. Default :data:`FOREST_WEIGHT`. Ignored by
        ``model="random_forest"``. The validation figures of :meth:`fit`'s history are the
        network's alone (the forest learns the validation objects too).
    second_opinion_below : float
        The forest is consulted on the objects whose top network probability is below this
        (1.01: every object). Default :data:`SECOND_OPINION_BELOW`.
    device : str
        ``"auto"`` (CUDA, then MPS, then CPU), ``"cpu"``, ``"cuda"``, ``"mps"``.
    **training_options
        Defaults for :meth:`fit` (see :class:`~svetlana_nb.training.TrainingConfig`).

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
                 patch_size: int | Sequence[int] | None = None, normalization: Normalization = "percentile",
                 context: int | None = None, channels: Sequence[int] | None = None,
                 downscale: int | None = None, forest_weight: float = FOREST_WEIGHT,
                 second_opinion_below: float = SECOND_OPINION_BELOW, device: str = "auto",
                 **training_options: Any) -> None:
        if isinstance(model, nn.Module):
            self.model_name, self.network = "custom", model
        else:
            check_choice(model, MODELS, name="model")
            self.model_name, self.network = model, None
            if model == "random_forest":
                forest_module.preload()  # so that fit() itself takes well under a second
        check_choice(normalization, NORMALIZATIONS, name="normalization")
        self.forest_weight = check_number(forest_weight, name="forest_weight", high=1)
        self.second_opinion_below = check_number(second_opinion_below, name="second_opinion_below", high=1.01)
        if n_classes is not None and (int(n_classes) != n_classes or n_classes < 2):
            raise ValueError(f"n_classes: expected an int >= 2, got {n_classes!r}")
        if class_names is not None and n_classes is not None and len(class_names) != n_classes:
            raise ValueError(f"class_names: {len(class_names)} names given for n_classes={n_classes}")
        self.n_classes = int(n_classes) if n_classes is not None else (len(class_names) if class_names else None)
        self.class_names: list[str] | None = list(class_names) if class_names is not None else None
        self.normalization = normalization
        self.context = context
        self.channels: tuple[int, ...] | None = check_channels(channels)
        self.image_channels: int | None = None  # channels of the images it works on
        self._downscale_option = None if downscale is None else check_downscale(downscale)
        self.downscale = 1  # set from the patch shape when the classifier meets its objects
        self.device = choose_device(device)
        self.config = TrainingConfig().updated(**training_options)
        self.objects = objects
        self.ndim: int | None = None
        self.in_channels: int | None = None
        self.patch_shape: tuple[int, ...] | None = None
        if patch_size is not None:
            self.patch_shape = _as_patch_shape(patch_size, objects.spatial_ndim if objects else
                                               (1 if isinstance(patch_size, int) else len(patch_size)))
        if objects is not None:
            self._bind(objects)
        self.forest: ForestModel | None = None  # model="random_forest"
        self.patch_forest: ForestModel | None = None  # a network's companion (forest_weight > 0)
        self.history: History | None = None
        self._stop_event = threading.Event()

    # -- description ---------------------------------------------------------------------------
    @property
    def device_name(self) -> str:
        """The device in use, readable (``"GPU: ..."`` or ``"CPU (n threads)"``)."""
        return describe_device(self.device)

    @property
    def is_fitted(self) -> bool:
        """Whether the classifier has been trained (or loaded)."""
        return self.forest is not None or (self.network is not None and self.history is not None) or \
            getattr(self, "_loaded", False)

    @property
    def description(self) -> str:
        """The model's description (for widgets)."""
        text = DESCRIPTIONS.get(self.model_name, "your own torch module")
        if self.model_name == "random_forest" or self.forest_weight == 0:
            return text
        return (f"{text}; where its top probability is below {self.second_opinion_below:g}, averaged with a "
                f"random forest on the object's measurements (share {self.forest_weight:g})")

    def __repr__(self) -> str:
        state = "fitted" if self.is_fitted else "not fitted"
        channels = "" if self.channels is None else f"channels={list(self.channels)}, "
        shrunk = f" shrunk {self.downscale}x to {self.input_shape}" if self.downscale > 1 else ""
        forest = f" + forest x{self.forest_weight:g}" if self.patch_forest is not None else ""
        return (f"Classifier({self.model_name}{forest}, {state}, classes={self.class_names}, "
                f"patch={self.patch_shape}{shrunk}, {channels}{self.device_name})")

    def n_parameters(self) -> int | None:
        """Trainable parameters of the network (None for the random forest or before fit)."""
        return None if self.network is None else count_parameters(self.network)

    # -- set-up --------------------------------------------------------------------------------
    def _bind(self, objects: Objects) -> None:
        if self.ndim is None:
            shape = self.patch_shape
            if shape is not None and len(shape) != objects.spatial_ndim:
                shape = _as_patch_shape(shape[0], objects.spatial_ndim)
            check_channels(self.channels, n_channels=objects.n_channels)
            self.ndim, self.image_channels = objects.spatial_ndim, objects.n_channels
            self.in_channels = (len(self.channels) if self.channels else objects.n_channels) + 1
            self._set_patch_shape(shape or objects.patch_shape)
        self.check_objects(objects)

    def _set_patch_shape(self, shape: tuple[int, ...]) -> None:
        """Adopt a patch shape and its downscale factor (Y and X rounded up to a multiple of it)."""
        factor = self._downscale_option or choose_downscale(shape)
        self.patch_shape = tuple(shape[:-2]) + tuple(-(-int(s) // factor) * factor for s in shape[-2:])
        self.downscale = check_downscale(factor, self.patch_shape)

    @property
    def patch_description(self) -> str:
        """The patch in words, e.g. ``"96×96 px, shrunk 2× to 48×48"`` (for widgets)."""
        if self.patch_shape is None:
            return "patch size not set yet"
        text = "×".join(str(s) for s in self.patch_shape) + " px"
        if self.downscale > 1:
            text += f", shrunk {self.downscale}× to " + "×".join(str(s) for s in self.input_shape)
        return text

    @property
    def input_shape(self) -> tuple[int, ...] | None:
        """Spatial shape of the network's input: the patch shape, Y and X divided by :attr:`downscale`."""
        if self.patch_shape is None:
            return None
        return tuple(self.patch_shape[:-2]) + tuple(int(s) // self.downscale for s in self.patch_shape[-2:])

    def check_objects(self, objects: Objects) -> None:
        """``ValueError`` when ``objects`` have other channels or dimensions than the training data."""
        if self.ndim is None:
            return
        if objects.spatial_ndim != self.ndim or objects.n_channels != self.image_channels:
            raise ValueError(
                f"objects: the classifier works on {self.ndim}D images with {self.image_channels} channel(s); "
                f"these objects are {objects.spatial_ndim}D with {objects.n_channels} channel(s)"
            )

    def _set_classes(self, names: list[str]) -> bool:
        """Adopt the annotation classes; return True when the network must be (re)built."""
        if self.n_classes is not None and self.class_names is None and len(names) != self.n_classes:
            raise ValueError(f"annotations: {len(names)} classes {names} but the classifier has "
                             f"n_classes={self.n_classes}")
        changed = self.class_names is not None and list(self.class_names) != names
        if changed and self.model_name == "custom":
            raise ValueError(f"annotations: classes {names} differ from the classifier's {self.class_names}")
        self.class_names, self.n_classes = list(names), len(names)
        return changed

    def patches(self, objects: Objects, rows: np.ndarray | None = None) -> np.ndarray:
        """The network's input for some objects, shape (n, C + 1, *input_shape)."""
        return objects.patches(rows, patch_shape=self.patch_shape, normalization=self.normalization,
                               context=self.context, channels=self.channels, downscale=self.downscale)

    # -- training ------------------------------------------------------------------------------
    def fit(self, annotations: "Annotations", *, epochs: int | None = None, callbacks: Sequence[Callback] = (),
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
            Any :class:`~svetlana_nb.training.TrainingConfig` field for this run (lr, batch_size, ...).

        Returns
        -------
        History
        """
        options = dict(training_options)
        if epochs is not None:
            options["epochs"] = epochs
        config = self.config.updated(**options)
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
        use_val = config.val_fraction > 0 and len(rows) >= config.min_val_annotations and \
            np.bincount(targets)[present].min() >= 2
        train_idx, val_idx = (stratified_split(targets, config.val_fraction, rng) if use_val
                              else (np.arange(len(rows)), np.zeros(0, dtype=np.int64)))
        if self.model_name == "random_forest":
            history = self._fit_forest(objects, rows, targets, train_idx, val_idx, config, callbacks)
        else:
            if self.network is None or rebuild or not warm_start:
                if self.model_name != "custom":
                    if config.seed is not None:
                        torch.manual_seed(config.seed)
                    self.network = build_network(self.model_name, self.in_channels, self.n_classes, self.ndim)
            self.network.to(self.device)
            x = torch.from_numpy(self.patches(objects, rows)).to(self.device)
            y = torch.from_numpy(targets).to(self.device)
            self._check_output(x[:1])
            val = (x[val_idx], y[val_idx]) if len(val_idx) else None
            info = {"model": self.model_name, "class_names": self.class_names, "device_name": self.device_name,
                    "patch": self.patch_description}
            history = train_network(self.network, x[train_idx], y[train_idx], n_classes=self.n_classes,
                                    config=config, device=self.device, val=val, callbacks=callbacks,
                                    stop_event=self._stop_event, info=info)
            self._fit_patch_forest(x, targets, config)
            history.second_opinion_val_acc = self._second_opinion_val_acc(x[val_idx], targets[val_idx], val_idx)
        history.val_rows = rows[val_idx]
        history.class_names = list(self.class_names)
        self.history = history
        for cb in callbacks:
            cb.on_train_end(history)
        return history

    def _fit_patch_forest(self, x: torch.Tensor, targets: np.ndarray, config: TrainingConfig) -> None:
        """Train the forest on the measurements of every annotated patch (``forest_weight`` > 0).

        The measurements are taken at the precision prediction hands the network
        (:meth:`_input_dtype`), so the forest sees the same values in training and prediction.
        """
        if self.forest_weight == 0:
            self.patch_forest = None
            return
        values = torch.cat([patch_measurements(x[b:b + 1024].to(self._input_dtype()))
                            for b in range(0, len(x), 1024)]).cpu().numpy().astype(np.float64)
        names = measurement_names(self.in_channels - 1, self.ndim)
        self.patch_forest = ForestModel.fit(values, targets, self.n_classes, names, seed=config.seed,
                                            class_weight=config.class_weight)

    def _second_opinion_val_acc(self, x_val: torch.Tensor, y_val: np.ndarray, val_idx: np.ndarray) -> float | None:
        """Validation accuracy of the network with its second opinion, the forest out of bag.

        The forest learnt every annotation, the validation objects too; each is scored by the
        trees that did not see it (where every tree saw it, by the network alone).
        """
        if self.patch_forest is None or self.patch_forest.oob_proba is None or not len(val_idx):
            return None
        probabilities = self.forward_patches(x_val.to(self._input_dtype()))
        forest = self.patch_forest.oob_proba[val_idx]
        unsure = self.second_opinion_rows(probabilities)
        unsure = unsure[np.isfinite(forest[unsure]).all(axis=1)]
        probabilities[unsure] = self._averaged(probabilities[unsure], forest[unsure])
        return float((probabilities.argmax(axis=1) == y_val).mean())

    def _averaged(self, network: np.ndarray, forest: np.ndarray) -> np.ndarray:
        """The second opinion's average of network and forest probabilities, both (m, n_classes)."""
        return (1 - self.forest_weight) * network + self.forest_weight * forest

    def _check_output(self, sample: torch.Tensor) -> None:
        self.network.eval()
        with torch.no_grad():
            out = self.network(sample)
        if out.dim() != 2 or out.shape[1] != self.n_classes:
            raise ValueError(f"model: expected logits of shape (N, {self.n_classes}), got {tuple(out.shape)}")

    def _fit_forest(self, objects, rows, targets, train_idx, val_idx, config, callbacks) -> History:
        import time

        start = time.perf_counter()
        x, names = feature_matrix(objects, rows, channels=self.channels)
        for cb in callbacks:
            cb.on_train_begin({"n_train": len(rows), "n_val": len(val_idx), "max_epochs": 1, "n_batches": 1,
                               "device": "cpu", "model": "random_forest", "class_names": self.class_names})
        # every annotation trains the forest (it has no epochs to stop early); the validation
        # objects are scored out of bag, by the trees that did not see them
        self.forest = ForestModel.fit(x, targets, self.n_classes, names, seed=config.seed,
                                      class_weight=config.class_weight)
        history = History(best_epoch=1)
        train_p = self.forest.predict_proba(x[train_idx])
        history.epoch.append(1)
        history.train_acc.append(float((train_p.argmax(1) == targets[train_idx]).mean()))
        history.train_loss.append(float(-np.log(train_p[np.arange(len(train_idx)), targets[train_idx]] + 1e-7).mean()))
        if len(val_idx):
            p = np.nan_to_num(self.forest.oob_proba[val_idx], nan=1.0 / self.n_classes)
            pred = p.argmax(1)
            history.val_acc.append(float((pred == targets[val_idx]).mean()))
            history.val_loss.append(float(-np.log(p[np.arange(len(val_idx)), targets[val_idx]] + 1e-7).mean()))
            confusion = np.zeros((self.n_classes, self.n_classes), dtype=np.int64)
            np.add.at(confusion, (targets[val_idx], pred), 1)
            history.confusion = confusion
        else:
            history.val_acc.append(None)
            history.val_loss.append(None)
        history.seconds = time.perf_counter() - start
        metrics = {"epoch": 1, "max_epochs": 1, "train_loss": history.train_loss[0], "train_acc": history.train_acc[0],
                   "val_loss": history.val_loss[0], "val_acc": history.val_acc[0], "lr": None, "best_epoch": 1,
                   "seconds": history.seconds}
        for cb in callbacks:
            cb.on_epoch_end(1, metrics)
        return history

    def stop(self) -> None:
        """Ask a running :meth:`fit` to stop after the current batch (thread-safe)."""
        self._stop_event.set()

    def fit_in_background(self, annotations: "Annotations", **fit_options: Any) -> TrainingJob:
        """Run :meth:`fit` in a background thread; returns a :class:`~svetlana_nb.training.TrainingJob`."""
        return TrainingJob(lambda: self.fit(annotations, **fit_options), self.stop)

    # -- prediction ----------------------------------------------------------------------------
    def predict_proba(self, objects: Objects | None = None, rows: np.ndarray | None = None, *,
                      batch_size: int | None = None) -> np.ndarray:
        """Class probabilities, shape (n, n_classes), for ``rows`` of ``objects`` (all by default)."""
        objects, rows = self._prediction_rows(objects, rows)
        if self.model_name == "random_forest":
            x, _ = feature_matrix(objects, rows, channels=self.channels)
            return self.forest.predict_proba(x).astype(np.float32)
        probabilities = self._network_proba(objects, rows, batch_size)
        unsure = self.second_opinion_rows(probabilities)
        if len(unsure):
            forest = self.forest_opinion(objects, rows[unsure], batch_size=batch_size)
            probabilities[unsure] = self._averaged(probabilities[unsure], forest)
        return probabilities

    def network_proba(self, objects: Objects | None = None, rows: np.ndarray | None = None, *,
                      batch_size: int | None = None) -> np.ndarray:
        """The network's own class probabilities, shape (n, n_classes), before any second opinion.

        Computed as :meth:`predict_proba` computes them (same batches, same dtype).
        """
        if self.model_name == "random_forest":
            raise ValueError("Classifier.network_proba: the random forest has no network")
        objects, rows = self._prediction_rows(objects, rows)
        return self._network_proba(objects, rows, batch_size)

    def _prediction_rows(self, objects: Objects | None, rows: np.ndarray | None) -> tuple[Objects, np.ndarray]:
        """The objects to predict (checked against the classifier) and their rows (all by default)."""
        objects = self._objects(objects)
        if not self.is_fitted:
            raise RuntimeError("Classifier.predict: the classifier is not trained yet; call fit() first")
        self.check_objects(objects)
        return objects, (np.arange(len(objects)) if rows is None else np.asarray(rows, dtype=np.int64))

    def inference_batch_size(self) -> int:
        """Objects per forward pass: the first layer's activations stay near 4 MB (cache-sized).

        Small batches are faster on the CPU than large ones for these small networks: the
        full-resolution feature maps stay in cache instead of streaming through memory.
        """
        first_layer = 16 * int(np.prod(self.input_shape))  # activations per object (16 filters)
        if self.device.type != "cpu":
            return max(64, min(4096, 64_000_000 // first_layer))
        return max(4, min(256, 4_000_000 // first_layer))

    def _inference_dtype(self) -> torch.dtype:
        """Mixed precision for inference: bfloat16/float16 on CUDA, bfloat16 on CPUs that have it."""
        if self.device.type == "cuda":
            return torch.bfloat16 if torch.cuda.is_bf16_supported() else torch.float16
        if self.device.type == "cpu" and cpu_supports_bf16():
            return torch.bfloat16
        return torch.float32

    def _inference_network(self) -> Callable[[torch.Tensor], torch.Tensor]:
        """The network on the device, ready for inference (see :func:`inference.inference_network`)."""
        network = fast_module(self.network.to(self.device), self.ndim)
        return inference_network(network, self.device, self._inference_dtype())

    @torch.inference_mode()
    def forward_patches(self, patches: torch.Tensor | np.ndarray, *, batch_size: int | None = None) -> np.ndarray:
        """Class probabilities, shape (n, n_classes), of ready-made patches (n, C + 1, *patch_shape)."""
        network = self._inference_network()
        x = torch.as_tensor(patches)
        batch = int(batch_size) if batch_size else self.inference_batch_size()
        out = np.empty((len(x), self.n_classes), dtype=np.float32)
        for b in range(0, len(x), batch):
            logits = network(fast_layout(x[b:b + batch].to(self.device, non_blocking=True)))
            out[b:b + len(logits)] = torch.softmax(logits.float(), dim=1).cpu().numpy()
        return out

    def _input_dtype(self) -> torch.dtype:
        """Dtype of the network's input batches in prediction.

        bfloat16 where inference runs in it (CPUs that have it, CUDA), else float32 (autocast
        converts on the device).
        """
        dtype = self._inference_dtype()
        return dtype if dtype == torch.bfloat16 else torch.float32

    def _patch_batches(self, objects: Objects, rows: np.ndarray, batch_size: int | None) -> PatchBatches:
        return PatchBatches(objects, rows, patch_shape=self.patch_shape, normalization=self.normalization,
                            context=self.context, channels=self.channels, downscale=self.downscale,
                            batch_size=batch_size or self.inference_batch_size(),
                            device=self.device, dtype=self._input_dtype())

    @torch.inference_mode()
    def _network_proba(self, objects: Objects, rows: np.ndarray, batch_size: int | None) -> np.ndarray:
        batches = self._patch_batches(objects, rows, batch_size)
        return predict_batches(self._inference_network(), batches, self.n_classes)

    def second_opinion_rows(self, network_probabilities: np.ndarray) -> np.ndarray:
        """Positions of the objects whose network probabilities the forest joins, shape (m,).

        Those whose top probability is below ``second_opinion_below`` (none without a forest).
        """
        if self.patch_forest is None or self.forest_weight == 0:
            return np.zeros(0, dtype=np.int64)
        return np.flatnonzero(network_probabilities.max(axis=1) < self.second_opinion_below)

    @torch.inference_mode()
    def forest_opinion(self, objects: Objects, rows: np.ndarray, *, batch_size: int | None = None) -> np.ndarray:
        """The companion forest's class probabilities, shape (len(rows), n_classes).

        It reads the measurements of the network's own input patches (same gathering and dtype).
        """
        if self.patch_forest is None:
            raise RuntimeError("Classifier.forest_opinion: this classifier has no forest (forest_weight=0)")
        rows = np.asarray(rows, dtype=np.int64)
        batches = self._patch_batches(objects, rows, batch_size)
        values = measure_batches(patch_measurements, batches, len(self.patch_forest.feature_names))
        return self.patch_forest.predict_proba(values).astype(np.float32)

    def predict(self, objects: Objects | None = None, *, batch_size: int | None = None) -> Prediction:
        """Classify every object of ``objects`` (default: the training objects).

        Returns
        -------
        Prediction
            ``.classes`` {label: class name}, ``.probabilities`` (n, k), ``.table``, ``.class_image()``...
        """
        objects = self._objects(objects)
        return Prediction(objects, self.predict_proba(objects, batch_size=batch_size), self.class_names)

    def _objects(self, objects: Objects | None) -> Objects:
        if objects is None:
            if self.objects is None:
                raise ValueError("objects: no objects given and none bound to the classifier")
            return self.objects
        if not isinstance(objects, Objects):
            raise TypeError(f"objects: expected svetlana_nb.Objects, got {type(objects).__name__}")
        return objects

    # -- files ---------------------------------------------------------------------------------
    def save(self, path: str | os.PathLike) -> None:
        """Write the trained classifier to one file (safetensors + JSON metadata, no pickle), atomically."""
        modelfile.save(self, path)

    @classmethod
    def load(cls, path: str | os.PathLike, *, model: nn.Module | None = None, device: str = "auto") -> "Classifier":
        """Read a classifier written by :meth:`save`; ``model`` supplies the module of a custom network."""
        return modelfile.load(cls, path, model=model, device=device)
