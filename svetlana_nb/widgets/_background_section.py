"""``BackgroundSection``: a closed section whose button runs a long computation in the background.

The viewer's class proportions and the Trainer's learning curve both cost a few trainings: the
section shows a start button, a Stop (the computation checks it between trainings), a status
line for progress and errors, the results, and a plot shown at its own pixel width.
"""

from __future__ import annotations

import html
import io
import threading
from collections.abc import Callable, Sequence
from typing import Any

import ipywidgets as widgets

from ._canvas import plain_error


class BackgroundSection(widgets.Accordion):
    """A closed Accordion section: start button and Stop, a status line below, ``results`` and a plot.

    Parameters
    ----------
    title : str
        The section's title.
    button : dict
        ``description``, ``icon`` and ``tooltip`` of the start button.
    results : sequence of Widget
        Shown between the button row and the plot.
    name : str
        The CSS class of the section and prefix of its status line's (``svnb-<name>-status``).
    """

    def __init__(self, *, title: str, button: dict[str, str], results: Sequence[widgets.Widget], name: str) -> None:
        self.button = widgets.Button(**button, layout=widgets.Layout(width="auto"))
        self.stop_button = widgets.Button(
            description="Stop", icon="stop", disabled=True, layout=widgets.Layout(width="auto")
        )
        self.status = widgets.HTML()
        self.status.add_class(f"svnb-{name}-status")
        self.plot = widgets.Image(format="png", layout=widgets.Layout(max_width="100%", height="auto", display="none"))
        self.thread: threading.Thread | None = None
        self._stop = threading.Event()
        self.button.on_click(lambda _: self.start())
        self.stop_button.on_click(lambda _: self._stop.set())
        for control in (self.button, self.stop_button):
            control.layout.flex = "0 0 auto"  # never squeezed to "Es…" by a long status line
        row = widgets.HBox([self.button, self.stop_button], layout=widgets.Layout(align_items="center"))
        super().__init__(
            children=[widgets.VBox([row, self.status, *results, self.plot])], titles=(title,), selected_index=None
        )
        self.add_class(f"svnb-{name}-box")

    def start(self) -> threading.Thread | None:  # pragma: no cover - each section defines it
        """Start the computation, as the button does."""
        raise NotImplementedError

    def _launch(self, target: Callable[..., None], args: tuple[Any, ...], name: str) -> threading.Thread:
        """Run ``target(*args)`` in a daemon thread (or return the one running); buttons follow."""
        if self.thread is not None and self.thread.is_alive():
            return self.thread
        self._stop.clear()
        self.button.disabled, self.stop_button.disabled = True, False

        def run() -> None:
            try:
                target(*args)
            finally:
                self.button.disabled, self.stop_button.disabled = False, True

        self.thread = threading.Thread(target=run, daemon=True, name=name)
        self.thread.start()
        return self.thread

    def show_figure(self, figure: Any) -> None:
        """Show a matplotlib figure as a PNG at its own pixel width (no blur from stretching)."""
        buffer = io.BytesIO()
        figure.savefig(buffer, format="png", dpi=100, bbox_inches="tight")
        png = buffer.getvalue()
        self.plot.value = png
        self.plot.layout.width, self.plot.layout.display = f"{int.from_bytes(png[16:20], 'big')}px", ""

    def show_error(self, doing: str, error: BaseException) -> None:
        """Say in the status line, in red, that ``doing`` failed and why, in the user's words."""
        self.status.value = f"<span style='color:#b00020'>Could not {doing}: {html.escape(plain_error(error))}</span>"
