"""The prediction of every object and its exports.

:class:`Prediction` holds classes and probabilities and derives images, masks and the object
table; :func:`export` writes them, for the viewer, the command line and scripts alike.
"""

from .export import export
from .prediction import Prediction

__all__ = ["Prediction", "export"]
