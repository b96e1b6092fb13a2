"""Laptop layout (issue 17, UI finding 7): at 1100 × 750 with the file browser open, what a click
shows stays beside the image, and the Trainer's lines are neither clipped nor broken.

Also run at 1600 × 1000, where the image shows at its full pixel size. Screenshots go to
``test-artifacts/laptop-*.png``.
"""

from __future__ import annotations

import pytest
from lab import canvas_element, click_canvas_pixel, kernel_eval, run_cells, save_screenshot, wait_until

pytestmark = pytest.mark.browser

CELLS = [
    """
import numpy as np
import svetlana_nb as sv
demo = sv.data.cells_2d()
objects = sv.Objects(demo.image, demo.mask)
ann = sv.Annotations(objects, demo.class_names)
for label in np.random.default_rng(0).choice(objects.labels, 60, replace=False):
    ann.add(int(label), demo.truth[int(label)])
clf = sv.Classifier(objects, model="random_forest")
clf.fit(ann)
trainer = sv.Trainer(sv.Classifier(objects), ann, epochs=3)
trainer
""",
    "viewer = sv.PredictionViewer(objects, clf.predict(objects), annotations=ann, classifier=clf)\nviewer",
    'annotator = sv.Annotator(objects, ann, mode="click")\nannotator',
    'print("LAPTOP" + "-READY")',
]

# a large object in the middle of the image, where a click cannot miss it
PICK = "int(np.argmax(objects.area * (np.abs(objects.centres - 256).max(1) < 120)))"


def _box(locator):
    box = locator.bounding_box()
    assert box is not None, locator
    return box


def _beside(left, right):
    """``right`` starts right of ``left`` and overlaps it vertically (same row, not wrapped)."""
    return right["x"] >= left["x"] + left["width"] - 2 and right["y"] < left["y"] + left["height"]


@pytest.mark.parametrize("size", [(1100, 750), (1600, 1000)])
def test_laptop_layout(browser_page, lab_server, tmp_path, size):
    page = browser_page
    page.set_viewport_size({"width": size[0], "height": size[1]})
    run_cells(page, lab_server, CELLS, tmp_path / f"laptop{size[0]}.ipynb", "LAPTOP-READY")
    if not page.locator(".jp-FileBrowser").is_visible():
        page.keyboard.press("Control+Shift+F")
    page.locator(".jp-FileBrowser").wait_for(state="visible")
    page.wait_for_timeout(500)  # the notebook relays out beside the file browser
    output_width = _box(page.locator(".jp-OutputArea-output").first)["width"]

    # the viewer: click an object; its panel (probabilities, corrections) is beside the image
    viewer = page.locator(".svetlana-prediction-viewer")
    canvas = canvas_element(viewer.locator(".svnb-overview-canvas"))
    canvas.scroll_into_view_if_needed()
    row = kernel_eval(page, PICK)
    cx, cy = kernel_eval(page, f"viewer.overview.to_canvas(*(objects.centres[{row}] + 0.5))")
    click_canvas_pixel(page, canvas, cx, cy)
    label = kernel_eval(page, f"int(objects.labels[{row}])")
    wait_until(lambda: kernel_eval(page, "viewer.selected") == ["image", label], timeout=60, message="the object")
    panel = viewer.locator(".svetlana-object-panel")
    viewer.locator(".svetlana-probabilities").wait_for(timeout=60_000)
    image_box, panel_box = _box(canvas), _box(panel)
    assert _beside(image_box, panel_box), (image_box, panel_box, output_width)
    corrections = panel.locator("button").last
    save_screenshot(page, f"laptop-viewer-{size[0]}")
    assert _box(corrections)["y"] + _box(corrections)["height"] <= size[1], "correction buttons off-screen"
    width = canvas.evaluate("c => c.width")
    if size[0] >= 1600:
        assert abs(image_box["width"] - width) <= 2  # full pixel size where there is room
    else:
        assert 300 <= image_box["width"] < width  # shrunk to fit, not wrapped
    assert abs(image_box["height"] / image_box["width"] - canvas.evaluate("c => c.height / c.width")) < 0.01
    save_screenshot(page, f"laptop-viewer-{size[0]}")

    # the annotator in click mode: the class buttons stay beside the image
    annotator = page.locator(".svnb-annotator")
    overview = canvas_element(annotator.locator(".svnb-overview-canvas"))
    overview.scroll_into_view_if_needed()
    assert _beside(_box(overview), _box(annotator.locator(".svnb-class-0")))
    save_screenshot(page, f"laptop-annotator-{size[0]}")

    # the Trainer: the status line is not clipped, the device fits on its line
    trainer = page.locator(".svetlana-trainer")
    trainer.scroll_into_view_if_needed()
    status = trainer.locator(".svnb-status")
    assert status.evaluate("e => e.scrollWidth <= e.clientWidth + 1"), "status line clipped"
    assert _box(trainer.locator(".svnb-device"))["height"] < 30, "device label broken over lines"
    assert _box(trainer)["width"] <= output_width + 1
    assert trainer.locator(".svnb-advanced").is_visible()
    assert not trainer.locator("text=Learning rate").is_visible()  # folded under Advanced
    trainer.locator(
        ".svnb-advanced .jupyter-widget-Collapse-header, .svnb-advanced .p-Collapse-header, "
        ".svnb-advanced .lm-Collapse-header"
    ).first.click()
    trainer.locator("text=Learning rate").wait_for(state="visible")
    save_screenshot(page, f"laptop-trainer-{size[0]}")

    # issue 19: the viewer's proportions section, corrected out of fold, with intervals and a plot
    section = viewer.locator(".svnb-proportions-box")
    section.scroll_into_view_if_needed()
    section.locator(".jupyter-widget-Collapse-header, .lm-Collapse-header, .p-Collapse-header").first.click()
    section.locator("button", has_text="Estimate proportions").click()
    table = section.locator("table.svnb-proportions")
    table.wait_for(timeout=120_000)
    assert "95 % interval" in table.inner_text() and "healthy" in table.inner_text()
    plot = section.locator("img").first
    wait_until(lambda: plot.evaluate("i => i.naturalWidth") > 100, timeout=30, message="the proportions plot")
    assert _box(plot)["width"] <= output_width + 1
    for name in ("Estimate proportions", "Stop"):  # a long status line once squeezed them to "Es…"
        button = section.locator("button", has_text=name)
        assert button.evaluate("b => b.scrollWidth <= b.clientWidth + 1"), f"{name} button squeezed"
    plot.scroll_into_view_if_needed()
    save_screenshot(page, f"laptop-proportions-{size[0]}")
    assert page.page_errors == []
