"""A Dask worker's MALLOC_TRIM_THRESHOLD_ is undone, so large arrays stop faulting their pages in anew."""

from __future__ import annotations

import os
import subprocess
import sys

import pytest

from svetlana_nb.batch._malloc import restore_malloc_thresholds

# Allocate and fill a 1 MiB array 200 times; print the minor page faults it cost.
_PROBE = """
import resource, sys
import numpy as np
from svetlana_nb.batch._malloc import restore_malloc_thresholds
changed = restore_malloc_thresholds() if sys.argv[1] == "fix" else False
np.ones(2**17)  # warm up numpy's own allocations
before = resource.getrusage(resource.RUSAGE_SELF).ru_minflt
for _ in range(200):
    np.ones(2**17)  # 1 MiB, filled: every new page faults once
print(changed, resource.getrusage(resource.RUSAGE_SELF).ru_minflt - before)
"""


def _faults(mode: str) -> tuple[bool, int]:
    env = {**os.environ, "MALLOC_TRIM_THRESHOLD_": "65536"}  # what a Dask nanny gives its worker
    out = subprocess.run(
        [sys.executable, "-c", _PROBE, mode], env=env, capture_output=True, text=True, timeout=120, check=True
    ).stdout.split()
    return out[0] == "True", int(out[1])


@pytest.mark.skipif(not sys.platform.startswith("linux"), reason="mallopt is glibc's")
def test_a_worker_started_like_a_dask_nanny_reuses_large_blocks_after_the_fix():
    changed_before, slow = _faults("none")
    changed, fast = _faults("fix")
    assert not changed_before and changed
    # Without the fix each 1 MiB array is a fresh mmap: about 256 faults each, ~51,000 in all.
    assert slow > 200 * 200
    assert fast < slow / 10


def test_nothing_is_changed_without_the_variable(monkeypatch):
    monkeypatch.delenv("MALLOC_TRIM_THRESHOLD_", raising=False)
    assert restore_malloc_thresholds() is False
