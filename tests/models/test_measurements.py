"""Measurements of each object from its network input patch (the second opinion's inputs)."""

import numpy as np
import pytest
import torch
from helpers import patches

import svetlana_nb as sv
from svetlana_nb.models.forest_backend import feature_matrix
from svetlana_nb.models.measurements import measurement_names, patch_measurements


@pytest.mark.parametrize("ndim", [2, 3])
def test_patch_measurements_equal_the_whole_image_features(ndim):
    """Objects that fit their patch measure as in the object table (intensities normalised alike)."""
    rng = np.random.default_rng(ndim)
    shape = (64, 64) if ndim == 2 else (16, 48, 48)
    mask = np.zeros(shape, np.int32)
    grid = np.indices(shape)
    centres = [(20, 20), (44, 40), (20, 46)] if ndim == 2 else [(8, 14, 14), (8, 34, 30)]
    for label, centre in enumerate(centres, start=4):  # ellipsoids of several orientations
        axes = rng.uniform(3, 7, ndim) if ndim == 2 else rng.uniform([2, 3, 3], [4, 7, 7])
        d = sum(((g - c) / a) ** 2 for g, c, a in zip(grid, centre, axes))
        mask[d <= 1] = label
    image = rng.uniform(0, 1000, shape + (2,)).astype(np.float32)
    objects = sv.Objects(image, mask, channel_axis=-1)
    x = patches(objects, normalization="none", shape=24 if ndim == 2 else (12, 24, 24))
    measured = patch_measurements(torch.from_numpy(x)).numpy()
    names = measurement_names(2, ndim)
    assert measured.shape == (len(centres), len(names))
    expected, feature_names = feature_matrix(objects)
    for k, name in enumerate(names):
        assert name.startswith("patch_") and name not in objects.features().columns  # no collision
        column = feature_names.index(name.removeprefix("patch_"))
        np.testing.assert_allclose(measured[:, k], expected[:, column], rtol=1e-4, atol=1e-3, err_msg=name)


def test_patch_measurements_of_a_known_rectangle_and_of_an_absent_object():
    x = torch.zeros(2, 2, 20, 20)
    x[0, -1, 5:9, 2:12] = 1  # a 4 x 10 rectangle
    x[0, 0, 5:9, 2:12] = torch.arange(40, dtype=torch.float32).reshape(4, 10)
    x[0, 0, 0, 0] = 99  # outside the object: ignored
    x[1, 0] = 5  # no object pixel at all
    m = {n.removeprefix("patch_"): v for n, v in zip(measurement_names(1, 2), patch_measurements(x).T.tolist())}
    assert m["area"] == [40, 0] and m["extent"] == [1, 0]
    assert m["max_intensity_0"] == [39, 0] and m["min_intensity_0"] == [0, 0]
    assert m["mean_intensity_0"][0] == pytest.approx(19.5)
    assert m["std_intensity_0"][0] == pytest.approx(np.arange(40).std(), rel=1e-5)
    # the variances along the axes are (n^2 - 1) / 12 plus the one-pixel prior 1/12
    assert m["major_axis_length"][0] == pytest.approx(4 * np.sqrt(100 / 12), rel=1e-5)
    assert m["minor_axis_length"][0] == pytest.approx(4 * np.sqrt(16 / 12), rel=1e-5)


def test_patch_measurements_refuse_a_bad_shape():
    with pytest.raises(ValueError, match=r"patches: expected \(N, C \+ 1, \*spatial\)"):
        patch_measurements(torch.zeros(3, 1, 8, 8))
    with pytest.raises(ValueError, match="patches"):
        patch_measurements(torch.zeros(8, 8))
