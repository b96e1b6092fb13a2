"""Safe model files: tensors in safetensors, configuration as JSON metadata, never pickles."""

from __future__ import annotations

import json
import os
from pathlib import Path
from typing import TYPE_CHECKING

import numpy as np
import torch
from torch import nn

from ._files import atomic_path
from .forest import ForestModel
from .models import build_network
from .patches import check_downscale

if TYPE_CHECKING:
    from .classifier import Classifier

FORMAT = "svetlana_nb.model"
#: Prefix of the tensors of a network's companion forest (``Classifier.patch_forest``).
PATCH_FOREST = "patch_forest."
VERSION = 1


def save(clf: "Classifier", path: str | os.PathLike) -> None:
    """Write ``clf`` to ``path`` atomically."""
    from safetensors.torch import save_file

    if not clf.is_fitted:
        raise RuntimeError("Classifier.save: the classifier is not trained yet; call fit() first")
    config = {
        "format": FORMAT, "version": VERSION, "model": clf.model_name, "class_names": clf.class_names,
        "ndim": clf.ndim, "in_channels": clf.in_channels, "patch_shape": list(clf.patch_shape),
        "normalization": clf.normalization, "context": clf.context, "training": clf.config.to_dict(),
        "channels": None if clf.channels is None else list(clf.channels), "image_channels": clf.image_channels,
        "downscale": clf.downscale,
    }
    if clf.model_name == "random_forest":
        tensors = {f"forest.{k}": torch.from_numpy(np.ascontiguousarray(v)) for k, v in clf.forest.arrays.items()}
        config["feature_names"] = clf.forest.feature_names
    else:
        tensors = {k: v.detach().cpu().contiguous() for k, v in clf.network.state_dict().items()}
        config["forest_weight"] = clf.forest_weight if clf.patch_forest is not None else 0.0
        config["second_opinion_below"] = clf.second_opinion_below
        if clf.patch_forest is not None:
            tensors.update({f"{PATCH_FOREST}{k}": torch.from_numpy(np.ascontiguousarray(v))
                            for k, v in clf.patch_forest.arrays.items()})
            config["patch_feature_names"] = clf.patch_forest.feature_names
    with atomic_path(path) as tmp:
        save_file(tensors, str(tmp), metadata={"svetlana_nb": json.dumps(config)})


def load(cls: type, path: str | os.PathLike, *, model: nn.Module | None, device: str) -> "Classifier":
    """Read a classifier file; ``ValueError`` naming the path for corrupt or foreign files."""
    from safetensors import SafetensorError, safe_open

    from .classifier import SECOND_OPINION_BELOW

    path = Path(path)
    if not path.is_file():
        raise FileNotFoundError(f"path: no model file at {str(path)!r}")
    try:
        with safe_open(str(path), framework="pt") as handle:
            metadata = handle.metadata() or {}
            tensors = {k: handle.get_tensor(k) for k in handle.keys()}
        config = json.loads(metadata["svetlana_nb"])
        if config.get("format") != FORMAT:
            raise KeyError("format")
    except (SafetensorError, OSError, KeyError, ValueError, TypeError, RuntimeError) as error:
        raise ValueError(f"path: {str(path)!r} is not a svetlana_nb model file ({error})") from None
    name = config["model"]
    if name == "custom" and model is None:
        raise ValueError("model: this file holds a custom network; pass the module: Classifier.load(path, model=...)")
    clf = cls(None, model=model if name == "custom" else name, class_names=config["class_names"],
              normalization=config["normalization"], context=config["context"],
              channels=config.get("channels"), device=device,
              forest_weight=config.get("forest_weight", 0.0),  # files from before forest_weight=: none
              second_opinion_below=config.get("second_opinion_below", SECOND_OPINION_BELOW))
    clf.ndim, clf.in_channels = config["ndim"], config["in_channels"]
    clf.image_channels = config.get("image_channels") or clf.in_channels - 1  # files from before channels=
    clf.patch_shape = tuple(config["patch_shape"])
    # files from before downscale= hold full-resolution patches
    clf.downscale = check_downscale(config.get("downscale", 1), clf.patch_shape)
    training = dict(config.get("training", {}))
    clf.config = clf.config.updated(**training)
    try:
        if name == "random_forest":
            arrays = {k.split(".", 1)[1]: v.numpy() for k, v in tensors.items() if k.startswith("forest.")}
            clf.forest = ForestModel(arrays, config["feature_names"])
        else:
            if clf.forest_weight > 0:
                arrays = {k[len(PATCH_FOREST):]: tensors.pop(k).numpy() for k in list(tensors)
                          if k.startswith(PATCH_FOREST)}
                missing = sorted(set(ForestModel.ARRAYS) - set(arrays))
                if missing:
                    raise KeyError(f"its forest lacks {missing}")
                clf.patch_forest = ForestModel(arrays, config["patch_feature_names"])
            if clf.network is None:
                clf.network = build_network(name, clf.in_channels, clf.n_classes, clf.ndim)
            clf.network.load_state_dict(tensors)
            clf.network.to(clf.device).eval()
    except (RuntimeError, KeyError) as error:
        raise ValueError(f"path: {str(path)!r} does not match its declared network ({error})") from None
    clf._loaded = True
    return clf
