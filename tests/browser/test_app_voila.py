"""The App as a teaching page: ``notebooks/app.ipynb`` served by Voilà, driven in headless Chromium.

The page must show no code and no traceback, take labels (keys and buttons), train, and show
the prediction overlay, at a laptop's 1100x750 and at 1600x1000.
"""

from __future__ import annotations

import re

import numpy as np
import pytest
from lab import (
    REPO_ROOT,
    browser_unavailable_reason,
    canvas_element,
    launch_browser,
    read_canvas_pixels,
    save_screenshot,
    wait_until,
)
from voila_server import start_voila

import svetlana_nb as sv

pytestmark = pytest.mark.browser
N_LABELS = 16


@pytest.fixture(scope="module")
def voila(tmp_path_factory):
    reason = browser_unavailable_reason()
    if reason:
        pytest.skip(f"browser test: {reason}")
    server = start_voila(REPO_ROOT / "notebooks" / "app.ipynb", tmp_path_factory.mktemp("voila"))
    try:
        yield server
    finally:
        server.stop()


def _truth_in_proposal_order() -> list[str]:
    """The classes of the objects the App proposes first (same demo set and seed as the page)."""
    demo = sv.data.cells_2d(shape=(320, 320), n_objects=80)
    objects = sv.Objects(demo.image, demo.mask)
    order = np.random.default_rng(0).permutation(len(objects))
    return [demo.truth[int(objects.labels[r])] for r in order]


@pytest.mark.parametrize("size", [(1100, 750), (1600, 1000)])
def test_the_app_page_takes_labels_trains_and_shows_the_overlay(voila, tmp_path, size):
    from playwright.sync_api import sync_playwright

    truth = _truth_in_proposal_order()
    with sync_playwright() as playwright:
        context = launch_browser(playwright, tmp_path / "profile")
        page = context.pages[0] if context.pages else context.new_page()
        errors: list[str] = []
        page.on("pageerror", lambda exc: errors.append(f"{exc.name}: {exc.message}"))
        page.set_viewport_size({"width": size[0], "height": size[1]})
        try:
            page.goto(voila.url)
            app = page.locator(".svetlana-app")
            app.wait_for(timeout=240_000)
            text = page.inner_text("body")
            assert "Teach a computer to sort cells" in text
            assert "import svetlana_nb" not in text and "Traceback" not in text
            assert page.locator(".jp-InputArea-editor:visible").count() == 0  # no code shown

            crop = canvas_element(page.locator(".svnb-crop-canvas"))
            wait_until(lambda: read_canvas_pixels(crop).any(), timeout=120, message="the first crop")
            names = ["healthy", "fragmented"]
            for i in range(N_LABELS):
                if i % 2:  # half with the class buttons, half with keys on the focused crop
                    page.locator(f".svnb-class-{names.index(truth[i])}").click()
                else:
                    crop.click()
                    page.keyboard.press(str(names.index(truth[i]) + 1))
                page.locator(".svnb-progress", has_text=f"{i + 1}").first.wait_for(timeout=60_000)
            save_screenshot(page, f"voila-app-annotate-{size[0]}x{size[1]}")

            app.get_by_role("tab", name="Train").click()
            app.locator(".svetlana-trainer button", has_text="Start").click()
            app.locator(".svetlana-app-status", has_text="Predicted 80 objects").wait_for(
                state="attached", timeout=300_000
            )
            app.get_by_role("tab", name="Predict").click()
            overlay = canvas_element(app.locator(".svetlana-prediction-viewer .svnb-overview-canvas"))

            def tinted() -> int:  # the image is grey: every coloured pixel is the class overlay
                rgb = read_canvas_pixels(overlay)[..., :3].astype(int)
                return int((rgb.max(axis=-1) - rgb.min(axis=-1) > 40).sum())

            wait_until(lambda: tinted() > 2000, timeout=120, message="the prediction overlay painted")
            legend = app.locator(".svetlana-legend").inner_text()
            counts = [int(n) for n in re.findall(r"(?:healthy|fragmented):\s*(\d+)", legend)]
            assert len(counts) == 2 and sum(counts) == 80 and min(counts) > 0, legend
            save_screenshot(page, f"voila-app-predict-{size[0]}x{size[1]}")
            assert "Traceback" not in page.inner_text("body")
            assert errors == []
        finally:
            context.close()
