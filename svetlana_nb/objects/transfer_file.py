"""Move the labels of an annotation file saved on old masks onto a new segmentation.

An annotation file saved on the old masks no longer fits a new segmentation
(:class:`~svetlana_nb.objects.annotation_file.SegmentationMismatchError`). :func:`transfer_file`
checks the file against the old masks, then moves its labels by overlap; :func:`backup_copy`
keeps the old file before anything replaces it.
"""

from __future__ import annotations

import itertools
import os
from collections.abc import Mapping
from pathlib import Path
from typing import Any

import numpy as np

from .._files import atomic_write_bytes
from .annotations import Annotations
from .objects import Objects
from .transfer import TransferReport

__all__ = ["backup_copy", "transfer_file"]


def transfer_file(
    path: str | os.PathLike,
    objects: Objects,
    old_masks: Mapping[str, Any] | Any,
    *,
    min_iou: float = 0.5,
) -> tuple[Annotations, TransferReport]:
    """Move the labels of an annotation file saved on older masks onto ``objects``.

    The file is checked against the old masks (its fingerprints must fit them, so a wrong old
    mask is refused rather than matched), then every annotation is moved by overlap.

    Parameters
    ----------
    path : path
        An annotation file saved on the old segmentation.
    objects : Objects
        The new segmentation of the same images (same image names).
    old_masks : mapping of image name to mask, or one mask
        Each old mask as an integer array of the image's spatial shape, or a file path
        (:func:`~svetlana_nb.io.read_mask`). One mask (not a mapping) stands for the only image of
        ``objects``. Images not named keep their current mask (they must fit the file).
    min_iou : float, keyword-only
        See :meth:`~svetlana_nb.Annotations.transfer`.

    Returns
    -------
    annotations : Annotations
        On ``objects``, no autosave.
    report : TransferReport
        What moved, what did not and why.
    """
    from ..io import read_mask

    if not isinstance(old_masks, Mapping):
        if objects.n_images != 1:
            raise ValueError(
                f"old_masks: these objects have {objects.n_images} images; give a mapping of image name to old mask"
            )
        old_masks = {objects.names[0]: old_masks}
    unknown = sorted(set(old_masks) - set(objects.names))
    if unknown:
        raise ValueError(f"old_masks: no image named {unknown} in these objects (images: {objects.names})")
    masks = []
    for name, mask in zip(objects.names, objects.masks):
        given = old_masks.get(name, mask)
        masks.append(read_mask(given) if isinstance(given, (str, os.PathLike)) else np.asarray(given))
    several = objects.n_images > 1
    old_objects = Objects(
        list(objects.images) if several else objects.images[0],
        masks if several else masks[0],
        channel_axis=-1,
        name=list(objects.names) if several else objects.names[0],
    )
    old = Annotations.load(path, old_objects)
    return old.transfer(objects, min_iou=min_iou)


def backup_copy(path: str | os.PathLike, *, tag: str = "before-transfer") -> Path:
    """Copy ``path`` beside itself, atomically, as ``<stem>.<tag>[-N]<suffix>``, never over a file."""
    path = Path(path)
    data = path.read_bytes()
    for n in itertools.count(1):
        target = path.with_name(f"{path.stem}.{tag}{'' if n == 1 else f'-{n}'}{path.suffix}")
        if not target.exists():
            atomic_write_bytes(target, data)
            return target
    raise AssertionError("unreachable")  # pragma: no cover
