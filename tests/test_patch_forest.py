"""The forest on patch measurements that a network's probabilities are averaged with."""

import json

import numpy as np
import pytest
import torch

import svetlana_nb as sv
from svetlana_nb.forest import ForestModel
from svetlana_nb.patch_measurements import measurement_names, patch_measurements


def annotate(objects, truth, n, seed=0):
    ann = sv.Annotations(objects, ["a", "b"])
    for label in np.random.default_rng(seed).choice(objects.labels, n, replace=False):
        ann.add(int(label), truth[int(label)])
    return ann


# -- measurements ------------------------------------------------------------------------------
@pytest.mark.parametrize("ndim", [2, 3])
def test_patch_measurements_equal_the_whole_image_features(ndim):
    """Objects that fit their patch measure as in features.py (intensities normalised alike)."""
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
    clf = sv.Classifier(objects, normalization="none", forest_weight=0,
                        patch_size=24 if ndim == 2 else (12, 24, 24))
    measured = patch_measurements(torch.from_numpy(clf.patches(objects))).numpy()
    names = measurement_names(2, ndim)
    assert measured.shape == (len(centres), len(names))
    expected, feature_names = sv.features.feature_matrix(objects)
    for k, name in enumerate(names):
        np.testing.assert_allclose(measured[:, k], expected[:, feature_names.index(name)], rtol=1e-4,
                                   atol=1e-3, err_msg=name)


def test_patch_measurements_of_a_known_rectangle_and_of_an_absent_object():
    x = torch.zeros(2, 2, 20, 20)
    x[0, -1, 5:9, 2:12] = 1  # a 4 x 10 rectangle
    x[0, 0, 5:9, 2:12] = torch.arange(40, dtype=torch.float32).reshape(4, 10)
    x[0, 0, 0, 0] = 99  # outside the object: ignored
    x[1, 0] = 5  # no object pixel at all
    m = dict(zip(measurement_names(1, 2), patch_measurements(x).T.tolist()))
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


# -- the forest's fast prediction ------------------------------------------------------------------
def test_forest_prediction_through_scikit_learn_trees_equals_the_numpy_walk():
    rng = np.random.default_rng(0)
    x = rng.normal(size=(80, 6))
    y = (x[:, 2] + 0.3 * rng.normal(size=80) > 0).astype(int) + (x[:, 4] > 1)
    forest = ForestModel.fit(x, y, 3, [f"f{i}" for i in range(6)], n_estimators=50)
    new = rng.normal(size=(500, 6))
    assert forest._sklearn_trees() is not None  # the fast path is the one in use here
    fast, walked = forest.predict_proba(new), forest.predict_proba_numpy(new)
    np.testing.assert_allclose(fast, walked, atol=1e-12)
    assert fast.shape == (500, 3) and len(np.unique(fast.argmax(1))) == 3


def test_forest_prediction_falls_back_to_numpy(monkeypatch):
    import svetlana_nb.forest as forest_module

    rng = np.random.default_rng(1)
    x, y = rng.normal(size=(40, 3)), np.arange(40) % 2
    forest = ForestModel.fit(x, y, 2, ["a", "b", "c"], n_estimators=10)
    expected = forest.predict_proba(x)

    def unsupported(*_args):
        raise TypeError("another scikit-learn")

    monkeypatch.setattr(forest_module, "_rebuild_trees", unsupported)
    rebuilt = ForestModel(forest.arrays, forest.feature_names)
    np.testing.assert_allclose(rebuilt.predict_proba(x), expected, atol=1e-12)
    assert rebuilt._sklearn_trees() is None


# -- the classifier ---------------------------------------------------------------------------------
EPOCHS = 40
@pytest.fixture(scope="module")
def blended(scene_2d_multichannel):
    image, mask, truth = scene_2d_multichannel
    objects = sv.Objects(image, mask)
    ann = annotate(objects, truth, 50)  # with a validation split
    clf = sv.Classifier(objects, seed=0)
    clf.fit(ann, epochs=EPOCHS)
    alone = sv.Classifier(objects, seed=0, forest_weight=0)
    alone.fit(ann, epochs=EPOCHS)
    return objects, ann, truth, clf, alone


def forest_of_patches(clf, objects):
    """The companion forest on measurements of ``clf.patches`` (the generic path), rounded as in prediction."""
    x = torch.from_numpy(clf.patches(objects)).to(clf._input_dtype())
    return clf.patch_forest.predict_proba(patch_measurements(x).numpy())


def test_default_asks_the_forest_where_the_network_is_unsure(blended):
    objects, ann, _, clf, alone = blended
    assert clf.forest_weight == sv.classifier.FOREST_WEIGHT == 0.5
    assert clf.second_opinion_below == sv.classifier.SECOND_OPINION_BELOW == 0.8
    assert alone.patch_forest is None and clf.patch_forest is not None
    assert clf.patch_forest.feature_names == measurement_names(2, 2)
    network = alone.predict_proba(objects)  # same seed: the same network
    np.testing.assert_allclose(clf.forward_patches(clf.patches(objects)), network, atol=1e-6)
    np.testing.assert_allclose(clf.network_proba(objects), network, atol=1e-6)  # before the second opinion
    forest = forest_of_patches(clf, objects)
    np.testing.assert_allclose(clf.forest_opinion(objects, np.arange(len(objects))), forest, atol=1e-6)
    np.testing.assert_array_equal(clf.second_opinion_rows(network), np.flatnonzero(network.max(1) < 0.8))
    clf.second_opinion_below = float(np.median(network.max(1)))  # so that both cases occur here
    unsure = network.max(1) < clf.second_opinion_below
    assert 0 < unsure.sum() < len(objects)
    expected = np.where(unsure[:, None], 0.5 * network + 0.5 * forest, network)
    try:
        np.testing.assert_allclose(clf.predict_proba(objects), expected, atol=1e-5)
    finally:
        clf.second_opinion_below = 0.8
    assert not np.allclose(forest[unsure], network[unsure], atol=0.05)  # the two opinions do differ
    rows, targets = ann.rows_and_targets()
    # the forest learnt every annotated object, validation ones included
    assert (forest[rows].argmax(1) == targets).mean() == 1.0
    everywhere = sv.Classifier(objects, seed=0, second_opinion_below=1.01)
    everywhere.fit(ann, epochs=EPOCHS)
    np.testing.assert_allclose(everywhere.predict_proba(objects), 0.5 * network + 0.5 * forest, atol=1e-5)


def test_forest_weight_zero_is_the_network_alone(blended):
    objects, ann, _, clf, alone = blended
    assert alone.patch_forest is None and "forest" not in alone.description
    assert "below 0.8, averaged with a" in clf.description and "+ forest x0.5" in repr(clf)
    np.testing.assert_allclose(alone.predict_proba(objects), alone.forward_patches(alone.patches(objects)),
                               atol=1e-6)


def test_forest_weight_one_gives_the_forest_alone(blended):
    objects, ann, truth, _, _ = blended
    clf = sv.Classifier(objects, seed=0, forest_weight=1, second_opinion_below=1.01)
    clf.fit(ann, epochs=2)
    p = clf.predict_proba(objects)
    np.testing.assert_allclose(p, forest_of_patches(clf, objects), atol=1e-6)
    held_out = [int(k) for k in objects.labels if int(k) not in dict(ann.items())]
    correct = [clf.predict(objects).classes[k] == truth[k] for k in held_out]
    assert np.mean(correct) > 0.8  # channel 1's bright centre is one measurement away


def test_validation_accuracy_with_the_second_opinion_scores_the_forest_out_of_bag(blended):
    objects, ann, _, clf, alone = blended
    assert alone.history.second_opinion_val_acc is None  # no second opinion
    rows, targets = ann.rows_and_targets()
    val = np.array([np.flatnonzero(rows == r)[0] for r in clf.history.val_rows])  # positions in rows
    assert len(val) >= 5
    network = clf.network_proba(objects, rows[val])
    oob = clf.patch_forest.oob_proba[val]
    unsure = (network.max(1) < 0.8) & np.isfinite(oob).all(1)
    expected = np.where(unsure[:, None], 0.5 * network + 0.5 * oob, network)
    assert clf.history.second_opinion_val_acc == pytest.approx((expected.argmax(1) == targets[val]).mean())
    assert "with the second opinion)" in clf.history.summary()
    # the forest alone, everywhere, on classes drawn at random: its out-of-bag accuracy (near
    # chance), not that of trees that learnt the validation objects (all right)
    noise = sv.Annotations(objects, ["a", "b"])
    rng = np.random.default_rng(1)
    for row in rows:
        noise.add(int(objects.labels[row]), ["a", "b"][rng.integers(2)])
    rows, targets = noise.rows_and_targets()
    forest_only = sv.Classifier(objects, seed=0, forest_weight=1, second_opinion_below=1.01)
    history = forest_only.fit(noise, epochs=1)
    val = np.array([np.flatnonzero(rows == r)[0] for r in history.val_rows])
    oob = forest_only.patch_forest.oob_proba[val]
    assert np.isfinite(oob).all()
    out_of_bag = (oob.argmax(1) == targets[val]).mean()
    assert history.second_opinion_val_acc == pytest.approx(out_of_bag)
    in_bag = (forest_only.predict_proba(objects, rows[val]).argmax(1) == targets[val]).mean()
    assert in_bag == 1.0 and out_of_bag < 0.8


@pytest.mark.parametrize("weight", [-0.1, 1.5, True, "half", float("nan"), None])
def test_bad_forest_options_are_refused_naming_them(scene_2d, weight):
    image, mask, _ = scene_2d
    objects = sv.Objects(image, mask)
    with pytest.raises(ValueError, match="forest_weight: expected a number from 0 to 1"):
        sv.Classifier(objects, forest_weight=weight)
    with pytest.raises(ValueError, match="second_opinion_below: expected a number from 0 to 1.01"):
        sv.Classifier(objects, second_opinion_below=2 if weight == 1.5 else weight)


def test_model_file_keeps_the_forest_and_old_files_load_without_one(blended, tmp_path):
    from safetensors import safe_open
    from safetensors.torch import save_file

    objects, _, _, clf, alone = blended
    path = tmp_path / "blend.svnb"
    clf.save(path)
    loaded = sv.Classifier.load(path)
    assert loaded.forest_weight == 0.5 and loaded.second_opinion_below == 0.8
    assert loaded.patch_forest.feature_names == clf.patch_forest.feature_names
    np.testing.assert_allclose(loaded.predict_proba(objects), clf.predict_proba(objects), atol=1e-6)

    with safe_open(str(path), framework="pt") as handle:
        config = json.loads(handle.metadata()["svetlana_nb"])
        tensors = {k: handle.get_tensor(k) for k in handle.keys()}
    network_only = {k: v for k, v in tensors.items() if not k.startswith("patch_forest.")}
    old = {k: v for k, v in config.items() if k not in ("forest_weight", "patch_feature_names")}
    save_file(network_only, str(tmp_path / "old.svnb"), metadata={"svetlana_nb": json.dumps(old)})
    before = sv.Classifier.load(tmp_path / "old.svnb")  # a file written before forest_weight existed
    assert before.forest_weight == 0 and before.patch_forest is None
    np.testing.assert_allclose(before.predict_proba(objects), alone.predict_proba(objects), atol=1e-6)

    save_file(network_only, str(tmp_path / "lost.svnb"), metadata={"svetlana_nb": json.dumps(config)})
    with pytest.raises(ValueError, match="lost.svnb.*forest lacks"):
        sv.Classifier.load(tmp_path / "lost.svnb")


def test_grad_cam_explains_the_blended_decision(blended):
    objects, _, _, clf, _ = blended
    p = clf.predict_proba(objects)
    row = int(np.argmin(np.abs(p[:, 1] - 0.5)))  # the least certain object
    cam = sv.grad_cam(clf, objects, int(objects.labels[row]))
    np.testing.assert_allclose(cam.probabilities, p[row], atol=1e-6)
    assert cam.class_name == clf.class_names[int(p[row].argmax())]
