import numpy as np
import pytest
from helpers import patches

import svetlana_nb as sv
from svetlana_nb.objects import boxes, features
from svetlana_nb.objects.patch_spec import estimate_patch_shape


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
    np.testing.assert_array_equal(patches(last, [0, 1]), patches(first, [0, 1]))
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

    rng = np.random.default_rng(3)
    mask = np.zeros((90, 70), np.int32)
    for label in rng.choice(500, 40, replace=False) + 1:
        y, x = rng.integers(0, 80), rng.integers(0, 60)
        mask[y : y + rng.integers(2, 10), x : x + rng.integers(2, 10)] = label
    mask[40:50, 5:9] = 999  # spans the two bands (rows 0-44 and 45-89)
    one = boxes.bounding_boxes(mask)
    monkeypatch.setattr(boxes, "_PARALLEL_PIXELS", 100)
    two = boxes.bounding_boxes(mask)
    np.testing.assert_array_equal(two[0], one[0])
    np.testing.assert_array_equal(two[1], one[1])
    assert two[1][list(two[0]).index(999)].tolist() == [40, 5, 50, 9]
    assert gc.isenabled()  # paused during the scan only
    bad = mask.copy()
    bad[80, 3] = -2  # in the second band only
    with pytest.raises(ValueError, match=r"mask\[1\]: label ids must be >= 0.*-2"):
        sv.Objects([np.ones_like(mask), np.ones_like(mask)], [mask, bad])
    assert gc.isenabled()


@pytest.mark.parametrize("top", [2**31, 2**40])
def test_huge_sparse_label_ids_are_renumbered_with_a_warning_and_little_memory(top):
    import tracemalloc

    mask = np.zeros((64, 64), np.int64)
    mask[5:20, 5:20] = 7
    mask[30:50, 30:50] = top
    image = np.random.default_rng(0).random((64, 64)).astype(np.float32)
    tracemalloc.start()
    try:
        with pytest.warns(UserWarning, match=f"largest label id \\({top}\\) is far above its 2 objects"):
            objects = sv.Objects(image, mask)
        probabilities = np.array([[0.9, 0.1], [0.2, 0.8]], np.float32)
        class_image = sv.Prediction(objects, probabilities, ["a", "b"]).class_image()
        peak = tracemalloc.get_traced_memory()[1]
    finally:
        tracemalloc.stop()
    assert objects.labels.tolist() == [1, 2]
    np.testing.assert_array_equal(objects.original_labels[0], [7, top])
    assert class_image[10, 10] == 1 and class_image[40, 40] == 2 and class_image[0, 0] == 0
    assert peak < 64 * 2**20, f"peak {peak / 2**20:.0f} MiB"


def test_ordinary_label_ids_are_kept():
    mask = np.zeros((32, 32), np.int32)
    mask[2:8, 2:8] = 5
    mask[20:30, 20:30] = 1_000_000
    objects = sv.Objects(np.ones((32, 32), np.float32), mask)
    assert objects.labels.tolist() == [5, 1_000_000]
    assert objects.original_labels == [None]
