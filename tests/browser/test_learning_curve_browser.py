""" "Do I need more labels?" in real JupyterLab (issue 19): open the Trainer's section, run the
curve, read the plain-language answer and see the plot, at 1100 × 750 and 1600 × 1000."""

from __future__ import annotations

import pytest
from lab import run_cells, save_screenshot, wait_until

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
trainer = sv.Trainer(sv.Classifier(objects, model="random_forest"), ann)
trainer
""",
    'print("CURVE" + "-READY")',
]


@pytest.mark.parametrize("size", [(1100, 750), (1600, 1000)])
def test_learning_curve_from_the_trainer(browser_page, lab_server, tmp_path, size):
    page = browser_page
    page.set_viewport_size({"width": size[0], "height": size[1]})
    run_cells(page, lab_server, CELLS, tmp_path / f"curve{size[0]}.ipynb", "CURVE-READY")
    section = page.locator(".svnb-learning-box")
    section.scroll_into_view_if_needed()
    button = section.locator("button", has_text="Do I need more labels?")
    assert not button.is_visible()  # closed until opened
    section.locator(".jupyter-widget-Collapse-header, .lm-Collapse-header, .p-Collapse-header").first.click()
    button.click()
    reading = section.locator(".svnb-curve-reading")
    wait_until(
        lambda: reading.inner_text().strip() != "", timeout=420, message="the reading"
    )  # three trainings; slow on a loaded machine
    text = reading.inner_text()
    assert text.startswith("flat:") or text.startswith("accuracy still rising:"), text
    plot = section.locator("img").first
    wait_until(lambda: plot.evaluate("i => i.naturalWidth") > 100, timeout=30, message="the curve's plot")
    assert "Done" in section.locator(".svnb-curve-status").inner_text()
    assert plot.bounding_box()["width"] <= page.locator(".jp-OutputArea-output").first.bounding_box()["width"] + 1
    plot.scroll_into_view_if_needed()
    save_screenshot(page, f"learning-curve-{size[0]}")
    assert page.page_errors == []
