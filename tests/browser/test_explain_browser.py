"""Clicking an object in the prediction view shows its evidence map, or says that there is none.

At a laptop's 1100 x 750 and a desktop's 1600 x 1000: an infected cell of the infected-cells demo,
explained by a trained network, shows the map beside the crop; explained by a network whose output
is constant, the panel shows the "No evidence" sentence and no map.
"""

from __future__ import annotations

import pytest
from lab import click_canvas_pixel, kernel_eval, run_cells, save_screenshot, wait_until

pytestmark = pytest.mark.browser

CELLS = [
    """
import copy
import numpy as np
import torch
import svetlana_nb as sv
from svetlana_nb.models.explain import explain_network

demo = sv.data.infected_cells_2d(seed=0)
objects = sv.Objects(demo.image, demo.mask, channel_axis=-1)
ann = sv.Annotations(objects, demo.class_names)
for label in np.random.default_rng(0).permutation(objects.labels)[:60]:
    ann.add(int(label), demo.truth[int(label)])
clf = sv.Classifier(objects, seed=0)
clf.fit(ann, epochs=40)
prediction = clf.predict(objects)
truth = demo.truth_for(objects.labels)
# an infected cell, predicted infected, away from the border, whose map carries evidence
border = np.minimum(objects.bbox[:, :2], np.array(demo.mask.shape) - objects.bbox[:, 2:]).min(1)
rows = [r for r in np.flatnonzero((truth == "infected") & (prediction.class_index == 1) & (border > 24))
        if explain_network(clf, objects, int(objects.labels[r])).evidence]
ROW = int(rows[0])
OTHER = int(rows[1])
constant = copy.copy(clf)  # the same classifier, with a network whose output is constant
constant.backend = copy.copy(clf.backend)
constant.backend.network = copy.deepcopy(clf.network)
with torch.no_grad():
    constant.network.classifier.weight.zero_()
viewer = sv.PredictionViewer(objects, prediction, classifier=clf)
viewer
""",
    'print("EXPLAIN" + "-READY")',
]


def click_row(page, viewer, row: int) -> None:
    """Click the centre of object ``row`` on the overview canvas, and wait until it is selected."""
    cx, cy = kernel_eval(page, f"viewer.overview.to_canvas(*(objects.centres[{row}] + 0.5))")
    click_canvas_pixel(page, viewer.locator(".svnb-overview-canvas"), cx, cy)
    label = kernel_eval(page, f"int(objects.labels[{row}])")
    wait_until(
        lambda: kernel_eval(page, "viewer.selected and viewer.selected[1]") == label,
        timeout=60,
        interval=0.3,
        message=f"object {label} selected",
    )


@pytest.mark.parametrize("size", [(1100, 750), (1600, 1000)], ids=["1100x750", "1600x1000"])
def test_click_shows_the_map_or_says_there_is_no_evidence(size, browser_page, lab_server, tmp_path):
    page = browser_page
    page.set_viewport_size({"width": size[0], "height": size[1]})
    run_cells(page, lab_server, CELLS, tmp_path / "explain.ipynb", "EXPLAIN-READY", timeout=300)
    viewer = page.locator(".svetlana-prediction-viewer")
    panel = viewer.locator(".svetlana-object-panel")

    click_row(page, viewer, kernel_eval(page, "ROW"))
    caption = panel.get_by_text("evidence for infected")
    caption.wait_for(timeout=60_000)
    images = panel.locator("img")
    wait_until(lambda: images.count() == 2, timeout=60, interval=0.3, message="the crop and the map")
    assert images.nth(1).is_visible() and panel.locator(".svetlana-no-evidence").count() == 0
    panel.scroll_into_view_if_needed()
    save_screenshot(page, f"explain-evidence-{size[0]}x{size[1]}")

    kernel_eval(page, "setattr(viewer, 'classifier', constant) or True")
    click_row(page, viewer, kernel_eval(page, "OTHER"))
    message = panel.locator(".svetlana-no-evidence")
    message.wait_for(timeout=60_000)
    assert "No evidence for" in message.inner_text()
    wait_until(lambda: images.count() == 1, timeout=60, interval=0.3, message="the crop alone, no map")
    message.scroll_into_view_if_needed()
    assert message.is_visible()
    save_screenshot(page, f"explain-no-evidence-{size[0]}x{size[1]}")
    assert page.page_errors == []
