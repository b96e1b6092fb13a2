"""Smoke test of the annotator benchmark: ``bench_annotator.py --quick`` prints its tables."""

from __future__ import annotations

import pytest
from helpers import run_benchmark


@pytest.mark.timeout(180)
def test_bench_annotator_quick_prints_tables():
    out = run_benchmark("bench_annotator", "--quick", "--labels", "40", timeout=170)
    for expected in (
        "2D crop (40 labels)",
        "3D crop (40 labels)",
        "autosave on",
        "switch to click mode",
        "zoom in x4",
        "label it (overlay only)",
    ):
        assert expected in out, f"{expected!r} missing from the benchmark's output:\n{out}"
    # the click-mode overview never sends anything close to the full-resolution image
    percents = [
        float(line.rsplit("|", 2)[-2].strip().rstrip("%")) for line in out.splitlines() if "(image + overlay)" in line
    ]
    assert percents and max(percents) < 5.0
