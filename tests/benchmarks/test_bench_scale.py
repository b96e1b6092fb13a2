"""The scale benchmark: its rescaling of the sets, its rules, and a smoke run."""

from __future__ import annotations

import numpy as np
import pytest
from helpers import run_benchmark

import svetlana_nb as sv
from benchmarks import bench_scale


def test_rescaled_zooms_yx_keeps_every_kth_plane_and_drops_vanished_objects():
    demo = sv.data.cells_3d(shape=(20, 64, 64), n_objects=6)
    twice = bench_scale.rescaled(demo, 2.0, z_step=2)
    assert twice.image.shape == (10, 128, 128) and twice.mask.shape == (10, 128, 128)
    assert twice.image.dtype == demo.image.dtype
    assert set(np.unique(twice.mask)[1:].tolist()) == set(twice.truth) <= set(demo.truth)
    flat = sv.data.cells_2d(shape=(128, 128), n_objects=10)
    small = bench_scale.rescaled(flat, 0.5)
    assert small.image.shape == (64, 64)
    area = (flat.mask > 0).sum()
    assert abs((small.mask > 0).sum() * 4 - area) < 0.2 * area


def test_rule_options_leave_out_rules_equal_to_the_current_one():
    small = sv.data.cells_2d(shape=(128, 128), n_objects=10)
    objects = sv.Objects(small.image, small.mask)
    assert bench_scale.rule_options("current", objects) == {}
    assert bench_scale.rule_options("target_32", objects) is None  # patch already <= 32 px
    assert bench_scale.rule_options("full_res", objects) is None  # not shrunk anyway
    doubled = bench_scale.rule_options("context_2x", objects)
    assert doubled == {"patch_size": tuple(2 * s for s in objects.patch_shape)}


@pytest.mark.slow
@pytest.mark.timeout(180)
def test_bench_scale_quick_prints_one_row_per_rule():
    out = run_benchmark("bench_scale", "--quick", "--threads", "1", timeout=170)
    rows = [line.split("|") for line in out.splitlines() if line.startswith(("| synth_10px", "| 3d_z2"))]
    assert [row[4].strip() for row in rows] == ["current", "context_2x"] * 2, out[-2000:]
    for row in rows:
        assert 0.0 <= float(row[6].split("±")[0]) <= 1.0
