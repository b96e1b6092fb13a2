"""Is the confidence honest on the demo sets? Expected calibration error before and after the fitted temperature.

For each set, model and annotation count, over a few random draws of annotations: train the
classifier as a user would (``Classifier.fit``, which fits its temperature at the end: on the
validation split of a network that has one, on the random forest's out-of-bag scores), then
measure the expected calibration error (ECE, 10 bins) on the objects nobody annotated, against
the set's true classes, of its raw probabilities (``predict_proba(calibrated=False)``) and of
the calibrated ones (the default). "90 % confident" should mean right 9 times in 10 on objects
the model did not learn from. Also the mean confidence against the accuracy (over- or
under-confidence in one figure), the temperatures fitted, and the paired difference
after - before, draw by draw (negative: calibration helped).

A network trained on fewer annotations than validation needs (40 by default) has no held-out
annotation: it keeps temperature 1 (``not calibrated``), and its after equals its before.

Usage (from the repository root)::

    python -m benchmarks.bench_calibration                       # 5 draws, 20 and 100 annotations
    python -m benchmarks.bench_calibration --draws 3 --models random_forest
    python -m benchmarks.bench_calibration --quick               # a smoke run
"""

from __future__ import annotations

import argparse
import time

import numpy as np
import torch

import svetlana_nb as sv
from svetlana_nb.prediction.calibration import expected_calibration_error

from .draws import random_annotations

SETS = ("cells_2d", "infected_cells_2d", "hubble_deep_field")
COUNTS = (20, 100)
MODELS = ("default", "random_forest")


def one_draw(demo: sv.data.DemoData, objects: sv.Objects, n: int, model: str, rng: np.random.Generator) -> dict:
    """Train on ``n`` random annotations; held-out ECE of the raw and the calibrated probabilities."""
    truth = demo.truth_index(demo.labels)
    annotations, chosen = random_annotations(demo, objects, n, rng)
    clf = sv.Classifier(objects) if model == "default" else sv.Classifier(objects, model=model)
    clf.fit(annotations)
    held_out = np.setdiff1d(np.arange(len(demo.labels)), chosen)
    raw = clf.predict_proba(objects, held_out, calibrated=False)  # rows of objects are those of demo.labels
    calibrated = clf.predict_proba(objects, held_out)
    held_truth = truth[held_out]
    assert (raw.argmax(axis=1) == calibrated.argmax(axis=1)).all()  # the classes never change
    return {
        "temperature": clf.calibration.temperature,
        "calibrated": clf.calibration.calibrated,
        "before": expected_calibration_error(raw, held_truth),
        "after": expected_calibration_error(calibrated, held_truth),
        "confidence_before": float(raw.max(axis=1).mean()),
        "confidence_after": float(calibrated.max(axis=1).mean()),
        "accuracy": float((raw.argmax(axis=1) == held_truth).mean()),
    }


def _spread(values: list[float]) -> str:
    return f"{np.mean(values):.3f} ± {np.std(values, ddof=1) if len(values) > 1 else 0.0:.3f}"


def main(argv: list[str] | None = None) -> int:
    """Print one table row per set, model and annotation count."""
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--draws", type=int, default=5)
    parser.add_argument("--counts", type=int, nargs="+", default=list(COUNTS))
    parser.add_argument("--models", nargs="+", default=list(MODELS), choices=MODELS)
    parser.add_argument("--sets", nargs="+", default=list(SETS), choices=SETS)
    parser.add_argument("--threads", type=int, default=None, help="torch threads (default: torch's)")
    parser.add_argument("--quick", action="store_true", help="2 draws of 40 annotations, forest only, 2 sets")
    args = parser.parse_args(argv)
    if args.threads:
        torch.set_num_threads(args.threads)
    counts = (40,) if args.quick else tuple(args.counts)
    draws = 2 if args.quick else args.draws
    models = ["random_forest"] if args.quick else args.models
    sets = ["cells_2d", "infected_cells_2d"] if args.quick else args.sets
    print("CALIBRATION: expected calibration error (10 bins) on the objects nobody annotated, before and after")
    print(f"the temperature Classifier.fit fits; {draws} draws of random annotations, mean ± SD over draws;")
    print("paired = after - before, draw by draw (negative: better), and in how many draws it helped.")
    print(
        "| set | model | annotations | calibrated draws | temperature (median) | held-out accuracy "
        "| mean confidence before → after | ECE before | ECE after | paired difference | helped |"
    )
    print("|---|---|---|---|---|---|---|---|---|---|---|")
    for name in sets:
        demo = sv.data.load(name)
        objects = sv.Objects(demo.image, demo.mask, channel_axis=demo.channel_axis)
        for model in models:
            for n in counts:
                if n >= len(demo.labels):
                    continue
                rng = np.random.default_rng(0)
                start = time.perf_counter()
                results = [one_draw(demo, objects, n, model, rng) for _ in range(draws)]

                def column(key: str, results: list[dict] = results) -> list[float]:
                    return [float(r[key]) for r in results]

                paired = [r["after"] - r["before"] for r in results]
                helped = sum(d < 0 for d in paired)
                changed = sum(d != 0 for d in paired)
                print(
                    f"| {name} | {model} | {n} | {sum(r['calibrated'] for r in results)}/{draws} "
                    f"| {np.median(column('temperature')):.2f} | {_spread(column('accuracy'))} "
                    f"| {np.mean(column('confidence_before')):.3f} → {np.mean(column('confidence_after')):.3f} "
                    f"| {_spread(column('before'))} | {_spread(column('after'))} | {_spread(paired)} "
                    f"| {helped}/{changed} |",
                    flush=True,
                )
                print(f"  ({time.perf_counter() - start:.0f} s)", flush=True)
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
