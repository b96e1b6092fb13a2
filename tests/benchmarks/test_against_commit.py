"""Smoke test of ``python -m benchmarks.against_commit``: this tree against its own last commit."""

from __future__ import annotations

import subprocess
import sys
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parents[2]


@pytest.mark.timeout(300)
def test_against_commit_quick_times_both_trees_and_checks_they_agree():
    if subprocess.run(["git", "rev-parse", "HEAD"], cwd=ROOT, capture_output=True).returncode != 0:
        pytest.skip("not a git checkout")
    proc = subprocess.run(
        [sys.executable, "-m", "benchmarks.against_commit", "--ref", "HEAD", "--quick"],
        cwd=ROOT,
        capture_output=True,
        text=True,
        timeout=290,
    )
    assert proc.returncode == 0, proc.stderr[-3000:]
    out = proc.stdout
    assert out.count("round ") == 4 and "HEAD (reference)" in out and "this tree" in out, out
    assert "this tree / reference, per round: median" in out
    # the same package at both ends: the same training and the same probabilities
    assert "same training and the same probabilities in both: yes" in out, out
