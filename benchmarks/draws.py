"""Random annotation draws shared by the benchmarks that score estimates over repeated draws."""

from __future__ import annotations

import numpy as np

import svetlana_nb as sv


def random_annotations(
    demo: sv.data.DemoData, objects: sv.Objects, n: int, rng: np.random.Generator, *, min_per_class: int = 2
) -> tuple[sv.Annotations, np.ndarray]:
    """``n`` random objects annotated with their true class, redrawn until every class has ``min_per_class``.

    Returns the annotations and the rows drawn (indices into ``demo.labels``).
    """
    truth = demo.truth_index(demo.labels)
    while True:
        chosen = rng.choice(len(demo.labels), n, replace=False)
        if np.bincount(truth[chosen], minlength=len(demo.class_names)).min() >= min_per_class:
            break
    annotations = sv.Annotations(objects, demo.class_names)
    for row in chosen:
        annotations.add(int(demo.labels[row]), demo.class_names[truth[row]])
    return annotations, chosen


def balanced_annotations(
    demo: sv.data.DemoData, objects: sv.Objects, n: int, rng: np.random.Generator
) -> tuple[sv.Annotations, np.ndarray]:
    """``n`` objects annotated class-balanced: ``n // k`` random objects of each of the ``k`` classes.

    What a user counting a rare class does: annotate as many of it as of the others (10 : 10 at 20
    annotations), whatever its share of the image, a shift of the class shares between the
    annotations and the objects. A class with fewer objects than its quota gives all of them and
    the other classes share the rest (the remainder of ``n / k`` too, at random).

    Returns the annotations and the rows drawn (indices into ``demo.labels``).
    """
    truth = demo.truth_index(demo.labels)
    k = len(demo.class_names)
    available = np.bincount(truth, minlength=k)
    if n > available.sum():
        raise ValueError(f"n: {n} annotations asked of {available.sum()} objects")
    quota = np.zeros(k, dtype=np.int64)
    while quota.sum() < n:  # deal the n annotations out one class at a time, skipping exhausted classes
        open_classes = np.flatnonzero(quota < available)
        share = np.full(open_classes.size, (n - quota.sum()) // open_classes.size)
        share[rng.permutation(open_classes.size)[: (n - quota.sum()) % open_classes.size]] += 1
        quota[open_classes] = np.minimum(quota[open_classes] + share, available[open_classes])
    chosen = np.concatenate([rng.choice(np.flatnonzero(truth == c), quota[c], replace=False) for c in range(k)])
    chosen = rng.permutation(chosen)
    annotations = sv.Annotations(objects, demo.class_names)
    for row in chosen:
        annotations.add(int(demo.labels[row]), demo.class_names[truth[row]])
    return annotations, chosen
