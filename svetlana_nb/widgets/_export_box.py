"""``ExportBox``: the prediction viewer's folder box and one button per export."""

from __future__ import annotations

import html
import os
from collections.abc import Callable, Sequence
from pathlib import Path
from typing import Any

import ipywidgets as widgets

from ..objects import Objects
from ..prediction.prediction import image_stem

#: The buttons: label, what they export (:func:`svetlana_nb.prediction.export`), tooltip.
BUTTONS = (
    ("Table (CSV)", "table", "objects.csv: class, probabilities, measurements"),
    ("Class image", "classes", "<name>_classes.tif (0 background, k + 1 class k) and its key <name>_classes_key.csv"),
    ("Class masks", "masks", "<name>_<class>.tif: one label image per class"),
)


class ExportBox(widgets.HBox):
    """A folder box, an export button per kind of file, and a status line.

    Parameters
    ----------
    folder : pathlib.Path
        The folder shown at first.
    export : callable
        ``export(what=(kind,))`` writes one kind of file into the folder of the box (the
        viewer's :meth:`~svetlana_nb.widgets.prediction.PredictionViewer.export`).
    """

    def __init__(self, folder: Path, export: Callable[..., Any], *, name: str | None = None) -> None:
        self.folder_text = widgets.Text(
            value=str(folder),
            description="Export to",
            layout=widgets.Layout(width="360px"),
            style={"description_width": "65px"},
            tooltip="Folder the exports are written to",
        )
        #: File-name prefix of the image's files (one image only; None: several images, each its own).
        self.name_text = widgets.Text(
            value=name or "",
            description="Name",
            layout=widgets.Layout(width="220px", display="" if name is not None else "none"),
            style={"description_width": "45px"},
            tooltip="Files are named <name>_classes.tif, <name>_<class>.tif",
        )
        self.overwrite_box = widgets.Checkbox(
            value=False,
            description="Replace existing files",
            indent=False,
            layout=widgets.Layout(width="auto"),
        )
        self.buttons = []
        for label, what, tip in BUTTONS:
            button = widgets.Button(
                description=label, icon="download", tooltip=tip, layout=widgets.Layout(width="auto")
            )
            button.on_click(lambda _, what=what: export(what=(what,)))
            self.buttons.append(button)
        self.status = widgets.HTML()
        super().__init__(
            [self.folder_text, self.name_text, *self.buttons, self.overwrite_box, self.status],
            layout=widgets.Layout(align_items="center", flex_flow="row wrap"),
        )

    def stems(self, objects: Objects, name: str | None = None) -> list[str] | None:
        """The file-name prefix of the one image (``name`` or the Name box), checked; None for several images."""
        if objects.n_images != 1:
            return None
        stem = (self.name_text.value if name is None else name).strip()
        if not stem or stem in (".", "..") or any(c in stem for c in '/\\:*?"<>|'):
            raise ValueError(f"name: expected a file-name prefix such as 'cells', got {stem!r}")
        return [stem]

    def say_written(self, paths: Sequence[Path], folder: str | os.PathLike) -> None:
        """Name every file written, and where."""
        listed = ", ".join(html.escape(p.name) for p in paths)
        self.status.value = f"<small>Wrote {listed} to {html.escape(str(folder))}</small>"


def default_name(objects: Objects, autosave: Path | None) -> str | None:
    """The Name box's first value (None for several images: each is named after itself).

    The image's name, or the annotation file's when the image has the default name of an array
    (``"image"``), which would name every export ``image_…``.
    """
    if objects.n_images != 1:
        return None
    name = image_stem(objects.names[0])
    return autosave.stem if name == "image" and autosave is not None else name
