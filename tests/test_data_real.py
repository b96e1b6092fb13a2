"""The real image sets: shapes, masks and classes follow their documented rules."""

from __future__ import annotations

import numpy as np
import pytest
from scipy import ndimage
from skimage import measure

from svetlana_nb import data


@pytest.fixture(scope="module")
def hubble():
    return data.hubble_deep_field()


def test_hubble_is_the_bundled_photograph_with_a_mask_of_its_objects(hubble):
    assert hubble.image.shape == (872, 1000, 3) and hubble.image.dtype == np.uint8
    assert hubble.mask.shape == (872, 1000) and hubble.mask.dtype == np.int32
    assert hubble.channel_axis == -1 and data.load("hubble_deep_field").n_objects == hubble.n_objects
    assert set(np.unique(hubble.mask)[1:].tolist()) == set(hubble.truth)
    assert 250 <= hubble.n_objects <= 450
    counts = hubble.counts()
    assert min(counts.values()) >= 0.2 * hubble.n_objects  # both classes well represented
    extents = np.array([s[0].stop - s[0].start for s in ndimage.find_objects(hubble.mask) if s is not None])
    assert extents.min() >= 3 and extents.max() >= 40  # small and larger objects


def test_hubble_classes_follow_the_colour_index(hubble):
    labels = hubble.labels
    red = np.asarray(ndimage.mean(hubble.image[..., 0].astype(float), hubble.mask, labels))
    blue = np.asarray(ndimage.mean(hubble.image[..., 2].astype(float), hubble.mask, labels))
    expected = np.where((red - blue) / (red + blue) > 0, "red", "blue")
    assert (hubble.truth_for(labels) == expected).all()


@pytest.fixture(scope="module")
def bbbc007():
    real_sets = pytest.importorskip("benchmarks.real_sets")
    try:
        return real_sets.bbbc007()
    except real_sets.RealSetMissing as missing:
        pytest.skip(str(missing))


def test_bbbc007_is_a_mosaic_of_the_shipped_masks(bbbc007):
    assert bbbc007.image.shape == (1800, 1800) and bbbc007.image.dtype == np.uint8
    assert bbbc007.mask.dtype == np.int32 and bbbc007.n_objects == 1249
    assert set(np.unique(bbbc007.mask)[1:].tolist()) == set(bbbc007.truth)
    # no object crosses a tile of the mosaic
    for found in ndimage.find_objects(bbbc007.mask):
        if found is not None:
            assert all(s.start // 450 == (s.stop - 1) // 450 for s in found)
    assert (bbbc007.image[bbbc007.mask > 0] > 0).all()  # objects lie on the image, not on padding


def test_bbbc007_classes_follow_the_axis_ratio(bbbc007):
    table = measure.regionprops_table(bbbc007.mask, properties=("label", "axis_major_length", "axis_minor_length"))
    ratio = table["axis_major_length"] / np.maximum(table["axis_minor_length"], 1.0)
    expected = np.where(ratio >= 1.5, "elongated", "round")
    assert (bbbc007.truth_for(table["label"]) == expected).all()
    assert 0.15 <= bbbc007.counts()["elongated"] / bbbc007.n_objects <= 0.3


def test_bbbc007_missing_files_say_how_to_get_them(tmp_path, monkeypatch):
    real_sets = pytest.importorskip("benchmarks.real_sets")
    monkeypatch.setenv("SVETLANA_NB_BBBC007", str(tmp_path))
    with pytest.raises(real_sets.RealSetMissing, match="no BBBC007 TIFF files"):
        real_sets.bbbc007()
