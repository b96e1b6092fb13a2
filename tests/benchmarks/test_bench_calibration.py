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
        cells = [c.strip() for c in row.split("|")[1:-1]]
        assert cells[3] == "2/2"  # the forest is calibrated on its out-of-bag scores in every draw
        assert 0.05 <= float(cells[4]) <= 20  # the temperature, within its search bounds
        before, after = (float(cell.split(" ± ")[0]) for cell in cells[7:9])
        assert 0.0 <= after <= 1.0 and 0.0 <= before <= 1.0
        assert float(cells[9].split(" ± ")[0]) == pytest.approx(after - before, abs=2e-3)
