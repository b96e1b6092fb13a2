"""Self-supervised pretraining compared: balanced accuracy on the objects not annotated (issue 20).

For each set, the network's trunk is pretrained once (contrastive, ``pretrain=True``) on the
patches of every object, with a time budget, as the classifier caches it per image set. Then,
for each number of random annotations and each draw, two classifiers are trained on the same
annotations with the same seed, one from a fresh network and one from the pretrained trunk,
and the balanced accuracy (mean recall over classes) of the objects left unannotated is scored:
of the classifier as shipped (network + second opinion) and of its network alone. The table
gives each mean and the paired difference with minus without pretraining (mean ± standard
error over the draws), with the pretraining's time and the number of objects.

Sets: three demo sets made by ``sv.data`` (``cells_2d``, ``infected_cells_2d``, ``textures_2d``)
and two real ones: ``hubble_deep_field`` (inside scikit-image) and ``bbbc007``
(:mod:`benchmarks.real_sets`, needs ``SVETLANA_NB_BBBC007``; skipped with a note without it).

Usage (from the repository root)::

    python -m benchmarks.bench_pretrain                       # 5 draws, 20 and 100 annotations
    python -m benchmarks.bench_pretrain --draws 10 --pretrain-seconds 60 --sets cells_2d
    python -m benchmarks.bench_pretrain --quick               # a smoke run
"""

from __future__ import annotations

import argparse
import time

import numpy as np
import torch

import svetlana_nb as sv
from svetlana_nb.models.pretraining import PretrainedTrunk

from .bench_loss import balanced_accuracy, mean_se
from .draws import random_annotations
from .real_sets import RealSetMissing, bbbc007

SETS = ("cells_2d", "infected_cells_2d", "textures_2d", "hubble_deep_field", "bbbc007")
COUNTS = (20, 100)


#: ``textures_2d``'s default 640 objects no longer fit its default 1024 x 1024 image (at most ~576).
TEXTURES_OBJECTS = 560


def load_set(name: str) -> sv.data.DemoData:
    """A demo set of ``sv.data`` by name (``textures_2d`` with 560 objects), or the real BBBC007 set."""
    if name == "bbbc007":
        return bbbc007()
    if name == "textures_2d":
        return sv.data.textures_2d(n_objects=TEXTURES_OBJECTS)
    return sv.data.load(name)


def pretrained_trunk(objects: sv.Objects, demo: sv.data.DemoData, seconds: float, steps: int | None) -> PretrainedTrunk:
    """The trunk pretrained on every object of the set, as ``fit(pretrain=True)`` makes and caches it."""
    annotations, _ = random_annotations(demo, objects, 2 * len(demo.class_names), np.random.default_rng(0))
    clf = sv.Classifier(objects, pretrain=True, pretrain_seconds=seconds, pretrain_steps=steps)
    clf.fit(annotations, epochs=1)
    assert clf.pretrained is not None
    return clf.pretrained


def one_draw(
    demo: sv.data.DemoData,
    objects: sv.Objects,
    n: int,
    rng: np.random.Generator,
    trunk: PretrainedTrunk,
    epochs: int | None,
) -> dict[bool, tuple[float, float]]:
    """Balanced accuracy (classifier, network alone) without and with pretraining, on one draw."""
    annotations, chosen = random_annotations(demo, objects, n, rng)
    truth = demo.truth_index(demo.labels)
    rest = np.setdiff1d(np.arange(len(demo.labels)), chosen)
    rows = np.flatnonzero(np.isin(objects.labels, demo.labels[rest]))
    order = {int(label): i for i, label in enumerate(demo.labels)}
    rest_truth = truth[[order[int(label)] for label in objects.labels[rows]]]
    scores = {}
    for pretrain in (False, True):
        clf = sv.Classifier(objects, pretrain=pretrain)
        clf.pretrained = trunk  # the cache of this image set: reused, never recomputed
        clf.fit(annotations, epochs=epochs)
        both = clf.predict_proba(objects, rows).argmax(1)
        alone = clf.network_proba(objects, rows).argmax(1)
        k = len(demo.class_names)
        scores[pretrain] = (balanced_accuracy(rest_truth, both, k), balanced_accuracy(rest_truth, alone, k))
    return scores


def main(argv: list[str] | None = None) -> int:
    """Run the draws and print a Markdown table."""
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--draws", type=int, default=5)
    parser.add_argument("--counts", nargs="+", type=int, default=list(COUNTS))
    parser.add_argument("--sets", nargs="+", default=list(SETS), choices=SETS)
    parser.add_argument("--pretrain-seconds", type=float, default=50.0)
    parser.add_argument("--pretrain-steps", type=int, default=None)
    parser.add_argument("--epochs", type=int, default=None, help="epoch limit (default: the classifier's)")
    parser.add_argument("--threads", type=int, default=None, help="torch threads (default: torch's)")
    parser.add_argument("--seed", type=int, default=0)
    parser.add_argument("--no-header", action="store_true", help="rows only (to join parallel runs)")
    parser.add_argument("--quick", action="store_true", help="1 draw of 20 annotations, 3 epochs, 3 s, one set")
    args = parser.parse_args(argv)
    if args.threads:
        torch.set_num_threads(args.threads)
    sets, counts, draws, epochs, seconds = args.sets, args.counts, args.draws, args.epochs, args.pretrain_seconds
    if args.quick:
        sets, counts, draws, epochs, seconds = ["cells_2d"], [20], 1, 3, 3.0
    start = time.perf_counter()
    if not args.no_header:
        print(
            "| set | objects | pretraining (s, steps) | annotations | classifier without | with | Δ (with − without) "
            "| network alone without | with | Δ (with − without) |"
        )
        print("|---|---|---|---|---|---|---|---|---|---|")
    for name in sets:
        try:
            demo = load_set(name)
        except RealSetMissing as error:
            print(f"| {name} | skipped: {error} |", flush=True)
            continue
        objects = sv.Objects(demo.image, demo.mask, channel_axis=demo.channel_axis)
        trunk = pretrained_trunk(objects, demo, seconds, args.pretrain_steps)
        for n in counts:
            rng = np.random.default_rng(args.seed)
            results = [one_draw(demo, objects, n, rng, trunk, epochs) for _ in range(draws)]
            cells = [name, f"{len(objects)}", f"{trunk.seconds:.0f}, {trunk.steps}", f"{n}"]
            for which in (0, 1):
                without = [r[False][which] for r in results]
                with_ = [r[True][which] for r in results]
                diffs = [b - a for a, b in zip(without, with_)]
                cells += [f"{np.mean(without):.3f}", f"{np.mean(with_):.3f}", mean_se(diffs)]
            print("| " + " | ".join(cells) + " |", flush=True)
    print(f"\n{draws} draws per row, paired by draw; {time.perf_counter() - start:.0f} s")
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
