"""Smoke test of the proportions benchmark: ``python -m benchmarks.bench_proportions --quick`` prints its table."""

from __future__ import annotations

import pytest
from helpers import run_benchmark


@pytest.mark.timeout(360)
def test_bench_proportions_quick_prints_one_row_per_set_and_scheme():
    out = run_benchmark("bench_proportions", "--quick", "--threads", "1", timeout=350)
    rows = [line for line in out.splitlines() if line.startswith("| ") and "random_forest" in line]
    assert [(row.split("|")[1].strip(), row.split("|")[3].strip()) for row in rows] == [
        (name, scheme)
        for name in ("cells_2d", "infected_cells_2d", "rare_infected")
        for scheme in ("random", "balanced")
    ], out[-2000:]
    for row in rows:
        cells = row.split("|")
        bias, se = (float(v) for v in cells[7].split("±"))
        assert 0.0 <= float(cells[8]) <= 1.0 and se >= 0 and abs(bias) < 1 and 0 <= float(cells[15]) <= 1
    balanced = [float(row.split("|")[6]) for row in rows if "| balanced |" in row]
    assert balanced[:2] == [0.5, 0.5]  # 10 : 10 annotations of cells_2d and infected_cells_2d
