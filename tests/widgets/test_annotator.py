"""The annotator driven from Python: buttons, simulated key and mouse events, state asserted."""

from __future__ import annotations

import json

import numpy as np
import pytest
import traitlets

import svetlana_nb as sv
from svetlana_nb import display as render
from svetlana_nb.widgets._canvas import decode_image, send_event
from svetlana_nb.widgets._queue import shortcut_keys, uncertainty_order
from svetlana_nb.widgets.annotator import Annotator


@pytest.fixture(scope="module")
def small():
    return sv.data.cells_2d(shape=(160, 160), n_objects=16, seed=3)


@pytest.fixture()
def objects(small):
    return sv.Objects(small.image, small.mask)


def make(objects, names=("healthy", "fragmented"), **kwargs):
    annotator = Annotator(objects, list(names), **kwargs)
    a = annotator
    for painter in (a.crop_painter, a.overview.painter, a.thumbnails.painter):
        painter.mark_ready()  # as if the front end had connected
    return annotator


def button(annotator, class_name):
    return annotator.class_box.children[annotator.class_names.index(class_name)]


# -- propose mode ------------------------------------------------------------------------------
def test_propose_order_is_seeded_random_and_skips_annotated(objects):
    order = np.random.default_rng(7).permutation(len(objects))
    a = make(objects, seed=7)
    seen = [a.current]
    for _ in range(4):
        a.label("healthy")
        seen.append(a.current)
    assert seen == [objects.key(r) for r in order[:5]]
    b = make(objects, seed=8)
    assert b.current == objects.key(np.random.default_rng(8).permutation(len(objects))[0])
    # a new annotator on these annotations starts after the annotated objects
    c = Annotator(objects, a.annotations, seed=7)
    assert c.current == objects.key(order[4])


def test_label_by_clicking_class_buttons(objects):
    a = make(objects)
    assert [b.description for b in a.class_box.children] == ["1 · healthy", "2 · fragmented"]
    assert a.class_box.children[0].style.button_color == render.class_color(0)
    first = a.current
    button(a, "fragmented").click()
    second = a.current
    button(a, "healthy").click()
    assert dict(a.annotations.items()) == {first: "fragmented", second: "healthy"}
    assert a.current not in (first, second)
    assert a.progress.value == 2 and "2</b> / 16" in a.progress_label.value
    assert "fragmented: 1" in a.counts.value and "healthy: 1" in a.counts.value
    assert a.errors.errors == []


def test_label_with_key_events_on_the_canvas(objects):
    a = make(objects)
    first = a.current
    send_event(a.crop_canvas, "key_down", key="2")
    second = a.current
    send_event(a.crop_canvas, "key_down", key="1")
    send_event(a.crop_canvas, "key_down", key="q")  # not a shortcut: ignored
    assert dict(a.annotations.items()) == {first: "fragmented", second: "healthy"}
    assert a.press_key("x") is False and a.press_key("1") is True


def test_undo_redo_skip_by_buttons_and_keys(objects):
    a = make(objects)
    first = a.current
    a.label("healthy")
    second = a.current
    a.back_button.click()  # undo: back to the first object
    assert len(a.annotations) == 0 and a.current == first
    a.redo_button.click()
    assert a.annotations[first] == "healthy" and a.current == second
    send_event(a.crop_canvas, "key_down", key="Backspace")
    assert len(a.annotations) == 0 and a.current == first
    send_event(a.crop_canvas, "key_down", key="y", ctrl_key=True)
    assert a.annotations[first] == "healthy"
    send_event(a.crop_canvas, "key_down", key="z", ctrl_key=True)
    assert len(a.annotations) == 0
    # skip leaves the object unlabelled and moves on; it comes back after the others
    a.label("fragmented")
    skipped = a.current
    a.skip_button.click()
    assert skipped not in a.annotations and a.current != skipped
    skipped_too = a.current
    send_event(a.crop_canvas, "key_down", key=" ")
    assert a.current not in (skipped, skipped_too)
    for _ in range(13):
        a.label("healthy")
    # only the two skipped objects are left: they are proposed again, in order
    assert len(a.annotations) == 14 and a.current == skipped
    a.label("healthy")
    assert a.current == skipped_too


def test_everything_annotated_shows_a_placeholder(objects):
    a = make(objects)
    for _ in range(len(objects)):
        a.label("healthy")
    assert a.current is None and len(a.annotations) == len(objects)
    assert "Nothing left" in a.info.value
    with pytest.raises(RuntimeError, match="no object"):
        a.label("healthy")


def test_errors_show_in_the_widget(objects):
    a = make(objects)
    with pytest.raises(ValueError, match="unknown class"):
        a.label("nope")
    # no classifier: the mode is not offered, and asking for it from Python says why
    assert [value for _, value in a.mode_dropdown.options] == ["propose", "click"]
    with pytest.raises(traitlets.TraitError, match="needs a trained classifier"):
        a.mode = "uncertainty"
    assert a.mode == "propose" and a.errors.outputs == ()


def test_many_classes_get_buttons_and_letter_shortcuts(objects):
    names = [f"class {i}" for i in range(12)]
    a = make(objects, names)
    assert len(a.class_box.children) == 12
    assert shortcut_keys(12)[9:] == ["a", "b", "c"]
    key = a.current
    a.press_key("b")
    assert a.annotations[key] == "class 10"
    a.annotations.add_class("extra")
    assert len(a.class_box.children) == 13 and a.class_box.children[-1].description == "d · extra"


def test_thumbnails_show_last_labels_and_go_back_to_correct(objects):
    a = make(objects)
    keys = []
    for name in ("healthy", "fragmented", "healthy"):
        keys.append(a.current)
        a.label(name)
    assert [k for k, _, _ in a.thumbnails.items] == keys[::-1]
    strip = decode_image(a.thumbnails.painter._last[0][0])
    assert strip.shape == (88, 8 * 78 - 6, 4) and strip[..., 3].any()
    send_event(a.thumbnails.canvas, "mouse_down", x=78 + 10, y=20)  # second thumbnail
    assert a.current == keys[1]
    send_event(a.thumbnails.canvas, "key_down", key="1")  # correct it
    assert a.annotations[keys[1]] == "healthy"
    assert a.thumbnails.items[0][:2] == (keys[1], "healthy")


def test_the_thumbnail_strip_keeps_the_newest_eight_after_twelve_labels(objects):
    a = make(objects)
    keys = []
    for i in range(12):
        keys.append(a.current)
        a.label(("healthy", "fragmented")[i % 2])
    assert [k for k, _, _ in a.thumbnails.items] == keys[::-1][:8]
    for slot in (0, 7):  # clicking the newest and the oldest shown opens that object
        send_event(a.thumbnails.canvas, "mouse_down", x=slot * 78 + 10, y=20)
        assert a.current == keys[-1 - slot]


def test_redo_walks_back_through_every_undone_object(objects):
    a = make(objects)
    keys = []
    for _ in range(3):
        keys.append(a.current)
        a.label("healthy")
    after = a.current
    a.undo()
    a.undo()
    assert a.current == keys[1]
    assert a.redo() == keys[1] and a.current == keys[2]  # the next undone object, not a new one
    assert a.redo() == keys[2] and a.current == after
    assert a.back_button.description == "Undo"


# -- crops: pixels against direct NumPy crops --------------------------------------------------
def _expected(image_yxc, mask_crop, label, colors, limits, size, visible=None):
    """Frame pixels away from outlines, computed without the annotator."""
    obj = mask_crop == label
    side = obj.shape[0]
    factor = size // side
    base = render.upscale_nearest(render.composite(image_yxc, colors=colors, limits=limits, visible=visible), factor)
    big_obj = render.upscale_nearest(obj, factor)
    touched = render.outline(big_obj, thickness=max(1, min(3, factor // 3)), outer=True)
    touched |= render.label_outlines(render.upscale_nearest(mask_crop, factor))
    offset = (size - base.shape[0]) // 2
    return base, ~touched, offset


def _direct_crop(objects, row, side, depth=None):
    centre = objects.centres[row]
    if depth is None:
        origin = (centre[0] - side // 2, centre[1] - side // 2)
        shape = (side, side)
    else:
        origin = (centre[0] - depth // 2, centre[1] - side // 2, centre[2] - side // 2)
        shape = (depth, side, side)
    image = render.crop_padded(objects.images[0], origin, shape)
    mask = render.crop_padded(objects.masks[0], origin, shape)
    return image, mask, origin


def test_multichannel_crop_pixels_match_a_direct_crop():
    demo = sv.data.infected_cells_2d(shape=(160, 160), n_objects=16, seed=2)
    objects = sv.Objects(demo.image, demo.mask, channel_axis=-1)
    a = make(objects, demo.class_names, size=240)
    row = objects.row(a.current)
    side = max(objects.patch_shape[-1], 2 * int(objects.extents[row].max()) + 8)
    image, mask, _ = _direct_crop(objects, row, side)
    limits = objects.channel_ranges("percentile")[0]
    colors = render.default_channel_colors(2)
    base, clean, off = _expected(image, mask, objects.labels[row], colors, limits, 240)
    frame = a._frame
    n = base.shape[0]
    np.testing.assert_array_equal(frame[off : off + n, off : off + n][clean], base[clean])
    # hide channel 1 with its checkbox: the frame is channel 0 alone, in its colour
    a.display.checks[1].value = False
    base, clean, off = _expected(image, mask, objects.labels[row], colors, limits, 240, visible=[True, False])
    np.testing.assert_array_equal(a._frame[off : off + n, off : off + n][clean], base[clean])
    sent = decode_image(a.crop_painter._last[0][0])
    np.testing.assert_array_equal(sent, a._frame)  # PNG: exact
    # contrast slider changes the limits used
    a.display.sliders[0].value = (float(limits[0, 0]), float(limits[0, 0]) + 10.0)
    assert a.display.limits()[0].tolist() == [float(limits[0, 0]), float(limits[0, 0]) + 10.0]


def test_3d_crop_slices_projection_and_z_keys():
    demo = sv.data.cells_3d(shape=(16, 80, 80), n_objects=6, seed=1)
    objects = sv.Objects(demo.image, demo.mask)
    a = make(objects, demo.class_names, size=200)
    row = objects.row(a.current)
    ext = objects.extents[row]
    side = max(objects.patch_shape[-1], 2 * int(ext[1:].max()) + 8)
    depth = int(ext[0]) + 2
    image, mask, origin = _direct_crop(objects, row, side, depth)
    zc = int(objects.centres[row][0])
    assert a.display.z == zc
    assert a.display.z_slider.min == max(0, origin[0])
    assert a.display.z_slider.max == min(15, origin[0] + depth - 1)
    limits = objects.channel_ranges("percentile")[0]
    label = objects.labels[row]

    def check(plane, mask_plane):
        base, clean, off = _expected(plane, mask_plane, label, ["#ffffff"], limits, 200)
        n = base.shape[0]
        np.testing.assert_array_equal(a._frame[off : off + n, off : off + n][clean], base[clean])

    check(image[zc - origin[0]], mask[zc - origin[0]])
    send_event(a.crop_canvas, "key_down", key="ArrowUp")
    assert a.display.z == zc + 1
    check(image[zc + 1 - origin[0]], mask[zc + 1 - origin[0]])
    a.display.projection_box.value = True
    obj = (mask == label).any(axis=0)
    factor = 200 // side
    base = render.upscale_nearest(render.composite(image.max(axis=0), colors=["#ffffff"], limits=limits), factor)
    ring = render.outline(render.upscale_nearest(obj, factor), thickness=max(1, min(3, factor // 3)), outer=True)
    clean = ~ring
    off, n = (200 - base.shape[0]) // 2, base.shape[0]
    np.testing.assert_array_equal(a._frame[off : off + n, off : off + n][clean], base[clean])


def test_rgb_images_are_shown_as_they_are(small):
    rgb = np.stack([small.image // 16 % 256] * 3, -1).astype(np.uint8)
    rgb[..., 1] = 255 - rgb[..., 1]
    objects = sv.Objects(rgb, small.mask, channel_axis=-1)
    assert objects.is_rgb
    a = make(objects, size=160)
    row = objects.row(a.current)
    side = max(objects.patch_shape[-1], 2 * int(objects.extents[row].max()) + 8)
    image, mask, _ = _direct_crop(objects, row, side)
    factor = 160 // side
    off = (160 - side * factor) // 2
    frame = a._frame[off : off + side * factor, off : off + side * factor]
    # one pixel per magnified block, from a block corner away from any outline
    inner = frame[factor // 2 :: factor, factor // 2 :: factor, :3]
    far = ~ndimage_dilate(mask > 0) | (mask == 0)
    np.testing.assert_array_equal(inner[far & (mask == 0)], image[far & (mask == 0)])
    assert a.display.sliders == []  # no channel controls for RGB


def ndimage_dilate(mask):
    from scipy import ndimage

    return ndimage.binary_dilation(mask, iterations=1)


# -- click mode --------------------------------------------------------------------------------
def _click_canvas(a, y, x):
    cx, cy = a.overview.to_canvas(y, x)
    send_event(a.overview.canvas, "mouse_down", x=cx, y=cy)
    send_event(a.overview.canvas, "mouse_up", x=cx, y=cy)


def test_click_mode_selects_labels_and_tints(objects):
    a = make(objects, size=160)
    painter = a.overview.painter
    a.mode = "click"
    assert a.overview.layout.display == "" and a.crop_canvas.layout.display == "none"
    assert a.overview.frame_shape == (320, 320)
    assert painter.frames_sent == 2  # image + overlay, once
    row = 5
    y, x = objects.centres[row]
    _click_canvas(a, y + 0.5, x + 0.5)
    assert a.current == objects.key(row)
    assert painter.frames_sent == 3  # a selection: overlay only
    send_event(a.overview.canvas, "key_down", key="2")
    assert a.annotations[objects.key(row)] == "fragmented"
    assert a.current == objects.key(row)  # stays selected in click mode
    overlay = decode_image(a.overview.painter._last[1][0])
    cx, cy = (int(v) for v in a.overview.to_canvas(y + 0.5, x + 0.5))
    assert overlay[cy, cx, :3].tolist() == list(render.hex_to_rgb(render.class_color(1)))
    assert overlay[cy, cx, 3] > 0
    # the selected object is outlined in yellow around it
    assert ((overlay[..., 0] == 255) & (overlay[..., 1] == 255) & (overlay[..., 2] == 0)).any()
    # the base layer is the image, resampled to the canvas
    base = decode_image(a.overview.painter._last[0][0])
    assert base.shape == (320, 320, 4)
    # clicking the background deselects
    background = np.argwhere(objects.masks[0] == 0)[0]
    _click_canvas(a, *(background + 0.5))
    assert a.current is None
    assert a.click_image(y, x) == objects.key(row)


def test_click_mode_zoom_and_pan(objects):
    a = make(objects, size=160)
    a.mode = "click"
    assert a.overview.viewport == (0.0, 0.0, 160.0, 160.0)
    a.overview.zoom_in_button.click()
    y0, x0, y1, x1 = a.overview.viewport
    assert np.isclose(y1 - y0, 160 / 1.5) and np.isclose((y0 + y1) / 2, 80)
    send_event(a.overview.canvas, "mouse_down", x=200, y=100)
    send_event(a.overview.canvas, "mouse_up", x=100, y=100)  # drag left: view moves right
    assert np.isclose(a.overview.viewport[1], x0 + 100 * a.overview.scale)
    send_event(a.overview.canvas, "mouse_move", x=10, y=10)
    before = a.overview.to_image(10, 10)
    send_event(a.overview.canvas, "mouse_wheel", x=0, y=-100)  # zoom in at the pointer
    assert np.allclose(a.overview.to_image(10, 10), before)
    a.press_key("0")
    assert a.overview.viewport == (0.0, 0.0, 160.0, 160.0)
    for _ in range(20):
        a.press_key("+")
    assert a.overview.scale == pytest.approx(1 / 16)  # magnification is bounded
    # selecting an object out of view (thumbnail, undo, select) brings it into view
    a.press_key("0")
    a.overview.zoom(4.0, at=(0.0, 0.0))
    far = int(np.argmax(objects.centres.sum(axis=1)))
    a.select(objects.key(far))
    y0, x0, y1, x1 = a.overview.viewport
    cy, cx = objects.centres[far]
    assert y0 <= cy < y1 and x0 <= cx < x1


def test_wheel_zoom_is_drawn_once_per_burst(objects):
    import asyncio

    a = make(objects, size=160)
    a.mode = "click"
    painter = a.overview.painter

    async def burst():
        before = painter.frames_sent
        for _ in range(6):
            send_event(a.overview.canvas, "mouse_wheel", x=0, y=-50)
        assert painter.frames_sent == before  # nothing drawn yet
        await asyncio.sleep(0.2)
        return painter.frames_sent - before

    assert asyncio.run(burst()) == 2  # image + overlay, once
    assert a.overview.scale == pytest.approx(0.5 / 1.25**6)


def test_several_images_dropdown(small):
    other = sv.data.cells_2d(shape=(120, 200), n_objects=8, seed=9)
    objects = sv.Objects([small.image, other.image], [small.mask, other.mask], name=["a", "b"])
    a = make(objects, size=160)
    assert a.image_dropdown.layout.display != "none"
    a.image_dropdown.value = 1
    for _ in range(3):
        assert a.current[0] == "b"
        a.label("healthy")
    assert all(key[0] == "b" for key, _ in a.annotations.items())
    a.mode = "click"
    assert a.overview.shape == (120, 200) and a.overview.frame_shape == (192, 320)
    y, x = objects.centres[objects.row(("b", int(other.labels[0])))]
    assert a.click_image(y, x) == ("b", int(other.labels[0]))


# -- uncertainty mode (a real, tiny trained classifier) -----------------------------------------
def test_uncertainty_mode_orders_by_margin_with_one_prediction(small, objects):
    ann = sv.Annotations(objects, small.class_names)
    for label in objects.labels[:8]:
        ann.add(int(label), small.truth[int(label)])
    clf = sv.Classifier(objects, model="light_cnn", device="cpu")
    clf.fit(ann, epochs=2, seed=0)
    calls = []
    real = clf.predict_proba

    def counting(*args, **kwargs):
        calls.append(1)
        return real(*args, **kwargs)

    clf.predict_proba = counting
    untrained = Annotator(objects, ann, classifier=sv.Classifier(objects, device="cpu"))
    assert "uncertainty" not in [value for _, value in untrained.mode_dropdown.options]
    a = Annotator(objects, ann, classifier=clf)
    a.crop_painter.mark_ready()
    assert "uncertainty" in [value for _, value in a.mode_dropdown.options]
    a.mode_dropdown.value = "uncertainty"  # what a user picks
    proba = real(objects)
    order, margin = uncertainty_order(proba)
    expected = [objects.key(r) for r in order if objects.key(r) not in ann][:4]
    seen = []
    for _ in range(4):
        seen.append(a.current)
        a.label("healthy")
    assert seen == expected
    assert margin[objects.rows(seen)].tolist() == sorted(margin[objects.rows(seen)].tolist())
    assert len(calls) == 1  # not once per label
    assert "model's guess" in a.info.value
    a.refresh_uncertainty()
    assert len(calls) == 2
    a.classifier = None
    assert a.mode == "propose"


# -- autosave and resume -----------------------------------------------------------------------
def test_autosave_and_resume(objects, tmp_path):
    path = tmp_path / "ann.json"
    a = make(objects, autosave=path)
    labelled = {}
    for name in ("healthy", "fragmented", "healthy"):
        labelled[a.current] = name
        a.label(name)
    content = json.loads(path.read_text())
    assert {(r["image"], r["label"]): r["class"] for r in content["annotations"]} == labelled
    b = make(objects, autosave=path)
    assert dict(b.annotations.items()) == labelled
    assert b.current not in labelled and b.progress.value == 3
    b.label("fragmented")
    assert len(json.loads(path.read_text())["annotations"]) == 4
    with pytest.raises(ValueError, match="already exists"):
        Annotator(objects, sv.Annotations(objects, ["healthy", "fragmented"]), autosave=path)
    b.close()
    before = b.progress.value
    free = next(k for k in objects.keys if k not in b.annotations)
    b.annotations.add(free, "healthy")  # a closed annotator no longer follows
    assert b.progress.value == before
    with pytest.raises(ValueError, match="other Objects"):
        Annotator(sv.Objects(objects.images[0][..., 0], objects.masks[0]), b.annotations)


def test_resuming_on_a_new_segmentation_offers_to_move_the_labels_and_keeps_the_old_file(objects, tmp_path):
    from svetlana_nb.io import write_tiff

    path = tmp_path / "ann.json"
    a = make(objects, autosave=path)
    for _ in range(3):
        a.label("healthy")
    original = path.read_bytes()
    labelled = {key for key, _ in a.annotations.items()}
    old_mask = objects.masks[0].copy()
    write_tiff(tmp_path / "old_mask.tif", old_mask)
    shifted = np.zeros_like(old_mask)
    shifted[1:] = old_mask[:-1]  # re-segmented: same ids, one pixel lower
    b = make(sv.Objects(objects.images[0], shifted), autosave=path)
    offer = b.transfer_offer
    assert offer is not None and offer in b.children and offer.pending
    assert "was saved on another segmentation" in offer.message.text and "'image'" in offer.message.text
    assert len(b.annotations) == 0 and b.annotations.autosave is None
    b.select(next(key for key in b.objects.keys if key not in labelled))
    b.label("fragmented")  # labels given before choosing stay in memory; the file is untouched
    assert path.read_bytes() == original
    offer.move_button.click()  # no path typed: said plainly, nothing changes
    assert "type the path of the old mask" in str(b.errors.errors[-1]) and offer.pending
    offer.mask_paths["image"].value = str(tmp_path / "old_mask.tif")
    offer.move_button.click()
    assert not offer.pending and offer.inputs.layout.display == "none"
    assert offer.backup is not None and offer.backup.read_bytes() == original
    assert "3 of 3 annotations moved" in offer.result.text
    assert len(b.annotations) == 4 and b.annotations.autosave == path
    assert labelled <= {key for key, _ in b.annotations.items()}  # same ids, same objects here
    assert b.progress.value == 4
    reopened = sv.Annotations.load(path, b.objects)
    assert dict(reopened.items()) == dict(b.annotations.items())
    with pytest.raises(ValueError, match="already handled"):
        offer.start_new()


def test_starting_a_new_file_on_a_new_segmentation_keeps_the_old_one(objects, tmp_path):
    path = tmp_path / "ann.json"
    make(objects, autosave=path).label("healthy")
    original = path.read_bytes()
    b = make(sv.Objects(objects.images[0][:150], objects.masks[0][:150]), autosave=path)
    b.transfer_offer.new_button.click()
    assert b.transfer_offer.backup.read_bytes() == original
    b.label("fragmented")
    assert len(sv.Annotations.load(path, b.objects)) == 1
    assert make(objects, autosave=tmp_path / "other.json").transfer_offer is None


def test_a_failed_autosave_is_shown_in_plain_words_and_nothing_is_recorded(tmp_path, monkeypatch):
    import svetlana_nb._files as files
    from svetlana_nb.widgets.annotator import Annotator

    demo = sv.data.cells_2d()
    objects = sv.Objects(demo.image, demo.mask)
    ann = sv.Annotations.open(tmp_path / "auto.json", objects, demo.class_names)
    annotator = Annotator(objects, ann)
    shown = annotator.current

    def disk_full(*args, **kwargs):
        raise OSError(28, "No space left on device")

    monkeypatch.setattr(files.os, "fsync", disk_full)
    annotator.class_box.children[0].click()
    text = "".join(o["text"] for o in annotator.errors.outputs)
    assert "No space left on device" in text and "Traceback" not in text
    assert len(ann) == 0 and annotator.current == shown  # not recorded, not moved on


def test_guarded_callbacks_never_overlap_across_threads():
    """ipykernel 7 may handle a button click and a canvas key on two threads at once (UI finding 9)."""
    import threading
    import time

    from svetlana_nb.widgets._canvas import ErrorArea

    area = ErrorArea()
    inside = []
    overlaps = []

    @area.guard("testing")
    def action():
        inside.append(1)
        if len(inside) > 1:
            overlaps.append(len(inside))
        time.sleep(0.005)
        inside.pop()

    threads = [threading.Thread(target=lambda: [action() for _ in range(20)]) for _ in range(4)]
    for t in threads:
        t.start()
    for t in threads:
        t.join()
    assert overlaps == [] and area.errors == []


def test_class_and_navigation_buttons_keep_the_keyboard_focus(objects):
    from svetlana_nb.widgets._focus import KEEPS_FOCUS, FocusKeeper

    a = make(objects)
    assert any(isinstance(child, FocusKeeper) for child in a.children)
    for button in [*a.class_box.children, a.back_button, a.redo_button, a.skip_button]:
        assert KEEPS_FOCUS in button._dom_classes
