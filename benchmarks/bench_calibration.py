"""Is the confidence honest on the demo sets? Expected calibration error before and after temperature scaling.

For each demo set, model and annotation count, over a few random draws of annotations: train
the classifier, predict its annotations out of fold (5 folds), fit a temperature on those
out-of-fold probabilities, and measure the expected calibration error (ECE, 10 bins)

* on the annotations, out of fold, before and after scaling (the after cross-fitted on halves,
  :class:`svetlana_nb.prediction.calibration.Temperature`), and
* on the objects nobody annotated, against the set's true classes: the model trained on all the
  annotations, before and after applying the temperature. This is the figure that matters:
  "90 % confident" should mean right 9 times in 10 on objects the model did not learn from.

Usage (from the repository root)::

    python -m benchmarks.bench_calibration                       # 5 draws, network and forest
    python -m benchmarks.bench_calibration --draws 3 --models random_forest
    python -m benchmarks.bench_calibration --quick               # a smoke run
"""

from __future__ import annotations

import argparse
import time

import numpy as np
import torch

import svetlana_nb as sv
from svetlana_nb.models.cross_validation import out_of_fold
from svetlana_nb.prediction.calibration import Temperature, expected_calibration_error

from .draws import random_annotations

SETS = ("cells_2d", "infected_cells_2d")
COUNTS = (100,)
MODELS = ("default", "random_forest")


def one_draw(demo: sv.data.DemoData, objects: sv.Objects, n: int, model: str, rng: np.random.Generator) -> dict:
    """Train on ``n`` random annotations; ECE before and after temperature scaling, out of fold and held out."""
    truth = demo.truth_index(demo.labels)
    annotations, chosen = random_annotations(demo, objects, n, rng)
    clf = sv.Classifier(objects) if model == "default" else sv.Classifier(objects, model=model)
    clf.fit(annotations)
    oof = out_of_fold(clf, annotations, folds=5)
    fitted = Temperature.fit(oof.probabilities, oof.annotated, seed=int(rng.integers(1 << 31)))
    held_out = np.setdiff1d(np.arange(len(demo.labels)), chosen)
    probabilities = clf.predict_proba(objects, held_out)
    held_truth = truth[held_out]
    return {
        "temperature": fitted.temperature,
        "oof_before": fitted.ece_before,
        "oof_after": fitted.ece_after,
        "held_before": expected_calibration_error(probabilities, held_truth),
        "held_after": expected_calibration_error(fitted.apply(probabilities), held_truth),
        "accuracy": float((probabilities.argmax(axis=1) == held_truth).mean()),
    }


def main(argv: list[str] | None = None) -> int:
    """Print one table row per set, model and annotation count."""
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--draws", type=int, default=5)
    parser.add_argument("--counts", type=int, nargs="+", default=list(COUNTS))
    parser.add_argument("--models", nargs="+", default=list(MODELS), choices=MODELS)
    parser.add_argument("--sets", nargs="+", default=list(SETS), choices=SETS)
    parser.add_argument("--threads", type=int, default=None, help="torch threads (default: torch's)")
    parser.add_argument("--quick", action="store_true", help="1 draw of 40 annotations, forest only")
    args = parser.parse_args(argv)
    if args.threads:
        torch.set_num_threads(args.threads)
    counts = (40,) if args.quick else tuple(args.counts)
    draws = 1 if args.quick else args.draws
    models = ["random_forest"] if args.quick else args.models
    print("CALIBRATION: expected calibration error (10 bins) before and after temperature scaling")
    print(f"{draws} draws of random annotations; temperature fitted on out-of-fold probabilities (5 folds)")
    print(
        "| set | model | annotations | temperature | ECE out of fold | after (cross-fitted) "
        "| ECE held-out objects | after | held-out accuracy |"
    )
    print("|---|---|---|---|---|---|---|---|---|")
    for name in args.sets:
        demo = sv.data.load(name)
        objects = sv.Objects(demo.image, demo.mask, channel_axis=demo.channel_axis)
        for model in models:
            for n in counts:
                rng = np.random.default_rng(0)
                start = time.perf_counter()
                results = [one_draw(demo, objects, n, model, rng) for _ in range(draws)]

                def mean(key: str, results: list[dict] = results) -> float:
                    return float(np.mean([r[key] for r in results]))

                print(
                    f"| {name} | {model} | {n} | {np.median([r['temperature'] for r in results]):.2f} | "
                    f"{mean('oof_before'):.3f} | {mean('oof_after'):.3f} | {mean('held_before'):.3f} | "
                    f"{mean('held_after'):.3f} | {mean('accuracy'):.3f} |",
                    flush=True,
                )
                print(f"  ({time.perf_counter() - start:.0f} s)", flush=True)
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
