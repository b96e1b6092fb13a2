"""Keyboard focus survives a class-button click: no key is lost (issue 17, UI finding 9).

A user alternates between the class buttons and the number keys as fast as they can. Before
the fix, a key pressed right after a click went to the button (it had taken the focus in the
browser, and only the kernel's round trip gave it back to the canvas) and was lost, or reached
JupyterLab's command-mode shortcuts.
"""

from __future__ import annotations

import json

import pytest
from lab import canvas_element, read_canvas_pixels, run_cells, save_screenshot, wait_until

pytestmark = pytest.mark.browser

AUTOSAVE = "focus.json"
CELLS = [
    "import svetlana_nb as sv\n"
    "demo = sv.data.cells_2d(shape=(256, 256), n_objects=60, seed=3)\n"
    "objects = sv.Objects(demo.image, demo.mask)",
    f'annotator = sv.Annotator(objects, demo.class_names, autosave="{AUTOSAVE}", seed=0, size=240)\nannotator',
    'print("FOCUS" + "-READY")',
]


def _labels(path):
    if not path.exists():
        return []
    return json.loads(path.read_text())["annotations"]


def test_fifty_alternating_clicks_and_keys_lose_nothing(browser_page, lab_server, tmp_path):
    page = browser_page
    run_cells(page, lab_server, CELLS, tmp_path / "focus.ipynb", "FOCUS-READY")
    autosave = lab_server.root_dir / AUTOSAVE
    crop = canvas_element(page.locator(".svnb-crop-canvas"))
    wait_until(lambda: read_canvas_pixels(crop).any(), timeout=60, message="the first crop")
    crop.click()
    cells_before = page.locator(".jp-Cell").count()

    # 25 rounds of a class-button click followed at once by a key: 50 labels, alternating classes
    for i in range(25):
        page.locator(f".svnb-class-{i % 2}").click()
        page.keyboard.press(str(2 - i % 2))
    wait_until(lambda: len(_labels(autosave)) == 50, timeout=120, message="50 labels saved")
    records = _labels(autosave)
    # every click gave class i % 2, every key the other one: 25 of each
    classes = [r["class"] for r in records]
    assert sorted(classes.count(name) for name in set(classes)) == [25, 25]
    # no key reached the notebook's command mode (e.g. "1" turning the cell into a heading)
    assert page.locator(".jp-Cell").count() == cells_before
    assert page.locator(".jp-MarkdownCell").count() == 0
    assert page.evaluate("() => document.activeElement.classList.contains('svnb-crop-canvas')")
    save_screenshot(page, "annotator-focus-stress")
