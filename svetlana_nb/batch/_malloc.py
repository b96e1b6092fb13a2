"""Undo Dask's small malloc trim threshold in a worker, which doubles the CPU time of each image.

A Dask nanny starts its worker with ``MALLOC_TRIM_THRESHOLD_=65536`` (the config key
``distributed.nanny.pre-spawn-environ``), so that workers give memory back to the system.
Setting that variable also switches off glibc's dynamic mmap threshold: every allocation above
128 KiB then becomes a fresh ``mmap`` whose pages fault in again, and predicting one 2048 × 2048
image with 1,000 objects took 0.48–0.62 s of CPU instead of 0.21–0.33 s (measured with
``time.thread_time`` in two processes, see ``docs/decisions.md``). The figures glibc's dynamic
mode settles at on a 64-bit machine (mmap above 32 MiB, trim above 64 MiB) restore the speed and
still give large blocks back.

Only glibc has ``mallopt``; elsewhere (macOS, musl, Windows) nothing is done.
"""

from __future__ import annotations

import ctypes
import ctypes.util
import os
import sys

#: ``mallopt`` parameters (glibc's malloc.h).
_M_TRIM_THRESHOLD = -1
_M_MMAP_THRESHOLD = -3
#: What glibc's dynamic thresholds reach on a 64-bit machine.
MMAP_THRESHOLD = 32 * 2**20
TRIM_THRESHOLD = 2 * MMAP_THRESHOLD


def restore_malloc_thresholds() -> bool:
    """Set glibc's mmap and trim thresholds to their dynamic steady state when ``MALLOC_TRIM_THRESHOLD_`` is set.

    Returns
    -------
    bool
        True if the thresholds were changed (a Linux process started with the variable set).
    """
    if "MALLOC_TRIM_THRESHOLD_" not in os.environ or not sys.platform.startswith("linux"):
        return False
    name = ctypes.util.find_library("c")
    if name is None:
        return False
    try:
        mallopt = ctypes.CDLL(name).mallopt
    except (OSError, AttributeError):  # not glibc
        return False
    mallopt.argtypes, mallopt.restype = [ctypes.c_int, ctypes.c_int], ctypes.c_int
    return bool(mallopt(_M_MMAP_THRESHOLD, MMAP_THRESHOLD)) and bool(mallopt(_M_TRIM_THRESHOLD, TRIM_THRESHOLD))
