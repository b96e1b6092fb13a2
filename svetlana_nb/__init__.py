"""svetlana_nb: classify the objects of a segmentation from a Jupyter notebook.

Annotate objects, train a small CNN on patches around them, and predict the class of every
object, with the same engine from widgets, scripts and the command line.

>>> import svetlana_nb as sv
>>> demo = sv.data.cells_2d()
>>> objects = sv.Objects(demo.image, demo.mask)
"""

from __future__ import annotations

from importlib import import_module
from typing import Any

from . import data
from .annotations import Annotations
from .augment import Augmentation
from .classifier import Classifier
from .explain import GradCam, SecondOpinion, grad_cam, second_opinion, top_features
from .models import MODELS
from .objects import Objects
from .patch_measurements import measurement_names, patch_measurements
from .predict import Prediction
from .training import Callback, FunctionCallback, History, TrainingConfig, TrainingJob

__version__ = "0.1.0"

#: Widgets load lazily so the core never imports ipywidgets.
_WIDGETS = {"Annotator": "annotator", "Trainer": "training", "PredictionViewer": "prediction", "App": "app"}

__all__ = ["Annotations", "Augmentation", "Callback", "Classifier", "FunctionCallback", "GradCam", "History",
           "MODELS", "Objects", "Prediction", "TrainingConfig", "TrainingJob", "data", "grad_cam",
           "SecondOpinion", "measurement_names", "patch_measurements", "second_opinion", "top_features",
           *_WIDGETS]


def __getattr__(name: str) -> Any:
    if name in _WIDGETS:
        module = import_module(f".widgets.{_WIDGETS[name]}", __name__)
        return getattr(module, name)
    raise AttributeError(f"module 'svetlana_nb' has no attribute {name!r}")
