"""svetlana_nb: classify the objects of a segmentation from a Jupyter notebook.

Annotate objects, train a small CNN on patches around them, and predict the class of every
object, with the same engine from widgets, scripts and the command line.

The rooms, in the order data flows through them: :mod:`.objects` (objects, annotations and
their patches), :mod:`.models` (networks, a random forest, training, inference, the second
opinion, model files), :mod:`.prediction` (results and their exports), :mod:`.widgets`
(notebook views over all of it), with :mod:`.io`, :mod:`.data` and :mod:`.display` beside.

>>> import svetlana_nb as sv
>>> demo = sv.data.cells_2d()
>>> objects = sv.Objects(demo.image, demo.mask)
"""

from __future__ import annotations

from importlib import import_module
from typing import Any

from . import data, io
from .models import (
    MODELS,
    Augmentation,
    Callback,
    Classifier,
    FunctionCallback,
    SecondOpinion,
    TrainingConfig,
    grad_cam,
)
from .objects import Annotations, Objects, PatchSpec
from .prediction import Prediction

__version__ = "0.2.0"

#: Widgets load lazily so that the core never imports ipywidgets.
_WIDGETS = {
    "Annotator": "annotator",
    "Trainer": "training",
    "PredictionViewer": "prediction",
    "QCGallery": "gallery",
    "App": "app",
}

__all__ = [
    "MODELS",
    "Annotations",
    "Augmentation",
    "Callback",
    "Classifier",
    "FunctionCallback",
    "Objects",
    "PatchSpec",
    "Prediction",
    "SecondOpinion",
    "TrainingConfig",
    "data",
    "grad_cam",
    "io",
    "predict_large",
    *_WIDGETS,
]


def __getattr__(name: str) -> Any:
    if name == "predict_large":  # images larger than memory (batch/ imports Dask and zarr lazily)
        from .batch import predict_large

        return predict_large
    if name in _WIDGETS:
        module = import_module(f".widgets.{_WIDGETS[name]}", __name__)
        return getattr(module, name)
    raise AttributeError(f"module 'svetlana_nb' has no attribute {name!r}")


def __dir__() -> list[str]:
    return sorted(set(globals()) | set(_WIDGETS) | {"predict_large"})
