import numpy as np
import pytest
from scipy import ndimage
from skimage.measure import regionprops_table

from svetlana_nb import data
from svetlana_nb.data import _synth

SMALL = {
    "cells_2d": dict(n_objects=160),
    "infected_cells_2d": dict(n_objects=160),
    "cells_3d": dict(n_objects=40),
    "cells_3d_multichannel": dict(n_objects=40),
    "large_2d": dict(shape=(600, 600), n_objects=120),
    "large_3d": dict(shape=(48, 160, 160), n_objects=40),
}
EXPECTED = {  # name: (image shape, fraction of the second class)
    "cells_2d": ((512, 512), 0.4),
    "infected_cells_2d": ((512, 512, 2), 0.3),
    "cells_3d": ((40, 128, 128), 0.35),
    "cells_3d_multichannel": ((40, 128, 128, 2), 0.35),
    "large_2d": ((600, 600), 0.4),
    "large_3d": ((48, 160, 160), 0.35),
}


@pytest.fixture(scope="module", params=list(SMALL))
def demo(request):
    return data.load(request.param, **SMALL[request.param])


def test_shapes_and_dtypes(demo):
    shape, _ = EXPECTED[demo.name]
    assert demo.image.shape == shape
    assert demo.image.dtype == np.uint16
    assert demo.mask.dtype == np.int32
    assert demo.mask.shape == shape[: demo.mask.ndim]
    assert demo.channel_axis == (-1 if demo.image.ndim > demo.mask.ndim else None)
    assert len(demo.class_names) == 2 and demo.description and demo.name in repr(demo)


def test_every_object_has_a_truth_and_count(demo):
    ids = np.unique(demo.mask)
    assert ids[0] == 0
    assert set(ids[1:].tolist()) == set(demo.truth)
    assert demo.n_objects == SMALL[demo.name]["n_objects"]
    assert set(demo.truth.values()) <= set(demo.class_names)
    np.testing.assert_array_equal(demo.labels, ids[1:])


def test_class_balance(demo):
    _, fraction = EXPECTED[demo.name]
    counts = demo.counts()
    second = counts[demo.class_names[1]] / demo.n_objects
    assert abs(second - fraction) < 0.05
    assert sum(counts.values()) == demo.n_objects


def test_ids_are_shuffled_and_skip_values(demo):
    ids = np.fromiter(demo.truth, dtype=np.int64)
    assert ids.max() > demo.n_objects  # some values skipped
    assert not np.all(np.diff(ids) > 0)  # not in creation order either


def test_objects_are_separate_single_blobs(demo):
    mask = demo.mask
    for axis in range(mask.ndim):  # no two labels share an edge
        a = np.moveaxis(mask, axis, 0)
        first, second = a[:-1], a[1:]
        assert not np.any((first > 0) & (second > 0) & (first != second))
    _, n_blobs = ndimage.label(mask > 0)
    assert n_blobs == demo.n_objects  # each object is one connected piece


def test_some_objects_touch_the_border(demo):
    mask = demo.mask
    border = np.zeros(mask.shape, bool)
    for axis in range(mask.ndim if mask.ndim == 2 else 3):
        index = [slice(None)] * mask.ndim
        for end in (0, -1):
            index[axis] = end
            border[tuple(index)] = True
    touching = np.unique(mask[border & (mask > 0)])
    assert 0 < touching.size < demo.n_objects


@pytest.mark.parametrize("name", list(SMALL))
def test_deterministic_by_seed(name):
    kw = dict(SMALL[name])
    kw["n_objects"] = min(kw["n_objects"], 30)
    a, b = data.load(name, seed=3, **kw), data.load(name, seed=3, **kw)
    c = data.load(name, seed=4, **kw)
    np.testing.assert_array_equal(a.image, b.image)
    np.testing.assert_array_equal(a.mask, b.mask)
    assert a.truth == b.truth
    assert not np.array_equal(a.mask, c.mask)


def test_truth_for_is_vectorised_and_checks_ids():
    demo = data.cells_2d(shape=(256, 256), n_objects=40)
    labels = demo.labels
    names = demo.truth_for(labels.reshape(4, 10))
    assert names.shape == (4, 10) and names.dtype == object
    assert [demo.truth[int(i)] for i in labels] == names.ravel().tolist()
    index = demo.truth_index(labels)
    assert np.array_equal(np.array(demo.class_names, dtype=object)[index], names.ravel())
    assert demo.truth_for(labels[0]) == demo.truth[int(labels[0])]
    missing = int(labels.max()) + 1
    with pytest.raises(KeyError, match=str(missing)):
        demo.truth_for([labels[0], missing])
    with pytest.raises(KeyError):
        demo.truth_for([0])


def _props(demo, channel=0):
    image = demo.image if demo.channel_axis is None else demo.image[..., channel]
    props = ["label", "area", "intensity_mean", "intensity_max"]
    if demo.mask.ndim == 2:
        props.append("eccentricity")
    table = regionprops_table(demo.mask, image, properties=props)
    return table, demo.truth_index(table["label"])


def _best_threshold_accuracy(x, y):
    x = np.asarray(x)
    return max(max(((x > t) == y).mean(), ((x <= t) == y).mean()) for t in x)


@pytest.mark.parametrize("name", ["cells_2d", "cells_3d"])
def test_texture_separates_classes_but_size_and_mean_do_not(name):
    demo = data.load(name, seed=1, **SMALL[name])
    table, y = _props(demo)
    peakiness = table["intensity_max"] / table["intensity_mean"]
    assert np.median(peakiness[y == 1]) > 1.3 * np.median(peakiness[y == 0])
    assert _best_threshold_accuracy(peakiness, y) > 0.9
    majority = max(np.mean(y), 1 - np.mean(y))
    for feature in ("area", "intensity_mean"):  # same law for both classes
        assert _best_threshold_accuracy(table[feature], y) < majority + 0.15


def test_random_forest_on_area_mean_eccentricity_is_far_from_perfect():
    from sklearn.ensemble import RandomForestClassifier
    from sklearn.model_selection import cross_val_score

    demo = data.cells_2d(seed=2)
    table, y = _props(demo)
    x = np.column_stack([table["area"], table["intensity_mean"], table["eccentricity"]])
    accuracy = cross_val_score(RandomForestClassifier(50, random_state=0), x, y, cv=4).mean()
    assert accuracy < 0.8


def test_infected_cells_carry_bright_spots_in_channel_1():
    demo = data.infected_cells_2d(seed=1)
    spots, y = _props(demo, channel=1)
    nuclei, _ = _props(demo, channel=0)
    assert spots["intensity_max"][y == 1].mean() > 2 * spots["intensity_max"][y == 0].mean()
    # the nuclear channel carries no class information, and the spot channel's mean alone
    # is not a clean cut
    assert _best_threshold_accuracy(nuclei["intensity_mean"], y) < 0.85
    assert _best_threshold_accuracy(spots["intensity_mean"], y) < 0.95
    # background spots exist outside nuclei
    outside = demo.image[..., 1][demo.mask == 0]
    assert outside.max() > np.percentile(outside, 50) + 100


def test_large_2d_options():
    demo = data.large_2d(shape=(300, 500), n_objects=40, seed=5, dtype=np.float32)
    assert demo.image.shape == (300, 500) and demo.image.dtype == np.float32
    assert np.isfinite(demo.image).all()
    small = data.large_2d(shape=(300, 500), n_objects=40, seed=5, dtype=np.uint8)
    assert small.image.dtype == np.uint8
    assert (small.image[small.mask > 0] == 255).mean() < 0.005
    assert np.percentile(small.image[small.mask > 0], 50) > 2 * np.median(small.image)
    np.testing.assert_array_equal(small.mask, demo.mask)


def test_blocks_do_not_change_the_objects(monkeypatch):
    whole = data.cells_3d_multichannel(seed=2)
    monkeypatch.setattr(_synth, "_BAND_PIXELS", 5000)  # forces blocks smaller than one row
    split = data.cells_3d_multichannel(seed=2)
    np.testing.assert_array_equal(whole.mask, split.mask)
    assert whole.truth == split.truth
    diff = np.abs(whole.image.astype(float) - split.image.astype(float))
    assert np.median(diff) < 30  # only the noise draws differ


def test_too_many_objects_is_a_clear_error():
    with pytest.raises(ValueError, match="n_objects"):
        data.cells_2d(shape=(64, 64), n_objects=100)


@pytest.mark.parametrize(
    "kw, match",
    [
        (dict(shape=(100,)), "shape"),
        (dict(shape=(100.5, 100)), "shape"),
        (dict(n_objects=0), "n_objects"),
        (dict(n_objects=2.5), "n_objects"),
    ],
)
def test_bad_arguments_name_the_parameter(kw, match):
    with pytest.raises(ValueError, match=match):
        data.cells_2d(**kw)


def test_default_3d_layout_fits_for_many_seeds():
    for seed in range(20):
        assert data.cells_3d(seed=seed, shape=(40, 128, 128)).n_objects == 40


@pytest.mark.parametrize("name", ["cells_2d", "infected_cells_2d", "cells_3d", "textures_2d"])
def test_every_set_is_made_with_its_defaults(name):
    """A user's first call, with no argument: it must work, whatever the seed."""
    for seed in range(3):
        demo = data.load(name, seed=seed)
        assert demo.n_objects == len(np.unique(demo.mask)) - 1 > 0


def test_load_and_available():
    names = data.available()
    assert {"cells_2d", "infected_cells_2d", "cells_3d", "large_2d", "large_3d"} <= set(names)
    assert data.load("cells_2d", shape=(128, 128), n_objects=10).n_objects == 10
    with pytest.raises(ValueError, match="cells_2d"):
        data.load("nope")


def test_coins_follow_the_documented_rule():
    demo = data.coins()
    assert demo.image.shape == (303, 384) and demo.mask.dtype == np.int32
    assert demo.n_objects == 24
    area = np.bincount(demo.mask.ravel())
    for label, name in demo.truth.items():
        assert name == ("large" if area[label] >= 1450 else "small")
    assert set(demo.counts().values()) == {11, 13}


def test_textures_2d_has_ten_balanced_classes_told_apart_by_their_spots():
    demo = data.textures_2d(shape=(768, 768), n_objects=200, seed=1)
    assert demo.image.shape == (768, 768) and demo.image.dtype == np.uint16 and demo.mask.dtype == np.int32
    assert demo.class_names == [f"{k} {size}" for k in range(1, 6) for size in ("fine", "coarse")]
    assert set(demo.counts().values()) == {20}
    assert set(np.unique(demo.mask)[1:].tolist()) == set(demo.truth)
    table, y = _props(demo)
    # more spots: a larger spread of intensity inside the nucleus (fine spots: brighter peaks)
    spread = np.asarray(table["intensity_max"]) / np.asarray(table["intensity_mean"])
    count, fine = y // 2 + 1, y % 2 == 0
    assert np.median(spread[fine & (count == 5)]) > np.median(spread[fine & (count == 1)])
    assert np.median(spread[fine]) > np.median(spread[~fine])
    # size and mean brightness follow one law for every class
    for feature in ("area", "intensity_mean"):
        means = [np.mean(table[feature][y == c]) for c in range(10)]
        assert np.std(means) < 0.1 * np.mean(means), feature
    a, b = (
        data.load("textures_2d", shape=(128, 128), n_objects=10, seed=3),
        data.textures_2d(shape=(128, 128), n_objects=10, seed=3),
    )
    np.testing.assert_array_equal(a.image, b.image)
    assert a.truth == b.truth
