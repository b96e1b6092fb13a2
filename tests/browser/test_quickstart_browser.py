"""notebooks/quickstart.ipynb run in JupyterLab in headless Chromium, with its widgets rendered.

"Run all" goes through unattended (the fallback cells annotate and start training), with short
training (``SVNB_FAST=1``, set in the kernel before running). The test then checks that the
annotator, the trainer's live curves and the prediction overlay are drawn in the page, that the
front end raised no error, and saves ``test-artifacts/quickstart.png`` (the notebook at the
prediction viewer), ``test-artifacts/quickstart-trainer.png`` and
``test-artifacts/quickstart-prediction.png`` (the viewer alone, with an object selected: the
README picture; copy it to ``docs/images/prediction.png`` when the widgets change).
"""

from __future__ import annotations

import re

import numpy as np
import pytest
from lab import (
    ARTIFACTS,
    click_canvas_pixel,
    kernel_eval,
    open_notebook,
    read_canvas_pixels,
    run_all_cells,
    run_in_kernel,
    save_screenshot,
    wait_until,
)

pytestmark = pytest.mark.browser

QUICKSTART = ARTIFACTS.parent / "notebooks" / "quickstart.ipynb"


def layers(locator) -> list:
    """The ``<canvas>`` elements of a Canvas or MultiCanvas widget."""
    if locator.evaluate("el => el.tagName === 'CANVAS'"):
        return [locator]
    canvases = locator.locator("canvas")
    return [canvases.nth(i) for i in range(canvases.count())]


def drawn(locator) -> bool:
    """Whether a canvas widget shows something other than one flat colour."""
    for canvas in layers(locator):
        pixels = read_canvas_pixels(canvas)
        if pixels[..., 3].any() and np.ptp(pixels[..., :3].reshape(-1, 3), axis=0).max() > 20:
            return True
    return False


def coloured_pixels(locator) -> int:
    """Number of visible, strongly coloured (not grey) pixels over all layers of a canvas."""
    total = 0
    for canvas in layers(locator):
        rgb = read_canvas_pixels(canvas).astype(int)
        total += int(((rgb[..., 3] > 0) & (np.abs(rgb[..., 0] - rgb[..., 2]) > 60)).sum())
    return total


def test_quickstart_runs_in_lab_with_widgets(browser_page, lab_server):
    page = browser_page
    name = open_notebook(page, lab_server, QUICKSTART)
    run_in_kernel(page, "import os; os.environ['SVNB_FAST'] = '1'")
    run_all_cells(page, lab_server, name, "objects not annotated:", timeout=420)

    accuracy = page.locator(".jp-OutputArea-output", has_text="objects not annotated:").first
    percent = float(re.search(r"not annotated: ([\d.]+)%", accuracy.inner_text()).group(1))
    assert percent >= 75

    # Every widget view rendered (no "Error displaying widget" / "Loading widget..." left).
    outputs = page.locator(".jp-OutputArea-output")
    assert outputs.filter(has_text="Error displaying widget").count() == 0
    assert page.locator(".jupyter-widgets").count() >= 20

    # The annotator: its crop canvas shows an object.
    annotator = page.locator(".svnb-annotator")
    annotator.wait_for()
    wait_until(lambda: drawn(annotator.locator(".svnb-crop-canvas")), timeout=60, message="the annotator's crop")
    assert "40" in annotator.locator(".svnb-progress").inner_text()

    # The trainer: live curves drawn as bqplot lines, one point per epoch.
    trainer = page.locator(".svetlana-trainer")
    line = trainer.locator("svg path.line").first
    epochs = kernel_eval(page, "len(trainer.history.epoch)")
    wait_until(
        lambda: len(re.findall(r"[ML]", line.get_attribute("d") or "")) == epochs,
        timeout=60,
        message=f"{epochs} points on the loss curve",
    )
    assert trainer.locator("svg path.line").count() >= 2
    trainer.screenshot(path=str(ARTIFACTS / "quickstart-trainer.png"))

    # The prediction viewer: the overlay is drawn, the legend counts every object.
    viewer = page.locator(".svetlana-prediction-viewer")
    canvas = viewer.locator(".svnb-overview-canvas")
    wait_until(
        lambda: coloured_pixels(canvas) > 1000, timeout=60, message="the prediction overlay (objects in class colours)"
    )
    legend = viewer.locator(".svetlana-legend").inner_text()
    counts = [int(n) for n in re.findall(r":\s*(\d+)", legend)[:2]]
    assert sum(counts) == 160, legend

    viewer.scroll_into_view_if_needed()
    save_screenshot(page, "quickstart")

    # Select a confidently predicted object: its probabilities and Grad-CAM show in the panel.
    row = kernel_eval(page, "int(np.argmax(prediction.confidence))")
    cx, cy = kernel_eval(page, f"viewer.overview.to_canvas(*(objects.centres[{row}] + 0.5))")
    click_canvas_pixel(page, canvas, cx, cy)
    viewer.locator(".svetlana-probabilities").wait_for(timeout=60_000)
    label = kernel_eval(page, f"int(objects.labels[{row}])")
    assert kernel_eval(page, "viewer.selected[1]") == label
    images = viewer.locator(".svetlana-object-panel img")
    wait_until(
        lambda: (
            images.count() >= 2
            and all(images.nth(i).evaluate("im => im.complete && im.naturalWidth > 0") for i in range(2))
        ),
        timeout=60,
        message="the object's crop and Grad-CAM images",
    )
    box, display = viewer.bounding_box(), viewer.locator(".svnb-display").bounding_box()
    page.screenshot(
        path=str(ARTIFACTS / "quickstart-prediction.png"),
        clip={
            "x": box["x"],
            "y": box["y"],
            "width": box["width"],
            "height": display["y"] + display["height"] - box["y"],
        },
    )  # without the export row

    assert page.page_errors == [], page.page_errors
