"""Smoke test of the widget benchmark: ``bench_viewer.py --quick`` runs and prints its figures."""

from __future__ import annotations

import re
import subprocess
import sys
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parents[2]


@pytest.mark.timeout(300)
def test_bench_viewer_quick_prints_its_figures():
    proc = subprocess.run(
        [sys.executable, "-m", "benchmarks.bench_viewer", "--quick"],
        cwd=ROOT,
        capture_output=True,
        text=True,
        timeout=280,
    )
    assert proc.returncode == 0, proc.stderr[-3000:]
    out = proc.stdout
    assert "failed" not in out, out
    first = float(re.search(r"first overlay .*?: ([\d.]+) s", out).group(1))
    assert first < 2.0
    assert re.search(r"sent \d+ kB in 2 frames", out)
    for where in ("in an IPython kernel", "headless"):
        median = float(re.search(where + r".*?median ([\d.]+) ms", out).group(1))
        assert median < 5.0
