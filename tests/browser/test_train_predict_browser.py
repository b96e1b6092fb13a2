"""Train from the Trainer's Start button, then inspect an object in the prediction view (Lab)."""

from __future__ import annotations

import re

import pytest
from lab import (
    ARTIFACTS,
    canvas_element,
    click_canvas_pixel,
    kernel_eval,
    run_cells,
    wait_until,
)

pytestmark = pytest.mark.browser

CELLS = [
    """
import threading
import numpy as np
import svetlana_nb as sv

demo = sv.data.cells_2d()
objects = sv.Objects(demo.image, demo.mask)
ann = sv.Annotations(objects, demo.class_names)
for label in np.random.default_rng(0).choice(objects.labels, 80, replace=False):
    ann.add(int(label), demo.truth[int(label)])
trainer = sv.Trainer(sv.Classifier(objects), ann, epochs=30)
trainer
""",
    """
viewer = sv.PredictionViewer(objects, None, annotations=ann)

def show_prediction(clf, history):
    def work():
        viewer.classifier = clf
        viewer.prediction = clf.predict(objects)
    threading.Thread(target=work).start()

trainer.on_trained(show_prediction)
viewer
""",
    'print("TRAIN" + "-READY")',
]

# A large, confidently "fragmented" object away from the border: a telling Grad-CAM.
PICK = (
    "int(np.argmax(viewer.prediction.confidence * (viewer.prediction.class_index == 1)"
    " * (objects.area > np.median(objects.area))"
    " * (np.minimum(objects.bbox[:, :2], 512 - objects.bbox[:, 2:]).min(1) > 24)))"
)


def assert_not_squeezed(viewer) -> None:
    """The image canvas shows at its own pixel size (the side panel wraps, not the image)."""
    canvas = canvas_element(viewer.locator(".svnb-overview-canvas"))
    width, height = canvas.evaluate("c => [c.width, c.height]")
    box = canvas.bounding_box()
    assert abs(box["width"] - width) <= 2 and abs(box["height"] - height) <= 2, (box, width, height)


def n_points(d: str) -> int:
    """Points of an SVG path drawn with M/L commands."""
    return len(re.findall(r"[ML]", d))


def test_train_from_start_then_inspect_an_object(browser_page, lab_server, tmp_path):
    page = browser_page
    run_cells(page, lab_server, CELLS, tmp_path / "train_predict.ipynb", "TRAIN-READY")

    trainer = page.locator(".svetlana-trainer")
    trainer.locator("button", has_text="Start").click()
    wait_until(
        lambda: kernel_eval(page, "trainer.history is not None and not trainer.running"),
        timeout=300,
        interval=0.5,
        message="the end of training",
    )
    epochs = kernel_eval(page, "len(trainer.history.epoch)")
    assert 1 < epochs <= 30
    plot_ms = kernel_eval(page, "1e3 * float(np.median(trainer.monitor.plot_seconds))")
    print(f"live plot: median {plot_ms:.2f} ms per epoch in the training thread")

    # The training-loss line of the loss figure has one point per epoch (updated in place).
    line = trainer.locator("svg path.line").first
    wait_until(
        lambda: n_points(line.get_attribute("d") or "") == epochs,
        timeout=60,
        message=f"{epochs} points on the loss line",
    )
    trainer.locator(".widget-html", has_text="weights of epoch").first.wait_for()
    # UI finding 5: validation as counts with an interval, and the epoch whose weights were kept
    shown = trainer.inner_text()
    counted = re.search(r"(\d+) of (\d+) validation objects right \(95 % interval (\d+)%–(\d+)%\)", shown)
    assert counted, shown
    right, total, low, high = map(int, counted.groups())
    assert total == kernel_eval(page, "trainer.history.n_val") and low <= 100 * right / total <= high
    best = kernel_eval(page, "trainer.history.best_epoch")
    assert f"weights of epoch {best}" in shown
    ARTIFACTS.mkdir(exist_ok=True)
    trainer.screenshot(path=str(ARTIFACTS / "trainer.png"))

    # The prediction view fills once the background prediction is done; click an object on it.
    viewer = page.locator(".svetlana-prediction-viewer")
    viewer.locator(".svetlana-legend", has_text="fragmented:").wait_for(timeout=120_000)
    row = kernel_eval(page, PICK)
    cx, cy = kernel_eval(page, f"viewer.overview.to_canvas(*(objects.centres[{row}] + 0.5))")
    assert_not_squeezed(viewer)
    click_canvas_pixel(page, viewer.locator(".svnb-overview-canvas"), cx, cy)
    panel = viewer.locator(".svetlana-probabilities")
    panel.wait_for(timeout=60_000)
    assert "%" in panel.inner_text() and "fragmented" in panel.inner_text()
    label = kernel_eval(page, f"int(objects.labels[{row}])")
    assert kernel_eval(page, "viewer.selected") == ["image", label]
    viewer.locator(".svetlana-object-panel img").first.wait_for()
    page.wait_for_timeout(500)  # let the canvas paint the selection ring
    viewer.screenshot(path=str(ARTIFACTS / "prediction.png"))
    assert page.page_errors == []


APP_CELLS = [
    """
import numpy as np
import svetlana_nb as sv

demo = sv.data.cells_2d()
app = sv.App(demo.image, demo.mask, demo.class_names)
for label in np.random.default_rng(1).choice(app.objects.labels, 60, replace=False):
    app.annotations.add(int(label), demo.truth[int(label)])
app.trainer.controls.epochs.value = "15"
app
""",
    'print("APP" + "-READY")',
]


def test_app_trains_then_shows_the_prediction_tab(browser_page, lab_server, tmp_path):
    page = browser_page
    run_cells(page, lab_server, APP_CELLS, tmp_path / "app.ipynb", "APP-READY")
    app = page.locator(".svetlana-app")
    app.get_by_role("tab", name="Train").click()
    app.locator(".svetlana-trainer button", has_text="Start").click()
    wait_until(
        lambda: kernel_eval(page, "app.prediction is not None"),
        timeout=300,
        interval=0.5,
        message="the App's prediction after training",
    )
    app.get_by_role("tab", name="Predict").click()
    app.locator(".svetlana-app-status", has_text="Predicted 160 objects").wait_for()
    app.locator(".svetlana-legend", has_text="healthy:").wait_for()
    assert_not_squeezed(app.locator(".svetlana-prediction-viewer"))
    ARTIFACTS.mkdir(exist_ok=True)
    app.screenshot(path=str(ARTIFACTS / "app-predict.png"))
    assert page.page_errors == []
