"""Do I need more labels? The learning curve on the demo sets, its cost and its reading.

For each demo set: draw random annotations (their true class), train the default classifier (the
light CNN with its second opinion) on them as a user would, then run
:func:`svetlana_nb.models.learning_curve` with it (a random forest beside it), and print the
curve's table (balanced accuracy on the held-out folds, mean and mean ± 1 SE), its wall time, the
network's fits with their cost in trainings (optimisation steps, the budget's unit) and in wall
time against the user's training, and the reading. As a check of what the curve says, the
trained classifier and a forest trained on the same annotations are scored on every object
nobody annotated (balanced accuracy against the set's true classes).

Usage (from the repository root)::

    python -m benchmarks.bench_learning_curve                   # 40 annotations per set
    python -m benchmarks.bench_learning_curve --counts 40 100
    python -m benchmarks.bench_learning_curve --quick           # forest only, a smoke run
"""

from __future__ import annotations

import argparse
import os
import time

import numpy as np
import torch

import svetlana_nb as sv
from svetlana_nb.models.learning_curve import learning_curve

from .draws import random_annotations

SETS = ("cells_2d", "infected_cells_2d")
COUNTS = (40,)


def held_out(demo: sv.data.DemoData, objects: sv.Objects, clf: sv.Classifier, chosen: np.ndarray) -> float:
    """Balanced accuracy of a trained classifier on the objects nobody annotated."""
    rest = np.setdiff1d(np.arange(len(demo.labels)), chosen)
    truth = demo.truth_index(demo.labels)[rest]
    predicted = clf.predict_proba(objects, rest).argmax(axis=1)
    return float(np.mean([(predicted[truth == c] == c).mean() for c in np.unique(truth)]))


class NetworkSeconds(sv.Callback):
    """Wall time of the network fits (the forest's are left out)."""

    def __init__(self) -> None:
        self.seconds = 0.0
        self._start: float | None = None

    def on_train_begin(self, info: dict) -> None:
        self._start = time.perf_counter() if info.get("patch") is not None else None

    def on_train_end(self, history: sv.models.History) -> None:
        if self._start is not None:
            self.seconds += time.perf_counter() - self._start


def main(argv: list[str] | None = None) -> int:
    """Print one curve per set and annotation count."""
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--counts", type=int, nargs="+", default=list(COUNTS))
    parser.add_argument("--sets", nargs="+", default=list(SETS), choices=SETS)
    parser.add_argument("--repeats", type=int, default=1)
    parser.add_argument("--seed", type=int, default=0, help="seed of the annotation draw")
    parser.add_argument("--threads", type=int, default=None, help="torch threads (default: torch's)")
    parser.add_argument("--quick", action="store_true", help="30 annotations, forest only, no held-out check")
    args = parser.parse_args(argv)
    if args.threads:
        torch.set_num_threads(args.threads)
    counts = (30,) if args.quick else tuple(args.counts)
    print("LEARNING CURVE: balanced accuracy on held-out folds (3 folds) at 25/50/75/100 % of each fold's annotations")
    print(
        f"{os.cpu_count()} CPU(s), {torch.get_num_threads()} torch threads, "
        f"load average {tuple(round(v, 2) for v in os.getloadavg())}; low/high = mean -/+ 1 standard error"
    )
    for name in args.sets:
        demo = sv.data.load(name)
        objects = sv.Objects(demo.image, demo.mask, channel_axis=demo.channel_axis)
        for n in counts:
            annotations, chosen = random_annotations(demo, objects, n, np.random.default_rng(args.seed))
            clf = sv.Classifier(objects, model="random_forest") if args.quick else sv.Classifier(objects)
            start = time.perf_counter()
            clf.fit(annotations)
            trained = time.perf_counter() - start
            watch = NetworkSeconds()
            start = time.perf_counter()
            curve = learning_curve(clf, annotations, repeats=args.repeats, callbacks=[watch])
            seconds = time.perf_counter() - start
            print(f"\n### {name}, {n} annotations {annotations.counts()}")
            print("| model | fraction | annotations trained on | mean | low | high | runs |")
            print("|---|---|---|---|---|---|---|")
            for row in curve.table.itertuples(index=False):
                print(
                    f"| {row.model} | {row.fraction:.2f} | {row.n_annotations} | {row.mean:.3f} | "
                    f"{row.low:.3f} | {row.high:.3f} | {row.runs} |"
                )
            print(
                f"the user's training: {clf.history.summary()}; {trained:.1f} s with prediction set-up\n"
                f"curve: wall time {seconds:.1f} s; {curve.network_fits} network fits, {curve.cost:.2f} trainings "
                f"in steps, {watch.seconds:.1f} s ({watch.seconds / trained:.1f}x the user's training)"
            )
            print(f"reading: {curve.reading()}")
            if not args.quick:
                forest = sv.Classifier(objects, model="random_forest")
                forest.fit(annotations)
                print(
                    f"check, trained on all {n} and scored on the {len(demo.labels) - n} unannotated objects: "
                    f"{clf.model_name} {held_out(demo, objects, clf, chosen):.3f}, "
                    f"random_forest {held_out(demo, objects, forest, chosen):.3f}"
                )
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
