"""The second opinion: a forest on patch measurements, averaged in where the network is unsure."""

import json

import numpy as np
import pytest
import torch
from helpers import annotate

import svetlana_nb as sv
from svetlana_nb.models import opinions
from svetlana_nb.models.devices import input_dtype
from svetlana_nb.models.measurements import measurement_names, patch_measurements

EPOCHS = 40


@pytest.fixture(scope="module")
def blended(scene_2d_multichannel):
    image, mask, truth = scene_2d_multichannel
    objects = sv.Objects(image, mask)
    ann = annotate(objects, truth, 50)  # with a validation split
    clf = sv.Classifier(objects, seed=0)
    clf.fit(ann, epochs=EPOCHS)
    alone = sv.Classifier(objects, seed=0, second_opinion=None)
    alone.fit(ann, epochs=EPOCHS)
    return objects, ann, truth, clf, alone


def forest_of_patches(clf, objects):
    """The opinion forest on measurements of ``clf.patches`` (all at once), rounded as in prediction."""
    x = torch.from_numpy(clf.patches(objects)).to(input_dtype(clf.device))
    return clf.backend.opinion.forest.predict_proba(patch_measurements(x).numpy())


def test_settings_are_checked_and_serialised():
    assert sv.SecondOpinion() == sv.SecondOpinion(weight=0.5, below=0.8)
    opinion = sv.SecondOpinion(weight=0.3, below=0.9)
    assert sv.SecondOpinion.from_dict(json.loads(json.dumps(opinion.to_dict()))) == opinion
    p = np.array([[0.95, 0.05], [0.6, 0.4], [0.3, 0.7]], dtype=np.float32)
    np.testing.assert_array_equal(opinion.consulted(p), [1, 2])
    blended = opinion.apply(p.copy(), lambda rows: np.tile([[0.0, 1.0]], (len(rows), 1)))
    np.testing.assert_allclose(blended, [[0.95, 0.05], [0.42, 0.58], [0.21, 0.79]], atol=1e-6)


@pytest.mark.parametrize("weight", [-0.1, 0, 1.5, True, "half", float("nan"), None])
def test_bad_weights_are_refused_naming_the_setting(weight):
    with pytest.raises(ValueError, match="weight: expected a (finite )?number"):
        sv.SecondOpinion(weight=weight)


@pytest.mark.parametrize("below", [-0.1, 2, True, "half", float("nan"), None])
def test_bad_thresholds_are_refused_naming_the_setting(below):
    with pytest.raises(ValueError, match="below: expected a finite number from 0 to 1.01"):
        sv.SecondOpinion(below=below)


def test_the_options_of_earlier_versions_say_what_replaced_them(scene_2d):
    image, mask, _ = scene_2d
    objects = sv.Objects(image, mask)
    with pytest.raises(TypeError, match=r"forest_weight: replaced by second_opinion=SecondOpinion\(weight"):
        sv.Classifier(objects, forest_weight=0)
    with pytest.raises(TypeError, match="second_opinion: expected svetlana_nb.SecondOpinion or None"):
        sv.Classifier(objects, second_opinion=0.5)


def test_default_asks_the_forest_where_the_network_is_unsure(blended):
    objects, ann, _, clf, alone = blended
    assert clf.second_opinion == sv.SecondOpinion(weight=0.5, below=0.8)
    assert alone.backend.opinion is None and clf.backend.opinion is not None
    assert clf.backend.opinion.feature_names == measurement_names(2, 2)
    # the mechanism, on the raw probabilities (the temperatures fitted at the end of fit come after it)
    network = alone.predict_proba(objects, calibrated=False)  # same seed: the same network
    np.testing.assert_allclose(clf.backend.forward_patches(clf.patches(objects)), network, atol=1e-6)
    np.testing.assert_allclose(clf.network_proba(objects), network, atol=1e-6)  # before the second opinion
    forest = forest_of_patches(clf, objects)
    np.testing.assert_allclose(clf.backend.opinion_proba(objects, np.arange(len(objects))), forest, atol=1e-6)
    np.testing.assert_array_equal(clf.second_opinion.consulted(network), np.flatnonzero(network.max(1) < 0.8))
    clf.second_opinion = sv.SecondOpinion(below=float(np.median(network.max(1))))  # so that both cases occur
    unsure = network.max(1) < clf.second_opinion.below
    assert 0 < unsure.sum() < len(objects)
    expected = np.where(unsure[:, None], 0.5 * network + 0.5 * forest, network)
    try:
        np.testing.assert_allclose(clf.predict_proba(objects, calibrated=False), expected, atol=1e-5)
    finally:
        clf.second_opinion = sv.SecondOpinion()
    assert not np.allclose(forest[unsure], network[unsure], atol=0.05)  # the two opinions do differ
    rows, targets = ann.rows_and_targets()
    # the forest learnt every annotated object, validation ones included
    assert (forest[rows].argmax(1) == targets).mean() == 1.0
    everywhere = sv.Classifier(objects, seed=0, second_opinion=sv.SecondOpinion(below=1.01))
    everywhere.fit(ann, epochs=EPOCHS)
    np.testing.assert_allclose(
        everywhere.predict_proba(objects, calibrated=False), 0.5 * network + 0.5 * forest, atol=1e-5
    )


def test_none_is_the_network_alone_and_turning_it_off_takes_effect_at_once(blended):
    objects, ann, _, clf, alone = blended
    assert alone.backend.opinion is None and "forest" not in alone.description
    assert "below 0.8, averaged with a" in clf.description and "+ forest x0.5" in repr(clf)
    np.testing.assert_allclose(
        alone.predict_proba(objects, calibrated=False),
        alone.backend.forward_patches(alone.patches(objects)),
        atol=1e-6,
    )
    clf.second_opinion = None
    try:
        np.testing.assert_allclose(
            clf.predict_proba(objects, calibrated=False), alone.predict_proba(objects, calibrated=False), atol=1e-6
        )
        assert "forest" not in repr(clf) and clf.backend.opinion is not None  # kept for when it is turned on
    finally:
        clf.second_opinion = sv.SecondOpinion()


def test_weight_one_gives_the_forest_alone(blended):
    objects, ann, truth, _, _ = blended
    clf = sv.Classifier(objects, seed=0, second_opinion=sv.SecondOpinion(weight=1, below=1.01))
    clf.fit(ann, epochs=2)
    p = clf.predict_proba(objects, calibrated=False)
    np.testing.assert_allclose(p, forest_of_patches(clf, objects), atol=1e-6)
    held_out = [int(k) for k in objects.labels if ("image", int(k)) not in dict(ann.items())]
    correct = [clf.predict(objects).classes[k] == truth[k] for k in held_out]
    assert np.mean(correct) > 0.8  # channel 1's bright centre is one measurement away


def test_validation_accuracy_with_the_second_opinion_scores_the_forest_out_of_bag(blended):
    objects, ann, _, clf, alone = blended
    assert alone.history.second_opinion_val_acc is None  # no second opinion
    rows, targets = ann.rows_and_targets()
    val = np.array([np.flatnonzero(rows == r)[0] for r in clf.history.val_rows])  # positions in rows
    assert len(val) >= 5
    network = clf.network_proba(objects, rows[val])
    oob = clf.backend.opinion.forest.oob_proba[val]
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
    forest_only = sv.Classifier(objects, seed=0, second_opinion=sv.SecondOpinion(weight=1, below=1.01))
    history = forest_only.fit(noise, epochs=1)
    val = np.array([np.flatnonzero(rows == r)[0] for r in history.val_rows])
    oob = forest_only.backend.opinion.forest.oob_proba[val]
    assert np.isfinite(oob).all()
    out_of_bag = (oob.argmax(1) == targets[val]).mean()
    assert history.second_opinion_val_acc == pytest.approx(out_of_bag)
    in_bag = (forest_only.predict_proba(objects, rows[val]).argmax(1) == targets[val]).mean()
    assert in_bag == 1.0 and out_of_bag < 0.8


def test_model_file_keeps_the_forest_and_the_settings(blended, tmp_path):
    from safetensors import safe_open
    from safetensors.torch import save_file

    objects, _, _, clf, alone = blended
    path = tmp_path / "blend.svnb"
    clf.save(path)
    loaded = sv.Classifier.load(path)
    assert loaded.second_opinion == sv.SecondOpinion()
    assert loaded.backend.opinion.feature_names == clf.backend.opinion.feature_names
    np.testing.assert_allclose(loaded.predict_proba(objects), clf.predict_proba(objects), atol=1e-6)

    with safe_open(str(path), framework="pt") as handle:
        header = json.loads(handle.metadata()["svetlana_nb"])
        tensors = {k: handle.get_tensor(k) for k in handle.keys()}
    network_only = {k: v for k, v in tensors.items() if not k.startswith("opinion.")}
    save_file(network_only, str(tmp_path / "lost.svnb"), metadata={"svetlana_nb": json.dumps(header)})
    with pytest.raises(ValueError, match="lost.svnb.*forest lacks"):
        sv.Classifier.load(tmp_path / "lost.svnb")


def test_a_model_saved_with_the_second_opinion_off_loads_and_can_turn_it_on(blended, tmp_path):
    objects, _, _, clf, alone = blended
    clf.second_opinion = None  # the Trainer's box, or the command line's --network-alone
    try:
        clf.save(tmp_path / "off.svnb")
    finally:
        clf.second_opinion = sv.SecondOpinion()
    loaded = sv.Classifier.load(tmp_path / "off.svnb")
    assert loaded.second_opinion is None and loaded.backend.opinion is not None
    np.testing.assert_allclose(
        loaded.predict_proba(objects, calibrated=False), alone.predict_proba(objects, calibrated=False), atol=1e-6
    )
    loaded.second_opinion = sv.SecondOpinion()
    np.testing.assert_allclose(loaded.predict_proba(objects), clf.predict_proba(objects), atol=1e-6)


def test_grad_cam_explains_the_blended_decision_and_both_opinions_are_shown(blended):
    objects, _, _, clf, _ = blended
    p = clf.predict_proba(objects)
    row = int(np.argmin(np.abs(p[:, 1] - 0.5)))  # the least certain object
    cam = sv.grad_cam(clf, objects, int(objects.labels[row]))
    np.testing.assert_allclose(cam.probabilities, p[row], atol=1e-6)
    assert cam.class_name == clf.class_names[int(p[row].argmax())]
    network = clf.network_proba(objects).max(1)
    unsure, sure = int(np.argmin(network)), int(np.argmax(network))
    clf.second_opinion = sv.SecondOpinion(below=float(network[unsure]) + 1e-4)  # exactly one object is unsure
    try:
        both = opinions(clf, objects, int(objects.labels[unsure]))
        assert both is not None and both.weight == 0.5
        p = clf.predict_proba(objects, calibrated=False)
        np.testing.assert_allclose(0.5 * both.network + 0.5 * both.forest, p[unsure], atol=1e-5)
        assert opinions(clf, objects, int(objects.labels[sure])) is None
    finally:
        clf.second_opinion = sv.SecondOpinion()


@pytest.mark.parametrize("threads", [1, 3])
def test_one_pass_measures_the_unsure_objects_as_a_separate_pass_does(blended, monkeypatch, threads):
    """Prediction gathers each patch once; the forest reads the same measurements as before."""
    from svetlana_nb.models.forest import ForestModel
    from svetlana_nb.objects.batches import PatchBatches

    objects, _, _, clf, _ = blended
    network = clf.network_proba(objects)
    clf.second_opinion = sv.SecondOpinion(below=float(np.median(network.max(1))))  # both cases occur
    unsure = clf.second_opinion.consulted(network)
    gathered, measured = [], []
    gather, predict = PatchBatches.gather, ForestModel.predict_proba
    monkeypatch.setattr(PatchBatches, "gather", lambda self, b: gathered.append(b.positions) or gather(self, b))
    monkeypatch.setattr(ForestModel, "predict_proba", lambda self, x: measured.append(x) or predict(self, x))
    before = torch.get_num_threads()
    try:
        torch.set_num_threads(threads)  # 3: three workers taking every third batch
        one_pass = clf.predict_proba(objects, batch_size=7, calibrated=False)
    finally:
        torch.set_num_threads(before)
        monkeypatch.undo()
    # every object gathered once, in one pass
    np.testing.assert_array_equal(np.sort(np.concatenate(gathered)), np.arange(len(objects)))
    # the forest read the measurements of exactly the unsure objects, equal to a separate pass's
    x = torch.from_numpy(clf.patches(objects, unsure)).to(input_dtype(clf.device))
    separate = patch_measurements(x).numpy().astype(np.float64)
    assert len(measured) == 1  # the forest read every unsure object at once, not batch by batch
    fused = np.concatenate(measured)
    assert fused.shape == separate.shape
    order = lambda v: v[np.lexsort(v.T[::-1])]  # noqa: E731 - rows in one order, whatever the batches
    # (float32 sums in another batch order: the standard deviation, a difference of two sums,
    # keeps about four digits, as it did between the two passes of earlier versions)
    np.testing.assert_allclose(order(fused), order(separate), rtol=1e-3, atol=1e-5)
    # and the probabilities are those of the network, then the forest on a separate pass
    try:
        two_passes = clf.second_opinion.apply(
            clf.network_proba(objects), lambda rows: clf.backend.opinion_proba(objects, rows)
        )
    finally:
        clf.second_opinion = sv.SecondOpinion()
    np.testing.assert_allclose(one_pass, two_passes, atol=1e-6)
    assert not np.allclose(one_pass[unsure], network[unsure], atol=1e-3)  # the forest did change them


def test_the_forest_split_over_threads_gives_the_probabilities_of_one_call(blended, monkeypatch):
    """Many unsure objects: the forest's reading is shared by threads, with the same result."""
    from svetlana_nb.models.second_opinion import OpinionPass

    objects, _, _, clf, _ = blended
    settings = sv.SecondOpinion(below=1.01)
    network = clf.network_proba(objects)
    calls = []
    predict = clf.backend.opinion.forest.predict_proba
    monkeypatch.setattr(clf.backend.opinion.forest, "predict_proba", lambda x: calls.append(len(x)) or predict(x))
    results = {}
    for threads in (1, 3):
        refine = clf.backend.opinion.refiner(settings)
        batches = clf.backend.batches(objects, np.arange(len(objects)), batch_size=7)
        with torch.inference_mode():
            for positions, x in batches:
                refine(positions, x, network[positions].copy())
        monkeypatch.setattr(OpinionPass, "_PER_THREAD", 4)
        results[threads] = refine.finish(network.copy(), threads=threads)
    assert calls[0] == len(objects) and len(calls) == 4 and sum(calls[1:]) == len(objects)  # 1, then 3 parts
    np.testing.assert_array_equal(results[3], results[1])
    forest = clf.backend.opinion_proba(objects, np.arange(len(objects)))
    np.testing.assert_allclose(results[1], settings.blend(network, forest), atol=1e-6)
