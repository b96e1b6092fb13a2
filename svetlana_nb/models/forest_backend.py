"""The random-forest backend: the classical baseline, on each object's measurements.

It reads the object table (:meth:`Objects.features`: size, shape, intensities per channel),
trains on every annotation in a fraction of a second, and scores its validation objects out
of bag (by the trees that did not see them), so no annotation is held out.
"""

from __future__ import annotations

import time
from typing import Any

import numpy as np
import torch
from torch import nn

from ..objects.objects import Objects
from .backend import BackendSetup, HeldOut, TrainingData
from .callbacks import History
from .forest import ForestModel
from .second_opinion import OpinionForest, SecondOpinion
from .training import confusion_matrix

#: Prefix of the forest's tensors in a model file.
FOREST_PREFIX = "forest."


def feature_matrix(
    objects: Objects, rows: np.ndarray | None = None, *, channels: tuple[int, ...] | None = None
) -> tuple[np.ndarray, list[str]]:
    """The numeric measurements the forest reads (no positions, no bounding boxes).

    Parameters
    ----------
    objects : Objects
    rows : numpy.ndarray of int, optional
        Which objects (all when None).
    channels : tuple of int, optional
        Keep the intensity measurements of these channels only (default all).

    Returns
    -------
    values : numpy.ndarray, float64, shape (n, n_features)
    names : list of str
    """
    table = objects.features()
    names = [c for c in table.columns if c not in ("image", "label") and not c.startswith(("centroid_", "bbox_"))]
    if channels is not None:
        kept = {str(c) for c in channels}
        names = [c for c in names if "_intensity_" not in c or c.rsplit("_", 1)[1] in kept]
    values = table[names].to_numpy(dtype=np.float64)
    return (values if rows is None else values[np.asarray(rows)]), names


class ForestBackend:
    """A random forest on per-object measurements.

    Parameters
    ----------
    setup : BackendSetup
        Its patch spec's ``channels`` choose the intensity measurements.
    """

    #: A forest has no network to explain or fine-tune, and no second opinion.
    network: nn.Module | None = None
    opinion: OpinionForest | None = None

    def __init__(self, setup: BackendSetup) -> None:
        self.setup = setup
        self.forest: ForestModel | None = None
        #: Every annotation's out-of-bag probabilities after :meth:`fit` (those some tree left out).
        self.held_out: HeldOut | None = None

    @property
    def is_fitted(self) -> bool:
        """Whether the forest has been trained or loaded."""
        return self.forest is not None

    def n_parameters(self) -> int | None:
        """None: a forest has no trainable parameters."""
        return None

    def _forest(self) -> ForestModel:
        if self.forest is None:
            raise RuntimeError("the random forest is not trained yet")
        return self.forest

    def fit(self, data: TrainingData, *, second_opinion: SecondOpinion | None = None) -> History:
        """Train on every annotation; the validation objects are scored out of bag (one 'epoch')."""
        start = time.perf_counter()
        n_classes, targets = self.setup.n_classes, data.targets
        train_idx, val_idx = data.train_idx, data.val_idx
        x, names = feature_matrix(data.objects, data.rows, channels=self.setup.spec.channels)
        # it trains on the CPU whatever the classifier's device, and reads no patch
        data.callbacks.train_begin(
            {
                **data.info,
                "n_train": len(data.rows),
                "n_val": len(val_idx),
                "max_epochs": 1,
                "n_batches": 1,
                "device": "cpu",
                "device_name": "cpu",
                "patch": None,
            }
        )
        forest = self.forest = ForestModel.fit(
            x, targets, n_classes, names, seed=data.config.seed, class_weight=data.config.class_weight
        )
        history = History(best_epoch=1)
        train_p = forest.predict_proba(x[train_idx])
        train_acc = float((train_p.argmax(1) == targets[train_idx]).mean())
        train_loss = float(-np.log(train_p[np.arange(len(train_idx)), targets[train_idx]] + 1e-7).mean())
        val_loss = val_acc = None
        if len(val_idx):
            assert forest.oob_proba is not None
            p = np.nan_to_num(forest.oob_proba[val_idx], nan=1.0 / n_classes)
            predicted = p.argmax(1)
            val_acc = float((predicted == targets[val_idx]).mean())
            val_loss = float(-np.log(p[np.arange(len(val_idx)), targets[val_idx]] + 1e-7).mean())
            history.confusion = confusion_matrix(targets[val_idx], predicted, n_classes)
        assert forest.oob_proba is not None
        scored = np.isfinite(forest.oob_proba).all(axis=1)
        self.held_out = HeldOut(forest.oob_proba[scored], targets[scored], "out-of-bag")
        history.seconds = time.perf_counter() - start
        data.callbacks.epoch_end(
            history,
            {
                "epoch": 1,
                "max_epochs": 1,
                "train_loss": train_loss,
                "train_acc": train_acc,
                "val_loss": val_loss,
                "val_acc": val_acc,
                "lr": None,
                "best_epoch": 1,
                "seconds": history.seconds,
            },
        )
        return history

    def predict_proba(
        self,
        objects: Objects,
        rows: np.ndarray,
        *,
        batch_size: int | None = None,
        second_opinion: SecondOpinion | None = None,
    ) -> np.ndarray:
        """Class probabilities, float32, shape (len(rows), n_classes)."""
        x, names = feature_matrix(objects, rows, channels=self.setup.spec.channels)
        forest = self._forest()
        if names != forest.feature_names:
            raise ValueError(
                f"objects: the forest was trained on the measurements {forest.feature_names}, "
                f"these objects have {names}"
            )
        return forest.predict_proba(x).astype(np.float32)

    def top_features(self, objects: Objects, row: int, k: int = 5) -> list[tuple[str, float, float]]:
        """The ``k`` most important measurements: (name, importance, this object's z-score)."""
        x, _ = feature_matrix(objects, np.array([row]), channels=self.setup.spec.channels)
        return self._forest().top_features(x[0], k)

    # -- files -----------------------------------------------------------------------------------
    def state(self) -> tuple[dict[str, torch.Tensor], dict[str, Any]]:
        """The forest's arrays as tensors, and the measurements it reads."""
        forest = self._forest()
        return forest.tensors(FOREST_PREFIX), {"feature_names": forest.feature_names}

    def load_state(self, tensors: dict[str, torch.Tensor], metadata: dict[str, Any]) -> None:
        """Take back what :meth:`state` gave; ``ValueError`` when an array is missing."""
        self.forest = ForestModel.from_tensors(tensors, FOREST_PREFIX, metadata["feature_names"])
