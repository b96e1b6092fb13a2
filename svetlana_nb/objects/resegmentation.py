"""Keep annotations across a re-segmentation: move them by overlap, from memory or from a file.

Users re-run Cellpose or StarDist with other settings; the label ids change, and an annotation
file saved on the old masks no longer fits (:class:`SegmentationMismatchError`). The labels are
moved by pixel overlap (:mod:`.transfer`), never guessed; the old file is kept as a backup.
"""

from __future__ import annotations

import contextlib
import itertools
import os
from collections.abc import Mapping
from pathlib import Path
from typing import TYPE_CHECKING, Any

import numpy as np

from .._files import atomic_write_bytes
from .annotation_file import file_digest
from .objects import Objects
from .transfer import TransferReport, match_annotated

if TYPE_CHECKING:
    from .annotations import Annotations

__all__ = ["Resegmentation", "backup_copy", "transfer_file"]


class Resegmentation:
    """The re-segmentation methods of :class:`~svetlana_nb.Annotations` (``transfer``, ``adopt``)."""

    objects: Objects
    class_names: list[str]
    autosave: Path | None
    _labels: dict[tuple[str, int], str]
    _autosave_digest: str | None

    def _transaction(self) -> contextlib.AbstractContextManager[None]:  # pragma: no cover - Annotations'
        raise NotImplementedError

    def transfer(self, new_objects: Objects, *, min_iou: float = 0.5) -> tuple[Annotations, TransferReport]:
        """These annotations moved onto a new segmentation of the same images, by pixel overlap.

        Each annotated object goes to the one new object (same image name) it overlaps with
        IoU >= ``min_iou``, if neither has a second overlap of IoU >= 0.2; splits, merges and lost
        objects are reported, never transferred (see :mod:`svetlana_nb.objects.transfer`).

        Returns
        -------
        annotations : Annotations
            Same class names, on ``new_objects``, no autosave (save it where you want).
        report : TransferReport
            ``matched``, ``unmatched``, ``ambiguous``, ``skipped``; ``report.summary()``.
        """
        from .annotations import Annotations

        report = match_annotated(self.objects, new_objects, list(self._labels), min_iou=min_iou)
        moved = Annotations(new_objects, self.class_names)
        moved._labels = {new_key: self._labels[old_key] for old_key, new_key, _ in report.matched}
        return moved, report

    def adopt(self, other: Annotations, *, autosave: str | os.PathLike | None = None) -> int:
        """Take ``other``'s labels for the objects not labelled here (not undoable); return how many.

        ``other`` must be on the same objects (e.g. the result of :meth:`transfer`). Labels given
        here win over ``other``'s. With ``autosave``, from now on save there, replacing what the
        file holds: keep a backup first (:func:`backup_copy`; the Annotator does).
        """
        if other.objects is not self.objects:
            raise ValueError("other: these Annotations belong to other Objects")
        taken = {key: name for key, name in other._labels.items() if key not in self._labels}
        before = (self.autosave, self._autosave_digest)
        if autosave is not None:
            self.autosave, self._autosave_digest = Path(autosave), file_digest(autosave)
        try:
            with self._transaction():
                self.class_names.extend(name for name in other.class_names if name not in self.class_names)
                self._labels.update(taken)
        except BaseException:
            self.autosave, self._autosave_digest = before
            raise
        return len(taken)


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
    from .annotations import Annotations

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
