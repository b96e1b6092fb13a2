"""Fixtures for the widget tests: demo nuclei with part of them annotated."""

from __future__ import annotations

import numpy as np
import pytest

import svetlana_nb as sv


@pytest.fixture(scope="module")
def demo():
    """``sv.data.cells_2d()``: 160 nuclei, healthy or fragmented, with ground truth."""
    return sv.data.cells_2d()


@pytest.fixture()
def annotated(demo):
    """(objects, annotations of 80 objects, held-out label ids) from the demo's ground truth."""
    objects = sv.Objects(demo.image, demo.mask, channel_axis=demo.channel_axis)
    ann = sv.Annotations(objects, demo.class_names)
    rng = np.random.default_rng(0)
    picked = rng.choice(objects.labels, 80, replace=False)
    for label in picked:
        ann.add(int(label), demo.truth[int(label)])
    held_out = np.setdiff1d(objects.labels, picked)
    return objects, ann, held_out
