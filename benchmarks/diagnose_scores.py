"""Why one method beats another on a two-class demo set: ranking against decision (not run by run_all.py).

For random draws of annotated objects (the same draws as ``bench_engine.py``), the default CNN
(alone: ``second_opinion=None``, without the forest's second opinion) and the random forest are
trained; on the objects not annotated it prints, for each:

- ``auc``: area under the ROC curve of its score (how well it ranks the objects overall);
- ``ba``: the balanced accuracy of its own decision;
- ``best``: the balanced accuracy it would reach with the best threshold on its score (how well
  it orders the objects near the decision);

the same ``auc`` and ``best`` for one object measurement alone (``--measurement``), and which
object measurements the CNN's log-odds follow (a linear fit on the standardised measurements of
every object: R² and the largest weights).

It then prints what the same annotations allow to simpler models given fewer measurements: a
logistic regression and the forest trained on ``--measurement`` alone (as if the user knew which
measurement decides), on the brightest pixel of every channel, and on all measurements
(:func:`measurement_models`). A model that must find the deciding measurement among others pays
for it; this shows how much.

Usage::

    python -m benchmarks.diagnose_scores --set infected_cells_2d --count 20 --seeds 8
"""

from __future__ import annotations

import argparse
import sys

import numpy as np

from benchmarks import bench_engine as be


def best_threshold_accuracy(truth: np.ndarray, score: np.ndarray) -> float:
    """Highest balanced accuracy of ``score > t`` over every threshold ``t``.

    Parameters
    ----------
    truth : numpy.ndarray of {0, 1}, shape (n,)
    score : numpy.ndarray, shape (n,)
        Higher means class 1.

    Returns
    -------
    float
    """
    order = np.argsort(score, kind="stable")
    t = truth[order]
    n1 = t.sum()
    n0 = len(t) - n1
    # the first j objects (lowest scores) called 0, for j = 0 .. n
    true_negative = np.concatenate([[0], np.cumsum(1 - t)])
    false_negative = np.concatenate([[0], np.cumsum(t)])
    return float(((true_negative / n0 + (n1 - false_negative) / n1) / 2).max())


def log_odds(probabilities: np.ndarray) -> np.ndarray:
    """``log p1 - log p0`` of two-class probabilities (n, 2)."""
    p = np.clip(probabilities.astype(np.float64), 1e-9, 1.0)
    return np.log(p[:, 1]) - np.log(p[:, 0])


def standardised(values: np.ndarray, reference: np.ndarray | None = None) -> np.ndarray:
    """``values`` (n, f) centred and scaled by the mean and spread of its rows ``reference`` (all by default).

    A column that does not vary there is only centred.
    """
    ref = values if reference is None else values[reference]
    spread = ref.std(axis=0)
    return (values - ref.mean(axis=0)) / np.where(spread > 0, spread, 1.0)


#: Subsets of the forest's measurements that :func:`measurement_models` trains on.
MEASUREMENT_SUBSETS = ("the measurement", "brightest pixel per channel", "all")


def measurement_models(
    values: np.ndarray,
    names: list[str],
    truth: np.ndarray,
    rows: np.ndarray,
    rest: np.ndarray,
    *,
    measurement: str,
    seed: int = 0,
) -> dict[str, float]:
    """Balanced accuracy of a logistic regression and of the forest on subsets of measurements.

    Parameters
    ----------
    values : numpy.ndarray, shape (n_objects, n_measurements)
        Object measurements (``svetlana_nb.models.forest_backend.feature_matrix``).
    names : list of str
        Their names; the brightest-pixel ones start with ``max_intensity``.
    truth : numpy.ndarray of int, shape (n_objects,)
        Class index of every object.
    rows, rest : numpy.ndarray of int
        Rows trained on and rows scored.
    measurement : str
        The measurement of the first subset.
    seed : int
        Seed of the forest.

    Returns
    -------
    dict
        ``"<model>, <subset>"`` → balanced accuracy on ``rest``, for the models ``"logistic"``
        (standardised on ``rows``, C = 1, balanced class weights) and ``"forest"``, and the
        subsets of :data:`MEASUREMENT_SUBSETS`.
    """
    from sklearn.linear_model import LogisticRegression

    from svetlana_nb.models.forest import ForestModel

    brightest = [i for i, name in enumerate(names) if name.startswith("max_intensity")]
    subsets = dict(zip(MEASUREMENT_SUBSETS, ([names.index(measurement)], brightest, list(range(len(names))))))
    n_classes = int(truth.max()) + 1
    out = {}
    for subset, columns in subsets.items():
        x = values[:, columns].astype(np.float64)
        standard = standardised(x, rows)
        logistic = LogisticRegression(C=1.0, class_weight="balanced", max_iter=5000)
        predicted = logistic.fit(standard[rows], truth[rows]).predict(standard[rest])
        out[f"logistic, {subset}"] = be.balanced_accuracy(truth[rest], predicted)
        forest = ForestModel.fit(x[rows], truth[rows], n_classes, [names[c] for c in columns], seed=seed)
        out[f"forest, {subset}"] = be.balanced_accuracy(truth[rest], forest.predict_proba(x[rest]).argmax(1))
    return out


def main(argv=None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--set", default="infected_cells_2d", choices=list(be.ACCURACY_SETS))
    parser.add_argument("--count", type=int, default=20, help="annotated objects per draw")
    parser.add_argument("--seeds", type=int, default=8)
    parser.add_argument(
        "--measurement",
        default="max_intensity_1",
        help="an object measurement of the forest (default: the spots' brightest pixel)",
    )
    parser.add_argument("--threads", type=int, default=2)
    args = parser.parse_args(argv)
    import torch
    from sklearn.linear_model import LinearRegression
    from sklearn.metrics import roc_auc_score

    import svetlana_nb as sv
    from svetlana_nb.models.forest_backend import feature_matrix

    torch.set_num_threads(args.threads)
    demo = be.demo_set(args.set, be.FULL)
    if len(demo.class_names) != 2:
        parser.error(f"--set: expected a two-class set, {args.set} has {len(demo.class_names)} classes")
    objects = sv.Objects(demo.image, demo.mask, channel_axis=demo.channel_axis)
    truth = be.truth_index(demo, objects.labels)
    values, names = feature_matrix(objects)
    if args.measurement not in names:
        parser.error(f"--measurement: expected one of {names}, got {args.measurement!r}")
    measured = values[:, names.index(args.measurement)]
    standard = standardised(values)

    print(f"{args.set}, {args.count} annotated, {args.seeds} draws; scores on the objects not annotated")
    print(
        f"{'draw':>4} | {'CNN auc':>7} {'ba':>6} {'best':>6} | {'forest auc':>10} {'ba':>6} {'best':>6} |"
        f" CNN log-odds ~ measurements: R², largest weights"
    )
    rows_out, simpler = [], []
    for seed in range(args.seeds):
        rows = be.draw(objects.labels, truth, args.count, np.random.default_rng(1000 + seed))
        rest = np.setdiff1d(np.arange(len(objects)), rows)
        annotations = be.annotations_of(objects, demo, rows)
        figures = []
        for model in ("light_cnn", "random_forest"):
            alone = {"second_opinion": None} if model == "light_cnn" else {}  # the network's own scores
            clf = sv.Classifier(objects, model=model, seed=seed, **alone)
            clf.fit(annotations)
            score = log_odds(clf.predict(objects).probabilities)
            decided = (score > 0).astype(int)
            figures += [
                roc_auc_score(truth[rest], score[rest]),
                be.balanced_accuracy(truth[rest], decided[rest]),
                best_threshold_accuracy(truth[rest], score[rest]),
            ]
            if model == "light_cnn":
                fit = LinearRegression().fit(standard, score)
                weights = sorted(zip(fit.coef_, names), key=lambda w: -abs(w[0]))[:3]
                explained = f"{fit.score(standard, score):.2f}, " + ", ".join(f"{n} {w:+.2f}" for w, n in weights)
        rows_out.append(figures)
        simpler.append(measurement_models(values, names, truth, rows, rest, measurement=args.measurement, seed=seed))
        print(
            f"{seed:>4} | {figures[0]:7.3f} {figures[1]:6.3f} {figures[2]:6.3f} |"
            f" {figures[3]:10.3f} {figures[4]:6.3f} {figures[5]:6.3f} | {explained}",
            flush=True,
        )
    mean = np.mean(rows_out, axis=0)
    print(f"mean | {mean[0]:7.3f} {mean[1]:6.3f} {mean[2]:6.3f} | {mean[3]:10.3f} {mean[4]:6.3f} {mean[5]:6.3f} |")
    print(
        f"{args.measurement} alone, every object: auc {roc_auc_score(truth, measured):.3f}, "
        f"best threshold {best_threshold_accuracy(truth, measured):.3f}"
    )
    print(f"\nbalanced accuracy of simpler models on the same draws ({args.measurement} as 'the measurement')")
    for key in simpler[0]:
        print(f"  {key:40s} {np.mean([s[key] for s in simpler]):.3f}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
