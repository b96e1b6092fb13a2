"""The objects of a segmentation and their patches.

:class:`Objects` holds the images, masks and per-object geometry; :class:`Annotations` maps
objects to classes; :class:`PatchSpec` says what a patch around an object holds, and
:mod:`.batches` cuts those patches, for every model, in one way.
"""

from .annotations import Annotations
from .objects import Key, Objects
from .patch_spec import PatchSpec
from .transfer import TransferReport
from .transfer_file import transfer_file

__all__ = ["Annotations", "Key", "Objects", "PatchSpec", "TransferReport", "transfer_file"]
