"""UI findings of issue 17 in real JupyterLab: the thumbnail strip past 8 labels, the mode menu that
offers "Most uncertain first" only with a trained classifier, and the Trainer's plan and toggle."""

from __future__ import annotations

import pytest
from lab import click_canvas_pixel, kernel_eval, run_cells, save_screenshot, wait_until

pytestmark = pytest.mark.browser

CELLS = [
    """
import svetlana_nb as sv

demo = sv.data.cells_2d()
objects = sv.Objects(demo.image, demo.mask)
ann = sv.Annotations(objects, demo.class_names)
annotator = sv.Annotator(objects, ann)
annotator
""",
    """
trainer = sv.Trainer(sv.Classifier(objects), ann, epochs=3)
trainer
""",
    'print("TRUST" + "-READY")',
]


def _mode_options(page) -> list[str]:
    return [t.replace("\xa0", " ") for t in page.locator(".svnb-mode select option").all_inner_texts()]


@pytest.mark.parametrize("size", [(1100, 750), (1600, 1000)])
def test_thumbnails_mode_menu_and_trainer_plan(browser_page, lab_server, tmp_path, size):
    page = browser_page
    page.set_viewport_size({"width": size[0], "height": size[1]})
    run_cells(page, lab_server, CELLS, tmp_path / "trust.ipynb", "TRUST-READY")

    # without a trained classifier the menu does not offer what cannot work
    assert _mode_options(page) == ["Propose (random)", "Click on the image"]

    # 12 labels: the strip shows the newest first, and clicking it opens that object
    labelled = []
    for i in range(12):
        labelled.append(kernel_eval(page, "list(annotator.current)"))
        page.locator(f".svnb-class-{i % 2}").click()
        wait_until(lambda i=i: kernel_eval(page, "len(ann)") == i + 1, timeout=60, message=f"label {i + 1}")
    shown = kernel_eval(page, "[list(k) for k, _, _ in annotator.thumbnails.items]")
    assert shown == labelled[::-1][:8]
    click_canvas_pixel(page, page.locator(".svnb-thumbnails-canvas"), 10, 20)  # the first (newest) slot
    wait_until(
        lambda: kernel_eval(page, "list(annotator.current)") == labelled[-1],
        timeout=30,
        message="the newest thumbnail opening the newest object",
    )

    # the Trainer says before Start that 12 annotations are too few to validate
    trainer = page.locator(".svetlana-trainer")
    trainer.scroll_into_view_if_needed()
    trainer.locator(".svnb-plan", has_text="12 annotations are too few to hold some out").wait_for()
    assert trainer.locator("input[type=checkbox]").count() >= 2  # Continue is a checkbox now
    trainer.locator("label", has_text="Continue from the current weights").wait_for()
    save_screenshot(page, f"trust-trainer-plan-{size[0]}x{size[1]}")

    # after a training, given the classifier, the menu offers "Most uncertain first", and it works
    trainer.locator("button", has_text="Start").click()
    wait_until(lambda: kernel_eval(page, "trainer.history is not None and not trainer.running"), timeout=240)
    kernel_eval(page, "setattr(annotator, 'classifier', trainer.classifier) or True")
    wait_until(lambda: "Most uncertain first" in _mode_options(page), timeout=30, message="the uncertainty mode")
    page.locator(".svnb-mode select").select_option(label="Most uncertain first")
    wait_until(lambda: kernel_eval(page, "annotator.mode") == "uncertainty", timeout=30, message="uncertainty mode")
    assert kernel_eval(page, "annotator.errors.outputs") in ([], ())
    assert "Traceback" not in page.inner_text("body")
    assert page.page_errors == []
