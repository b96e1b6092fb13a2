"""The Trainer's channel tick boxes, clicked in JupyterLab, choose what the classifier sees."""

from __future__ import annotations

import pytest
from lab import ARTIFACTS, kernel_eval, run_cells, wait_until

pytestmark = pytest.mark.browser

CELLS = [
    """
import numpy as np
import svetlana_nb as sv

demo = sv.data.infected_cells_2d(shape=(256, 256), n_objects=40)
objects = sv.Objects(demo.image, demo.mask, channel_axis=-1)
ann = sv.Annotations(objects, demo.class_names)
for label in objects.labels[:20]:
    ann.add(int(label), demo.truth[int(label)])
trainer = sv.Trainer(None, ann, epochs=3)
trainer
""",
    'print("CHANNELS" + "-READY")',
]


def test_unticking_a_channel_box_changes_the_classifier(browser_page, lab_server, tmp_path):
    page = browser_page
    run_cells(page, lab_server, CELLS, tmp_path / "trainer_channels.ipynb", "CHANNELS-READY")

    trainer = page.locator(".svetlana-trainer")
    nuclei = trainer.locator(".widget-checkbox", has_text="channel 0").locator("input")
    spots = trainer.locator(".widget-checkbox", has_text="channel 1").locator("input")
    assert nuclei.is_checked() and spots.is_checked()
    assert kernel_eval(page, "trainer.classifier.channels") is None
    nuclei.click()
    wait_until(
        lambda: kernel_eval(page, "trainer.classifier.channels") == [1],
        timeout=30,
        interval=0.3,
        message="the classifier on channel 1 only",
    )
    spots.click()  # the last ticked channel: refused, the box ticks itself again
    wait_until(lambda: spots.is_checked(), timeout=30, interval=0.3, message="the box ticked again")
    assert kernel_eval(page, "trainer.channels") == [1]
    assert "at least one channel" in trainer.inner_text()
    page.screenshot(path=str(ARTIFACTS / "trainer-channels.png"))


ANNOTATOR_CELLS = [
    CELLS[0].replace(
        "trainer = sv.Trainer(None, ann, epochs=3)\ntrainer", "annotator = sv.Annotator(objects, ann)\nannotator"
    ),
    'print("COLOURS" + "-READY")',
]


def test_class_colours_shown_stay_clear_of_the_channel_colours(browser_page, lab_server, tmp_path):
    """UI finding 8: on the two-channel demo, no class colour the browser paints is near a channel's."""
    import numpy as np
    from skimage.color import deltaE_ciede2000, rgb2lab

    from svetlana_nb.display.colors import CHANNEL_COLORS, hex_to_rgb

    page = browser_page
    run_cells(page, lab_server, ANNOTATOR_CELLS, tmp_path / "colours.ipynb", "COLOURS-READY")
    buttons = page.locator(".svnb-annotator .svnb-class-button")
    assert buttons.count() == 2
    painted = [
        [int(v) for v in buttons.nth(k).evaluate("b => getComputedStyle(b).backgroundColor")[4:-1].split(",")[:3]]
        for k in range(2)
    ]
    channels = [hex_to_rgb(c) for c in CHANNEL_COLORS[:2]]

    def lab(rgb):
        return rgb2lab(np.array([[rgb]], dtype=float) / 255)[0, 0]

    distances = [float(deltaE_ciede2000(lab(p), lab(c))) for p in painted for c in channels]
    assert min(distances) >= 25, (painted, distances)
    page.locator(".svnb-annotator").screenshot(path=str(ARTIFACTS / "class-colours-two-channels.png"))
