"""The network backend: a CNN trained on the annotated objects' patches, with its second opinion."""

from __future__ import annotations

from collections.abc import Callable
from typing import Any

import numpy as np
import torch
from torch import nn

from ..objects.batches import PatchBatches, network_inputs
from ..objects.objects import Objects
from .backend import BackendSetup, HeldOut, TrainingData
from .callbacks import History
from .devices import fast_layout, fast_module, inference_batch_size, inference_dtype, input_dtype
from .inference import inference_network, predict_batches
from .networks import count_parameters
from .second_opinion import OpinionForest, SecondOpinion
from .training import train_network

#: Prefixes of the tensors of a network backend in a model file.
NETWORK_PREFIX, OPINION_PREFIX = "network.", "opinion."


class NetworkBackend:
    """A network classifying objects from their patches, and its fitted second opinion.

    Parameters
    ----------
    setup : BackendSetup
    network : torch.nn.Module
        Maps patches ``(N, C + 1, *input_shape)`` to logits ``(N, n_classes)``; trained in place.
    """

    def __init__(self, setup: BackendSetup, network: nn.Module) -> None:
        self.setup = setup
        self.network: nn.Module | None = network
        self.opinion: OpinionForest | None = None
        #: The validation objects' probabilities after :meth:`fit`, second opinion included (None without).
        self.held_out: HeldOut | None = None
        self._fitted = False

    @property
    def is_fitted(self) -> bool:
        """Whether the network has been trained or loaded."""
        return self._fitted

    @property
    def _network(self) -> nn.Module:
        assert self.network is not None
        return self.network

    def n_parameters(self) -> int | None:
        """Trainable parameters of the network."""
        return count_parameters(self._network)

    # -- training --------------------------------------------------------------------------------
    def fit(self, data: TrainingData, *, second_opinion: SecondOpinion | None) -> History:
        """Train the network (and, with ``second_opinion``, its forest) on the annotated patches."""
        setup, network = self.setup, self._network
        network.to(setup.device)
        x = torch.from_numpy(network_inputs(data.objects, setup.spec, data.rows)).to(setup.device)
        y = torch.from_numpy(data.targets).to(setup.device)
        self._check_output(x[:1])
        train_idx, val_idx = data.train_idx, data.val_idx
        val = (x[val_idx], y[val_idx]) if len(val_idx) else None
        history = train_network(
            network,
            x[train_idx],
            y[train_idx],
            n_classes=setup.n_classes,
            config=data.config,
            device=setup.device,
            val=val,
            callbacks=data.callbacks,
            info=data.info,
        )
        self._fitted = True
        self.opinion = self.held_out = None
        dtype = input_dtype(setup.device)
        if second_opinion is not None:
            self.opinion = OpinionForest.fit(
                x,
                data.targets,
                setup.n_classes,
                dtype=dtype,
                seed=data.config.seed,
                class_weight=data.config.class_weight,
            )
        if len(val_idx):
            # the validation objects as the classifier predicts them: the network, then its second
            # opinion's forest where the network is unsure (out of bag: it learnt every annotation)
            val_proba = self.forward_patches(x[val_idx].to(dtype))
            if self.opinion is not None and second_opinion is not None:
                history.second_opinion_val_acc = self.opinion.validation_accuracy(
                    second_opinion, val_proba, val_idx, data.targets[val_idx]
                )
            self.held_out = HeldOut(val_proba, data.targets[val_idx], "validation")
        return history

    def _check_output(self, sample: torch.Tensor) -> None:
        network = self._network
        network.eval()
        with torch.no_grad():
            out = network(sample)
        if out.dim() != 2 or out.shape[1] != self.setup.n_classes:
            raise ValueError(f"model: expected logits of shape (N, {self.setup.n_classes}), got {tuple(out.shape)}")

    # -- prediction ------------------------------------------------------------------------------
    def batches(self, objects: Objects, rows: np.ndarray, batch_size: int | None = None) -> PatchBatches:
        """The network inputs of ``rows`` of ``objects``, as prediction hands them to the network."""
        setup = self.setup
        return PatchBatches(
            objects,
            rows,
            setup.spec,
            device=setup.device,
            dtype=input_dtype(setup.device),
            batch_size=batch_size or inference_batch_size(setup.spec.input_shape, setup.device),
        )

    def inference_network(self) -> Callable[[torch.Tensor], torch.Tensor]:
        """The network on the device, ready for inference (:func:`~.inference.inference_network`)."""
        setup = self.setup
        network = fast_module(self._network.to(setup.device), setup.ndim)
        return inference_network(network, setup.device, inference_dtype(setup.device))

    @torch.inference_mode()
    def network_proba(self, objects: Objects, rows: np.ndarray, *, batch_size: int | None = None) -> np.ndarray:
        """The network's own class probabilities, float32, shape (len(rows), n_classes)."""
        return predict_batches(self.inference_network(), self.batches(objects, rows, batch_size), self.setup.n_classes)

    def opinion_proba(self, objects: Objects, rows: np.ndarray, *, batch_size: int | None = None) -> np.ndarray:
        """The second opinion's class probabilities, float32, shape (len(rows), n_classes).

        It reads the measurements of the network's own input patches (same gathering and dtype).
        """
        if self.opinion is None:
            raise RuntimeError("second opinion: this classifier has none (trained with second_opinion=None)")
        return self.opinion.proba(self.batches(objects, np.asarray(rows, dtype=np.int64), batch_size))

    def predict_proba(
        self, objects: Objects, rows: np.ndarray, *, batch_size: int | None, second_opinion: SecondOpinion | None
    ) -> np.ndarray:
        """The network's probabilities, with the second opinion where it is unsure.

        One pass: each batch's unsure objects are measured right after the network, on the same
        inputs, and the forest reads them all at the end (:meth:`OpinionForest.refiner`).
        """
        if second_opinion is None or self.opinion is None:
            return self.network_proba(objects, rows, batch_size=batch_size)
        refine = self.opinion.refiner(second_opinion)
        with torch.inference_mode():
            out = predict_batches(
                self.inference_network(),
                self.batches(objects, rows, batch_size),
                self.setup.n_classes,
                refine=refine,
            )
        return refine.finish(out, threads=torch.get_num_threads() if self.setup.device.type == "cpu" else 1)

    @torch.inference_mode()
    def forward_patches(self, patches: torch.Tensor | np.ndarray, *, batch_size: int | None = None) -> np.ndarray:
        """Class probabilities, float32, shape (n, n_classes), of ready-made network inputs."""
        setup = self.setup
        network = self.inference_network()
        x = torch.as_tensor(patches)
        batch = int(batch_size) if batch_size else inference_batch_size(setup.spec.input_shape, setup.device)
        out = np.empty((len(x), setup.n_classes), dtype=np.float32)
        for b in range(0, len(x), batch):
            logits = network(fast_layout(x[b : b + batch].to(setup.device, non_blocking=True)))
            out[b : b + len(logits)] = torch.softmax(logits.float(), dim=1).cpu().numpy()
        return out

    # -- files -----------------------------------------------------------------------------------
    def state(self) -> tuple[dict[str, torch.Tensor], dict[str, Any]]:
        """The weights (and the second opinion's forest) as tensors, and their metadata."""
        tensors = {f"{NETWORK_PREFIX}{k}": v.detach().cpu().contiguous() for k, v in self._network.state_dict().items()}
        metadata: dict[str, Any] = {"opinion": None}
        if self.opinion is not None:
            opinion_tensors, metadata["opinion"] = self.opinion.state(OPINION_PREFIX)
            tensors.update(opinion_tensors)
        return tensors, metadata

    def load_state(self, tensors: dict[str, torch.Tensor], metadata: dict[str, Any]) -> None:
        """Take back what :meth:`state` gave; ``ValueError`` when the weights do not fit the network."""
        weights = {k[len(NETWORK_PREFIX) :]: v for k, v in tensors.items() if k.startswith(NETWORK_PREFIX)}
        try:
            self._network.load_state_dict(weights)
        except RuntimeError as error:
            raise ValueError(str(error)) from None
        self._network.to(self.setup.device).eval()
        opinion = metadata.get("opinion")
        self.opinion = None if opinion is None else OpinionForest.from_state(tensors, OPINION_PREFIX, opinion)
        self.held_out = None
        self._fitted = True
