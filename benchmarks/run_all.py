"""Run every ``benchmarks/bench_*.py`` in its own subprocess and print their tables.

Usage (from the repository root)::

    python -m benchmarks.run_all                       # every benchmark, full sizes
    python -m benchmarks.run_all --quick               # each with --quick (a smoke run)
    python -m benchmarks.run_all --only bench_engine -- --only speed
    python -m benchmarks.run_all --write docs/benchmarks.md   # also write their output there
    python -m benchmarks.run_all --only bench_engine --append docs/benchmarks.md -- --only accuracy

Arguments after ``--`` are passed to every benchmark. Each benchmark's output is printed as it
arrives; the exit status is non-zero when one of them failed. ``--write`` puts every
benchmark's own output, as it printed it, into one Markdown file with the machine, the date
and the commit: ``docs/benchmarks.md`` is made so, never by hand. ``--append`` adds sections to
such a file (e.g. the accuracy runs, which do not depend on the machine's load, after the speed
runs made on an idle machine).
"""

from __future__ import annotations

import argparse
import datetime
import os
import platform
import subprocess
import sys
import time
from pathlib import Path

HERE = Path(__file__).resolve().parent
ROOT = HERE.parent


def benchmarks(only: list[str] | None = None) -> list[Path]:
    """The benchmark scripts, sorted by name (optionally only those named)."""
    found = sorted(HERE.glob("bench_*.py"))
    if only:
        found = [p for p in found if p.name in only or p.stem in only]
    return found


def run(script: Path, arguments: list[str]) -> tuple[int, str, float]:
    """Run one benchmark as a module; echo and return its output."""
    command = [sys.executable, "-m", f"benchmarks.{script.stem}", *arguments]
    print(f"\n{'=' * 100}\n{script.stem}: {' '.join(command[1:])}\n{'=' * 100}", flush=True)
    start = time.perf_counter()
    proc = subprocess.Popen(command, cwd=ROOT, stdout=subprocess.PIPE, stderr=subprocess.STDOUT, text=True)
    assert proc.stdout is not None
    lines = []
    for line in proc.stdout:
        print(line, end="", flush=True)
        lines.append(line)
    code = proc.wait()
    seconds = time.perf_counter() - start
    print(f"--- {script.stem}: exit {code}, {seconds:.0f} s", flush=True)
    return code, "".join(lines), seconds


def commit() -> str:
    """The current commit, with ``+changes`` when the work tree differs from it."""

    def git(*args: str) -> str:
        return subprocess.run(["git", *args], cwd=ROOT, capture_output=True, text=True).stdout.strip()

    head = git("rev-parse", "--short", "HEAD") or "unknown"
    return head + ("+changes" if git("status", "--porcelain", "--untracked-files=no") else "")


def markdown(sections: list[tuple[str, list[str], int, str, float]], *, header: bool = True) -> str:
    """The benchmarks' outputs as one Markdown document (or only its sections)."""
    import torch

    head = [
        "# Benchmarks",
        "",
        "Written by `python -m benchmarks.run_all --write docs/benchmarks.md` from the benchmarks' own output;",
        "do not edit by hand. What each benchmark measures: `benchmarks/README.md`; the decisions these",
        "figures informed: `docs/decisions.md`.",
        "",
        f"- date: {datetime.date.today().isoformat()}; commit: `{commit()}`",
        f"- machine: {platform.machine()}, {os.cpu_count()} CPU(s), {platform.system()}; Python "
        f"{platform.python_version()}, torch {torch.__version__}; CUDA: "
        f"{torch.cuda.get_device_name(0) if torch.cuda.is_available() else 'none'}",
        "",
    ]
    body = [] if header else [f"- appended {datetime.date.today().isoformat()} at commit `{commit()}`", ""]
    for name, arguments, code, output, seconds in sections:
        status = "" if code == 0 else f" — **failed (exit {code})**"
        body += [
            f"## {name}",
            "",
            f"`python -m benchmarks.{name} {' '.join(arguments)}`".replace(" `", "`"),
            f"({seconds / 60:.1f} min){status}",
            "",
            "```text",
            output.rstrip(),
            "```",
            "",
        ]
    return "\n".join((head if header else []) + body)


def main(argv: list[str] | None = None) -> int:
    argv = list(sys.argv[1:] if argv is None else argv)
    extra: list[str] = []
    if "--" in argv:
        cut = argv.index("--")
        argv, extra = argv[:cut], argv[cut + 1 :]
    parser = argparse.ArgumentParser(description=(__doc__ or "").splitlines()[0])
    parser.add_argument("--quick", action="store_true", help="pass --quick to every benchmark")
    parser.add_argument("--only", nargs="+", help="benchmark file names or stems to run")
    parser.add_argument("--write", type=Path, help="also write every output to this Markdown file")
    parser.add_argument("--append", type=Path, help="also append every output to this Markdown file")
    args = parser.parse_args(argv)
    scripts = benchmarks(args.only)
    if not scripts:
        print("no benchmark found", file=sys.stderr)
        return 1
    sections, failed = [], []
    for script in scripts:
        arguments = [*(["--quick"] if args.quick else []), *extra]
        code, output, seconds = run(script, arguments)
        sections.append((script.stem, arguments, code, output, seconds))
        if code != 0:
            failed.append(script.stem)
    if args.write:
        args.write.write_text(markdown(sections), encoding="utf-8")
        print(f"\nwrote {args.write}")
    if args.append:
        with args.append.open("a", encoding="utf-8") as handle:
            handle.write("\n" + markdown(sections, header=False))
        print(f"\nappended to {args.append}")
    if failed:
        print(f"\nfailed: {', '.join(failed)}", file=sys.stderr)
        return 1
    return 0


if __name__ == "__main__":
    sys.exit(main())
