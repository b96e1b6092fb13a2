"""Smoke test of ``python -m benchmarks.against_commit``: this tree against its own last commit."""

from __future__ import annotations

import subprocess
from pathlib import Path

import pytest
from helpers import run_benchmark

ROOT = Path(__file__).resolve().parents[2]


@pytest.mark.timeout(300)
def test_against_commit_quick_times_both_trees_and_checks_they_agree():
    if subprocess.run(["git", "rev-parse", "HEAD"], cwd=ROOT, capture_output=True).returncode != 0:
        pytest.skip("not a git checkout")
    out = run_benchmark("against_commit", "--ref", "HEAD", "--quick", timeout=290)
    assert out.count("round ") == 4 and "HEAD (reference)" in out and "this tree" in out, out
    assert "this tree / reference, per round: median" in out
    # the same package at both ends: the same training and the same probabilities
    assert "same training and the same probabilities in both: yes" in out, out
