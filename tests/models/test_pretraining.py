"""Issue 20: self-supervised pretraining of the trunk on every object (``pretrain=True``)."""

from __future__ import annotations

import json

import numpy as np
import pytest
import torch
from helpers import annotate
from safetensors import safe_open
from safetensors.torch import save_file

import svetlana_nb as sv
from svetlana_nb.models import pretraining
from svetlana_nb.models.callbacks import CallbackList, FunctionCallback
from svetlana_nb.models.networks import LightCNN
from svetlana_nb.models.pretraining import nt_xent, pretrain_trunk

FAST = {"epochs": 2, "pretrain_steps": 2, "pretrain_seconds": 30.0}


@pytest.fixture
def scene(scene_2d):
    image, mask, truth = scene_2d
    objects = sv.Objects(image, mask)
    return objects, annotate(objects, truth, 12), truth


def _patches(n: int = 24) -> torch.Tensor:
    x = torch.rand(n, 2, 16, 16, generator=torch.Generator().manual_seed(0))
    x[:, 1] = (x[:, 1] > 0.5).float()
    return x


def _conv_weights(network: torch.nn.Module) -> torch.Tensor:
    return torch.cat([p.detach().flatten().clone() for n, p in network.named_parameters() if "classifier" not in n])


def test_nt_xent_is_low_for_matching_views_and_high_for_swapped():
    z = torch.randn(16, 8, generator=torch.Generator().manual_seed(1))
    assert nt_xent(z, z, 0.2) < nt_xent(z, z.roll(1, 0), 0.2)


def test_pretraining_changes_the_trunk_and_keeps_to_its_steps():
    network = LightCNN(2, 3)
    before, head = _conv_weights(network), network.classifier.weight.detach().clone()
    trunk = pretrain_trunk(network, _patches(), key="k", max_steps=3, batch_size=16)
    assert trunk.steps == 3 and len(trunk.losses) == 3 and not trunk.stopped
    assert not torch.allclose(_conv_weights(network), before)
    torch.testing.assert_close(network.classifier.weight, head)  # the head is not pretrained
    assert not any(name.startswith("classifier.") for name in trunk.state)
    torch.testing.assert_close(trunk.state["features.0.weight"], network.state_dict()["features.0.weight"])


def test_pretraining_keeps_to_its_time_budget():
    trunk = pretrain_trunk(LightCNN(2, 2), _patches(), key="k", seconds=0.3, batch_size=16)
    assert trunk.steps >= 1
    assert trunk.seconds < 0.3 + 5.0  # no step starts after the budget (one step may overrun it)


def test_a_stop_keeps_the_weights_learned_so_far():
    network = LightCNN(2, 2)
    before = _conv_weights(network)
    steps = []
    watcher = FunctionCallback(on_pretrain_step=lambda info: steps.append(info["step"]), should_stop=lambda: True)
    trunk = pretrain_trunk(network, _patches(), key="k", max_steps=50, batch_size=16, callbacks=CallbackList([watcher]))
    assert trunk.stopped and trunk.steps == 1 and steps == [1]
    assert not torch.allclose(_conv_weights(network), before)
    torch.testing.assert_close(trunk.state["features.0.weight"], network.state_dict()["features.0.weight"])


def test_fit_reuses_the_cached_trunk_until_the_objects_change(scene, scene_2d, monkeypatch):
    objects, ann, truth = scene
    calls = []
    real = pretraining.pretrain_trunk

    def counted(*args, **kwargs):
        calls.append(1)
        return real(*args, **kwargs)

    monkeypatch.setattr(pretraining, "pretrain_trunk", counted)
    clf = sv.Classifier(objects, pretrain=True)
    clf.fit(ann, **FAST)
    first = clf.pretrained
    assert len(calls) == 1 and first is not None and first.steps == 2
    more = annotate(objects, truth, 16, seed=3)  # new annotations: same objects, the cache holds
    clf.fit(more, **FAST)
    assert len(calls) == 1 and clf.pretrained is first
    image, mask, _ = scene_2d
    noise = np.random.default_rng(5).normal(0, 0.05, image.shape).astype(image.dtype)
    changed = sv.Objects(image + noise, mask)  # other pixels: pretrained again
    clf.fit(annotate(changed, truth, 12), **FAST)
    assert len(calls) == 2 and clf.pretrained is not first and clf.pretrained.key != first.key


def test_fine_tuning_starts_from_the_pretrained_trunk(scene, monkeypatch):
    objects, ann, _ = scene
    clf = sv.Classifier(objects, pretrain=True)
    clf.fit(ann, **FAST)
    loaded = {}
    original = pretraining.PretrainedTrunk.load_into

    def spy(self, network):
        original(self, network)
        loaded.update({k: v.clone() for k, v in network.state_dict().items()})

    monkeypatch.setattr(pretraining.PretrainedTrunk, "load_into", spy)
    clf.fit(ann, epochs=1, pretrain_steps=2)
    assert clf.pretrained is not None
    torch.testing.assert_close(loaded["features.0.weight"], clf.pretrained.state["features.0.weight"])


def test_fit_with_pretraining_predicts_finite_probabilities_for_every_object(scene):
    objects, ann, _ = scene
    clf = sv.Classifier(objects, pretrain=True)
    clf.fit(ann, **FAST)
    proba = clf.predict_proba()
    assert proba.shape == (len(objects), 2) and np.isfinite(proba).all()
    np.testing.assert_allclose(proba.sum(1), 1.0, atol=1e-4)


def test_pretraining_is_off_by_default_and_ignored_by_the_forest(scene):
    objects, ann, _ = scene
    assert sv.TrainingConfig().pretrain is False
    clf = sv.Classifier(objects)
    clf.fit(ann, epochs=1)
    assert clf.pretrained is None
    forest = sv.Classifier(objects, model="random_forest", pretrain=True)
    forest.fit(ann)
    assert forest.pretrained is None


def test_model_file_keeps_the_pretrained_trunk(scene, tmp_path):
    objects, ann, _ = scene
    clf = sv.Classifier(objects, pretrain=True)
    clf.fit(ann, **FAST)
    path = tmp_path / "model.safetensors"
    clf.save(path)
    loaded = sv.Classifier.load(path)
    assert loaded.pretrained is not None and loaded.pretrained.key == clf.pretrained.key
    assert loaded.pretrained.steps == clf.pretrained.steps
    for name, tensor in clf.pretrained.state.items():
        torch.testing.assert_close(loaded.pretrained.state[name], tensor)
    np.testing.assert_allclose(loaded.predict_proba(objects), clf.predict_proba(objects), atol=1e-5)


def test_files_without_a_pretrained_trunk_load_as_before(scene, tmp_path):
    objects, ann, _ = scene
    clf = sv.Classifier(objects)
    clf.fit(ann, epochs=1)
    clf.save(tmp_path / "plain.safetensors")
    with safe_open(str(tmp_path / "plain.safetensors"), framework="pt") as handle:
        assert "pretrained" not in json.loads(handle.metadata()["svetlana_nb"])
    loaded = sv.Classifier.load(tmp_path / "plain.safetensors")
    assert loaded.pretrained is None and np.isfinite(loaded.predict_proba(objects)).all()


def test_a_malformed_pretrained_field_is_refused_naming_it(scene, tmp_path):
    objects, ann, _ = scene
    clf = sv.Classifier(objects, pretrain=True)
    clf.fit(ann, **FAST)
    clf.save(tmp_path / "model.safetensors")
    with safe_open(str(tmp_path / "model.safetensors"), framework="pt") as handle:
        header = json.loads(handle.metadata()["svetlana_nb"])
        tensors = {k: handle.get_tensor(k) for k in handle.keys()}
    for bad, expected in (
        ({"key": 3}, "pretrained"),
        ({**header["pretrained"], "steps": -1}, "pretrained.steps"),
    ):
        save_file(
            tensors,
            str(tmp_path / "bad.safetensors"),
            metadata={"svetlana_nb": json.dumps({**header, "pretrained": bad})},
        )
        with pytest.raises(ValueError, match=expected):
            sv.Classifier.load(tmp_path / "bad.safetensors")
    no_tensors = {k: v for k, v in tensors.items() if not k.startswith("pretrained.")}
    save_file(no_tensors, str(tmp_path / "bad.safetensors"), metadata={"svetlana_nb": json.dumps(header)})
    with pytest.raises(ValueError, match="pretrained"):
        sv.Classifier.load(tmp_path / "bad.safetensors")


@pytest.mark.parametrize(
    ("option", "value"),
    [
        ("pretrain", "yes"),
        ("pretrain", 1),
        ("pretrain_seconds", 0),
        ("pretrain_seconds", float("inf")),
        ("pretrain_seconds", "60"),
        ("pretrain_steps", 0),
        ("pretrain_steps", 2.5),
        ("pretrain_steps", True),
    ],
)
def test_invalid_pretraining_options_name_the_option(option, value):
    with pytest.raises(ValueError, match=option):
        sv.TrainingConfig().updated(**{option: value})


def test_a_stop_during_pretraining_in_fit_keeps_the_trunk_and_trains_on(scene):
    """Stop while pretraining ends the pretraining only: its weights are cached, the epochs still run."""
    objects, ann, _ = scene
    clf = sv.Classifier(objects, pretrain=True)
    stop = FunctionCallback(on_pretrain_step=lambda info: clf.stop())
    history = clf.fit(ann, epochs=2, pretrain_steps=50, callbacks=[stop])
    assert clf.pretrained is not None and clf.pretrained.stopped and clf.pretrained.steps == 1
    assert history.stopped == "completed" and len(history.epoch) == 2
