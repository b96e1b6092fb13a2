"""Run every ``benchmarks/bench_*.py`` in its own subprocess and print their tables.

Usage::

    python benchmarks/run_all.py            # every benchmark, full sizes
    python benchmarks/run_all.py --quick    # each with --quick (a smoke run)
    python benchmarks/run_all.py --only bench_engine.py -- --only speed

Arguments after ``--`` are passed to every benchmark. Each benchmark's output is printed as it
arrives; the exit status is non-zero when one of them failed.
"""

from __future__ import annotations

import argparse
import subprocess
import sys
import time
from pathlib import Path

HERE = Path(__file__).resolve().parent


def benchmarks(only: list[str] | None = None) -> list[Path]:
    """The benchmark scripts, sorted by name (optionally only those named)."""
    found = sorted(HERE.glob("bench_*.py"))
    if only:
        found = [p for p in found if p.name in only or p.stem in only]
    return found


def main(argv: list[str] | None = None) -> int:
    argv = list(sys.argv[1:] if argv is None else argv)
    extra: list[str] = []
    if "--" in argv:
        cut = argv.index("--")
        argv, extra = argv[:cut], argv[cut + 1 :]
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--quick", action="store_true", help="pass --quick to every benchmark")
    parser.add_argument("--only", nargs="+", help="benchmark file names or stems to run")
    args = parser.parse_args(argv)
    scripts = benchmarks(args.only)
    if not scripts:
        print("no benchmark found", file=sys.stderr)
        return 1
    failed = []
    for script in scripts:
        command = [sys.executable, str(script), *(["--quick"] if args.quick else []), *extra]
        print(f"\n{'=' * 100}\n{script.name}: {' '.join(command[1:])}\n{'=' * 100}", flush=True)
        start = time.perf_counter()
        code = subprocess.call(command, cwd=HERE.parent)
        print(f"--- {script.name}: exit {code}, {time.perf_counter() - start:.0f} s", flush=True)
        if code != 0:
            failed.append(script.name)
    if failed:
        print(f"\nfailed: {', '.join(failed)}", file=sys.stderr)
        return 1
    return 0


if __name__ == "__main__":
    sys.exit(main())
