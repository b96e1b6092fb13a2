"""The re-segmentation methods of :class:`~svetlana_nb.Annotations`: ``transfer`` and ``adopt``.

Users re-run Cellpose or StarDist with other settings; the label ids change. The labels are
moved by pixel overlap (:mod:`.transfer`), never guessed, and taken into the annotations being
edited (:meth:`Resegmentation.adopt`). From a file: :mod:`.transfer_file`.
"""

from __future__ import annotations

import contextlib
import os
from pathlib import Path
from typing import TypeVar

from .annotation_file import file_digest
from .objects import Objects
from .transfer import TransferReport, match_annotated

__all__ = ["Resegmentation"]

_Same = TypeVar("_Same", bound="Resegmentation")


class Resegmentation:
    """The re-segmentation methods of :class:`~svetlana_nb.Annotations` (``transfer``, ``adopt``)."""

    objects: Objects
    class_names: list[str]
    autosave: Path | None
    _labels: dict[tuple[str, int], str]
    _autosave_digest: str | None

    def _transaction(self) -> contextlib.AbstractContextManager[None]:  # pragma: no cover - Annotations'
        raise NotImplementedError

    def __init__(self, objects: Objects, class_names: list[str]) -> None:  # pragma: no cover - Annotations'
        raise NotImplementedError

    def transfer(self: _Same, new_objects: Objects, *, min_iou: float = 0.5) -> tuple[_Same, TransferReport]:
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
        report = match_annotated(self.objects, new_objects, list(self._labels), min_iou=min_iou)
        moved = type(self)(new_objects, self.class_names)
        moved._labels = {new_key: self._labels[old_key] for old_key, new_key, _ in report.matched}
        return moved, report

    def adopt(self: _Same, other: _Same, *, autosave: str | os.PathLike | None = None) -> int:
        """Take ``other``'s labels for the objects not labelled here (not undoable); return how many.

        ``other`` must be on the same objects (e.g. the result of :meth:`transfer`). Labels given
        here win over ``other``'s. With ``autosave``, from now on save there, replacing what the
        file holds: keep a backup first (:func:`~.transfer_file.backup_copy`; the Annotator does).
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
