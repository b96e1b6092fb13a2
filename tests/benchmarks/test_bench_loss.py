"""Smoke test of the loss benchmark: ``python -m benchmarks.bench_loss --quick`` prints a row per loss."""

from __future__ import annotations

import pytest
from helpers import run_benchmark


@pytest.mark.slow
@pytest.mark.timeout(180)
def test_bench_loss_quick_prints_one_row_per_loss():
    out = run_benchmark("bench_loss", "--quick", "--threads", "1", timeout=170)
    rows = [line.split("|") for line in out.splitlines() if line.startswith("| infected_cells_2d")]
    assert [row[3].strip() for row in rows] == ["cross_entropy", "focal", "balanced_softmax"], out[-2000:]
    for row in rows:
        assert 0.0 <= float(row[4]) <= 1.0 and 0.0 <= float(row[6]) <= 1.0
