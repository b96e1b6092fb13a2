"""Smoke test of the GPU benchmark's code path on the CPU: ``bench_gpu --device cpu --quick``."""

from __future__ import annotations

import pytest
from helpers import run_benchmark


@pytest.mark.timeout(240)
def test_bench_gpu_runs_on_the_cpu_and_prints_both_cases():
    out = run_benchmark("bench_gpu", "--device", "cpu", "--quick", "--repeat", "1", timeout=230)
    rows = [line.split("|") for line in out.splitlines() if line.startswith("| 2D") or line.startswith("| 3D")]
    assert [row[1].strip()[:2] for row in rows] == ["2D", "3D"], out[-2000:]
    for row in rows:
        assert int(row[3]) > 0 and float(row[4]) > 0 and float(row[6]) > 0 and 0 <= float(row[7]) <= 1
