"""Smoke test of the pretraining benchmark: ``python -m benchmarks.bench_pretrain --quick`` prints a row."""

from __future__ import annotations

import pytest
from helpers import run_benchmark


@pytest.mark.slow
@pytest.mark.timeout(180)
def test_bench_pretrain_quick_prints_a_row_with_paired_differences():
    out = run_benchmark("bench_pretrain", "--quick", "--threads", "1", timeout=170)
    rows = [line.split("|") for line in out.splitlines() if line.startswith("| cells_2d")]
    assert len(rows) == 1, out[-2000:]
    cells = [cell.strip() for cell in rows[0][1:-1]]
    assert cells[1] == "160" and cells[3] == "20"
    for value in (cells[4], cells[5], cells[7], cells[8]):
        assert 0.0 <= float(value) <= 1.0
    assert "±" in cells[6] and "±" in cells[9]
