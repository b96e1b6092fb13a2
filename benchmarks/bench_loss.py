"""Training losses compared: balanced accuracy on the objects not annotated (issue 19).

For each set and number of random annotations, each draw trains one classifier per loss
(``cross_entropy``, ``focal``, ``balanced_softmax``) on the same annotations, with the same seed,
and scores the balanced accuracy (mean recall over classes) of the objects left unannotated:
of the classifier as shipped (network + second opinion) and of its network alone. The table
gives each loss's mean and its paired difference from cross-entropy (mean ± standard error over
the draws).

``rare_infected`` is the infected-cells demo cut to 117 healthy : 8 infected objects
(see :func:`benchmarks.bench_proportions.rare_infected`).

Usage (from the repository root)::

    python -m benchmarks.bench_loss                    # 5 draws, 20 and 100 annotations
    python -m benchmarks.bench_loss --threads 1 --draws 3
    python -m benchmarks.bench_loss --quick            # a smoke run
"""

from __future__ import annotations

import argparse
import time

import numpy as np
import torch

import svetlana_nb as sv
from svetlana_nb.models.losses import LOSSES

from .bench_proportions import rare_infected
from .draws import random_annotations

SETS = ("infected_cells_2d", "rare_infected")
COUNTS = (20, 100)


def load_set(name: str) -> sv.data.DemoData:
    """A demo set by name, or the rare-class set."""
    return rare_infected() if name == "rare_infected" else sv.data.load(name)


def balanced_accuracy(truth: np.ndarray, predicted: np.ndarray, n_classes: int) -> float:
    """Mean recall over the classes present in ``truth``."""
    recalls = [np.mean(predicted[truth == k] == k) for k in range(n_classes) if np.any(truth == k)]
    return float(np.mean(recalls))


def one_draw(
    demo: sv.data.DemoData, objects: sv.Objects, n: int, rng: np.random.Generator, epochs: int | None
) -> dict[str, tuple[float, float]]:
    """Balanced accuracy (classifier, network alone) of each loss on one draw of ``n`` annotations."""
    annotations, chosen = random_annotations(demo, objects, n, rng)
    truth = demo.truth_index(demo.labels)
    rest = np.setdiff1d(np.arange(len(demo.labels)), chosen)
    rows = np.flatnonzero(np.isin(objects.labels, demo.labels[rest]))
    order = {int(label): i for i, label in enumerate(demo.labels)}
    rest_truth = truth[[order[int(label)] for label in objects.labels[rows]]]
    scores = {}
    for loss in LOSSES:
        clf = sv.Classifier(objects, loss=loss)
        clf.fit(annotations, epochs=epochs)
        both = clf.predict_proba(objects, rows).argmax(1)
        alone = clf.network_proba(objects, rows).argmax(1)
        k = len(demo.class_names)
        scores[loss] = (balanced_accuracy(rest_truth, both, k), balanced_accuracy(rest_truth, alone, k))
    return scores


def mean_se(values: list[float]) -> str:
    """``mean ± standard error`` of ``values``."""
    array = np.asarray(values, dtype=float)
    se = array.std(ddof=1) / np.sqrt(len(array)) if len(array) > 1 else 0.0
    return f"{array.mean():+.3f} ± {se:.3f}"


def main(argv: list[str] | None = None) -> int:
    """Run the draws and print a Markdown table."""
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--draws", type=int, default=5)
    parser.add_argument("--counts", nargs="+", type=int, default=list(COUNTS))
    parser.add_argument("--sets", nargs="+", default=list(SETS), choices=SETS)
    parser.add_argument("--epochs", type=int, default=None, help="epoch limit (default: the classifier's)")
    parser.add_argument("--threads", type=int, default=None, help="torch threads (default: torch's)")
    parser.add_argument("--seed", type=int, default=0)
    parser.add_argument("--quick", action="store_true", help="1 draw of 20 annotations, 3 epochs, one set")
    args = parser.parse_args(argv)
    if args.threads:
        torch.set_num_threads(args.threads)
    sets, counts, draws, epochs = args.sets, args.counts, args.draws, args.epochs
    if args.quick:
        sets, counts, draws, epochs = ["infected_cells_2d"], [20], 1, 3
    start = time.perf_counter()
    print(
        "| set | annotations | loss | balanced acc. (classifier) | Δ vs CE | balanced acc. (network alone) | Δ vs CE |"
    )
    print("|---|---|---|---|---|---|---|")
    for name in sets:
        demo = load_set(name)
        objects = sv.Objects(demo.image, demo.mask)
        for n in counts:
            rng = np.random.default_rng(args.seed)
            results = [one_draw(demo, objects, n, rng, epochs) for _ in range(draws)]
            for loss in LOSSES:
                cells = [f"{name}", f"{n}", loss]
                for which in (0, 1):
                    values = [r[loss][which] for r in results]
                    diffs = [r[loss][which] - r["cross_entropy"][which] for r in results]
                    cells += [f"{np.mean(values):.3f}", "—" if loss == "cross_entropy" else mean_se(diffs)]
                print("| " + " | ".join(cells) + " |", flush=True)
    print(f"\n{draws} draws per row, paired by draw; {time.perf_counter() - start:.0f} s")
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
