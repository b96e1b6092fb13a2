"""The Trainer's "Learn from all objects first" box, clicked in JupyterLab, pretrains before training (issue 20)."""

from __future__ import annotations

import pytest
from lab import ARTIFACTS, kernel_eval, run_cells, wait_until

pytestmark = pytest.mark.browser

CELLS = [
    """
import svetlana_nb as sv

demo = sv.data.cells_2d(shape=(256, 256), n_objects=40)
objects = sv.Objects(demo.image, demo.mask)
ann = sv.Annotations(objects, demo.class_names)
for label in objects.labels[:20]:
    ann.add(int(label), demo.truth[int(label)])
trainer = sv.Trainer(None, ann, epochs=2, pretrain_steps=3)
said = []
trainer.status.observe(lambda change: said.append(change["new"]), names="value")
trainer
""",
    'print("PRETRAIN" + "-READY")',
]


@pytest.mark.parametrize("size", [(1100, 750), (1600, 1000)])
def test_ticking_the_box_pretrains_on_every_object_and_says_so(browser_page, lab_server, tmp_path, size):
    page = browser_page
    page.set_viewport_size({"width": size[0], "height": size[1]})
    run_cells(page, lab_server, CELLS, tmp_path / "pretrain.ipynb", "PRETRAIN-READY")
    trainer = page.locator(".svetlana-trainer")
    trainer.locator(
        ".svnb-advanced .jupyter-widget-Collapse-header, .svnb-advanced .p-Collapse-header, "
        ".svnb-advanced .lm-Collapse-header"
    ).first.click()
    box = trainer.locator(".widget-checkbox", has_text="Learn from all objects first")
    wait_until(lambda: box.is_visible(), timeout=30, interval=0.3, message="the box under Advanced")
    label = box.locator("label, span").first
    # The whole label is shown: not cut by the accordion's width at a laptop's size.
    assert label.evaluate("e => e.scrollWidth <= e.clientWidth + 1"), label.inner_text()
    box.locator("input").click()
    wait_until(
        lambda: kernel_eval(page, "trainer.options()['pretrain']") is True,
        timeout=30,
        interval=0.3,
        message="the option ticked in the kernel",
    )
    page.screenshot(path=str(ARTIFACTS / f"pretrain-box-{size[0]}.png"))
    trainer.locator("button", has_text="Start").first.click()
    wait_until(
        lambda: kernel_eval(page, "trainer.history is not None and not trainer.running") is True,
        timeout=240,
        interval=0.5,
        message="training done",
    )
    assert kernel_eval(page, "trainer.classifier.pretrained.steps") == 3
    shown = kernel_eval(page, "[s for s in said if s.startswith('Learning from all')][-1]")
    assert "all 40 objects" in shown and "step 3" in shown
    done = trainer.locator(".svnb-status")
    assert "first learned from all 40 objects without labels (3 steps" in done.inner_text()
    page.screenshot(path=str(ARTIFACTS / f"pretrain-done-{size[0]}.png"))
