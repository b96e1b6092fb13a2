"""Issue 19: the training loss is a choice (cross-entropy, focal, balanced softmax)."""

from __future__ import annotations

import json
from pathlib import Path

import numpy as np
import pytest
import torch
import torch.nn.functional as F
from helpers import annotate
from safetensors import safe_open

import svetlana_nb as sv
from svetlana_nb.models.losses import LOSSES, class_priors, focal_loss, make_loss

GOLDEN = Path(__file__).resolve().parents[1] / "fixtures" / "golden"


@pytest.fixture
def batch():
    generator = torch.Generator().manual_seed(0)
    logits = torch.randn(64, 3, generator=generator) * 3
    target = torch.randint(0, 3, (64,), generator=generator)
    return logits, target


@pytest.mark.parametrize("smoothing", [0.0, 0.1])
@pytest.mark.parametrize("weighted", [False, True])
def test_focal_at_gamma_0_is_cross_entropy(batch, smoothing, weighted):
    logits, target = batch
    weight = torch.tensor([0.5, 1.0, 2.5]) if weighted else None
    expected = F.cross_entropy(logits, target, weight=weight, label_smoothing=smoothing)
    got = focal_loss(logits, target, gamma=0.0, weight=weight, label_smoothing=smoothing)
    torch.testing.assert_close(got, expected, rtol=1e-6, atol=1e-6)


def test_focal_down_weights_easy_examples():
    target = torch.tensor([0])
    confident = torch.tensor([[5.0, 0.0]])  # right, p ~ 0.993
    hard = torch.tensor([[0.0, 1.0]])  # wrong, p ~ 0.27
    focal, ce = make_loss("focal"), make_loss("cross_entropy")
    assert focal(confident, target) < 1e-3 * ce(confident, target)
    assert focal(hard, target) > 0.5 * ce(hard, target)
    assert focal(confident, target) < focal(hard, target)


def test_balanced_softmax_with_uniform_priors_is_cross_entropy(batch):
    logits, target = batch
    uniform = torch.full((3,), 1 / 3)
    for smoothing in (0.0, 0.05):
        balanced = make_loss("balanced_softmax", priors=uniform, label_smoothing=smoothing)
        plain = make_loss("cross_entropy", label_smoothing=smoothing)
        torch.testing.assert_close(balanced(logits, target), plain(logits, target))


def test_balanced_softmax_favours_the_rare_class_at_the_same_logits():
    """With a rare class 1, a logit tie costs the rare class's examples more: training raises its logit."""
    priors = class_priors(torch.tensor([0] * 9 + [1]), 2)
    torch.testing.assert_close(priors, torch.tensor([0.9, 0.1]))
    loss = make_loss("balanced_softmax", priors=priors)
    tie = torch.zeros(1, 2)
    assert loss(tie, torch.tensor([1])) > make_loss("cross_entropy")(tie, torch.tensor([1]))


def test_cross_entropy_is_the_default_and_unchanged(batch):
    logits, target = batch
    assert sv.TrainingConfig().loss == "cross_entropy"
    weight = torch.tensor([0.5, 1.0, 2.5])
    loss = make_loss("cross_entropy", class_weight=weight, label_smoothing=0.05)
    assert torch.equal(loss(logits, target), F.cross_entropy(logits, target, weight=weight, label_smoothing=0.05))


def test_bad_loss_names_loss_and_the_choices():
    with pytest.raises(ValueError, match=r"loss: expected one of \['cross_entropy', 'focal', 'balanced_softmax'\]"):
        sv.TrainingConfig().updated(loss="hinge")
    with pytest.raises(ValueError, match="loss: expected one of"):
        make_loss("Focal")
    with pytest.raises(ValueError, match="priors"):
        make_loss("balanced_softmax")
    with pytest.raises(ValueError, match="loss: expected one of"):
        sv.Classifier(loss="mse")


@pytest.fixture(scope="module")
def small():
    demo = sv.data.cells_2d(shape=(192, 192), n_objects=24)
    objects = sv.Objects(demo.image, demo.mask)
    ann = annotate(objects, demo.truth, 16, class_names=sorted(set(demo.truth.values())))
    return objects, ann


@pytest.mark.parametrize("loss", LOSSES)
def test_fit_with_each_loss_runs_and_the_loss_falls(small, loss, tmp_path):
    objects, ann = small
    clf = sv.Classifier(objects, second_opinion=None, patch_size=32, loss=loss)
    history = clf.fit(ann, epochs=40, val_fraction=0.0, augmentation=False)
    assert np.all(np.isfinite(history.train_loss))
    assert np.mean(history.train_loss[-5:]) < 0.7 * history.train_loss[0], history.train_loss
    assert clf.config.loss == loss
    # the model file keeps the loss
    clf.save(tmp_path / "model.svnb")
    with safe_open(str(tmp_path / "model.svnb"), framework="pt") as handle:
        assert json.loads(handle.metadata()["svetlana_nb"])["training"]["loss"] == loss
    loaded = sv.Classifier.load(tmp_path / "model.svnb")
    assert loaded.config.loss == loss
    np.testing.assert_allclose(loaded.predict_proba(objects), clf.predict_proba(objects), atol=1e-6)


def test_a_loss_given_to_fit_is_the_one_the_model_file_records(small, tmp_path):
    """The Trainer passes its options to ``fit``: the file says how the model was trained."""
    objects, ann = small
    clf = sv.Classifier(objects, second_opinion=None, patch_size=32)
    clf.fit(ann, epochs=1, val_fraction=0.0, loss="focal")
    assert clf.config.loss == "cross_entropy"  # fit options do not change the classifier's settings
    assert clf.trained_config is not None and clf.trained_config.loss == "focal"
    clf.save(tmp_path / "model.svnb")
    loaded = sv.Classifier.load(tmp_path / "model.svnb")
    assert loaded.config.loss == "focal" and loaded.config.epochs == 1


def test_model_files_written_before_load_as_cross_entropy():
    for path in sorted(GOLDEN.glob("*.svnb")):
        with safe_open(str(path), framework="pt") as handle:
            assert "loss" not in json.loads(handle.metadata()["svetlana_nb"]).get("training", {})
        assert sv.Classifier.load(path).config.loss == "cross_entropy", path.name
