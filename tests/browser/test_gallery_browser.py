"""The QC gallery in a real browser: click a thumbnail, annotate it with a class button, save a sheet.

At a laptop's 1100 x 750 and a desktop's 1600 x 1000, on the cells demo with a random forest and
its out-of-fold predictions: a click on a thumbnail's pixel selects that object, the panel's class
button writes the annotation, and "Save contact sheet…" writes the PDF named in the box.
"""

from __future__ import annotations

import pytest
from lab import click_canvas_pixel, kernel_eval, run_cells, save_screenshot, wait_until

pytestmark = pytest.mark.browser

CELLS = [
    """
import numpy as np
import svetlana_nb as sv
from svetlana_nb.models.cross_validation import out_of_fold

demo = sv.data.cells_2d()
objects = sv.Objects(demo.image, demo.mask, channel_axis=demo.channel_axis)
ann = sv.Annotations(objects, demo.class_names)
for label in np.random.default_rng(0).permutation(objects.labels)[:40]:
    ann.add(int(label), demo.truth[int(label)])
clf = sv.Classifier(objects, model="random_forest")
oof = out_of_fold(clf, ann, folds=3)
clf.fit(ann)
gallery = sv.QCGallery(objects, clf.predict(objects), ann, out_of_fold=oof, classifier=clf, per_class=4)
gallery
""",
    'print("GALLERY" + "-READY")',
]


@pytest.mark.parametrize("size", [(1100, 750), (1600, 1000)], ids=["1100x750", "1600x1000"])
def test_click_a_thumbnail_annotate_it_and_save_a_sheet(size, browser_page, lab_server, tmp_path):
    page = browser_page
    page.set_viewport_size({"width": size[0], "height": size[1]})
    run_cells(page, lab_server, CELLS, tmp_path / "gallery.ipynb", "GALLERY-READY", timeout=300)
    gallery = page.locator(".svetlana-qc-gallery")
    canvases = gallery.locator(".svnb-qc-canvas")
    wait_until(lambda: canvases.count() >= 4, timeout=60, interval=0.3, message="one canvas per block")
    save_screenshot(page, f"gallery-{size[0]}x{size[1]}")

    # the second block (first class, least confident): its second thumbnail
    row = kernel_eval(page, "int(gallery.grids[1].rows[1])")
    canvases.nth(1).scroll_into_view_if_needed()
    click_canvas_pixel(page, canvases.nth(1), 72 + 6 + 36, 36)
    wait_until(
        lambda: kernel_eval(page, f"gallery.selected == objects.key({row})"),
        timeout=60,
        interval=0.3,
        message="the clicked object selected",
    )
    panel = gallery.locator(".svetlana-object-panel")
    button = panel.get_by_role("button", name="fragmented", exact=True)
    button.scroll_into_view_if_needed()
    assert button.is_visible()
    button.click()
    wait_until(
        lambda: kernel_eval(page, f"ann.get(objects.key({row}))") == "fragmented",
        timeout=60,
        interval=0.3,
        message="the annotation written",
    )
    panel.get_by_text("annotated fragmented").wait_for(timeout=60_000)
    save_screenshot(page, f"gallery-annotated-{size[0]}x{size[1]}")

    sheet = lab_server.root_dir / f"sheet-{size[0]}.pdf"
    text = gallery.locator(".widget-text input").first
    text.fill(str(sheet))
    text.press("Enter")
    wait_until(
        lambda: kernel_eval(page, "gallery.sheet_text.value") == str(sheet),
        timeout=30,
        interval=0.2,
        message="the path box synced",
    )
    save = gallery.get_by_role("button", name="Save contact sheet…")
    save.scroll_into_view_if_needed()
    save.click()
    wait_until(lambda: sheet.exists(), timeout=60, interval=0.3, message="the sheet written")
    assert sheet.read_bytes()[:5] == b"%PDF-"
    gallery.get_by_text("Saved").wait_for(timeout=30_000)
    save_screenshot(page, f"gallery-saved-{size[0]}x{size[1]}")
    assert kernel_eval(page, "len(gallery.errors.errors)") == 0
    assert page.page_errors == []
