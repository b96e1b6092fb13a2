"""The annotator on an OME-Zarr with a pyramid, in real JupyterLab at 1100 × 750: click an object, label it.

The ``sv.Objects`` is lazy (opened from the stores' paths); the overview comes from a pyramid
level. Screenshot: ``test-artifacts/lazy-annotator-1100.png``.
"""

from __future__ import annotations

import pytest
from lab import (
    canvas_element,
    click_canvas_pixel,
    kernel_eval,
    read_canvas_pixels,
    run_cells,
    save_screenshot,
    wait_until,
)

pytestmark = pytest.mark.browser

CELLS = [
    """
import numpy as np
import zarr
import svetlana_nb as sv

def ome_zarr(path, array):
    group = zarr.open_group(path, mode="w")
    datasets = []
    for k, factor in enumerate((1, 2, 4)):
        group.create_array(str(k), data=np.ascontiguousarray(array[::factor, ::factor]), chunks=(128, 128))
        scale = {"type": "scale", "scale": [float(factor), float(factor)]}
        datasets.append({"path": str(k), "coordinateTransformations": [scale]})
    axes = [{"name": "y", "type": "space"}, {"name": "x", "type": "space"}]
    group.attrs["ome"] = {"version": "0.5", "multiscales": [{"axes": axes, "datasets": datasets}]}

demo = sv.data.cells_2d()
ome_zarr("cells.ome.zarr", demo.image[..., 0] if demo.image.ndim == 3 else demo.image)
ome_zarr("cells_masks.ome.zarr", demo.mask)
objects = sv.Objects("cells.ome.zarr", "cells_masks.ome.zarr")
assert objects.is_lazy and len(objects.lazy_entry(0).pyramid.image_levels) == 3
""",
    'annotator = sv.Annotator(objects, demo.class_names, mode="click")\nannotator',
    'print("LAZY" + "-READY")',
]

# a large object in the middle of the image, where a click cannot miss it
PICK = "int(np.argmax(objects.area * (np.abs(objects.centres - 256).max(1) < 120)))"


def test_the_annotator_on_a_lazy_ome_zarr_labels_a_clicked_object(browser_page, lab_server, tmp_path):
    page = browser_page
    page.set_viewport_size({"width": 1100, "height": 750})
    run_cells(page, lab_server, CELLS, tmp_path / "lazy_annotator.ipynb", "LAZY-READY")
    canvas = canvas_element(page.locator(".svnb-annotator .svnb-overview-canvas"))
    canvas.scroll_into_view_if_needed()
    wait_until(lambda: read_canvas_pixels(canvas).std() > 0, timeout=60, message="the overview drawn")
    row = kernel_eval(page, PICK)
    cx, cy = kernel_eval(page, f"annotator.overview.to_canvas(*(objects.centres[{row}] + 0.5))")
    click_canvas_pixel(page, canvas, cx, cy)
    label = kernel_eval(page, f"int(objects.labels[{row}])")
    wait_until(lambda: kernel_eval(page, "annotator.current") == ["image", label], timeout=60, message="selected")
    page.locator(".svnb-annotator .svnb-class-1").click()
    wanted = kernel_eval(page, "demo.class_names[1]")
    wait_until(
        lambda: kernel_eval(page, f"annotator.annotations.get(('image', {label}))") == wanted,
        timeout=60,
        message="the label recorded",
    )
    page.wait_for_timeout(500)  # the overlay redrawn with the class tint
    save_screenshot(page, "lazy-annotator-1100")
    assert kernel_eval(page, "annotator.errors.errors") == []
    assert page.page_errors == []
