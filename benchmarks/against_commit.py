"""Prediction speed of this tree against another commit, alternated in fresh processes.

On the 8000 x 8000 image with 16,000 objects (``sv.data.large_2d``), each round runs one
process per tree: it trains the default classifier on the same 100 annotations (seed 0, to
its plateau), then times ``Objects`` + ``predict`` of every object ``--repeat`` times. The
trees alternate round after round, so that a slow spell of a shared machine hits both; the
table gives each tree's best time per round and their ratio per round.

Usage (from the repository root)::

    python -m benchmarks.against_commit --ref db036e2            # 5 rounds, about 5 minutes
    python -m benchmarks.against_commit --ref HEAD~1 --quick     # a small image, a smoke run

Only the public API both trees share is used (``Objects``, ``Annotations``, ``Classifier``).
"""

from __future__ import annotations

import argparse
import json
import os
import subprocess
import sys
import tempfile
from pathlib import Path

import numpy as np

ROOT = Path(__file__).resolve().parents[1]
RESULT = "AGAINST-RESULT:"

WORKER = (
    """
import json, sys, time
import numpy as np
import svetlana_nb as sv

shape, n_objects, repeat = json.loads(sys.argv[1])
demo = sv.data.large_2d(shape=tuple(shape), n_objects=n_objects)
objects = sv.Objects(demo.image, demo.mask)
truth = np.array([demo.class_names.index(demo.truth[int(label)]) for label in objects.labels])
rng = np.random.default_rng(0)
while True:
    rows = rng.choice(len(objects), size=min(100, len(objects) - 1), replace=False)
    if len(np.unique(truth[rows])) > 1:
        break
ann = sv.Annotations(objects, demo.class_names)
for row in rows:
    ann.add(int(objects.labels[row]), demo.truth[int(objects.labels[row])])
clf = sv.Classifier(objects, seed=0)
history = clf.fit(ann)
seconds = []
for _ in range(repeat):
    start = time.perf_counter()
    result = clf.predict(sv.Objects(demo.image, demo.mask))
    seconds.append(time.perf_counter() - start)
print("%s" + json.dumps({"seconds": seconds, "epochs": len(history.epoch), "file": sv.__file__,
                         "probabilities_sum": float(result.probabilities.astype(np.float64).sum())}))
"""
    % RESULT
)


def export_tree(ref: str, folder: Path) -> Path:
    """The package of commit ``ref`` extracted into ``folder`` (no work tree of git's)."""
    archive = subprocess.run(["git", "archive", ref, "svetlana_nb"], cwd=ROOT, capture_output=True, check=True)
    subprocess.run(["tar", "-x", "-C", str(folder)], input=archive.stdout, check=True)
    return folder


def run(tree: Path, shape: tuple[int, int], n_objects: int, repeat: int) -> dict:
    """One fresh process importing svetlana_nb from ``tree``; its timings."""
    env = {**os.environ, "PYTHONPATH": str(tree)}
    proc = subprocess.run(
        [sys.executable, "-c", WORKER, json.dumps([shape, n_objects, repeat])],
        cwd=tempfile.gettempdir(),
        env=env,
        capture_output=True,
        text=True,
    )
    for line in proc.stdout.splitlines():
        if line.startswith(RESULT):
            result = json.loads(line[len(RESULT) :])
            if not result["file"].startswith(str(tree)):
                raise RuntimeError(f"the worker imported {result['file']}, not the tree {tree}")
            return result
    raise RuntimeError(f"worker failed (exit {proc.returncode}):\n{proc.stderr[-3000:]}")


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=(__doc__ or "").splitlines()[0])
    parser.add_argument("--ref", default="HEAD~1", help="the commit to compare with (default HEAD~1)")
    parser.add_argument("--rounds", type=int, default=5)
    parser.add_argument("--repeat", type=int, default=3, help="predictions timed per process (the best is kept)")
    parser.add_argument("--quick", action="store_true", help="a 1000 x 1000 image with 250 objects, 2 rounds")
    args = parser.parse_args(argv)
    shape, n_objects = ((1000, 1000), 250) if args.quick else ((8000, 8000), 16000)
    rounds = 2 if args.quick else args.rounds
    with tempfile.TemporaryDirectory() as tmp:
        trees = {f"{args.ref} (reference)": export_tree(args.ref, Path(tmp)), "this tree": ROOT}
        best: dict[str, list[float]] = {name: [] for name in trees}
        checks: dict[str, set] = {name: set() for name in trees}
        for r in range(rounds):
            for name, tree in trees.items():
                result = run(tree, shape, n_objects, args.repeat)
                best[name].append(min(result["seconds"]))
                checks[name].add((result["epochs"], round(result["probabilities_sum"], 2)))
                print(
                    f"  round {r + 1} {name}: {min(result['seconds']):.3f} s "
                    f"(runs {', '.join(f'{s:.3f}' for s in result['seconds'])}; {result['epochs']} epochs)",
                    flush=True,
                )
    reference, current = (np.array(v) for v in best.values())
    ratio = current / reference
    print(
        f"\nObjects + prediction of {n_objects} objects ({shape[0]} x {shape[1]}), best of {args.repeat} per "
        f"process, {rounds} alternated rounds:"
    )
    for name, values in best.items():
        print(f"  {name:<24} median {np.median(values):.3f} s  (min {min(values):.3f}, max {max(values):.3f})")
    print(
        f"  this tree / reference, per round: median {np.median(ratio):.3f} (min {ratio.min():.3f}, "
        f"max {ratio.max():.3f})"
    )
    same = checks[f"{args.ref} (reference)"] == checks["this tree"]
    detail = sorted(checks.values(), key=str)
    print(f"  same training and the same probabilities in both: {'yes' if same else 'NO'} {detail}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
