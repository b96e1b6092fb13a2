import numpy as np
import pytest

import svetlana_nb as sv
from svetlana_nb.objects import estimate_patch_shape


def test_geometry_matches_direct_numpy(scene_2d):
    image, mask, truth = scene_2d
    objects = sv.Objects(image, mask)
    assert len(objects) == len(truth)
    assert objects.labels.tolist() == sorted(truth)
    row = objects.row(int(objects.labels[5]))
    ys, xs = np.nonzero(mask == objects.labels[5])
    assert objects.bbox[row].tolist() == [ys.min(), xs.min(), ys.max() + 1, xs.max() + 1]
    assert objects.area[row] == len(ys)
    feats = objects.features()
    assert feats.loc[row, "centroid_y"] == pytest.approx(ys.mean())
    assert feats.loc[row, "mean_intensity_0"] == pytest.approx(image[ys, xs].mean(), rel=1e-5)
    assert feats.loc[row, "max_intensity_0"] == pytest.approx(image[ys, xs].max())


@pytest.mark.parametrize("shape", [(60, 50), (9, 30, 26)])
def test_intensity_extremes_equal_scipy_per_label_across_row_blocks(shape, monkeypatch):
    from scipy import ndimage

    from svetlana_nb import features

    monkeypatch.setattr(features, "_BLOCK", 300)  # many row blocks: an object spans several
    rng = np.random.default_rng(len(shape))
    mask = np.zeros(shape, np.int32)
    blocks = rng.integers(0, 6, tuple(s // 3 for s in shape)) * 7  # labels 7, 14, ... 35, gaps
    mask[tuple(slice(0, s // 3 * 3) for s in shape)] = np.kron(blocks, np.ones((3,) * len(shape), np.int32))
    image = rng.normal(0, 100, shape + (2,))  # negative values too
    objects = sv.Objects(image, mask, channel_axis=-1)
    feats = objects.features()
    for c in range(2):
        for name, reference in (("max", ndimage.maximum), ("min", ndimage.minimum)):
            expected = reference(image[..., c], mask, objects.labels)
            np.testing.assert_array_equal(feats[f"{name}_intensity_{c}"].to_numpy(), expected)


def test_channel_axis_detection_and_explicit(scene_2d_multichannel):
    image, mask, _ = scene_2d_multichannel
    last = sv.Objects(image, mask)
    first = sv.Objects(np.moveaxis(image, -1, 0), mask)
    assert last.n_channels == first.n_channels == 2
    np.testing.assert_array_equal(last.patches([0, 1]), first.patches([0, 1]))
    explicit = sv.Objects(np.moveaxis(image, -1, 0), mask, channel_axis=0)
    assert explicit.images[0].shape == (240, 240, 2)


def test_bad_inputs_have_clear_errors(scene_2d):
    image, mask, _ = scene_2d
    with pytest.raises(ValueError, match=r"image and mask do not match.*\(240, 240\).*\(100, 100\)"):
        sv.Objects(image, mask[:100, :100])
    with pytest.raises(TypeError, match="mask: expected an integer label image"):
        sv.Objects(image, mask.astype(float))
    with pytest.raises(TypeError, match="boolean"):
        sv.Objects(image, mask > 0)
    with pytest.raises(ValueError, match="mask: the label image has no objects"):
        sv.Objects(image, np.zeros_like(mask))
    with pytest.raises(ValueError, match="label ids must be >= 0"):
        sv.Objects(image, -mask)
    bad = image.copy()
    bad[0, 0] = np.nan
    with pytest.raises(ValueError, match="NaN"):
        sv.Objects(bad, mask)
    objects = sv.Objects(image, mask)
    with pytest.raises(KeyError, match="label 4 is not an object"):
        objects.row(4)


def test_patch_size_is_robust_to_one_huge_outlier(scene_2d):
    image, mask, _ = scene_2d
    normal = sv.Objects(image, mask).patch_shape
    big = np.zeros((600, 600), np.int32)
    big[:240, :240] = mask
    big[300:590, 300:590] = 999  # one 290-px object
    with_outlier = sv.Objects(np.zeros((600, 600)), big).patch_shape
    assert with_outlier == normal
    assert normal[0] >= 20  # objects are up to 21 px wide
    assert sv.Objects(image, mask, patch_size=33).patch_shape == (33, 33)
    assert estimate_patch_shape(np.array([[4, 30, 30]] * 10)) == (8, 40, 40)


def test_patches_match_a_direct_crop(scene_2d_multichannel):
    image, mask, _ = scene_2d_multichannel
    objects = sv.Objects(image, mask, patch_size=24)
    row = 7
    patch = objects.patches([row], normalization="none")[0]
    cy, cx = objects.centres[row]
    y0, x0 = cy - 12, cx - 12
    np.testing.assert_allclose(patch[0], image[y0:y0 + 24, x0:x0 + 24, 0])
    np.testing.assert_allclose(patch[1], image[y0:y0 + 24, x0:x0 + 24, 1])
    np.testing.assert_array_equal(patch[2], mask[y0:y0 + 24, x0:x0 + 24] == objects.labels[row])
    lo, hi = objects.channel_ranges("percentile")[0, 0]
    normed = objects.patches([row])[0, 0]
    np.testing.assert_allclose(normed, (image[y0:y0 + 24, x0:x0 + 24, 0] - lo) / (hi - lo), rtol=1e-5, atol=1e-6)


def _reference_patches(image, mask, objects, shape):
    """Per-object loop over a zero-padded copy: the slow, obvious way."""
    pad = [(s, s) for s in shape]
    padded_image = np.pad(image, pad + [(0, 0)])
    padded_mask = np.pad(mask, pad)
    out = []
    for centre, label in zip(objects.centres, objects.labels):
        start = np.asarray(centre) - np.asarray(shape) // 2 + np.asarray(shape)
        box = tuple(slice(a, a + s) for a, s in zip(start, shape))
        channels = np.moveaxis(padded_image[box], -1, 0).astype(np.float32)
        out.append(np.concatenate([channels, (padded_mask[box] == label)[None]]))
    return np.stack(out)


@pytest.mark.parametrize("scene", ["scene_2d_multichannel", "scene_3d"])
def test_all_patches_inside_and_on_the_border_match_a_padded_loop(scene, request):
    image, mask, _ = request.getfixturevalue(scene)
    image = image if image.ndim > mask.ndim else image[..., None]
    mask = mask.copy()
    mask[(slice(0, 3),) * mask.ndim] = mask.max() + 1      # an object in the corner
    mask[(slice(-2, None),) * mask.ndim] = mask.max() + 1  # and one in the opposite corner
    objects = sv.Objects(image, mask, channel_axis=-1)
    shape = objects.patch_shape
    reference = _reference_patches(image, mask, objects, shape)
    starts = objects.centres - np.asarray(shape) // 2
    on_border = np.any((starts < 0) | (starts + np.asarray(shape) > mask.shape), axis=1)
    assert on_border.any() and (~on_border).any()  # both code paths are exercised
    order = np.random.default_rng(0).permutation(len(objects))  # rows in any order
    np.testing.assert_array_equal(objects.patches(order, normalization="none"), reference[order])


def test_border_objects_are_padded_not_dropped():
    mask = np.zeros((50, 50), np.int32)
    mask[0:6, 0:6] = 1
    mask[20:30, 20:30] = 2
    image = np.ones((50, 50), np.float32)
    objects = sv.Objects(image, mask, patch_size=16)
    assert len(objects) == 2
    patch = objects.patches([0], normalization="none")[0]
    assert patch.shape == (2, 16, 16)
    # the top-left corner object sits at the centre: what lies outside the image is zero
    cy, cx = objects.centres[0]
    assert patch[0, : 8 - cy].sum() == 0 and patch[0, 8 - cy:, 8 - cx:].min() == 1
    assert patch[1].sum() == 36


def test_context_reduction_hides_far_pixels(scene_2d):
    image, mask, _ = scene_2d
    objects = sv.Objects(image, mask, patch_size=40)
    full = objects.patches([10], normalization="none")[0]
    reduced = objects.patches([10], normalization="none", context=2)[0]
    obj = full[1] > 0
    np.testing.assert_allclose(reduced[0][obj], full[0][obj])
    far = np.ones_like(obj)
    ys, xs = np.nonzero(obj)
    far[max(ys.min() - 2, 0):ys.max() + 3, max(xs.min() - 2, 0):xs.max() + 3] = False
    assert np.all(reduced[0][far] == 0) and np.any(full[0][far] != 0)


def test_3d_patches_and_crop(scene_3d):
    image, mask, truth = scene_3d
    objects = sv.Objects(image, mask)
    assert objects.spatial_ndim == 3 and len(objects) == len(truth)
    pz, py, px = objects.patch_shape
    assert pz < py == px
    patches = objects.patches(np.arange(4), normalization="none")
    assert patches.shape == (4, 2, pz, py, px)
    row = 2
    cz, cy, cx = objects.centres[row]
    z0, y0, x0 = cz - pz // 2, cy - py // 2, cx - px // 2
    np.testing.assert_allclose(patches[row, 0], image[z0:z0 + pz, y0:y0 + py, x0:x0 + px])
    crop, obj, origin = objects.crop(row, size=(pz, py, px))
    assert origin == (z0, y0, x0)
    np.testing.assert_allclose(crop[..., 0], patches[row, 0])
    np.testing.assert_array_equal(obj, patches[row, 1] > 0)


def test_several_images_keys():
    mask_a = np.zeros((40, 40), np.int32)
    mask_a[5:15, 5:15] = 4
    mask_b = np.zeros((30, 30), np.int32)
    mask_b[5:15, 5:15] = 4
    mask_b[18:28, 18:28] = 9
    objects = sv.Objects([np.ones((40, 40)), np.zeros((30, 30))], [mask_a, mask_b], name=["a.tif", "b.tif"])
    assert objects.keys == [("a.tif", 4), ("b.tif", 4), ("b.tif", 9)]
    assert objects.row(("b.tif", 9)) == 2
    with pytest.raises(KeyError, match="several images"):
        objects.row(4)
    assert objects.object_at((20, 20), image="b.tif") == 2
    assert objects.object_at((0, 0), image=1) is None


def test_two_band_scan_matches_one_band_and_checks_ids(monkeypatch):
    import gc

    from svetlana_nb import objects as objects_module

    rng = np.random.default_rng(3)
    mask = np.zeros((90, 70), np.int32)
    for label in rng.choice(500, 40, replace=False) + 1:
        y, x = rng.integers(0, 80), rng.integers(0, 60)
        mask[y:y + rng.integers(2, 10), x:x + rng.integers(2, 10)] = label
    mask[40:50, 5:9] = 999  # spans the two bands (rows 0-44 and 45-89)
    one = objects_module._bounding_boxes(mask)
    monkeypatch.setattr(objects_module, "_PARALLEL_PIXELS", 100)
    two = objects_module._bounding_boxes(mask)
    np.testing.assert_array_equal(two[0], one[0])
    np.testing.assert_array_equal(two[1], one[1])
    assert two[1][list(two[0]).index(999)].tolist() == [40, 5, 50, 9]
    assert gc.isenabled()  # paused during the scan only
    bad = mask.copy()
    bad[80, 3] = -2  # in the second band only
    with pytest.raises(ValueError, match=r"mask\[1\]: label ids must be >= 0.*-2"):
        sv.Objects([np.ones_like(mask), np.ones_like(mask)], [mask, bad])
    assert gc.isenabled()
