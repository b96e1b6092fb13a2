"""Issue 19 in real JupyterLab: an autosave file saved on the old masks, reopened on a new
segmentation, is offered for transfer; typing the old mask's path and clicking Move brings the
labels back, and the old file is kept."""

from __future__ import annotations

import pytest
from lab import kernel_eval, run_cells, save_screenshot, wait_until

pytestmark = pytest.mark.browser

CELLS = [
    """
import pathlib, tempfile
import numpy as np
import svetlana_nb as sv
from svetlana_nb.io import write_tiff

folder = pathlib.Path(tempfile.mkdtemp())
demo = sv.data.cells_2d()
old_objects = sv.Objects(demo.image, demo.mask)
old = sv.Annotations.open(folder / "annotations.json", old_objects, demo.class_names)
for label in old_objects.labels[:6]:
    old.add(int(label), demo.class_names[int(label) % 2])
write_tiff(folder / "old_mask.tif", demo.mask)
original = (folder / "annotations.json").read_bytes()
shifted = np.zeros_like(demo.mask)
shifted[:, 2:] = demo.mask[:, :-2]  # re-segmented: every object 2 px to the right
objects = sv.Objects(demo.image, shifted)
annotator = sv.Annotator(objects, demo.class_names, autosave=folder / "annotations.json")
annotator
""",
    'print("TRANSFER" + "-READY")',
]


@pytest.mark.parametrize("size", [(1100, 750), (1600, 1000)])
def test_reopening_on_a_new_segmentation_offers_the_transfer_and_it_works(browser_page, lab_server, tmp_path, size):
    page = browser_page
    page.set_viewport_size({"width": size[0], "height": size[1]})
    run_cells(page, lab_server, CELLS, tmp_path / "transfer.ipynb", "TRANSFER-READY")

    offer = page.locator(".svnb-transfer-offer")
    offer.wait_for()
    offer.locator("text=was saved on another segmentation").wait_for()
    box = offer.bounding_box()
    assert box is not None and box["x"] + box["width"] <= size[0]  # no sideways scrolling to read it
    move = offer.locator("button", has_text="Move the labels here")
    assert move.is_visible() and offer.locator("button", has_text="Start a new file").is_visible()
    save_screenshot(page, f"transfer-offer-{size[0]}x{size[1]}")

    # Move with no path: a plain message, nothing written
    move.click()
    page.locator(".svnb-errors", has_text="type the path of the old mask").wait_for()
    assert kernel_eval(page, "(folder / 'annotations.json').read_bytes() == original")

    offer.locator("input[type=text]").fill(kernel_eval(page, "str(folder / 'old_mask.tif')"))
    move.click()
    offer.locator("text=6 of 6 annotations moved").wait_for(timeout=60_000)
    wait_until(lambda: kernel_eval(page, "len(annotator.annotations)") == 6, timeout=30, message="6 labels")
    assert not move.is_visible()  # the choice is made: the inputs are gone
    assert kernel_eval(page, "annotator.transfer_offer.backup.read_bytes() == original")
    assert kernel_eval(page, "len(sv.Annotations.load(folder / 'annotations.json', objects))") == 6
    page.locator(".svnb-progress", has_text="6").first.wait_for()
    save_screenshot(page, f"transfer-done-{size[0]}x{size[1]}")
    assert "Traceback" not in page.inner_text("body")
    assert page.page_errors == []
