"""The Trainer's Second opinion box and model buttons, and the viewer's Export buttons, clicked in JupyterLab.

At the two window sizes users have most (a laptop, 1100 x 750, and a desktop, 1600 x 1000):
the box turns the classifier's second opinion off and on, the model buttons swap the
classifier, and the Export buttons write the files the command line writes, named after the image.
"""

from __future__ import annotations

import pytest
from lab import ARTIFACTS, kernel_eval, run_cells, wait_until

pytestmark = pytest.mark.browser

CELLS = [
    """
import numpy as np
import svetlana_nb as sv

demo = sv.data.cells_2d(shape=(256, 256), n_objects=40)
objects = sv.Objects(demo.image, demo.mask, name="well_A1.ome.tif")
ann = sv.Annotations(objects, demo.class_names)
for label in objects.labels[:20]:
    ann.add(("well_A1.ome.tif", int(label)), demo.truth[int(label)])
trainer = sv.Trainer(None, ann, epochs=3)
trainer
""",
    """
clf = sv.Classifier(objects, seed=0, second_opinion=None)
clf.fit(ann, epochs=2)
viewer = sv.PredictionViewer(objects, clf.predict(objects), classifier=clf)
viewer
""",
    'print("OPINION" + "-READY")',
]


@pytest.mark.parametrize("size", [(1100, 750), (1600, 1000)], ids=["1100x750", "1600x1000"])
def test_second_opinion_box_model_buttons_and_export_buttons(size, browser_page, lab_server, tmp_path):
    page = browser_page
    page.set_viewport_size({"width": size[0], "height": size[1]})
    run_cells(page, lab_server, CELLS, tmp_path / "opinion.ipynb", "OPINION-READY")
    trainer = page.locator(".svetlana-trainer")
    box = trainer.locator(".widget-checkbox", has_text="Second opinion").locator("input")
    box.scroll_into_view_if_needed()
    assert box.is_checked() and kernel_eval(page, "trainer.classifier.second_opinion is not None")
    box.click()
    wait_until(
        lambda: kernel_eval(page, "trainer.classifier.second_opinion is None"),
        timeout=30,
        interval=0.3,
        message="the second opinion off",
    )
    assert "averaged with a random forest" not in trainer.inner_text()
    box.click()
    wait_until(
        lambda: kernel_eval(page, "trainer.classifier.second_opinion == sv.SecondOpinion()"),
        timeout=30,
        interval=0.3,
        message="the second opinion on again",
    )
    page.screenshot(path=str(ARTIFACTS / f"trainer-second-opinion-{size[0]}x{size[1]}.png"))

    trainer.locator("button", has_text="Random forest").click()
    wait_until(
        lambda: kernel_eval(page, "trainer.classifier.model_name") == "random_forest",
        timeout=30,
        interval=0.3,
        message="the random forest chosen",
    )
    wait_until(lambda: box.is_disabled(), timeout=30, interval=0.3, message="no second opinion for the forest")
    trainer.locator("button", has_text="Light CNN").click()
    wait_until(
        lambda: kernel_eval(page, "trainer.classifier.model_name") == "light_cnn",
        timeout=30,
        interval=0.3,
        message="the light CNN back",
    )

    out = tmp_path / "exports"
    viewer = page.locator(".svetlana-prediction-viewer")
    folder = viewer.locator(".widget-text", has_text="Export to").locator("input")
    folder.scroll_into_view_if_needed()
    folder.fill(str(out))
    folder.press("Enter")
    viewer.locator("button", has_text="Class image").click()
    viewer.locator("button", has_text="Table (CSV)").click()
    wait_until(
        lambda: (
            sorted(p.name for p in out.glob("*")) == ["objects.csv", "well_A1_classes.tif", "well_A1_classes_key.csv"]
        ),
        timeout=30,
        interval=0.3,
        message="the exported files, the class image's key with it",
    )
    wait_until(
        lambda: "Wrote objects.csv to" in viewer.inner_text(),
        timeout=30,
        interval=0.3,
        message="the export status line naming the file",
    )
    written = (out / "well_A1_classes.tif").stat().st_mtime_ns
    viewer.locator("button", has_text="Class image").click()  # again: refused, said, nothing replaced
    wait_until(
        lambda: "already has well_A1_classes.tif" in viewer.inner_text(),
        timeout=30,
        interval=0.3,
        message="the refusal to overwrite",
    )
    assert "Traceback" not in viewer.inner_text()
    assert (out / "well_A1_classes.tif").stat().st_mtime_ns == written
    page.screenshot(path=str(ARTIFACTS / f"viewer-export-{size[0]}x{size[1]}.png"))
