"""Corrected class proportions on the demo sets: interval coverage and error against the raw count.

For each demo set, annotation scheme and count, over repeated draws of annotations: train the
classifier, predict every object, estimate its errors out of fold (5 folds), and compare the
corrected proportion of the set's second class (and its 95 % interval) with the truth. The raw
count's mean signed error over the draws (its bias, ± its standard error) says where the
classifier is biased: there the correction should err less than the raw count. "corrected" is
the summary's corrected share: the expected count of the probabilities, temperature-scaled on the
out-of-fold ones (``prediction.expected_counts``; "calibrated" is it alone), or adjusted
classify-and-count (the summary of the confusion counts alone, "adjusted c.-and-c.") where the
annotations' class shares differ from the objects'. ``estimate`` is the figure reported
(``Prediction.summary``): the corrected share where the annotations show a bias beyond adjusted
classify-and-count's uncertainty, else the raw share; "corrected used" is how often.
``rare_infected`` is the infected-cells demo cut to 117 healthy : 8 infected objects (6 %).

Two annotation schemes (``--schemes``): ``random`` objects, whose class shares are the image's,
and ``balanced``, as many of each class (10 : 10 at 20 annotations; a class with too few objects
gives all of them), what a user counting a rare class does: a shift of the class shares between
the annotations and the objects, under which adjusted classify-and-count stays unbiased (its
confusion columns are per true class) while probabilities learnt on the annotations are not.
Per-draw figures can be kept as JSON (``--save``).

Usage (from the repository root)::

    python -m benchmarks.bench_proportions                      # 100 draws, network and forest
    python -m benchmarks.bench_proportions --draws 20 --models random_forest --schemes balanced
    python -m benchmarks.bench_proportions --quick              # a smoke run
"""

from __future__ import annotations

import argparse
import dataclasses
import json
import time

import numpy as np
import torch

import svetlana_nb as sv
from svetlana_nb.models.cross_validation import out_of_fold
from svetlana_nb.prediction.expected_counts import expected_proportions

from .draws import balanced_annotations, random_annotations

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
SCHEMES = {"random": random_annotations, "balanced": balanced_annotations}


def one_draw(
    demo: sv.data.DemoData, objects: sv.Objects, n: int, model: str, rng: np.random.Generator, scheme: str = "random"
) -> dict:
    """Train on ``n`` annotations drawn by ``scheme``; return the summary row of the second class with the truth."""
    truth = demo.truth_index(demo.labels)
    annotations, chosen = SCHEMES[scheme](demo, objects, n, rng)
    clf = sv.Classifier(objects) if model == "default" else sv.Classifier(objects, model=model)
    clf.fit(annotations)
    errors = out_of_fold(clf, annotations, folds=5)
    prediction = clf.predict().corrected(annotations)
    seed = int(rng.integers(1 << 31))
    row = prediction.summary(errors, n_boot=1000, seed=seed).iloc[1]
    counts_only = prediction.summary(errors.confusion, n_boot=1000, seed=seed).iloc[1]
    unknown = ~prediction.annotated  # the calibrated expected count alone, whatever the summary chose
    expected, _, _ = expected_proportions(
        prediction.raw_probabilities[unknown], errors.probabilities, errors.annotated, n_boot=1000, seed=seed
    )
    known = np.sum(prediction.annotated & (prediction.class_index == 1))
    true = float(np.mean(truth == 1))
    return {
        "true": true,
        "raw": float(row["proportion"]),
        "corrected": float(row["corrected"]),
        "adjusted": float(counts_only["corrected"]),
        "calibrated": float((known + expected[1] * unknown.sum()) / unknown.size),
        "estimate": float(row["estimate"]),
        "basis": str(row["basis"]),
        "covered": bool(row["low"] <= true <= row["high"]),
        "width": float(row["high"] - row["low"]),
        "low": float(row["low"]),
        "high": float(row["high"]),
        "annotated_share": float(np.mean(truth[chosen] == 1)),
    }


def se_of(values: np.ndarray) -> float:
    """Standard error of the mean of ``values`` (0 for one value)."""
    return float(values.std(ddof=1) / np.sqrt(values.size)) if values.size > 1 else 0.0


def mean_gap(values: np.ndarray) -> str:
    """``mean ± SE`` of paired differences, signed."""
    return f"{values.mean():+.4f} ± {se_of(values):.4f}"


def table_row(name: str, model: str, scheme: str, n: int, results: list[dict]) -> str:
    """One table row from a cell's draws: coverage, widths, mean absolute errors and paired gaps."""

    def error(key: str) -> np.ndarray:
        return np.array([abs(r[key] - r["true"]) for r in results])

    raw, estimate, corrected, adjusted, calibrated = (
        error(key) for key in ("raw", "estimate", "corrected", "adjusted", "calibrated")
    )
    signed = np.array([r["raw"] - r["true"] for r in results])
    used = np.mean([r["basis"] != "raw" for r in results])
    return (
        f"| {name} | {model} | {scheme} | {n} | {results[0]['true']:.3f} | "
        f"{np.mean([r['annotated_share'] for r in results]):.2f} | {mean_gap(signed)} | "
        f"{np.mean([r['covered'] for r in results]):.2f} | {np.median([r['width'] for r in results]):.3f} | "
        f"{raw.mean():.4f} | {estimate.mean():.4f} | {corrected.mean():.4f} | {adjusted.mean():.4f} | "
        f"{calibrated.mean():.4f} | "
        f"{used:.2f} | {mean_gap(estimate - raw)} | {mean_gap(corrected - raw)} | {mean_gap(adjusted - raw)} "
        f"| {mean_gap(calibrated - raw)} |"
    )


def main(argv: list[str] | None = None) -> int:
    """Print one table row per set, model, annotation scheme and count."""
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--draws", type=int, default=100)
    parser.add_argument("--models", nargs="+", default=list(MODELS), choices=MODELS)
    parser.add_argument("--sets", nargs="+", default=list(SETS), choices=SETS)
    parser.add_argument("--schemes", nargs="+", default=list(SCHEMES), choices=list(SCHEMES))
    parser.add_argument("--counts", type=int, nargs="+", default=list(COUNTS), help="annotation counts")
    parser.add_argument("--threads", type=int, default=None, help="torch threads (default: torch's)")
    parser.add_argument("--save", default=None, help="write every draw's figures to this JSON file")
    parser.add_argument("--quick", action="store_true", help="2 draws of 20 annotations, forest only")
    args = parser.parse_args(argv)
    if args.threads:
        torch.set_num_threads(args.threads)
    counts = (20,) if args.quick else tuple(args.counts)
    draws = 2 if args.quick else args.draws
    models = ["random_forest"] if args.quick else args.models
    print("PROPORTIONS: the second class's share of each demo image, corrected for the classifier's errors")
    print(
        f"{draws} draws of annotations per scheme; errors out of fold (5 folds); 95 % interval: the Dirichlet "
        "bootstrap of adjusted c.-and-c. joined with the calibrated one's; mean abs. errors, paired gaps mean ± SE"
    )
    print(
        "| set | model | scheme | annotations | true | annotated share | raw bias (± SE) | coverage | width "
        "| MAE raw | MAE estimate | MAE corrected | MAE adjusted c.-and-c. | MAE calibrated | corrected used "
        "| gap, estimate − raw | gap, corrected − raw | gap, adjusted − raw | gap, calibrated − raw |"
    )
    print("|---" * 19 + "|")
    saved: list[dict] = []
    for name in args.sets:
        demo = load_set(name)
        objects = sv.Objects(demo.image, demo.mask, channel_axis=demo.channel_axis)
        for model in models:
            for scheme in args.schemes:
                for n in counts:
                    rng = np.random.default_rng(0)
                    start = time.perf_counter()
                    results = [one_draw(demo, objects, n, model, rng, scheme) for _ in range(draws)]
                    print(table_row(name, model, scheme, n, results), flush=True)
                    print(f"  ({time.perf_counter() - start:.0f} s)", flush=True)
                    saved += [{"set": name, "model": model, "scheme": scheme, "n": n, **r} for r in results]
                    if args.save:
                        with open(args.save, "w") as file:
                            json.dump(saved, file)
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
