"""Shared fixtures for the core tests (small generated scenes)."""

from __future__ import annotations

import pytest
from helpers import grid_scene


@pytest.fixture(scope="session")
def scene_2d():
    """(image (240, 240) float32, mask int32, truth {label: 'a'|'b'})."""
    return grid_scene()


@pytest.fixture(scope="session")
def scene_2d_multichannel():
    """Image (240, 240, 2): channel 1 carries the class cue."""
    return grid_scene(channels=2, seed=1)


@pytest.fixture(scope="session")
def scene_3d():
    """Image (12, 120, 120) with anisotropic objects."""
    return grid_scene(ndim=3, size=120, seed=2)
