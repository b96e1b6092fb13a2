"""Attribution maps: evidence where the class is decided (the infection spot), and a word when there is none."""

from __future__ import annotations

import numpy as np
import pytest
import torch
from scipy import ndimage

import svetlana_nb as sv
from svetlana_nb.models import attribution


@pytest.fixture(scope="module")
def infected():
    demo = sv.data.load("infected_cells_2d")
    objects = sv.Objects(demo.image, demo.mask, channel_axis=demo.channel_axis)
    truth = demo.truth_index(demo.labels)
    chosen = np.random.default_rng(0).choice(len(demo.labels), 60, replace=False)
    ann = sv.Annotations(objects, demo.class_names)
    for row in chosen:
        ann.add(int(demo.labels[row]), demo.class_names[truth[row]])
    clf = sv.Classifier(objects, seed=0, device="cpu")
    clf.fit(ann)
    return objects, clf, np.flatnonzero(truth == 1)


def _spot(patch: np.ndarray) -> np.ndarray:
    """The infection spot of a patch: the brightest tenth of the object in the spot channel, dilated."""
    spot_channel, inside = patch[1], patch[-1] > 0
    threshold = np.percentile(spot_channel[inside], 90)
    return ndimage.binary_dilation((spot_channel >= threshold) & inside, iterations=2)


@pytest.mark.slow
def test_on_infected_cells_most_of_the_map_falls_on_the_spot(infected):
    objects, clf, rows = infected
    on_spot = []
    for row in rows[:10]:
        result = attribution(clf, objects, objects.key(int(row)), class_name="infected")
        assert result.evidence and result.method == "integrated_gradients"
        assert result.heatmap.shape == clf.input_shape and result.heatmap.max() == pytest.approx(1.0)
        on_spot.append(result.heatmap[_spot(result.patch)].sum() / result.heatmap.sum())
    assert np.mean(np.array(on_spot) > 0.5) >= 0.8, on_spot
    assert np.median(on_spot) > 0.7, on_spot


def test_a_network_that_ignores_its_input_gives_no_evidence_and_says_so(infected):
    objects, clf, rows = infected
    zeroed = {k: torch.zeros_like(v) for k, v in clf.network.state_dict().items()}
    original = {k: v.clone() for k, v in clf.network.state_dict().items()}
    try:
        clf.network.load_state_dict(zeroed)
        result = attribution(clf, objects, objects.key(int(rows[0])))
    finally:
        clf.network.load_state_dict(original)
    assert not result.evidence and result.heatmap.max() == 0
    assert result.note is not None and "No evidence" in result.note
