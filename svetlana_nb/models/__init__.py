"""The models: networks and a random forest behind one :class:`Classifier`.

Their training, inference, second opinion, explanations, devices, model files, and the
learning curve that says whether more annotations would help.

A :class:`Classifier` keeps classes, objects and files, and delegates to a backend of the
kind :mod:`.registry` names (:mod:`.network_backend`, :mod:`.forest_backend`).
"""

from .augment import Augmentation
from .callbacks import Callback, FunctionCallback, History, TrainingJob
from .classifier import Classifier
from .config import TrainingConfig
from .explain import GradCam, Opinions, attribution, grad_cam, opinions, top_features
from .learning_curve import LearningCurve, learning_curve
from .registry import MODELS
from .second_opinion import SecondOpinion

__all__ = [
    "Augmentation",
    "Callback",
    "Classifier",
    "FunctionCallback",
    "GradCam",
    "History",
    "LearningCurve",
    "MODELS",
    "Opinions",
    "SecondOpinion",
    "TrainingConfig",
    "TrainingJob",
    "attribution",
    "grad_cam",
    "learning_curve",
    "opinions",
    "top_features",
]
