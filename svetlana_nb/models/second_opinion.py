"""The second opinion: a random forest on patch measurements, averaged in where the network is unsure.

A network and a random forest on the object's measurements make different mistakes. Where the
network's top probability is below :attr:`SecondOpinion.below`, the class probabilities are
the average of the two (the forest's share :attr:`SecondOpinion.weight`). Everything about it
lives here: its settings, its training, which objects it consults, the blend, and its
validation figure. ``docs/decisions.md`` says how the defaults were chosen.
"""

from __future__ import annotations

import threading
from collections.abc import Callable
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass
from typing import Any

import numpy as np
import torch

from .._validation import check_number
from ..objects.batches import PatchBatches
from .forest import ForestModel
from .inference import measure_batches
from .measurements import measurement_names, patch_measurements


@dataclass(frozen=True)
class SecondOpinion:
    """Settings of the second opinion: pass ``Classifier(second_opinion=SecondOpinion(...))``.

    Parameters
    ----------
    weight : float
        The forest's share, above 0 and up to 1, in the probabilities of the objects it is
        consulted on. (``second_opinion=None`` gives the network alone.)
    below : float
        The forest is consulted on the objects whose top network probability is below this
        (1.01: every object).

    Examples
    --------
    >>> SecondOpinion().weight, SecondOpinion().below
    (0.5, 0.8)
    >>> SecondOpinion(weight=0.5).blend(np.array([[0.6, 0.4]]), np.array([[0.2, 0.8]]))
    array([[0.4, 0.6]])
    """

    weight: float = 0.5
    below: float = 0.8

    def __post_init__(self) -> None:
        weight = check_number(self.weight, name="weight", high=1)
        if weight == 0:
            raise ValueError(
                "weight: expected a number above 0 and up to 1, got 0; for the network alone use second_opinion=None"
            )
        object.__setattr__(self, "weight", weight)
        object.__setattr__(self, "below", check_number(self.below, name="below", high=1.01))

    def consulted(self, network_proba: np.ndarray) -> np.ndarray:
        """Positions of the objects the forest is consulted on, shape (m,).

        Parameters
        ----------
        network_proba : numpy.ndarray, shape (n, n_classes)
        """
        return np.flatnonzero(network_proba.max(axis=1) < self.below)

    def blend(self, network: np.ndarray, forest: np.ndarray) -> np.ndarray:
        """The average of network and forest probabilities, both shape (m, n_classes)."""
        return (1 - self.weight) * network + self.weight * forest

    def apply(self, network_proba: np.ndarray, forest_proba: Callable[[np.ndarray], np.ndarray]) -> np.ndarray:
        """``network_proba`` (n, k) with the consulted rows blended with ``forest_proba(positions)``.

        The forest is asked only for the consulted positions; the array is changed in place.
        """
        unsure = self.consulted(network_proba)
        if len(unsure):
            network_proba[unsure] = self.blend(network_proba[unsure], forest_proba(unsure))
        return network_proba

    def describe(self) -> str:
        """The second opinion in words (for widgets)."""
        return (
            f"where its top probability is below {self.below:g}, averaged with a random forest on "
            f"the object's measurements (share {self.weight:g})"
        )

    def to_dict(self) -> dict[str, float]:
        """JSON-ready settings."""
        return {"weight": self.weight, "below": self.below}

    @classmethod
    def from_dict(cls, values: dict[str, Any]) -> SecondOpinion:
        """The settings :meth:`to_dict` wrote."""
        return cls(weight=values["weight"], below=values["below"])


class OpinionForest:
    """A fitted second opinion: a random forest on the measurements of the network's inputs.

    Parameters
    ----------
    forest : ForestModel
        Trained on :func:`~.measurements.patch_measurements` of annotated patches.
    """

    #: Patches measured at once while training.
    _CHUNK = 1024

    def __init__(self, forest: ForestModel) -> None:
        self.forest = forest

    @classmethod
    def fit(
        cls,
        patches: torch.Tensor,
        targets: np.ndarray,
        n_classes: int,
        *,
        dtype: torch.dtype,
        seed: int | None,
        class_weight: bool,
    ) -> OpinionForest:
        """Train the forest on every annotated patch.

        Parameters
        ----------
        patches : torch.Tensor, shape (n, C + 1, *input_shape)
            The annotated objects' network inputs.
        targets : numpy.ndarray of int, shape (n,)
        n_classes : int
        dtype : torch.dtype
            The dtype prediction hands the network: the forest measures the same values in
            training and in prediction.
        seed : int or None
        class_weight : bool
            Balance the classes.
        """
        values = (
            torch.cat(
                [patch_measurements(patches[b : b + cls._CHUNK].to(dtype)) for b in range(0, len(patches), cls._CHUNK)]
            )
            .cpu()
            .numpy()
            .astype(np.float64)
        )
        names = measurement_names(patches.shape[1] - 1, patches.dim() - 2)
        return cls(ForestModel.fit(values, targets, n_classes, names, seed=seed, class_weight=class_weight))

    @property
    def feature_names(self) -> list[str]:
        """The measurements the forest reads."""
        return self.forest.feature_names

    @torch.inference_mode()
    def proba(self, batches: PatchBatches) -> np.ndarray:
        """The forest's class probabilities of the objects of ``batches``, float32, (n, n_classes)."""
        values = measure_batches(patch_measurements, batches, len(self.feature_names))
        return self.forest.predict_proba(values).astype(np.float32)

    def refiner(self, settings: SecondOpinion) -> OpinionPass:
        """The second opinion as a step of the network's own pass over the patches.

        :func:`~.inference.predict_batches` calls it on each batch after the network: the
        objects of the batch the network is unsure of are measured on the inputs it just read
        (nothing gathered or normalised twice, and on every prediction worker); after the pass,
        :meth:`OpinionPass.finish` asks the forest about all of them at once and blends, as
        :meth:`SecondOpinion.apply` does.

        Parameters
        ----------
        settings : SecondOpinion

        Returns
        -------
        OpinionPass
            Call it as ``refine(positions, x, probabilities)`` on each batch, then ``finish(out)``.
        """
        self.forest.prepare()  # build the compiled trees once, before the workers share them
        return OpinionPass(self, settings)

    def validation_accuracy(
        self, settings: SecondOpinion, network_val_proba: np.ndarray, val_idx: np.ndarray, y_val: np.ndarray
    ) -> float | None:
        """Validation accuracy of the network with its second opinion, the forest out of bag.

        The forest learnt every annotation, the validation objects too; each is scored by the
        trees that did not see it (where every tree saw it, by the network alone).

        Parameters
        ----------
        settings : SecondOpinion
        network_val_proba : numpy.ndarray, shape (m, n_classes)
            The network's probabilities of the validation objects (changed in place).
        val_idx : numpy.ndarray of int, shape (m,)
            Positions of the validation objects among the training annotations.
        y_val : numpy.ndarray of int, shape (m,)

        Returns
        -------
        float or None
            None without validation objects.
        """
        oob = self.forest.oob_proba
        if oob is None or not len(val_idx):
            return None
        forest = oob[val_idx]
        unsure = settings.consulted(network_val_proba)
        unsure = unsure[np.isfinite(forest[unsure]).all(axis=1)]
        network_val_proba[unsure] = settings.blend(network_val_proba[unsure], forest[unsure])
        return float((network_val_proba.argmax(axis=1) == y_val).mean())

    # -- files -----------------------------------------------------------------------------------
    def state(self, prefix: str) -> tuple[dict[str, torch.Tensor], dict[str, Any]]:
        """The forest's arrays as tensors named ``prefix + array``, and its measurement names."""
        return self.forest.tensors(prefix), {"feature_names": self.feature_names}

    @classmethod
    def from_state(cls, tensors: dict[str, torch.Tensor], prefix: str, metadata: dict[str, Any]) -> OpinionForest:
        """The opinion :meth:`state` wrote; ``ValueError`` naming a missing array."""
        return cls(ForestModel.from_tensors(tensors, prefix, metadata["feature_names"]))


class OpinionPass:
    """The second opinion within one prediction pass: measure per batch, ask the forest once.

    Each batch's unsure objects are measured on the network's inputs as the batch goes by
    (thread-safe: every prediction worker calls it); the forest then reads all of them at once
    (:meth:`finish`, shared by a few threads when they are thousands): one walk of the trees
    for many objects, not one per batch. The probabilities are those of a blend batch by batch,
    to the bit.

    Parameters
    ----------
    opinion : OpinionForest
    settings : SecondOpinion
    """

    #: Fewest objects per thread worth splitting the forest's reading over threads.
    _PER_THREAD = 2048

    def __init__(self, opinion: OpinionForest, settings: SecondOpinion) -> None:
        self.opinion, self.settings = opinion, settings
        self._positions: list[np.ndarray] = []
        self._values: list[np.ndarray] = []
        self._lock = threading.Lock()

    def __call__(self, positions: np.ndarray, patches: torch.Tensor, probabilities: np.ndarray) -> np.ndarray:
        """Measure the batch's unsure objects (B, C + 1, *shape); ``probabilities`` are kept as they are."""
        unsure = self.settings.consulted(probabilities)
        if len(unsure):
            index = torch.from_numpy(unsure).to(patches.device)
            values = patch_measurements(patches.index_select(0, index)).cpu().numpy().astype(np.float64)
            with self._lock:
                self._positions.append(positions[unsure])
                self._values.append(values)
        return probabilities

    def finish(self, out: np.ndarray, *, threads: int = 1) -> np.ndarray:
        """Blend the forest's opinion into the rows of ``out`` (n, k) measured so far (in place).

        Parameters
        ----------
        out : numpy.ndarray, float32, shape (n, n_classes)
            The network's probabilities of the whole pass.
        threads : int, keyword-only
            Threads reading the forest (its trees release the GIL), when there are many objects.
        """
        if not self._positions:
            return out
        positions, values = np.concatenate(self._positions), np.concatenate(self._values)
        forest = self.opinion.forest
        parts = max(1, min(int(threads), len(values) // self._PER_THREAD))
        if parts == 1:
            proba = forest.predict_proba(values)
        else:
            with ThreadPoolExecutor(max_workers=parts) as pool:
                proba = np.concatenate(list(pool.map(forest.predict_proba, np.array_split(values, parts))))
        out[positions] = self.settings.blend(out[positions], proba.astype(np.float32))
        return out
