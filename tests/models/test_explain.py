"""Pixel evidence of networks (integrated gradients): on the spot, and said when absent."""

from __future__ import annotations

import copy

import numpy as np
import pytest
import torch
from scipy import ndimage as ndi

import svetlana_nb as sv
from svetlana_nb.models.explain import explain_network
from svetlana_nb.widgets._object_panel import explain_object


@pytest.fixture(scope="module")
def infected():
    """A short training on 60 cells of the infected-cells demo; held-out infected cells."""
    demo = sv.data.infected_cells_2d(seed=0)
    objects = sv.Objects(demo.image, demo.mask, channel_axis=-1)
    ann = sv.Annotations(objects, demo.class_names)
    for label in np.random.default_rng(0).permutation(objects.labels)[:60]:
        ann.add(int(label), demo.truth[int(label)])
    clf = sv.Classifier(objects, seed=0)
    clf.fit(ann, epochs=40)
    truth = demo.truth_for(objects.labels)
    rows = [r for r in np.flatnonzero(truth == "infected") if int(objects.labels[r]) not in ann][:12]
    return objects, clf, [int(objects.labels[r]) for r in rows]


def spot_region(patch: np.ndarray) -> np.ndarray:
    """The viral spots of a patch (C + 1, Y, X): the nucleus' pixels of channel 1 above half its peak, 2 px wider."""
    spots, nucleus = patch[1], patch[-1] > 0.5
    bright = nucleus & (spots > 0.5 * spots[nucleus].max())
    return ndi.binary_dilation(bright, iterations=2)


def test_most_of_the_evidence_for_infected_lies_on_the_spots(infected):
    objects, clf, keys = infected
    on_spot, area = [], []
    for key in keys:
        found = explain_network(clf, objects, key, class_name="infected")
        spot = spot_region(found.patch)
        positive = np.clip(found.attributions.sum(0), 0, None)
        on_spot.append(positive[spot].sum() / max(positive.sum(), 1e-12))
        area.append(spot.mean())
        assert found.heatmap.shape == clf.input_shape and found.heatmap.max() <= 1.0
    on_spot = np.array(on_spot)
    assert np.mean(area) < 0.15  # the spots are a small part of the patch: chance is low
    assert np.mean(on_spot > 0.5) >= 0.8, on_spot.round(2)
    assert np.median(on_spot) > 0.8, on_spot.round(2)


def test_infected_cells_have_evidence_and_a_map(infected):
    objects, clf, keys = infected
    found = [explain_network(clf, objects, key, class_name="infected") for key in keys]
    assert np.mean([f.evidence for f in found]) >= 0.8
    for f in found:
        if f.evidence:
            assert f.heatmap.max() == pytest.approx(1.0) and "infected" in f.note and "No evidence" not in f.note


def _with_network(clf: sv.Classifier, network: torch.nn.Module) -> sv.Classifier:
    other = copy.copy(clf)
    other.backend = copy.copy(clf.backend)
    other.backend.network = network
    return other


def test_a_constant_or_untrained_network_shows_no_evidence(infected):
    objects, clf, keys = infected
    constant = copy.deepcopy(clf.network)
    with torch.no_grad():
        constant.classifier.weight.zero_()
    torch.manual_seed(0)
    untrained = copy.deepcopy(clf.network)
    for module in untrained.modules():
        if hasattr(module, "reset_parameters"):
            module.reset_parameters()
    for network in (constant, untrained):
        lost = _with_network(clf, network)
        for key in keys[:6]:
            found = explain_network(lost, objects, key)
            assert not found.evidence, found.evidence_nats
            assert found.note.startswith("No evidence for")
        frame, text = explain_object(lost, objects, keys[0])
        assert frame is None and "svetlana-no-evidence" in text and "No evidence for" in text
    frame, text = explain_object(clf, objects, keys[0])
    assert frame is not None and frame.shape[-1] == 4 and "No evidence" not in text


def test_constant_network_map_is_empty(infected):
    objects, clf, keys = infected
    constant = copy.deepcopy(clf.network)
    with torch.no_grad():
        constant.classifier.weight.zero_()
    found = explain_network(_with_network(clf, constant), objects, keys[0])
    assert found.evidence_nats == 0.0 and not found.heatmap.any()


def test_3d_networks_are_explained():
    demo = sv.data.cells_3d(shape=(16, 96, 96), n_objects=12, seed=0)
    objects = sv.Objects(demo.image, demo.mask)
    ann = sv.Annotations(objects, demo.class_names)
    for label in objects.labels:
        ann.add(int(label), demo.truth[int(label)])
    clf = sv.Classifier(objects, seed=0)
    clf.fit(ann, epochs=2)
    found = sv.grad_cam(clf, objects, int(objects.labels[0]), steps=8)
    assert found.heatmap.shape == clf.input_shape and len(clf.input_shape) == 3
    assert found.attributions.shape == (1, *clf.input_shape)
    assert isinstance(found.evidence, bool) and found.note


def test_bad_class_and_forest_are_refused(infected):
    objects, clf, keys = infected
    with pytest.raises(ValueError, match="class_name"):
        explain_network(clf, objects, keys[0], class_name="nope")
    forest = sv.Classifier(objects, model="random_forest", seed=0)
    with pytest.raises(ValueError, match="clf"):
        explain_network(forest, objects, keys[0])
