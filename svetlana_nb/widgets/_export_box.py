"""``ExportBox``: the prediction viewer's folder box and one button per export."""

from __future__ import annotations

from collections.abc import Callable
from pathlib import Path
from typing import Any

import ipywidgets as widgets

#: The buttons: label, what they export (:func:`svetlana_nb.prediction.export`), tooltip.
BUTTONS = (
    ("Table (CSV)", "table", "objects.csv: class, probabilities, measurements"),
    ("Class image", "classes", "<image>_classes.tif: 0 background, k + 1 class k"),
    ("Class masks", "masks", "<image>_<class>.tif: one label image per class"),
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

    def __init__(self, folder: Path, export: Callable[..., Any]) -> None:
        self.folder_text = widgets.Text(
            value=str(folder),
            description="Export to",
            layout=widgets.Layout(width="360px"),
            style={"description_width": "65px"},
            tooltip="Folder the exports are written to",
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
            [self.folder_text, *self.buttons, self.status],
            layout=widgets.Layout(align_items="center", flex_flow="row wrap"),
        )
