"""The Annotator's offer when its autosave file was saved on another segmentation.

Users re-run Cellpose or StarDist and reopen their annotation file: the label ids changed, so
the labels no longer fit. Instead of refusing, the Annotator shows this panel: give the old mask
and the labels move by overlap (:func:`~svetlana_nb.objects.transfer_file.transfer_file`), or start a new file. Either
way the old file is first copied beside itself (``*.before-transfer.json``); until the user
chooses, nothing is written to it, and labels given meanwhile stay in memory and are kept.
"""

from __future__ import annotations

import html
import os
from collections.abc import Mapping
from pathlib import Path
from typing import Any

import ipywidgets as widgets

from ..objects import Annotations, TransferReport, transfer_file
from ..objects.annotation_file import SegmentationMismatchError
from ..objects.transfer_file import backup_copy
from ._canvas import ErrorArea


class TransferOffer(widgets.VBox):
    """Move the labels of a mismatched autosave file onto these objects, or start a new file.

    Parameters
    ----------
    annotations : Annotations
        The Annotator's annotations (in memory, no autosave yet).
    path : path
        The autosave file that does not fit.
    mismatch : SegmentationMismatchError
        Why it does not fit (``images`` names the images whose segmentation changed).
    errors : ErrorArea
        Where the buttons' errors are shown.
    """

    def __init__(
        self,
        annotations: Annotations,
        path: str | os.PathLike,
        mismatch: SegmentationMismatchError,
        *,
        errors: ErrorArea,
    ) -> None:
        self.annotations, self.path, self.images = annotations, Path(path), list(mismatch.images)
        self.report: TransferReport | None = None
        #: Where the old file was copied once the user chose (None before).
        self.backup: Path | None = None
        names, file = _text(", ".join(repr(name) for name in self.images)), _text(self.path.name)
        self.message = _Paragraph(
            f"<b>{file} was saved on another segmentation</b> of {names} "
            "(the objects or their label ids changed). Give the old mask to move the labels onto these "
            "objects by overlap, or start a new file. The old file is kept as a copy either way; until "
            "you choose, nothing is written to it and new labels stay in memory."
        )
        self.mask_paths = {
            name: widgets.Text(
                placeholder="old mask file, e.g. masks_old.tif",
                description=f"Old mask of {name}" if len(self.images) > 1 else "Old mask",
                style={"description_width": "initial"},
                layout=widgets.Layout(width="420px"),
            )
            for name in self.images
        }
        auto = widgets.Layout(width="auto")
        self.move_button = widgets.Button(
            description="Move the labels here", button_style="primary", icon="random", layout=auto
        )
        self.new_button = widgets.Button(description="Start a new file", icon="file", layout=auto)
        self.move_button.on_click(errors.guard("moving the labels")(lambda _: self.move(self._typed_paths())))
        self.new_button.on_click(errors.guard("starting a new file")(lambda _: self.start_new()))
        self.inputs = widgets.VBox(
            [*self.mask_paths.values(), widgets.HBox([self.move_button, self.new_button])],
        )
        self.result = _Paragraph()
        super().__init__(
            [self.message, self.inputs, self.result],
            layout=widgets.Layout(border="1px solid #e0a030", padding="6px", margin="0 0 8px 0"),
        )
        self.add_class("svnb-transfer-offer")

    @property
    def pending(self) -> bool:
        """Whether the user has not chosen yet (the file is not written meanwhile)."""
        return self.backup is None

    def move(self, old_masks: Mapping[str, Any] | Any, *, min_iou: float = 0.5) -> TransferReport:
        """Move the file's labels onto these objects by overlap with ``old_masks``; autosave there again.

        ``old_masks``: one mask (array or file path) for the one changed image, or a mapping of image
        name to mask (see :func:`~svetlana_nb.objects.transfer_file.transfer_file`). Labels given meanwhile win.
        """
        if not self.pending:
            raise ValueError(f"autosave: {self.path.name!r} was already handled (copy kept as {self.backup})")
        moved, report = transfer_file(self.path, self.annotations.objects, old_masks, min_iou=min_iou)
        self._take(moved)
        self.report = report
        self.result.text = (
            f"<b>{_text(report.summary())}.</b> Saving to {_text(self.path.name)} again; "
            f"the old file is kept as {_text(self.backup.name if self.backup else '')}."
        )
        return report

    def start_new(self) -> None:
        """Keep the old file as a copy and autosave these annotations (only) to ``path`` from now on."""
        if not self.pending:
            raise ValueError(f"autosave: {self.path.name!r} was already handled (copy kept as {self.backup})")
        self._take(Annotations(self.annotations.objects, self.annotations.class_names))
        self.result.text = (
            f"Started a new file at {_text(self.path.name)}; the old labels are kept in "
            f"{_text(self.backup.name if self.backup else '')}."
        )

    def _take(self, moved: Annotations) -> None:
        backup = backup_copy(self.path)
        try:
            self.annotations.adopt(moved, autosave=self.path)
        except BaseException:
            backup.unlink(missing_ok=True)
            raise
        self.backup = backup
        self.inputs.layout.display = "none"
        self.message.text = f"<b>{_text(self.path.name)}</b> was saved on another segmentation."

    def _typed_paths(self) -> dict[str, str]:
        typed = {name: box.value.strip() for name, box in self.mask_paths.items()}
        missing = [name for name, value in typed.items() if not value]
        if missing:
            raise ValueError(f"old mask: type the path of the old mask file of {', '.join(map(repr, missing))}")
        return typed


def _text(text: str) -> str:
    """``text`` safe inside HTML (quotes kept as typed)."""
    return html.escape(text, quote=False)


class _Paragraph(widgets.HTML):
    """HTML text at a reading line height (ipywidgets' HTML spaces wrapped lines by 28 px)."""

    def __init__(self, text: str = "") -> None:
        super().__init__()
        self.text = text

    @property
    def text(self) -> str:
        """The HTML shown (without the wrapper)."""
        return self._text

    @text.setter
    def text(self, text: str) -> None:
        self._text = text
        self.value = f"<div style='line-height:1.45'>{text}</div>" if text else ""
