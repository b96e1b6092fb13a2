"""Smoke test of the batch benchmark: ``python -m benchmarks.bench_batch --quick`` prints both rows."""

from __future__ import annotations

import pytest
from helpers import run_benchmark


@pytest.mark.timeout(120)
def test_bench_batch_quick_prints_one_row_per_way_of_running():
    out = run_benchmark("bench_batch", "--quick", timeout=110)
    rows = [line for line in out.splitlines() if line.startswith("| ") and not line.startswith("| run")]
    assert [row.split("|")[1].strip() for row in rows] == [
        "1 process (no Dask)",
        "--workers 2",
    ], out[-2000:]
    for row in rows:
        assert float(row.split("|")[3]) > 0 and float(row.split("|")[4]) > 0
