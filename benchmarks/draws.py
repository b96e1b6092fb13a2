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
