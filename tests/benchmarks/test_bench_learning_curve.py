"""Smoke test of the learning-curve benchmark: ``python -m benchmarks.bench_learning_curve --quick``."""

from __future__ import annotations

import pytest
from helpers import run_benchmark


@pytest.mark.timeout(180)
def test_bench_learning_curve_quick_prints_a_curve_and_a_reading_per_set():
    out = run_benchmark("bench_learning_curve", "--quick", "--threads", "1", timeout=170)
    assert [line.split(",")[0] for line in out.splitlines() if line.startswith("### ")] == [
        "### cells_2d",
        "### infected_cells_2d",
    ], out[-2000:]
    rows = [line.split("|") for line in out.splitlines() if line.startswith("| random_forest")]
    assert [float(row[2]) for row in rows] == [0.25, 0.5, 0.75, 1.0] * 2
    assert all(float(row[5]) <= float(row[4]) <= float(row[6]) for row in rows)
    readings = [line for line in out.splitlines() if line.startswith("reading: ")]
    assert len(readings) == 2 and all(("rising" in r) or ("flat" in r) for r in readings)
