"""The App's Check tab in real JupyterLab: after a training, opening it shows the QC gallery of
the new prediction, and a click on a thumbnail then on a class button annotates that object in
the annotations the other tabs share (at 1100 x 750 and 1600 x 1000)."""

from __future__ import annotations

import pytest
from lab import click_canvas_pixel, kernel_eval, run_cells, save_screenshot, wait_until

pytestmark = pytest.mark.browser

CELLS = [
    """
import numpy as np
import svetlana_nb as sv

demo = sv.data.cells_2d()
app = sv.App(demo.image, demo.mask, demo.class_names)
for label in np.random.default_rng(1).choice(app.objects.labels, 40, replace=False):
    app.annotations.add(int(label), demo.truth[int(label)])
app.trainer.model = "random_forest"
app
""",
    'print("CHECK" + "-READY")',
]


@pytest.mark.parametrize("size", [(1100, 750), (1600, 1000)], ids=["1100x750", "1600x1000"])
def test_the_check_tab_shows_the_gallery_of_the_new_prediction_and_annotates(size, browser_page, lab_server, tmp_path):
    page = browser_page
    page.set_viewport_size({"width": size[0], "height": size[1]})
    run_cells(page, lab_server, CELLS, tmp_path / "check.ipynb", "CHECK-READY", timeout=300)
    app = page.locator(".svetlana-app")
    app.get_by_role("tab", name="Check").click()
    app.get_by_text("After a training, the objects worth checking appear here").wait_for()

    app.get_by_role("tab", name="Train").click()
    app.locator(".svetlana-trainer button", has_text="Start").click()
    wait_until(lambda: kernel_eval(page, "app.prediction is not None"), timeout=300, interval=0.5, message="predicted")
    app.get_by_role("tab", name="Check").click()
    canvases = app.locator(".svnb-qc-canvas")
    wait_until(lambda: canvases.count() >= 4, timeout=60, interval=0.3, message="the gallery's blocks")
    assert kernel_eval(page, "app.gallery.prediction is app.prediction")
    save_screenshot(page, f"app-check-{size[0]}x{size[1]}")

    row = kernel_eval(page, "int(app.gallery.grids[1].rows[0])")
    canvases.nth(1).scroll_into_view_if_needed()
    click_canvas_pixel(page, canvases.nth(1), 36, 36)
    wait_until(
        lambda: kernel_eval(page, f"app.gallery.selected == app.objects.key({row})"),
        timeout=60,
        interval=0.3,
        message="the clicked object selected",
    )
    before = kernel_eval(page, f"app.annotations.get(app.objects.key({row}))")
    name = "healthy" if before == "fragmented" else "fragmented"
    button = app.locator(".svetlana-object-panel").get_by_role("button", name=name, exact=True)
    button.scroll_into_view_if_needed()
    button.click()
    wait_until(
        lambda: kernel_eval(page, f"app.annotations.get(app.objects.key({row}))") == name,
        timeout=60,
        interval=0.3,
        message="the annotation written into the shared annotations",
    )
    save_screenshot(page, f"app-check-annotated-{size[0]}x{size[1]}")
    assert kernel_eval(page, "len(app.gallery.errors.errors)") == 0
    assert "Traceback" not in page.inner_text("body")
    assert page.page_errors == []
