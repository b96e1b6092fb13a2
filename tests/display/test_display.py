"""Display maths: every pixel compared with a direct NumPy/SciPy computation."""

from __future__ import annotations

import re

import numpy as np
import pytest
from scipy import ndimage

from svetlana_nb import display as render
from svetlana_nb.display import compose


# -- colours -----------------------------------------------------------------------------------
def test_class_colors_are_many_distinct_hex_colours():
    assert len(render.CLASS_COLORS) >= 20
    assert all(re.fullmatch(r"#[0-9A-Fa-f]{6}", c) for c in render.CLASS_COLORS)
    assert len({c.lower() for c in render.CLASS_COLORS}) == len(render.CLASS_COLORS)
    n = len(render.CLASS_COLORS)
    assert render.class_color(0) == render.CLASS_COLORS[0]
    assert render.class_color(n + 3) == render.CLASS_COLORS[3]


def test_hex_to_rgb_and_text_colour():
    assert render.hex_to_rgb("#E69F00") == (230, 159, 0)
    assert render.hex_to_rgb("#0f0") == (0, 255, 0)
    with pytest.raises(ValueError, match="color"):
        render.hex_to_rgb("#12345")
    assert render.text_color_for("#F0E442") == "#000000"  # yellow: black text
    assert render.text_color_for("#332288") == "#ffffff"  # indigo: white text


def test_default_channel_colours():
    assert render.default_channel_colors(1) == ["#ffffff"]
    four = render.default_channel_colors(4)
    assert len(set(four)) == 4
    assert render.hex_to_rgb(four[0])[2] == 255 and render.hex_to_rgb(four[1]) == (0, 255, 0)
    with pytest.raises(ValueError, match="n_channels"):
        render.default_channel_colors(0)


# -- contrast and composites -----------------------------------------------------------------
def test_contrast_limits_are_percentiles():
    rng = np.random.default_rng(0)
    small = rng.normal(100, 20, (50, 60))
    lo, hi = render.contrast_limits(small, (1, 99.8))
    assert np.allclose((lo, hi), np.percentile(small.astype(np.float32), (1, 99.8)), rtol=1e-5)
    assert render.contrast_limits(np.full((5, 5), 7)) == (7.0, 8.0)


def test_contrast_limits_read_a_subsample_of_a_large_image(monkeypatch):
    rng = np.random.default_rng(1)
    big = rng.integers(0, 4096, (4000, 4000), dtype=np.uint16)
    sizes = []
    percentile = np.percentile
    monkeypatch.setattr(
        compose.np, "percentile", lambda a, *args, **kw: sizes.append(np.size(a)) or percentile(a, *args, **kw)
    )
    lo, hi = render.contrast_limits(big)
    exact = percentile(big[::7, ::7], (1, 99.8))
    assert abs(lo - exact[0]) < 20 and abs(hi - exact[1]) < 20
    assert sizes and max(sizes) <= 1_000_000  # 16 M pixels: a strided sample, not a full copy


def test_composite_grey_matches_scaling():
    rng = np.random.default_rng(2)
    image = rng.integers(0, 1000, (30, 40)).astype(np.uint16)
    rgba = render.composite(image[..., None], colors=["#ffffff"], limits=[(100, 900)])
    expected = np.clip((image.astype(np.float32) - 100) / 800, 0, 1) * 255
    assert rgba.dtype == np.uint8 and rgba.shape == (30, 40, 4)
    for c in range(3):
        assert np.abs(rgba[..., c].astype(int) - expected).max() <= 1
    assert (rgba[..., 3] == 255).all()


def test_composite_adds_coloured_channels_and_respects_visibility():
    rng = np.random.default_rng(3)
    image = rng.uniform(0, 10, (20, 25, 2)).astype(np.float32)
    colors, limits = ["#00ff00", "#ff00ff"], [(0, 10), (2, 8)]
    rgba = render.composite(image, colors=colors, limits=limits)
    a = np.clip(image[..., 0] / 10, 0, 1)
    b = np.clip((image[..., 1] - 2) / 6, 0, 1)
    expected = np.stack([b * 255, a * 255, b * 255], -1)
    assert np.abs(rgba[..., :3].astype(int) - expected).max() <= 1
    only_first = render.composite(image, colors=colors, limits=limits, visible=[True, False])
    assert (only_first[..., 0] == 0).all() and (only_first[..., 2] == 0).all()
    assert np.abs(only_first[..., 1].astype(int) - a * 255).max() <= 1


def test_composite_sums_and_clips_overlapping_colours():
    image = np.ones((2, 2, 2), np.float32)
    rgba = render.composite(image, colors=["#808080", "#c0c0c0"], limits=[(0, 1), (0, 1)])
    assert (rgba[..., :3] == 255).all()


def test_composite_rgb_is_shown_as_is():
    rng = np.random.default_rng(4)
    image = rng.integers(0, 256, (10, 12, 3), dtype=np.uint8)
    rgba = render.composite(image, colors=[], limits=[], rgb=True)
    np.testing.assert_array_equal(rgba[..., :3], image)
    assert (rgba[..., 3] == 255).all()


# -- outlines and painting ---------------------------------------------------------------------
def _random_mask(seed, shape=(40, 50)):
    rng = np.random.default_rng(seed)
    return ndimage.binary_opening(rng.random(shape) > 0.45)


@pytest.mark.parametrize("thickness", [1, 2, 3])
def test_outline_inner_and_outer_match_scipy(thickness):
    mask = _random_mask(thickness)
    cross = ndimage.generate_binary_structure(2, 1)
    inner = mask & ~ndimage.binary_erosion(mask, cross, iterations=thickness, border_value=1)
    outer = ndimage.binary_dilation(mask, cross, iterations=thickness) & ~mask
    np.testing.assert_array_equal(render.outline(mask, thickness=thickness), inner)
    np.testing.assert_array_equal(render.outline(mask, thickness=thickness, outer=True), outer)


def test_outline_works_on_stacks_of_slices():
    stack = np.stack([_random_mask(5), _random_mask(6)])
    out = render.outline(stack)
    np.testing.assert_array_equal(out[1], render.outline(stack[1]))


def test_label_outlines_mark_pixels_touching_another_label():
    labels = np.zeros((8, 9), np.int32)
    labels[1:5, 1:4] = 3
    labels[1:5, 4:7] = 9
    out = render.label_outlines(labels)
    padded = np.pad(labels, 1, mode="edge")
    expected = np.zeros_like(out)
    for dy, dx in ((-1, 0), (1, 0), (0, -1), (0, 1)):
        expected |= padded[1 + dy : 9 + dy, 1 + dx : 10 + dx] != labels
    expected &= labels != 0
    np.testing.assert_array_equal(out, expected)
    assert out[2, 3] and out[2, 4] and not out[2, 2]  # the shared border is marked on both sides


def test_overlay_paints_and_blends():
    rgba = np.zeros((4, 4, 4), np.uint8)
    rgba[..., :3] = 100
    rgba[..., 3] = 255
    where = np.zeros((4, 4), bool)
    where[1, 2] = True
    render.overlay(rgba, where, "#ff0000")
    assert rgba[1, 2].tolist() == [255, 0, 0, 255] and rgba[0, 0].tolist() == [100, 100, 100, 255]
    render.overlay(rgba, ~where, "#000000", alpha=0.5)
    assert rgba[0, 0].tolist() == [50, 50, 50, 255]
    # on a transparent layer the colour is kept and the alpha carries the opacity
    layer = np.zeros((2, 2, 4), np.uint8)
    render.overlay(layer, np.ones((2, 2), bool), "#40c080", alpha=0.5)
    assert layer[0, 0].tolist() == [64, 192, 128, 128]


def test_paint_labels_uses_the_lookup_table():
    labels = np.array([[0, 1, 1], [2, 2, 7], [0, 9, 9]])
    lut = render.label_lut(8, {1: "#ff0000", 2: "#00ff00"})  # 7 not painted, 9 beyond the table
    assert lut.shape == (8, 4) and lut[1].tolist() == [255, 0, 0, 255] and lut[7, 3] == 0
    rgba = np.zeros((3, 3, 4), np.uint8)
    rgba[..., 3] = 255
    out = render.paint_labels(rgba.copy(), labels, lut)
    expected = rgba.copy()
    expected[labels == 1, :3] = (255, 0, 0)
    expected[labels == 2, :3] = (0, 255, 0)
    np.testing.assert_array_equal(out, expected)
    half = render.paint_labels(rgba.copy(), labels, lut, alpha=0.5)
    assert half[0, 1].tolist() == [128, 0, 0, 255]


def test_paint_labels_outline_only():
    labels = np.zeros((7, 7), np.int32)
    labels[1:6, 1:6] = 4
    lut = render.label_lut(5, {4: "#0000ff"})
    rgba = np.zeros((7, 7, 4), np.uint8)
    rgba[..., 3] = 255
    render.paint_labels(rgba, labels, lut, outline_only=True)
    painted = rgba[..., 2] == 255
    np.testing.assert_array_equal(painted, render.label_outlines(labels))
    assert not painted[3, 3]


# -- views -------------------------------------------------------------------------------------
def test_downsample_view_never_exceeds_max_pixels():
    slices, step = render.downsample_view((8000, 8000), (0, 0, 8000, 8000), 1024)
    assert step == 8
    assert len(range(8000)[slices[0]]) <= 1024 and len(range(8000)[slices[1]]) <= 1024
    slices, step = render.downsample_view((8000, 8000), (1000, 2000, 1500, 2600), 1024)
    assert step == 1 and slices == (slice(1000, 1500, 1), slice(2000, 2600, 1))
    slices, _ = render.downsample_view((100, 100), (-10, -10, 50, 200), 1024)
    assert slices == (slice(0, 50, 1), slice(0, 100, 1))
    with pytest.raises(ValueError, match="viewport"):
        render.downsample_view((100, 100), (200, 200, 300, 300))


def test_downsample_stride_and_mean():
    image = np.arange(36, dtype=np.float32).reshape(6, 6)
    np.testing.assert_array_equal(render.downsample(image, 2), image[::2, ::2])
    mean = render.downsample(image, 3, method="mean")
    np.testing.assert_allclose(
        mean, [[image[:3, :3].mean(), image[:3, 3:].mean()], [image[3:, :3].mean(), image[3:, 3:].mean()]]
    )
    assert render.downsample(image, 1) is image


def test_view_indices_sample_and_magnify():
    image = np.arange(100 * 80).reshape(100, 80)
    ys, xs = render.view_indices(image.shape, (0, 0, 100, 80), (100, 80))
    np.testing.assert_array_equal(render.sample_view(image, ys, xs), image)
    ys, xs = render.view_indices(image.shape, (10, 20, 12, 22), (8, 8))  # 4x magnification
    view = render.sample_view(image, ys, xs)
    np.testing.assert_array_equal(view, np.kron(image[10:12, 20:22], np.ones((4, 4), int)))
    ys, xs = render.view_indices(image.shape, (0, 0, 100, 80), (25, 20))  # 4x reduction
    np.testing.assert_array_equal(render.sample_view(image, ys, xs), image[2::4, 2::4])


def test_upscale_nearest_and_crop_padded():
    rgba = np.random.default_rng(5).integers(0, 255, (3, 4, 4), dtype=np.uint8)
    big = render.upscale_nearest(rgba, 3)
    np.testing.assert_array_equal(big, np.kron(rgba, np.ones((3, 3, 1), np.uint8)))
    array = np.arange(1, 26).reshape(5, 5)
    crop = render.crop_padded(array, (-1, 3), (3, 4))
    expected = np.pad(array, 3)[2:5, 6:10]
    np.testing.assert_array_equal(crop, expected)


def test_render_crop_magnifies_outlines_and_pads():
    rng = np.random.default_rng(6)
    image = rng.integers(0, 255, (20, 20, 1)).astype(np.float32)
    obj = np.zeros((20, 20), bool)
    obj[6:14, 5:12] = True
    labels = obj.astype(np.int32) * 4
    labels[0:4, 0:4] = 2
    frame, factor, offset = render.render_crop(
        image, obj, colors=["#ffffff"], limits=[(0, 255)], labels=labels, size=100
    )
    assert frame.shape == (100, 100, 4) and factor == 5 and offset == (0, 0)
    base = render.upscale_nearest(render.composite(image, colors=["#ffffff"], limits=[(0, 255)]), 5)
    big_obj = render.upscale_nearest(obj, 5)
    ring = render.outline(big_obj, thickness=1, outer=True)
    edges = render.label_outlines(render.upscale_nearest(labels, 5)) & ~big_obj
    assert (frame[ring][:, :3] == (255, 255, 0)).all()
    untouched = ~ring & ~edges
    np.testing.assert_array_equal(frame[untouched], base[untouched])
    assert edges.any() and not (frame[edges] == base[edges]).all()
    # larger than the frame: subsampled, centred
    frame, factor, offset = render.render_crop(
        np.zeros((250, 130, 1)), np.zeros((250, 130), bool), colors=["#ffffff"], limits=[(0, 1)], size=100
    )
    assert factor == -3 and frame.shape == (100, 100, 4) and offset == (8, 28)
    assert frame[0, 0, :3].tolist() == list(render.hex_to_rgb("#202020"))


@pytest.mark.parametrize("n_channels", [1, 2, 3, 4])
def test_class_colours_stay_clear_of_the_channel_colours_shown(n_channels):
    from skimage.color import deltaE_ciede2000, rgb2lab

    def lab(colors):
        return rgb2lab(np.array([[render.hex_to_rgb(c) for c in colors]], float) / 255)[0]

    classes = [render.class_color(k, n_channels) for k in range(4)]
    assert len(set(classes)) == 4
    distance = deltaE_ciede2000(lab(classes)[:, None], lab(render.default_channel_colors(n_channels))[None])
    from svetlana_nb.display.colors import MIN_CLASS_CHANNEL_DELTA_E

    assert distance.min() >= MIN_CLASS_CHANNEL_DELTA_E


def test_the_infected_class_is_not_the_nuclear_blue():
    # the multichannel demo: nuclei in blue, the infection spot in green; its 2nd class was sky blue
    assert render.class_color(1, 2) != "#56B4E9"
    assert render.class_color(1, 1) == "#56B4E9"  # grey images keep the usual palette
