"""Smoke test of the proportions benchmark: ``python -m benchmarks.bench_proportions --quick`` prints its table."""

from __future__ import annotations

import pytest
from helpers import run_benchmark


@pytest.mark.timeout(360)
def test_bench_proportions_quick_prints_one_row_per_set():
    out = run_benchmark("bench_proportions", "--quick", "--threads", "1", timeout=350)
    rows = [line for line in out.splitlines() if line.startswith("| ") and "random_forest" in line]
    assert [row.split("|")[1].strip() for row in rows] == ["cells_2d", "infected_cells_2d", "rare_infected"], out[
        -2000:
    ]
    for row in rows:
        cells = row.split("|")
        bias, se = (float(v) for v in cells[5].split("±"))
        assert 0.0 <= float(cells[6]) <= 1.0 and se >= 0 and abs(bias) < 1 and 0 <= float(cells[10]) <= 1
