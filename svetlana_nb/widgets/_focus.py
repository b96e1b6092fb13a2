"""Buttons that leave the keyboard focus where it is.

A click on a button moves the browser's focus to it on ``mousedown``. In the Annotator, the
image canvas holds the focus so that number keys label objects; the kernel gives the focus back
after each button click, but that takes a round trip, and a key pressed in between went to the
button and was lost (or reached JupyterLab's command-mode shortcuts). Cancelling the default
action of ``mousedown`` on such buttons keeps the focus where it was, while the ``click`` still
fires. ipywidgets has no hook for this, so a few lines of front-end code do it, shipped with
anywidget (the maintained way to write a widget's JavaScript without a build step).
"""

from __future__ import annotations

from typing import Any

import anywidget

#: CSS class of the buttons whose ``mousedown`` must not take the focus.
KEEPS_FOCUS = "svnb-keeps-focus"

_ESM = (
    """
function render({ el }) {
  el.style.display = "none";
  const keep = (event) => {
    const target = event.target;
    if (event.button === 0 && target && target.closest && target.closest(".%s")) {
      event.preventDefault();
    }
  };
  document.addEventListener("mousedown", keep, true);
  return () => document.removeEventListener("mousedown", keep, true);
}
export default { render };
"""
    % KEEPS_FOCUS
)


class FocusKeeper(anywidget.AnyWidget):
    """An invisible widget: while shown, buttons with :data:`KEEPS_FOCUS` do not take the focus."""

    _esm = _ESM


def keeps_focus(button: Any) -> Any:
    """Mark ``button`` so that clicking it leaves the keyboard focus where it was; return it."""
    button.add_class(KEEPS_FOCUS)
    return button
