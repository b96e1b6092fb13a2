"""The annotator in real JupyterLab: buttons, keys on the focused canvas, a click in click mode."""

from __future__ import annotations

import hashlib
import json

import numpy as np
import pytest
from lab import (
    ARTIFACTS,
    canvas_element,
    click_canvas_pixel,
    kernel_eval,
    read_canvas_pixels,
    run_cells,
    save_screenshot,
    wait_until,
)

pytestmark = pytest.mark.browser

SETUP = """
import svetlana_nb as sv
demo = sv.data.cells_2d(shape=(192, 192), n_objects=20, seed=1)
objects = sv.Objects(demo.image, demo.mask)
"""
CELLS = [
    SETUP,
    'annotator = sv.Annotator(objects, demo.class_names, autosave="annotations.json", seed=0,\n'
    "                         size=280)\nannotator",
    'print("ANNOTATOR" + "-READY")',
]
AUTOSAVE = "annotations.json"


def _records(path):
    if not path.exists():
        return None
    content = json.loads(path.read_text())
    return {(r["image"], r["label"]): r["class"] for r in content["annotations"]}


def _cells_state(page):
    return page.evaluate("""() => {
        const nb = window.jupyterapp.shell.currentWidget;
        const cells = nb.content.model.cells;
        const types = [];
        for (let i = 0; i < cells.length; i++) types.push(cells.get(i).type);
        return types;
    }""")


def _canvas_md5(locator):
    return hashlib.md5(read_canvas_pixels(locator).tobytes()).hexdigest()


def test_annotator_in_jupyterlab(browser_page, lab_server, tmp_path):
    page = browser_page
    run_cells(page, lab_server, CELLS, tmp_path / "annotator.ipynb", "ANNOTATOR-READY")
    autosave = lab_server.root_dir / AUTOSAVE

    # the same objects and proposal order as in the kernel
    scope = {}
    exec(SETUP, scope)
    objects = scope["objects"]
    order = [objects.key(int(r)) for r in np.random.default_rng(0).permutation(len(objects))]

    crop = canvas_element(page.locator(".svnb-crop-canvas"))
    wait_until(lambda: read_canvas_pixels(crop).any(), timeout=60, message="the first crop")
    # the pixels shown are exactly the frame the kernel rendered (PNG, not JPEG)
    sent = kernel_eval(page, "__import__('hashlib').md5(annotator._frame.tobytes()).hexdigest()")
    assert _canvas_md5(crop) == sent

    # five labels with the class buttons
    classes = ["healthy", "fragmented", "fragmented", "healthy", "fragmented"]
    for name in classes:
        page.locator(f".svnb-class-{['healthy', 'fragmented'].index(name)}").click()
    wait_until(lambda: len(_records(autosave) or {}) == 5, timeout=60, message="5 labels saved")
    page.locator(".svnb-progress", has_text="5").wait_for()

    # two labels with keys on the focused canvas; JupyterLab's command keys must not fire
    cells_before = _cells_state(page)
    focused = "() => document.activeElement.classList.contains('svnb-crop-canvas')"
    wait_until(lambda: page.evaluate(focused), timeout=30, message="the crop canvas focused again after a button click")
    page.keyboard.press("2")
    wait_until(lambda: len(_records(autosave) or {}) == 6, timeout=60, message="6 labels saved")
    click_canvas_pixel(page, crop, 5, 5)
    assert page.evaluate(focused)
    page.keyboard.press("1")
    for key in ("a", "b", "m", "r", "y"):  # notebook command-mode shortcuts, not classes
        page.keyboard.press(key)
    wait_until(lambda: len(_records(autosave) or {}) == 7, timeout=60, message="7 labels saved")
    classes += ["fragmented", "healthy"]
    assert _cells_state(page) == cells_before == ["code"] * len(CELLS)
    assert page.evaluate("() => document.activeElement.tagName") == "CANVAS"
    page.locator(".svnb-thumbnails-canvas").scroll_into_view_if_needed()
    save_screenshot(page, "annotator")

    # click mode: select an object on the image, label it with a class button
    page.locator(".svnb-mode select").select_option(label="Click on the image")
    view = canvas_element(page.locator(".svnb-overview-canvas"))
    wait_until(lambda: read_canvas_pixels(view).any(), timeout=60, message="the overview")
    annotated = set(order[:7])
    row = next(
        r
        for r in range(len(objects))
        if objects.key(r) not in annotated and 20 < objects.centres[r][0] < 172 and 20 < objects.centres[r][1] < 172
    )
    y, x = objects.centres[row]
    width = view.evaluate("c => c.width")
    click_canvas_pixel(page, view, x * width / 192, y * width / 192)
    wait_until(
        lambda: kernel_eval(page, "annotator.current") == list(objects.key(row)),
        timeout=60,
        message="the clicked object selected",
    )
    page.locator(".svnb-class-1").click()
    wait_until(lambda: len(_records(autosave) or {}) == 8, timeout=60, message="8 labels saved")

    expected = dict(zip(order[:7], classes))
    expected[objects.key(row)] = "fragmented"
    assert _records(autosave) == expected
    # the object is tinted with its class colour on the canvas
    tint = kernel_eval(page, "__import__('svetlana_nb').display.class_color(1)")
    rgb = [int(tint[i : i + 2], 16) for i in (1, 3, 5)]

    def tinted():
        pixel = read_canvas_pixels(view)[int(y * width / 192), int(x * width / 192), :3]
        return np.abs(pixel.astype(int) - rgb).max() < 90 and pixel.tolist()

    wait_until(tinted, timeout=30, message="the class tint")
    page.locator(".svnb-annotator").screenshot(path=str(ARTIFACTS / "annotator-click.png"))

    # wheel zoom over the image: a burst of events, drawn (deferred) in the kernel's loop
    label = page.locator(".svnb-zoom-label")
    before = label.inner_text()
    box = view.bounding_box()
    page.mouse.move(box["x"] + box["width"] / 2, box["y"] + box["height"] / 2)
    for _ in range(3):
        page.mouse.wheel(0, -100)
    wait_until(
        lambda: label.inner_text() not in ("", before), timeout=30, message="the zoom label redrawn after wheel zoom"
    )
    assert kernel_eval(page, "annotator.overview.scale") < 192 / width
    assert page.page_errors == []
