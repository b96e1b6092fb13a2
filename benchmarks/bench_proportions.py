"""Corrected class proportions on the demo sets: interval coverage and error against the raw count.

For each demo set and annotation count, over repeated random draws of annotations: train the
classifier, predict every object, estimate its errors out of fold (5 folds), and compare the
corrected proportion of the set's second class (and its 95 % interval) with the truth. The raw
count's mean signed error over the draws (its bias, ± its standard error) says where the
classifier is biased: there the correction should err less than the raw count. "corrected" is
the expected count of the probabilities, temperature-scaled on the out-of-fold ones
(``prediction.expected_counts``); "adjusted c.-and-c." is the correction used before it
(the summary of the confusion counts alone). ``estimate`` is the figure reported
(``Prediction.summary``): the corrected share where the annotations show a bias beyond adjusted
classify-and-count's uncertainty, else the raw share; "corrected used" is how often.
``rare_infected`` is the infected-cells demo cut to 117 healthy : 8 infected objects (6 %).

Usage (from the repository root)::

    python -m benchmarks.bench_proportions                      # 100 draws, network and forest
    python -m benchmarks.bench_proportions --draws 20 --models random_forest
    python -m benchmarks.bench_proportions --quick              # a smoke run
"""

from __future__ import annotations

import argparse
import dataclasses
import time

import numpy as np
import torch

import svetlana_nb as sv
from svetlana_nb.models.cross_validation import out_of_fold

from .draws import random_annotations

SETS = ("cells_2d", "infected_cells_2d", "rare_infected")


def rare_infected(*, healthy: int = 117, infected: int = 8, seed: int = 0) -> sv.data.DemoData:
    """The infected-cells demo with a rare class: ``healthy`` : ``infected`` objects (117 : 8, 6 %).

    Built from a larger ``infected_cells_2d`` by removing objects from the mask, so that the
    class a user wants to count is the one a classifier trained on few examples misses.
    """
    demo = sv.data.infected_cells_2d(shape=(900, 900), n_objects=300, seed=seed)
    rng = np.random.default_rng(seed)
    by_class = {name: [k for k, c in demo.truth.items() if c == name] for name in demo.class_names}
    keep = {
        "healthy": rng.choice(by_class["healthy"], healthy, replace=False),
        "infected": rng.choice(by_class["infected"], infected, replace=False),
    }
    kept = np.concatenate(list(keep.values()))
    mask = np.where(np.isin(demo.mask, kept), demo.mask, 0).astype(demo.mask.dtype)
    truth = {int(k): name for name, ks in keep.items() for k in ks}
    return dataclasses.replace(demo, mask=mask, truth=truth, name="rare_infected")


def load_set(name: str) -> sv.data.DemoData:
    """A demo set by name, or the rare-class set built here."""
    return rare_infected() if name == "rare_infected" else sv.data.load(name)


COUNTS = (20, 100)
MODELS = ("default", "random_forest")


def one_draw(demo: sv.data.DemoData, objects: sv.Objects, n: int, model: str, rng: np.random.Generator) -> dict:
    """Train on ``n`` random annotations and return the summary row of the second class with the truth."""
    truth = demo.truth_index(demo.labels)
    annotations, chosen = random_annotations(demo, objects, n, rng)
    clf = sv.Classifier(objects) if model == "default" else sv.Classifier(objects, model=model)
    clf.fit(annotations)
    errors = out_of_fold(clf, annotations, folds=5)
    prediction = clf.predict().corrected(annotations)
    seed = int(rng.integers(1 << 31))
    row = prediction.summary(errors, n_boot=1000, seed=seed).iloc[1]
    counts_only = prediction.summary(errors.confusion, n_boot=1000, seed=seed).iloc[1]
    true = float(np.mean(truth == 1))
    return {
        "true": true,
        "raw": float(row["proportion"]),
        "corrected": float(row["corrected"]),
        "adjusted": float(counts_only["corrected"]),
        "estimate": float(row["estimate"]),
        "basis": str(row["basis"]),
        "covered": bool(row["low"] <= true <= row["high"]),
        "width": float(row["high"] - row["low"]),
    }


def se_of(values: np.ndarray) -> float:
    """Standard error of the mean of ``values`` (0 for one value)."""
    return float(values.std(ddof=1) / np.sqrt(values.size)) if values.size > 1 else 0.0


def main(argv: list[str] | None = None) -> int:
    """Print one table row per set, model and annotation count."""
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--draws", type=int, default=100)
    parser.add_argument("--models", nargs="+", default=list(MODELS), choices=MODELS)
    parser.add_argument("--sets", nargs="+", default=list(SETS), choices=SETS)
    parser.add_argument("--counts", type=int, nargs="+", default=list(COUNTS), help="annotation counts")
    parser.add_argument("--threads", type=int, default=None, help="torch threads (default: torch's)")
    parser.add_argument("--quick", action="store_true", help="2 draws of 20 annotations, forest only")
    args = parser.parse_args(argv)
    if args.threads:
        torch.set_num_threads(args.threads)
    counts = (20,) if args.quick else tuple(args.counts)
    draws = 2 if args.quick else args.draws
    models = ["random_forest"] if args.quick else args.models
    print("PROPORTIONS: the second class's share of each demo image, corrected for the classifier's errors")
    print(
        f"{draws} draws of random annotations; errors out of fold (5 folds); 95 % interval: the Dirichlet "
        "bootstrap of adjusted c.-and-c. joined with the calibrated one's"
    )
    print(
        "| set | model | annotations | true | raw bias (± SE) | coverage | mean abs. error, raw | corrected "
        "| estimate | corrected used | paired gap, estimate − raw | width | adjusted c.-and-c. "
        "| paired gap, corrected − raw |"
    )
    print("|---|---|---|---|---|---|---|---|---|---|---|---|---|---|")
    for name in args.sets:
        demo = load_set(name)
        objects = sv.Objects(demo.image, demo.mask, channel_axis=demo.channel_axis)
        for model in models:
            for n in counts:
                rng = np.random.default_rng(0)
                start = time.perf_counter()
                results = [one_draw(demo, objects, n, model, rng) for _ in range(draws)]
                raw = np.array([abs(r["raw"] - r["true"]) for r in results])
                corrected = np.array([abs(r["corrected"] - r["true"]) for r in results])
                estimate = np.array([abs(r["estimate"] - r["true"]) for r in results])
                adjusted = np.array([abs(r["adjusted"] - r["true"]) for r in results])
                used = np.mean([r["basis"] != "raw" for r in results])
                gap = estimate - raw
                corrected_gap = corrected - raw
                signed = np.array([r["raw"] - r["true"] for r in results])
                se = signed.std(ddof=1) / np.sqrt(draws) if draws > 1 else 0.0
                print(
                    f"| {name} | {model} | {n} | {results[0]['true']:.3f} | {signed.mean():+.4f} ± {se:.4f} | "
                    f"{np.mean([r['covered'] for r in results]):.2f} | {raw.mean():.4f} | {corrected.mean():.4f} | "
                    f"{estimate.mean():.4f} | {used:.2f} | "
                    f"{gap.mean():+.4f} ± {se_of(gap):.4f} | "
                    f"{np.median([r['width'] for r in results]):.3f} | {adjusted.mean():.4f} | "
                    f"{corrected_gap.mean():+.4f} ± {se_of(corrected_gap):.4f} |",
                    flush=True,
                )
                print(f"  ({time.perf_counter() - start:.0f} s)", flush=True)
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
