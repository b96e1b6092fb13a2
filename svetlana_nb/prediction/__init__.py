"""The prediction of every object and its exports.

:class:`Prediction` holds classes and probabilities and derives images, masks and the object
table; :func:`export` writes them, for the viewer, the command line and scripts alike;
:func:`qc_selection` and :func:`contact_sheet` pick and draw the objects to check by eye.
"""

from .export import export
from .gallery import contact_sheet, qc_selection
from .prediction import Prediction

__all__ = ["Prediction", "contact_sheet", "export", "qc_selection"]
