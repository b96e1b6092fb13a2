"""Patch size and downscale rules across object sizes, anisotropic 3D and real images (issue 20).

Each draw annotates ``n`` random objects with their true class, trains one classifier per
patch rule on the same annotations with the same seed, and scores the balanced accuracy of the
objects left unannotated: of the classifier as shipped (network + second opinion) and of its
network alone. Each rule's row gives its mean ± standard deviation over the draws and its
paired difference from the current rule (mean ± standard error over the draws).

The rules (the patch in image pixels, then what the network sees):

- ``current``: the objects' estimate (95th percentile of the extents x 1.25), shrunk by the
  smallest integer bringing Y and X to 64 px or less (:func:`~svetlana_nb.objects.patch_spec.choose_downscale`);
- ``context_2x``: twice that patch on every axis, the same downscale rule (more context);
- ``target_32``: the estimated patch, shrunk to 32 px or less (a smaller fixed target);
- ``full_res``: the estimated patch, never shrunk (only where ``current`` shrinks; not run by
  default: 9-25x the cost; ``bench_large_objects`` compares it on a 3x-magnified set).

The sets:

- ``synth_<s>px``: ``cells_2d`` (448 x 448, 150 nuclei of 14-28 px, texture classes) rescaled
  so the nuclei are about ``s`` px across (image linear interpolation, mask nearest);
- ``3d_z<k>``: ``cells_3d`` (40 x 256 x 256, 140 nuclei) with every ``k``-th plane kept: its
  nuclei are already about half as deep as wide in voxels, so ``z1`` is a z-step about 2x
  the pixel size and ``z2`` about 4x;
- ``bbbc007`` (real, 1,249 nuclei, ~20 px; :mod:`benchmarks.real_sets`), skipped with a message
  when its files are absent; ``bbbc007_x5``: its first 4 images magnified 5x (~100 px nuclei);
- ``hubble`` (real, 345 galaxies and stars, 7-55 px; ``svetlana_nb.data.hubble_deep_field``).

Usage (from the repository root)::

    python -m benchmarks.bench_scale --epochs 100 --threads 1   # 5 draws, 20 and 100 annotations
    python -m benchmarks.bench_scale --quick                    # a smoke run
"""

from __future__ import annotations

import argparse
import dataclasses
import os
import time

import numpy as np
import torch

import svetlana_nb as sv
from svetlana_nb.objects.patch_spec import choose_downscale

from .bench_loss import balanced_accuracy, mean_se
from .draws import random_annotations
from .real_sets import RealSetMissing, bbbc007

SYNTH_SIZES = (10, 30, 100, 200)
SETS = (*(f"synth_{s}px" for s in SYNTH_SIZES), "3d_z1", "3d_z2", "bbbc007", "bbbc007_x5", "hubble")
RULES = ("current", "context_2x", "target_32", "full_res")
COUNTS = (20, 100)
#: Mean nucleus diameter of ``cells_2d`` (14-28 px), the reference of the synthetic rescaling.
CELLS_2D_DIAMETER = 21.0


def rescaled(demo: sv.data.DemoData, factor: float, *, z_step: int = 1) -> sv.data.DemoData:
    """``demo`` with Y and X zoomed by ``factor`` and every ``z_step``-th Z plane kept.

    The image is interpolated linearly (smoothed first when shrunk), the mask by nearest
    neighbour; objects that vanish leave the ground truth.
    """
    from scipy import ndimage

    spatial = demo.mask.ndim
    image, mask = demo.image, demo.mask
    if z_step > 1:
        image, mask = image[::z_step], mask[::z_step]
    if factor != 1:
        zoom = (1.0,) * (spatial - 2) + (factor, factor)
        channel = (1.0,) if image.ndim > spatial else ()
        values = image.astype(np.float32)
        if factor < 1:
            sigma = (0.0,) * (spatial - 2) + (0.5 / factor,) * 2 + (0.0,) * len(channel)
            values = ndimage.gaussian_filter(values, sigma)
        image = ndimage.zoom(values, zoom + channel, order=1).round().astype(demo.image.dtype)
        mask = ndimage.zoom(mask, zoom, order=0)
    present = set(np.unique(mask).tolist())
    truth = {k: v for k, v in demo.truth.items() if k in present}
    return dataclasses.replace(demo, image=image, mask=mask, truth=truth)


def load_set(name: str) -> sv.data.DemoData:
    """The set ``name`` of :data:`SETS`; :class:`RealSetMissing` when a real set's files are absent."""
    if name.startswith("synth_"):
        size = int(name[len("synth_") : -2])
        return rescaled(sv.data.cells_2d(shape=(448, 448), n_objects=150), size / CELLS_2D_DIAMETER)
    if name.startswith("3d_z"):
        return rescaled(sv.data.cells_3d(shape=(40, 256, 256), n_objects=140), 1.0, z_step=int(name[4:]))
    if name == "bbbc007":
        return bbbc007()
    if name == "bbbc007_x5":
        demo = bbbc007()
        first_row = dataclasses.replace(demo, image=demo.image[:450], mask=demo.mask[:450])
        return rescaled(first_row, 5.0)
    if name == "hubble":
        return sv.data.hubble_deep_field()
    raise ValueError(f"name: unknown set {name!r}; expected one of {SETS}")


def rule_options(rule: str, objects: sv.Objects) -> dict | None:
    """The ``sv.Classifier`` patch options of ``rule`` for ``objects``; None where it equals ``current``."""
    shape = tuple(int(s) for s in objects.patch_shape)
    current = choose_downscale(shape)
    if rule == "current":
        return {}
    if rule == "context_2x":
        return {"patch_size": tuple(2 * s for s in shape)}
    if rule == "target_32":
        factor = choose_downscale(shape, max_side=32)
        return None if factor == current else {"downscale": factor}
    if rule == "full_res":
        return None if current == 1 else {"downscale": 1}
    raise ValueError(f"rule: unknown {rule!r}; expected one of {RULES}")


def one_draw(
    demo: sv.data.DemoData,
    objects: sv.Objects,
    rules: dict[str, dict],
    n: int,
    rng: np.random.Generator,
    *,
    seed: int,
    epochs: int | None,
) -> dict[str, tuple[float, float]]:
    """Balanced accuracy (classifier, network alone) of each rule on one draw of ``n`` annotations."""
    annotations, chosen = random_annotations(demo, objects, n, rng)
    rest = np.setdiff1d(np.arange(len(demo.labels)), chosen)
    rows = np.flatnonzero(np.isin(objects.labels, demo.labels[rest]))
    truth = demo.truth_index(objects.labels[rows])
    k = len(demo.class_names)
    scores = {}
    for rule, options in rules.items():
        clf = sv.Classifier(objects, seed=seed, **options)
        clf.fit(annotations, epochs=epochs)
        both = clf.predict_proba(objects, rows).argmax(1)
        alone = clf.network_proba(objects, rows).argmax(1)
        scores[rule] = (balanced_accuracy(truth, both, k), balanced_accuracy(truth, alone, k))
    return scores


def patch_of(objects: sv.Objects, options: dict) -> str:
    """The patch a rule gives, in words."""
    return sv.PatchSpec(shape=options.get("patch_size"), downscale=options.get("downscale")).resolve(objects).describe()


def main(argv: list[str] | None = None) -> int:
    """Run the draws and print one Markdown table."""
    parser = argparse.ArgumentParser(description=(__doc__ or "").splitlines()[0])
    parser.add_argument("--draws", type=int, default=5)
    parser.add_argument("--counts", nargs="+", type=int, default=list(COUNTS))
    parser.add_argument("--sets", nargs="+", default=list(SETS), choices=SETS)
    parser.add_argument("--rules", nargs="+", default=list(RULES[:3]), choices=RULES, help="default: all but full_res")
    parser.add_argument("--epochs", type=int, default=None, help="epoch limit (default: the classifier's)")
    parser.add_argument("--threads", type=int, default=None, help="torch threads (default: torch's)")
    parser.add_argument("--seed", type=int, default=0)
    parser.add_argument("--quick", action="store_true", help="1 draw of 20 annotations, 3 epochs, two sets")
    args = parser.parse_args(argv)
    if args.threads:
        torch.set_num_threads(args.threads)
    sets, counts, draws, epochs = args.sets, args.counts, args.draws, args.epochs
    if args.quick:
        sets, counts, draws, epochs = ["synth_10px", "3d_z2"], [20], 1, 3
    start = time.perf_counter()
    print(f"epochs: {epochs or 'the classifier default'}; torch threads: {torch.get_num_threads()}\n")
    print("| set | objects | n | rule | patch | classifier | Δ vs current | network alone | Δ vs current |")
    print("|---|---|---|---|---|---|---|---|---|")
    for name in sets:
        try:
            demo = load_set(name)
        except RealSetMissing as missing:
            print(f"| {name} | skipped: {missing} | | | | | | | |", flush=True)
            continue
        objects = sv.Objects(demo.image, demo.mask, channel_axis=demo.channel_axis)
        rules = {r: o for r in args.rules if (o := rule_options(r, objects)) is not None}
        rules = {"current": {}, **rules}
        for n in counts:
            if n >= len(demo.labels) - 10:
                continue
            rng = np.random.default_rng(args.seed)
            results = [one_draw(demo, objects, rules, n, rng, seed=args.seed + d, epochs=epochs) for d in range(draws)]
            for rule, options in rules.items():
                cells = [name, str(len(objects)), str(n), rule, patch_of(objects, options)]
                for which in (0, 1):
                    values = np.array([r[rule][which] for r in results])
                    diffs = [r[rule][which] - r["current"][which] for r in results]
                    spread = values.std(ddof=1) if len(values) > 1 else 0.0
                    cells += [f"{values.mean():.3f} ± {spread:.3f}", "—" if rule == "current" else mean_se(diffs)]
                print("| " + " | ".join(cells) + " |", flush=True)
    print(
        f"\n{draws} draws per row (± is the SD over draws; Δ: paired mean ± SE); "
        f"{time.perf_counter() - start:.0f} s; load average {tuple(round(v, 2) for v in os.getloadavg())}"
    )
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
