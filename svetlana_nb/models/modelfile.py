"""Safe model files: tensors in safetensors, a JSON header in its metadata, never pickles.

A file holds a classifier's header (model name, classes, dimensions, patch spec, training
options, second-opinion settings, the backend's own metadata, and since calibration its
``calibration``: the temperature of its probabilities; files without it predict with
temperature 1, as before) and its backend's tensors; optionally (``pretrained``) the trunk
pretrained without annotations and its tensors (``pretrained.*``), absent from files without it.
Files of format version 1 (before the patch spec and the model backends) are read too: their
header and tensor names are translated to version 2 here, in one place.
"""

from __future__ import annotations

import json
import math
import os
from pathlib import Path
from typing import Any

import torch

from .._files import atomic_path

FORMAT = "svetlana_nb.model"
VERSION = 2
#: Header fields every version-2 file has.
HEADER_FIELDS = ("model", "class_names", "ndim", "image_channels", "patch", "training", "second_opinion", "backend")


def write(path: str | os.PathLike, tensors: dict[str, torch.Tensor], header: dict[str, Any]) -> None:
    """Write ``tensors`` and ``header`` to ``path`` atomically (the old file stays until the new one is whole)."""
    from safetensors.torch import save_file

    missing = [name for name in HEADER_FIELDS if name not in header]
    if missing:
        raise ValueError(f"header: missing field(s) {missing}")
    metadata = {"format": FORMAT, "version": VERSION, **header}
    with atomic_path(path) as tmp:
        save_file(tensors, str(tmp), metadata={"svetlana_nb": json.dumps(metadata)})


def read(path: str | os.PathLike) -> tuple[dict[str, torch.Tensor], dict[str, Any]]:
    """The tensors and the (version 2) header of a model file.

    Raises
    ------
    FileNotFoundError
        When there is no file at ``path``.
    ValueError
        Naming the path, for corrupt, foreign or incomplete files.
    """
    from safetensors import SafetensorError, safe_open

    path = Path(path)
    if not path.is_file():
        raise FileNotFoundError(f"path: no model file at {str(path)!r}")
    try:
        with safe_open(str(path), framework="pt") as handle:
            metadata = handle.metadata() or {}
            tensors = {k: handle.get_tensor(k) for k in handle.keys()}
        header = json.loads(metadata["svetlana_nb"])
        if not isinstance(header, dict) or header.get("format") != FORMAT:
            raise KeyError("format")
    except (SafetensorError, OSError, KeyError, ValueError, TypeError, RuntimeError) as error:
        raise ValueError(f"path: {str(path)!r} is not a svetlana_nb model file ({error})") from None
    version = header.get("version")
    if version == 1:
        tensors, header = _from_version_1(tensors, header)
    elif version != VERSION:
        raise ValueError(
            f"path: {str(path)!r} is a model file of version {version!r}; "
            f"this svetlana_nb reads versions 1 and {VERSION}"
        )
    missing = [name for name in HEADER_FIELDS if name not in header]
    if missing:
        raise ValueError(f"path: {str(path)!r} is an incomplete model file (missing {missing})")
    check_header(header, path)
    for name, tensor in tensors.items():
        if tensor.is_floating_point() and not bool(torch.isfinite(tensor).all()):
            raise ValueError(f"path: {str(path)!r}: tensor {name!r} holds NaN or infinite values")
    return tensors, header


#: Largest patch side a model file may declare (far above any object this project classifies).
MAX_PATCH_SIDE = 512
#: Most image channels and classes a model file may declare.
MAX_CHANNELS = 1024
MAX_CLASSES = 1000


def _is_int(value: object) -> bool:
    return isinstance(value, int) and not isinstance(value, bool)


def check_header(header: dict[str, Any], path: str | os.PathLike) -> None:
    """``ValueError`` naming the file and the field unless the header's fields have sound types and ranges.

    The settings themselves (patch, training options, second opinion) are checked again where
    they are used, by the same checks as when a user gives them.
    """

    def bad(field: str, expected: str) -> ValueError:
        value = repr(header.get(field.split(".")[0]))
        value = value if len(value) <= 120 else value[:117] + "..."
        return ValueError(f"path: {str(path)!r}: field {field!r}: expected {expected}, got {value}")

    if not isinstance(header["model"], str) or not header["model"]:
        raise bad("model", "a model name")
    names = header["class_names"]
    if (
        not isinstance(names, list)
        or not 2 <= len(names) <= MAX_CLASSES
        or not all(isinstance(n, str) and n.strip() for n in names)
        or len(set(names)) != len(names)
    ):
        raise bad("class_names", f"a list of 2 to {MAX_CLASSES} distinct, non-empty names")
    if not _is_int(header["ndim"]) or header["ndim"] not in (2, 3):
        raise bad("ndim", "2 or 3")
    channels = header["image_channels"]
    if not _is_int(channels) or not 1 <= channels <= MAX_CHANNELS:
        raise bad("image_channels", f"a whole number from 1 to {MAX_CHANNELS}")
    for field in ("patch", "training", "backend"):
        if not isinstance(header[field], dict):
            raise bad(field, "a mapping")
    patch = header["patch"]
    shape = patch.get("shape")
    if shape is not None and (
        not isinstance(shape, list)
        or len(shape) != header["ndim"]
        or not all(_is_int(side) and 1 <= side <= MAX_PATCH_SIDE for side in shape)
    ):
        raise bad("patch.shape", f"{header['ndim']} whole numbers from 1 to {MAX_PATCH_SIDE}")
    selected = patch.get("channels")
    if selected is not None and (
        not isinstance(selected, list)
        or not selected
        or not all(_is_int(c) and 0 <= c < channels for c in selected)
        or len(set(selected)) != len(selected)
    ):
        raise bad("patch.channels", f"distinct channel indices below image_channels ({channels}), or null")
    opinion = header["second_opinion"]
    if opinion is not None and (not isinstance(opinion, dict) or set(opinion) != {"weight", "below"}):
        raise bad("second_opinion", "null or a mapping of 'weight' and 'below'")
    pretrained = header.get("pretrained")  # optional: files without pretraining have none
    if pretrained is not None and (not isinstance(pretrained, dict) or not isinstance(pretrained.get("key"), str)):
        raise bad("pretrained", "null or a mapping with a 'key' string (the pretrained trunk)")
    if "calibration" in header:  # optional: files written before calibration have none (temperature 1)
        calibration = header["calibration"]
        if not isinstance(calibration, dict):
            raise bad("calibration", "a mapping of 'temperature', 'source', 'n' and 'note'")
        temperature = calibration.get("temperature")
        if (
            not isinstance(temperature, (int, float))
            or isinstance(temperature, bool)
            or not math.isfinite(temperature)
            or temperature <= 0
        ):
            raise bad("calibration.temperature", "a finite number above 0")


def _from_version_1(tensors: dict[str, torch.Tensor], old: dict[str, Any]) -> tuple[dict[str, torch.Tensor], dict]:
    """A version-1 file's tensors and header, as version 2 names them.

    Version 1 kept the patch settings loose, a network's weights under their bare names, its
    second opinion's forest under ``patch_forest.`` and its share as ``forest_weight`` (absent
    before the second opinion existed: the network alone).
    """
    try:
        weight = float(old.get("forest_weight", 0.0))
        second_opinion = (
            {"weight": weight, "below": float(old.get("second_opinion_below", 0.8))} if weight > 0 else None
        )
        header = {
            "model": old["model"],
            "class_names": old["class_names"],
            "ndim": old["ndim"],
            # files from before channels= looked at every channel
            "image_channels": old.get("image_channels") or int(old["in_channels"]) - 1,
            # files from before downscale= hold full-resolution patches
            "patch": {
                "shape": old["patch_shape"],
                "normalization": old["normalization"],
                "context": old["context"],
                "channels": old.get("channels"),
                "downscale": old.get("downscale", 1),
            },
            "training": old.get("training", {}),
            "second_opinion": second_opinion,
        }
    except (KeyError, TypeError, ValueError) as error:
        raise ValueError(f"a version-1 header lacks or mangles {error}") from None
    if "feature_names" in old:  # the random forest's measurements: its tensors kept their names
        header["backend"] = {"feature_names": old["feature_names"]}
        return tensors, header
    renamed: dict[str, torch.Tensor] = {}
    for name, tensor in tensors.items():
        renamed[
            f"opinion.{name[len('patch_forest.') :]}" if name.startswith("patch_forest.") else f"network.{name}"
        ] = tensor
    names = old.get("patch_feature_names")
    # the forest's measurements were named like the object table's columns then; same order
    header["backend"] = {"opinion": None if names is None else {"feature_names": [f"patch_{n}" for n in names]}}
    return renamed, header
