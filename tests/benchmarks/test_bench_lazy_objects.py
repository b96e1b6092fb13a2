"""Smoke test of the lazy-Objects benchmark: ``python -m benchmarks.bench_lazy_objects --quick``."""

from __future__ import annotations

import pytest
from helpers import run_benchmark


@pytest.mark.timeout(240)
def test_bench_lazy_objects_quick_prints_both_stores_with_every_object():
    out = run_benchmark("bench_lazy_objects", "--quick", timeout=230)
    rows = [line for line in out.splitlines() if line.startswith("| ") and not line.startswith("| store")]
    assert [row.split("|")[1].strip() for row in rows] == ["OME-Zarr with pyramid", "zarr, full resolution only"]
    for row in rows:
        cells = [c.strip() for c in row.split("|")[2:-1]]
        assert int(cells[0]) == 1024 and all(float(c) >= 0 for c in cells[1:]), out[-2000:]
