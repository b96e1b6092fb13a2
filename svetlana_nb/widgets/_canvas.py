"""Shared ipycanvas plumbing: sending RGBA frames, replaying them to new clients, errors.

Facts this module is built on (see ``shared/browser.md``):

- ``Canvas.put_image_data`` sends an (H, W, 3) array as JPEG (lossy); frames here are always
  (H, W, 4) RGBA and go as PNG (exact), or as JPEG only when asked for (the click-mode base
  image, where size matters more than exactness).
- Draw commands sent before the front end is connected are lost, so a :class:`Painter` keeps
  the last frame of every layer, sends nothing before the first ``client_ready`` and replays
  everything on each ``client_ready``.
- Callbacks of ipywidgets swallow exceptions; :class:`ErrorArea` shows them in the widget.
"""

from __future__ import annotations

import functools
import io
import threading
import traceback
from collections.abc import Callable, Sequence
from typing import Any, Literal

import ipywidgets as widgets
import numpy as np
from ipycanvas import Canvas, hold_canvas
from PIL import Image

try:  # the binary draw command, to send bytes we encoded ourselves (faster PNG settings)
    from ipycanvas.canvas import COMMANDS as _COMMANDS
except ImportError:  # pragma: no cover - older/newer ipycanvas: fall back to put_image_data
    _COMMANDS = None

ImageFormat = Literal["png", "jpeg"]


def encode_image(rgba: np.ndarray, *, fmt: ImageFormat = "png", quality: int = 90, compress_level: int = 1) -> bytes:
    """Encode an RGBA frame for the canvas.

    Parameters
    ----------
    rgba : numpy.ndarray, uint8, shape (H, W, 4)
    fmt : {"png", "jpeg"}
        PNG is exact (RGB when every pixel is opaque); JPEG drops the alpha channel and is
        lossy but far smaller for noisy images.
    quality : int
        JPEG quality.
    compress_level : int
        PNG zlib level (1 is faster than PIL's default 6 for about the same size on magnified
        crops; ``docs/decisions.md``).

    Returns
    -------
    bytes
    """
    rgba = np.ascontiguousarray(rgba, dtype=np.uint8)
    if rgba.ndim != 3 or rgba.shape[2] != 4:
        raise ValueError(f"rgba: expected shape (H, W, 4), got {rgba.shape}")
    buffer = io.BytesIO()
    if fmt == "jpeg":
        Image.fromarray(rgba[..., :3]).save(buffer, "JPEG", quality=int(quality))
    elif fmt == "png":
        opaque = bool((rgba[..., 3] == 255).all())  # an RGB PNG is smaller and faster
        image = Image.fromarray(np.ascontiguousarray(rgba[..., :3]) if opaque else rgba, "RGB" if opaque else "RGBA")
        image.save(buffer, "PNG", compress_level=int(compress_level))
    else:
        raise ValueError(f"fmt: expected 'png' or 'jpeg', got {fmt!r}")
    return buffer.getvalue()


def decode_image(data: bytes) -> np.ndarray:
    """Decode bytes written by :func:`encode_image` back to (H, W, 4) uint8 (for tests)."""
    return np.asarray(Image.open(io.BytesIO(data)).convert("RGBA"))


class Painter:
    """Draw encoded frames on canvas layers, and replay them whenever a client connects.

    Parameters
    ----------
    ready_source : ipycanvas.Canvas or ipycanvas.MultiCanvas
        The widget whose ``client_ready`` event means the front end can draw.
    layers : sequence of ipycanvas.Canvas
        The layers frames go to (a Canvas is its own single layer).

    Attributes
    ----------
    ready : bool
        Whether a front end has connected (frames are only stored before that).
    bytes_sent, frames_sent : int
        Totals, for benchmarks.
    """

    def __init__(self, ready_source: Any, layers: Sequence[Canvas]) -> None:
        self.layers = list(layers)
        self.ready = False
        self.bytes_sent = 0
        self.frames_sent = 0
        self._last: dict[int, tuple[bytes, int, int, bool]] = {}
        self._listeners: list[Callable[[int, int], None]] = []
        ready_source.on_client_ready(self._on_client_ready)

    def on_sent(self, callback: Callable[[int, int], None], remove: bool = False) -> None:
        """Register ``callback(layer, n_bytes)``, called right after a frame is sent."""
        if remove:
            self._listeners.remove(callback)
        else:
            self._listeners.append(callback)

    def mark_ready(self) -> None:
        """Behave as if a client had connected (headless tests and benchmarks)."""
        self._on_client_ready()

    def _on_client_ready(self) -> None:
        self.ready = True
        with hold_canvas():
            for layer, (data, x, y, clear) in sorted(self._last.items()):
                self._send(layer, data, x, y, clear)

    def draw(
        self, rgba: np.ndarray, *, layer: int = 0, x: int = 0, y: int = 0, fmt: ImageFormat = "png", clear: bool = False
    ) -> int:
        """Encode ``rgba`` and draw it at canvas position (x, y) of ``layer``.

        Parameters
        ----------
        rgba : numpy.ndarray, uint8, shape (H, W, 4)
        layer : int
        x, y : int
        fmt : {"png", "jpeg"}
        clear : bool
            Clear the layer first (needed for transparent overlays).

        Returns
        -------
        int
            Encoded size in bytes.
        """
        data = encode_image(rgba, fmt=fmt)
        self._last[layer] = (data, int(x), int(y), clear)
        if self.ready:
            self._send(layer, data, int(x), int(y), clear)
        return len(data)

    def clear(self, layer: int = 0) -> None:
        """Erase a layer (and forget its frame)."""
        self._last.pop(layer, None)
        if self.ready:
            self.layers[layer].clear()

    def _send(self, layer: int, data: bytes, x: int, y: int, clear: bool) -> None:
        canvas = self.layers[layer]
        with hold_canvas():
            if clear:
                canvas.clear()
            if _COMMANDS is not None:
                canvas._canvas_manager.send_draw_command(canvas, _COMMANDS["putImageData"], [x, y], [data])
            else:  # pragma: no cover
                canvas.put_image_data(decode_image(data), x, y)
        self.bytes_sent += len(data)
        self.frames_sent += 1
        for callback in list(self._listeners):
            callback(layer, len(data))


def fixed_size(widget: widgets.DOMWidget, width: int, height: int) -> None:
    """Show a canvas at its own pixel size (no CSS stretching, so pixels stay sharp)."""
    widget.layout.width = f"{int(width)}px"
    widget.layout.height = f"{int(height)}px"
    widget.layout.min_width = f"{int(width)}px"
    widget.layout.flex = "0 0 auto"


def on_key(canvas: Any, callback: Callable[..., None]) -> None:
    """Route the canvas' ``key_down`` events to ``callback(key, shift=, ctrl=, meta=)``.

    ipycanvas' front end calls ``preventDefault`` and ``stopPropagation`` on key events of a
    focused canvas (it has ``tabindex=0`` and takes focus on mouse down).
    """

    def handler(key: str, shift: bool, ctrl: bool, meta: bool) -> None:
        callback(key, shift=bool(shift), ctrl=bool(ctrl), meta=bool(meta))

    canvas.on_key_down(handler)


def send_event(canvas: Any, event: str, **content: Any) -> None:
    """Feed a front-end event to a canvas as if it came from the browser (tests, scripts).

    Examples
    --------
    ``send_event(canvas, "mouse_down", x=10, y=20)``;
    ``send_event(canvas, "key_down", key="1")``.
    """
    message = {"event": event, **content}
    if event == "key_down":
        for name in ("shift_key", "ctrl_key", "meta_key"):
            message.setdefault(name, False)
    target = canvas._canvases[-1] if hasattr(canvas, "_canvases") else canvas
    target._handle_frontend_event(None, message, [])


class ErrorArea(widgets.Output):
    """An Output that shows errors of widget callbacks instead of losing them in the kernel log.

    Attributes
    ----------
    errors : list of BaseException
        Every error reported (tests assert on it).
    """

    def __init__(self, **kwargs: Any) -> None:
        super().__init__(**kwargs)
        self.errors: list[BaseException] = []
        self.add_class("svnb-errors")
        # One guarded callback at a time. ipykernel 7 may run the handlers of different widgets'
        # messages on different threads: a class button's click and a key on the canvas, handled
        # at once, both labelled the object shown and one label was lost (issue 17, UI finding 9).
        self._one_at_a_time = threading.RLock()

    #: Errors that answer something the user did or gave (bad input, a file changed, a disk full):
    #: shown as a plain message. Anything else is a bug, shown with its traceback to report.
    USER_ERRORS: tuple[type[BaseException], ...] = (ValueError, TypeError, KeyError, OSError, RuntimeError)

    def report(self, error: BaseException, context: str = "") -> None:
        """Show ``error``: a plain message for the user's errors, with the traceback for a bug."""
        self.errors.append(error)
        where = f" while {context}" if context else ""
        message = error.args[0] if isinstance(error, KeyError) and error.args else error
        if isinstance(error, self.USER_ERRORS):
            plain: tuple[dict[str, str], ...] = (
                {"output_type": "stream", "name": "stderr", "text": f"Could not go on{where}: {plain_error(error)}\n"},
            )
            self.outputs = plain
            return
        details = "".join(traceback.format_exception(type(error), error, error.__traceback__))
        self.outputs = (
            {
                "output_type": "stream",
                "name": "stderr",
                "text": f"Unexpected error{where} ({type(error).__name__}: "
                f"{message}); please report it with the details below\n",
            },
            {"output_type": "stream", "name": "stdout", "text": details[-3000:]},
        )

    def dismiss(self) -> None:
        """Clear the shown error (the history in :attr:`errors` is kept)."""
        if self.outputs:
            self.outputs = ()

    def guard(self, context: str) -> Callable[[Callable[..., Any]], Callable[..., Any]]:
        """Wrap a callback: run it after any other callback of this widget, and report its errors here.

        Callbacks guarded by one ErrorArea never run at the same time (a re-entrant lock), so a
        burst of clicks and keys acts in the order it arrives, one action after the other.
        """

        def decorate(function: Callable[..., Any]) -> Callable[..., Any]:
            @functools.wraps(function)
            def wrapper(*args: Any, **kwargs: Any) -> Any:
                try:
                    with self._one_at_a_time:
                        return function(*args, **kwargs)
                except Exception as error:  # noqa: BLE001 - shown to the user
                    self.report(error, context)
                    return None

            return wrapper

        return decorate


def plain_error(error: BaseException) -> str:
    """An error as a sentence for the user: the input it names in words, no exception class.

    ``"val_fraction: expected ..."`` becomes ``"Validation share: expected ..."``; errors that
    are bugs (not :data:`ErrorArea.USER_ERRORS`) keep their class name, to be reported.
    """
    text = str(error.args[0]) if isinstance(error, KeyError) and error.args else str(error)
    name, sep, rest = text.partition(": ")
    if sep and name.isidentifier():
        text = f"{OPTION_WORDS.get(name, name.replace('_', ' ').capitalize())}: {rest}"
    if not isinstance(error, ErrorArea.USER_ERRORS):
        text = f"{type(error).__name__}: {text}"
    return text


#: Option and parameter names, as the Trainer's labels say them.
OPTION_WORDS = {
    "annotations": "Annotations",
    "val_fraction": "Validation share",
    "lr": "Learning rate",
    "batch_size": "Batch size",
    "weight_decay": "Weight decay",
    "early_stopping": "Stop early",
    "class_weight": "Balance the classes",
    "loss": "Loss",
    "epochs": "Epochs",
    "patience": "Patience",
    "seed": "Seed",
}
