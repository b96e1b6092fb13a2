"""Harness smoke test: ipywidgets, ipycanvas and bqplot rendered and driven in real JupyterLab."""

from __future__ import annotations

import numpy as np
import pytest
from lab import (
    click_canvas_pixel,
    kernel_eval,
    read_canvas_pixels,
    run_cells,
    save_screenshot,
    wait_until,
)

pytestmark = pytest.mark.browser

# Run both in the notebook and here: the (40, 60, 4) RGBA image the canvas must show exactly.
RGBA_CODE = """
import numpy as np
_y, _x = np.mgrid[0:40, 0:60]
rgba = np.stack([_x * 4, _y * 6, (_x * 7 + _y * 3) % 256, np.full_like(_x, 255)], -1)
rgba = rgba.astype(np.uint8)
"""

CELLS = [
    RGBA_CODE,
    """
import bqplot as bq
import ipycanvas
import ipywidgets as widgets
from IPython.display import display

button = widgets.Button(description="Click me")
button.add_class("smoke-button")
label = widgets.Label("not clicked")
label.add_class("smoke-label")
clicks = []

def on_click(_):
    clicks.append(1)
    label.value = f"clicked {len(clicks)}"

button.on_click(on_click)

canvas = ipycanvas.Canvas(width=60, height=40, layout=widgets.Layout(width="180px"))
canvas.add_class("smoke-canvas")
canvas.on_client_ready(lambda: canvas.put_image_data(rgba, 0, 0))
mouse = []
canvas.on_mouse_down(lambda x, y: mouse.append((x, y)))

x = np.linspace(0, 1, 20)
scales = {"x": bq.LinearScale(), "y": bq.LinearScale()}
figure = bq.Figure(marks=[bq.Lines(x=x, y=x**2, scales=scales)],
                   layout=widgets.Layout(width="400px", height="250px"))
figure.add_class("smoke-figure")
display(widgets.VBox([widgets.HBox([button, label]), canvas, figure]))
""",
    'print("SMOKE" + "-READY")',
]


def test_widgets_render_and_respond_in_lab(browser_page, lab_server, tmp_path):
    page = browser_page
    timings = run_cells(page, lab_server, CELLS, tmp_path / "smoke.ipynb", "SMOKE-READY")
    print(f"timings: {timings}")

    # ipywidgets: a click reaches the kernel and the new label comes back to the DOM.
    page.locator(".smoke-button").click()
    page.locator(".smoke-label", has_text="clicked 1").wait_for()
    assert kernel_eval(page, "len(clicks)") == 1

    # bqplot: the line mark is drawn.
    line = page.locator(".smoke-figure svg path.line").first
    line.wait_for()
    assert len(line.get_attribute("d") or "") > 10

    # ipycanvas: the RGBA array arrives exactly (PNG), and a click lands on the right pixel.
    expected = {}
    exec(RGBA_CODE, expected)
    canvas = page.locator(".smoke-canvas")

    def drawn():
        pixels = read_canvas_pixels(canvas)
        return [pixels] if pixels.any() else None

    (pixels,) = wait_until(drawn, timeout=60, message="canvas pixels")
    np.testing.assert_array_equal(pixels, expected["rgba"])

    click_canvas_pixel(page, canvas, 37, 21)
    ((mx, my),) = wait_until(lambda: kernel_eval(page, "mouse"), timeout=60, message="mouse down")
    assert abs(mx - 37.5) <= 1 and abs(my - 21.5) <= 1

    save_screenshot(page, "smoke-lab")
    assert page.page_errors == []
