"""Smoke test of the calibration benchmark: ``python -m benchmarks.bench_calibration --quick`` prints its table."""

from __future__ import annotations

import pytest
from helpers import run_benchmark


@pytest.mark.timeout(180)
def test_bench_calibration_quick_prints_one_row_per_set():
    out = run_benchmark("bench_calibration", "--quick", "--threads", "1", timeout=170)
    rows = [line for line in out.splitlines() if line.startswith("| ") and "random_forest" in line]
    assert [row.split("|")[1].strip() for row in rows] == ["cells_2d", "infected_cells_2d"], out[-2000:]
    for row in rows:
        cells = [float(c) for c in row.split("|")[4:10]]
        assert 0.05 <= cells[0] <= 20  # the temperature, within its search bounds
        assert all(0.0 <= ece <= 1.0 for ece in cells[1:5]) and 0.0 <= cells[5] <= 1.0
