"""Smoke test of the large-image benchmark: ``python -m benchmarks.bench_large_image --quick``."""

from __future__ import annotations

import pytest
from helpers import run_benchmark


@pytest.mark.timeout(240)
def test_bench_large_image_quick_prints_four_runs_and_equal_classes():
    out = run_benchmark("bench_large_image", "--quick", timeout=230)
    rows = [line for line in out.splitlines() if line.startswith("| ") and not line.startswith("| run")]
    assert [row.split("|")[1].strip()[:9] for row in rows] == ["in memory"] * 2 + ["lazy (zar"] * 2, out[-2000:]
    assert "labels True, classes True, class image True" in out, out[-2000:]
    for row in rows:
        assert float(row.split("|")[5]) > 0 and float(row.split("|")[6]) > 0
