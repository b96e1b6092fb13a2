import threading

import numpy as np
import pytest
import torch
import torch.nn.functional as F
from helpers import annotate, held_out_accuracy

import svetlana_nb as sv
from svetlana_nb.models import Callback
from svetlana_nb.models.devices import inference_batch_size
from svetlana_nb.models.explain import top_features
from svetlana_nb.models.forest_backend import feature_matrix
from svetlana_nb.models.networks import (
    Downsample,
    GlobalPool,
    LightCNN,
    ObjectPool,
    SmallResNet,
    count_parameters,
    downsample_nonnegative,
)
from svetlana_nb.models.registry import model_kind
from svetlana_nb.objects.patch_spec import choose_downscale


def build_network(name, in_channels, n_classes, ndim):
    network = model_kind(name).network
    assert network is not None
    return network(in_channels, n_classes, ndim)


def test_light_cnn_is_the_paper_size_and_has_no_softmax():
    net = LightCNN(2, 2)
    assert 2000 < count_parameters(net) < 4000
    out = net(torch.randn(4, 2, 39, 39))
    assert out.shape == (4, 2)
    assert not torch.allclose(out.exp().sum(1), torch.ones(4))  # logits, not probabilities
    for k in (2, 3, 4, 5):  # 'same' padding works for any kernel size
        assert LightCNN(3, 5, kernel_size=k)(torch.randn(1, 3, 31, 31)).shape == (1, 5)


@pytest.mark.parametrize("shape", [(3, 4, 8, 8), (3, 4, 7, 9), (2, 3, 1, 6, 5), (2, 3, 5, 4, 4), (2, 2, 1, 1)])
def test_downsample_equals_ceil_mode_max_pooling(shape):
    x = torch.randn(*shape)
    kernel = [2 if s >= 2 else 1 for s in shape[2:]]
    pool = F.max_pool3d if x.dim() == 5 else F.max_pool2d
    expected = pool(x, kernel, kernel, ceil_mode=True)
    assert torch.equal(Downsample()(x), expected)
    fmt = torch.channels_last if x.dim() == 4 else torch.channels_last_3d
    assert torch.equal(Downsample()(x.contiguous(memory_format=fmt)), expected)
    # with gradients (training: the pooling kernel), the same values, one gradient per window
    leaf = x.clone().requires_grad_(True)
    pooled = Downsample()(leaf)
    assert torch.equal(pooled.detach(), expected)
    pooled.sum().backward()
    assert leaf.grad.sum().item() == expected.numel() and set(leaf.grad.unique().tolist()) <= {0.0, 1.0}


@pytest.mark.parametrize("dtype", [torch.bfloat16, torch.float32, torch.float16])
@pytest.mark.parametrize("shape", [(3, 16, 8, 8), (2, 3, 1, 6, 4), (2, 3, 4, 4, 6), (3, 4, 7, 8), (2, 1, 6, 6)])
def test_integer_view_downsample_equals_downsample_on_nonnegative_values(dtype, shape):
    x = torch.randn(*shape).relu().to(dtype)
    x.view(-1)[::7] = -0.0  # what a ReLU may leave: compares below +0 as an integer
    fmt = torch.channels_last if x.dim() == 4 else torch.channels_last_3d
    for layout in (x, x.contiguous(memory_format=fmt)):  # contiguous: falls back to Downsample
        got = downsample_nonnegative(layout)
        expected = Downsample()(layout)
        assert got.shape == expected.shape and got.dtype == dtype
        assert torch.equal(got, expected)
    assert downsample_nonnegative(x.contiguous(memory_format=fmt)).is_contiguous(memory_format=fmt) or any(
        s % 2 for s in shape[2:]
    )


def test_object_pooling_ignores_what_lies_outside_the_object():
    features = torch.zeros(1, 1, 8, 8)
    inputs = torch.zeros(1, 2, 16, 16)
    inputs[0, 1, 4:8, 4:8] = 1  # the object: feature pixels (2..3, 2..3)
    features[0, 0, 2, 2] = 3.0  # inside
    features[0, 0, 6, 6] = 10.0  # a neighbour's evidence, outside
    mean, maximum = ObjectPool()(features, inputs)[0]
    assert maximum == 3.0 and mean == pytest.approx(3.0 / 4)
    assert GlobalPool()(features)[0, 1] == 10.0  # global pooling sees the neighbour


def test_inference_batch_keeps_activations_cache_sized(scene_2d):
    image, mask, _ = scene_2d
    clf = sv.Classifier(sv.Objects(image, mask), n_classes=2, patch_size=48, device="cpu")
    assert 16 <= inference_batch_size(clf.input_shape, clf.device) <= 128
    big = sv.Classifier(sv.Objects(image, mask), n_classes=2, patch_size=200, device="cpu", downscale=1)
    assert inference_batch_size(big.input_shape, big.device) < inference_batch_size(clf.input_shape, clf.device)


@pytest.mark.parametrize("name", ["light_cnn", "light_cnn_deep", "resnet"])
@pytest.mark.parametrize("shape", [(40, 40), (6, 32, 32)])
def test_every_network_in_2d_and_3d(name, shape):
    net = build_network(name, 3, 4, len(shape))
    assert net(torch.randn(2, 3, *shape)).shape == (2, 4)
    assert isinstance(build_network("resnet", 2, 2, 2), SmallResNet)
    with pytest.raises(ValueError, match="model: expected one of"):
        build_network("vgg", 2, 2, 2)


@pytest.mark.slow
def test_default_classifier_beats_chance_on_held_out(scene_2d):
    image, mask, truth = scene_2d
    objects = sv.Objects(image, mask)
    ann = annotate(objects, truth, 30)
    clf = sv.Classifier(objects, n_classes=2)
    history = clf.fit(ann)
    assert len(history.epoch) >= 10 and history.train_loss[-1] < history.train_loss[0]
    result = clf.predict(objects)
    assert held_out_accuracy(result, truth, ann) >= 0.85
    assert result.probabilities.shape == (len(objects), 2)
    np.testing.assert_allclose(result.probabilities.sum(1), 1, atol=1e-4)


@pytest.mark.slow
def test_multichannel_and_3d_train(scene_2d_multichannel, scene_3d):
    for image, mask, truth in (scene_2d_multichannel, scene_3d):
        objects = sv.Objects(image, mask)
        ann = annotate(objects, truth, min(40, len(objects) - 5))
        clf = sv.Classifier(objects)
        clf.fit(ann, epochs=40)
        assert held_out_accuracy(clf.predict(objects), truth, ann) >= 0.7


@pytest.mark.slow
def test_validation_split_early_stopping_and_history(scene_2d):
    image, mask, truth = scene_2d
    objects = sv.Objects(image, mask)
    ann = annotate(objects, truth, 60)
    clf = sv.Classifier(objects, patience=5)
    history = clf.fit(ann, epochs=200)
    assert len(history.val_rows) == 12  # 20 % stratified
    val_classes = {truth[int(objects.labels[r])] for r in history.val_rows}
    assert val_classes == {"a", "b"}
    assert history.stopped == "early_stopping" and len(history.epoch) < 200
    assert history.best_epoch == history.epoch[int(np.argmin(history.val_loss))]
    assert history.confusion.sum() == 12
    assert list(history.to_frame().columns)[:3] == ["epoch", "train_loss", "train_acc"]


def test_seed_makes_training_reproducible(scene_2d):
    image, mask, truth = scene_2d
    objects = sv.Objects(image, mask)
    ann = annotate(objects, truth, 20)
    runs = [sv.Classifier(objects, seed=3).fit(ann, epochs=8).train_loss for _ in range(2)]
    assert runs[0] == runs[1]
    other = sv.Classifier(objects, seed=4).fit(ann, epochs=8).train_loss
    assert other != runs[0]


def test_callbacks_and_stop(scene_2d):
    image, mask, truth = scene_2d
    objects = sv.Objects(image, mask)
    ann = annotate(objects, truth, 40)
    events = {"epochs": [], "batches": 0, "begin": None, "end": None}

    class Recorder(Callback):
        def on_train_begin(self, info):
            events["begin"] = info

        def on_batch_end(self, batch, n_batches, loss):
            events["batches"] += 1

        def on_epoch_end(self, epoch, metrics):
            events["epochs"].append(metrics["train_loss"])

        def should_stop(self):
            return len(events["epochs"]) >= 3

        def on_train_end(self, history):
            events["end"] = history

    clf = sv.Classifier(objects, batch_size=8)
    history = clf.fit(ann, epochs=50, callbacks=[Recorder()])
    assert history.stopped == "user"
    assert len(events["epochs"]) == 3 and events["end"] is history
    assert events["begin"]["n_train"] == 32 and events["begin"]["n_val"] == 8
    assert events["batches"] == 3 * 4 + 1  # stopped within one batch of the request
    with pytest.raises(TypeError, match="not a callback event"):
        sv.FunctionCallback(on_nothing=print)


def test_background_training_can_be_stopped(scene_2d):
    image, mask, truth = scene_2d
    objects = sv.Objects(image, mask)
    ann = annotate(objects, truth, 40)
    clf = sv.Classifier(objects, batch_size=4)
    started = threading.Event()
    on_epoch = sv.FunctionCallback(on_epoch_end=lambda e, m: started.set())
    job = clf.fit_in_background(ann, epochs=500, callbacks=[on_epoch])
    assert started.wait(60)
    assert job.wait(0) is False and not job.done  # 500 epochs: still running
    job.stop()
    assert job.wait(60) is True
    history = job.join(60)
    assert job.done and history.stopped == "user" and len(history.epoch) < 500
    assert clf.predict(objects).probabilities.shape == (len(objects), 2)


def test_training_errors(scene_2d):
    image, mask, truth = scene_2d
    objects = sv.Objects(image, mask)
    ann = sv.Annotations(objects, ["a", "b"])
    ann.add(int(objects.labels[0]), "a")
    ann.add(int(objects.labels[1]), "a")
    with pytest.raises(ValueError, match="at least 2 classes"):
        sv.Classifier(objects).fit(ann)
    with pytest.raises(ValueError, match="model: expected one of"):
        sv.Classifier(objects, model="vgg")
    with pytest.raises(TypeError, match="lr_max: unknown training option"):
        sv.Classifier(objects, lr_max=3)
    with pytest.raises(ValueError, match="lr: expected a finite number above 0"):
        sv.Classifier(objects).fit(ann, lr=-1)
    with pytest.raises(RuntimeError, match="not trained yet"):
        sv.Classifier(objects).predict(objects)


def test_predict_checks_channels(scene_2d, scene_2d_multichannel):
    image, mask, truth = scene_2d
    objects = sv.Objects(image, mask)
    clf = sv.Classifier(objects)
    clf.fit(annotate(objects, truth, 20), epochs=2)
    image2, mask2, _ = scene_2d_multichannel
    with pytest.raises(ValueError, match="objects: the classifier works on 2D images with 1 channel"):
        clf.predict(sv.Objects(image2, mask2))


def test_random_forest_baseline(scene_2d):
    image, mask, truth = scene_2d
    objects = sv.Objects(image, mask)
    ann = annotate(objects, truth, 40)
    clf = sv.Classifier(objects, model="random_forest")
    history = clf.fit(ann)
    assert history.best_epoch == 1 and history.seconds > 0  # its time: benchmarks/bench_engine.py
    result = clf.predict(objects)
    assert result.probabilities.shape == (len(objects), 2)
    names = [n for n, _, _ in top_features(clf, objects, int(objects.labels[0]))]
    assert len(names) == 5 and "area" in objects.features().columns
    assert held_out_accuracy(result, truth, ann) > 0.6  # the bright centre raises max intensity


def test_random_forest_learns_every_annotation_and_is_validated_out_of_bag(scene_2d):
    from sklearn.ensemble import RandomForestClassifier

    image, mask, truth = scene_2d
    objects = sv.Objects(image, mask)
    ann = annotate(objects, truth, 50)  # enough for a validation split
    clf = sv.Classifier(objects, model="random_forest", seed=3)
    history = clf.fit(ann)
    rows, targets = ann.rows_and_targets()
    assert len(history.val_rows) == 10
    x, _ = feature_matrix(objects)
    reference = RandomForestClassifier(
        n_estimators=200, random_state=3, n_jobs=1, class_weight="balanced", oob_score=True
    ).fit(x[rows], targets)
    # the model's own probabilities, before the temperature fitted on its out-of-bag scores
    np.testing.assert_allclose(clf.predict_proba(objects, calibrated=False), reference.predict_proba(x), atol=1e-6)
    val = np.isin(rows, history.val_rows)
    oob_pred = reference.oob_decision_function_[val].argmax(1)
    assert history.val_acc[0] == pytest.approx(float((oob_pred == targets[val]).mean()))
    assert clf.backend.forest.oob_proba.shape == (50, 2)


def test_custom_module_for_transfer_learning(scene_2d, tmp_path):
    image, mask, truth = scene_2d
    objects = sv.Objects(image, mask)
    ann = annotate(objects, truth, 30)
    pretrained = LightCNN(2, 2, width=8)
    clf = sv.Classifier(objects, model=pretrained)
    clf.fit(ann, epochs=3)
    assert clf.network is pretrained
    clf.save(tmp_path / "custom.svnb")
    with pytest.raises(ValueError, match="custom network; pass the module"):
        sv.Classifier.load(tmp_path / "custom.svnb")
    loaded = sv.Classifier.load(tmp_path / "custom.svnb", model=LightCNN(2, 2, width=8))
    np.testing.assert_allclose(loaded.predict_proba(objects), clf.predict_proba(objects), atol=1e-5)
    wrong = sv.Classifier(objects, model=LightCNN(2, 3))
    with pytest.raises(ValueError, match=r"logits of shape \(N, 2\)"):
        wrong.fit(ann, epochs=1)


@pytest.mark.slow
def test_channels_chooses_what_the_network_sees(scene_2d_multichannel):
    image, mask, truth = scene_2d_multichannel  # channel 1 carries the class, channel 0 does not
    objects = sv.Objects(image, mask, channel_axis=-1)
    ann = annotate(objects, truth, 40, seed=None)
    accuracy = {}
    for channels in ([1], [0]):
        clf = sv.Classifier(objects, channels=channels, seed=0)
        clf.fit(ann, epochs=40)
        assert clf.in_channels == 2 and clf.network.features[0].in_channels == 2  # one image channel + mask
        assert clf.patches(objects, np.arange(3)).shape[1] == 2
        accuracy[channels[0]] = held_out_accuracy(clf.predict(objects), truth, ann)
    assert accuracy[1] > 0.9 and accuracy[0] < 0.75, accuracy


def test_channels_are_kept_by_save_and_load_and_by_the_forest(scene_2d_multichannel, tmp_path):
    image, mask, truth = scene_2d_multichannel
    objects = sv.Objects(image, mask, channel_axis=-1)
    ann = annotate(objects, truth, 40, seed=None)
    clf = sv.Classifier(objects, channels=[1], seed=0)
    clf.fit(ann, epochs=3)
    clf.save(tmp_path / "m.svnb")
    loaded = sv.Classifier.load(tmp_path / "m.svnb")
    assert loaded.channels == (1,) and loaded.image_channels == 2
    cam = sv.grad_cam(clf, objects, int(objects.labels[0]))
    assert cam.patch.shape == (2, *clf.patch_shape) and cam.heatmap.shape == clf.patch_shape
    np.testing.assert_allclose(loaded.predict_proba(objects), clf.predict_proba(objects), atol=1e-6)
    forest = sv.Classifier(objects, model="random_forest", channels=[1], seed=0)
    forest.fit(ann)
    names = forest.backend.forest.feature_names
    assert "max_intensity_1" in names and not any(n.endswith("_intensity_0") for n in names)
    assert "area" in names
    top = top_features(forest, objects, int(objects.labels[0]), k=len(names))
    assert sorted(n for n, _, _ in top) == sorted(names)
    with pytest.raises(ValueError, match="objects:"):  # the images it was trained for have 2 channels
        clf.predict(sv.Objects(image[..., 1], mask))


@pytest.mark.parametrize("channels", [[2], [1, 1], [], [-1], ["1"], [True]])
def test_bad_channels_are_refused_naming_the_parameter(scene_2d_multichannel, channels):
    image, mask, _ = scene_2d_multichannel
    objects = sv.Objects(image, mask, channel_axis=-1)
    with pytest.raises(ValueError, match="channels"):
        sv.Classifier(objects, channels=channels)


# -- large objects: patches shrunk before the network ----------------------------------------------
def _upscaled(scene, factor):
    image, mask, truth = scene
    block = np.ones((factor, factor), dtype=np.int32)
    image = (
        np.stack([np.kron(image[..., c], block) for c in range(image.shape[-1])], axis=-1)
        if image.ndim == 3
        else np.kron(image, block.astype(image.dtype))
    )
    return image, np.kron(mask, block), truth


@pytest.mark.slow
def test_classifier_shrinks_large_objects_and_still_classifies_them(scene_2d, tmp_path):
    image, mask, truth = _upscaled(scene_2d, 4)  # discs of 24-40 px radius
    objects = sv.Objects(image, mask)
    assert max(objects.patch_shape) > 64
    clf = sv.Classifier(objects, seed=0)
    assert clf.downscale == choose_downscale(objects.patch_shape) >= 2
    assert all(s % clf.downscale == 0 for s in clf.patch_shape)
    assert clf.input_shape == tuple(s // clf.downscale for s in clf.patch_shape)
    assert f"shrunk {clf.downscale}x" in repr(clf)
    ann = sv.Annotations(objects, ["a", "b"])
    rng = np.random.default_rng(0)
    chosen = rng.choice(objects.labels, 30, replace=False)
    for label in chosen:
        ann.add(int(label), truth[int(label)])
    seen = {}
    clf.fit(ann, epochs=60, callbacks=[sv.FunctionCallback(on_train_begin=seen.update)])
    assert seen["patch"] == clf.patch_description and f"shrunk {clf.downscale}× to" in seen["patch"]
    assert clf.patches(objects, np.arange(2)).shape == (2, 2, *clf.input_shape)
    result = clf.predict(objects)
    held_out = [k for k in objects.labels if k not in set(chosen.tolist())]
    accuracy = np.mean([result.classes[int(k)] == truth[int(k)] for k in held_out])
    assert accuracy >= 0.85, accuracy
    cam = sv.grad_cam(clf, objects, int(objects.labels[0]))
    assert cam.patch.shape == (2, *clf.input_shape) and cam.heatmap.shape == clf.input_shape
    clf.save(tmp_path / "m.svnb")
    loaded = sv.Classifier.load(tmp_path / "m.svnb")
    assert loaded.downscale == clf.downscale and loaded.input_shape == clf.input_shape
    np.testing.assert_allclose(loaded.predict_proba(objects), result.probabilities, atol=1e-6)


def test_explicit_downscale_and_patch_size_rounding(scene_2d):
    image, mask, _ = scene_2d
    objects = sv.Objects(image, mask)
    assert sv.Classifier(objects, patch_size=96).downscale == 2
    full = sv.Classifier(objects, patch_size=96, downscale=1)
    assert full.downscale == 1 and full.input_shape == (96, 96)
    odd = sv.Classifier(objects, patch_size=99, downscale=2)  # rounded up to a multiple of 2
    assert odd.patch_shape == (100, 100) and odd.input_shape == (50, 50)
    small = sv.Classifier(objects, patch_size=40)
    assert small.downscale == 1 and small.input_shape == small.patch_shape == (40, 40)


@pytest.mark.parametrize("downscale", [0, -2, 1.5, True, "2"])
def test_bad_downscale_is_refused_naming_the_parameter(scene_2d, downscale):
    image, mask, _ = scene_2d
    objects = sv.Objects(image, mask, patch_size=24)
    with pytest.raises(ValueError, match="downscale"):
        sv.Classifier(objects, downscale=downscale)


# -- settings as values: the patch spec, the model kind, clones ------------------------------------
def test_the_patch_is_one_value_given_whole_or_by_its_settings(scene_2d_multichannel):
    image, mask, _ = scene_2d_multichannel
    objects = sv.Objects(image, mask)
    by_settings = sv.Classifier(objects, channels=[1], context=3, patch_size=40)
    whole = sv.Classifier(objects, patch=sv.PatchSpec(shape=40, channels=[1], context=3))
    assert by_settings.patch == whole.patch == sv.PatchSpec(shape=(40, 40), channels=(1,), context=3, downscale=1)
    assert whole.channels == (1,) and whole.input_shape == (40, 40) and whole.in_channels == 2
    with pytest.raises(ValueError, match="patch: give the patch settings either as patch= or one by one"):
        sv.Classifier(objects, patch=sv.PatchSpec(), channels=[1])
    with pytest.raises(TypeError, match="patch: expected svetlana_nb.PatchSpec"):
        sv.Classifier(objects, patch={"shape": 40})


def test_clone_copies_every_setting_and_changes_only_what_it_is_told(scene_2d_multichannel):
    image, mask, truth = scene_2d_multichannel
    objects = sv.Objects(image, mask)
    clf = sv.Classifier(
        objects,
        patch_size=40,
        channels=[1],
        lr=1e-3,
        class_names=["a", "b"],
        second_opinion=sv.SecondOpinion(weight=0.3),
        device="cpu",
    )
    clf.fit(annotate(objects, truth, 20), epochs=1)
    twin = clf.clone()
    assert not twin.is_fitted and twin.objects is objects and twin.class_names == ["a", "b"]
    assert twin.patch == clf.patch and twin.config == clf.config and twin.second_opinion == clf.second_opinion
    assert twin.device == clf.device and twin.model_name == clf.model_name
    forest = clf.clone(model="random_forest", channels=None, second_opinion=None)
    assert forest.model_name == "random_forest" and forest.channels is None and forest.patch_shape == (40, 40)
    assert forest.second_opinion is None and clf.channels == (1,)  # the original is untouched
    bigger = clf.clone(patch_size=96)
    assert bigger.patch_shape == (96, 96) and bigger.downscale == 2  # the downscale is chosen again


def test_clone_of_a_custom_network_copies_the_module(scene_2d):
    image, mask, truth = scene_2d
    objects = sv.Objects(image, mask)
    clf = sv.Classifier(objects, model=LightCNN(2, 2, width=8), class_names=["a", "b"])
    twin = clf.clone()
    assert twin.model_name == "custom" and twin.network is not clf.network
    assert all(torch.equal(a, b) for a, b in zip(twin.network.parameters(), clf.network.parameters()))


def test_models_are_named_by_the_registry(scene_2d):
    image, mask, _ = scene_2d
    objects = sv.Objects(image, mask)
    assert sv.MODELS == ("light_cnn", "light_cnn_deep", "resnet", "random_forest")
    with pytest.raises(ValueError, match=r"model: expected one of \['light_cnn'"):
        sv.Classifier(objects, model="vgg")
    with pytest.raises(ValueError, match="model: 'custom' means your own torch module"):
        sv.Classifier(objects, model="custom")
    forest = sv.Classifier(objects, model="random_forest")
    assert forest.network is None and forest.description == model_kind("random_forest").description
    assert "averaged with a random forest" in sv.Classifier(objects).description
