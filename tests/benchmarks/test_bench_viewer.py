"""Smoke test of the widget benchmark: ``bench_viewer.py --quick`` runs and prints its figures."""

from __future__ import annotations

import re

import pytest
from helpers import run_benchmark


@pytest.mark.timeout(300)
def test_bench_viewer_quick_prints_its_figures():
    out = run_benchmark("bench_viewer", "--quick", timeout=280)
    assert "failed" not in out, out
    first = float(re.search(r"first overlay .*?: ([\d.]+) s", out).group(1))
    assert first < 2.0
    assert re.search(r"sent \d+ kB in 2 frames", out)
    for where in ("in an IPython kernel", "headless"):
        median = float(re.search(where + r".*?median ([\d.]+) ms", out).group(1))
        assert median < 5.0
