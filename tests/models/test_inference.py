"""Batched inference gives what the plain network gives on the same inputs, on every path."""

import numpy as np
import pytest
import torch

import svetlana_nb as sv
from svetlana_nb.models.devices import inference_dtype
from svetlana_nb.models.fused import FusedLightCNN
from svetlana_nb.models.networks import LightCNN
from svetlana_nb.models.registry import model_kind


def build_network(name, in_channels, n_classes, ndim):
    return model_kind(name).network(in_channels, n_classes, ndim)


def _reference(clf, objects, rows=None):
    """Softmax of the trained module itself, float32, on the network inputs (no fused path)."""
    x = torch.from_numpy(clf.patches(objects, rows))
    network = clf.network.float().eval()
    with torch.no_grad():
        return torch.softmax(network(x), dim=1).numpy()


def _fitted(objects, truth, *, model="light_cnn", epochs=4, **options):
    ann = sv.Annotations(objects, ["a", "b"])
    for label in objects.labels[:24]:
        ann.add(int(label), truth[int(label)])
    options.setdefault("second_opinion", None)  # the network's own outputs are under test here
    clf = sv.Classifier(objects, model=model, device="cpu", seed=0, **options)
    clf.fit(ann, epochs=epochs)
    return clf


def _tolerance(clf):
    # bfloat16 inference on CPUs that have it: probabilities within a few 1e-2 of float32
    return 0.05 if inference_dtype(clf.device) == torch.bfloat16 else 1e-4


@pytest.mark.parametrize("scene", ["scene_2d", "scene_2d_multichannel", "scene_3d"])
def test_batched_prediction_matches_the_module(scene, request):
    image, mask, truth = request.getfixturevalue(scene)
    objects = sv.Objects(image, mask)
    clf = _fitted(objects, truth)
    got = clf.predict_proba(objects, calibrated=False)  # the engine, before any temperature
    expected = _reference(clf, objects)
    assert got.shape == (len(objects), 2)
    np.testing.assert_allclose(got.sum(axis=1), 1.0, atol=1e-5)
    assert np.abs(got - expected).max() < _tolerance(clf)
    assert (got.argmax(1) == expected.argmax(1)).mean() > 0.95


def test_border_objects_and_any_row_order(scene_2d):
    image, mask, truth = scene_2d
    objects = sv.Objects(image, mask, patch_size=40)  # objects at the edge: patches leave the image
    starts = objects.centres - 20
    crossing = np.any((starts < 0) | (starts + 40 > np.array(mask.shape)), axis=1)
    assert crossing.any() and (~crossing).any()
    clf = _fitted(objects, truth)
    rows = np.random.default_rng(0).permutation(len(objects))[:25]
    np.testing.assert_allclose(
        clf.predict_proba(objects, rows, calibrated=False), _reference(clf, objects, rows), atol=_tolerance(clf)
    )


def test_several_images_and_generic_dtypes(scene_2d):
    image, mask, truth = scene_2d
    wide = (image * 1000).astype(np.uint32)  # not a dtype the fast path takes: generic path
    objects = sv.Objects([image, wide], [mask, mask], name=["f.tif", "u.tif"])
    ann = sv.Annotations(objects, ["a", "b"])
    for label in list(truth)[:20]:
        ann.add(("f.tif", label), truth[label])
        ann.add(("u.tif", label), truth[label])
    clf = sv.Classifier(objects, device="cpu", seed=0, second_opinion=None)
    clf.fit(ann, epochs=3)
    np.testing.assert_allclose(
        clf.predict_proba(objects, calibrated=False), _reference(clf, objects), atol=_tolerance(clf)
    )


def test_context_reduction(scene_2d):
    image, mask, truth = scene_2d
    objects = sv.Objects(image, mask)
    clf = _fitted(objects, truth, context=3)
    np.testing.assert_allclose(
        clf.predict_proba(objects, calibrated=False), _reference(clf, objects), atol=_tolerance(clf)
    )


@pytest.mark.parametrize("ndim,shape", [(2, (2, 3, 32, 32)), (3, (2, 2, 8, 16, 16))])
def test_fused_light_cnn_equals_the_module(ndim, shape):
    torch.manual_seed(0)
    for network in (build_network("light_cnn", shape[1], 3, ndim), build_network("light_cnn_deep", shape[1], 3, ndim)):
        network.eval()
        x = torch.rand(shape)
        x[:, -1] = (x[:, -1] > 0.6).float()
        assert FusedLightCNN.supports(network)
        fused = FusedLightCNN(network, torch.float32)
        with torch.no_grad():
            np.testing.assert_allclose(fused(x).numpy(), network(x).numpy(), rtol=1e-4, atol=1e-5)


def test_fused_path_is_not_used_where_it_does_not_apply():
    assert not FusedLightCNN.supports(LightCNN(2, 2, kernel_size=4))  # even kernel: asymmetric padding
    assert not FusedLightCNN.supports(build_network("resnet", 2, 2, 2))


class _NegatedLightCNN(LightCNN):
    """A user's variant: its own forward, which the fused path would not know about."""

    def forward(self, x: torch.Tensor) -> torch.Tensor:  # noqa: D102
        return -super().forward(x)


def test_a_light_cnn_subclass_with_its_own_forward_predicts_with_that_forward(scene_2d):
    image, mask, truth = scene_2d
    objects = sv.Objects(image, mask)
    network = _NegatedLightCNN(2, 2)
    assert not FusedLightCNN.supports(network)
    clf = sv.Classifier(objects, model=network, class_names=["a", "b"], second_opinion=None)
    ann = sv.Annotations(objects, ["a", "b"])
    for label, cls in list(truth.items())[:12]:
        ann.add(label, cls)
    clf.fit(ann, epochs=2)
    x = torch.from_numpy(clf.patches(objects))
    with torch.no_grad():
        expected = torch.softmax(network.eval()(x), dim=1).numpy()
    np.testing.assert_allclose(clf.predict(objects).probabilities, expected, atol=2e-2)


def test_prediction_restores_torch_threads(scene_2d):
    image, mask, truth = scene_2d
    objects = sv.Objects(image, mask)
    clf = _fitted(objects, truth, epochs=2)
    before = torch.get_num_threads()
    clf.predict_proba(objects)
    assert torch.get_num_threads() == before


def test_one_thread_and_several_threads_agree(scene_2d):
    image, mask, truth = scene_2d
    objects = sv.Objects(image, mask)
    clf = _fitted(objects, truth, epochs=2)
    before = torch.get_num_threads()
    try:
        torch.set_num_threads(1)  # one worker: the prefetching loop
        one = clf.predict_proba(objects, batch_size=5)
        torch.set_num_threads(3)  # three workers taking every third batch
        several = clf.predict_proba(objects, batch_size=5)
    finally:
        torch.set_num_threads(before)
    np.testing.assert_array_equal(one, several)
