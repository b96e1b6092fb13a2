"""Large objects: training and prediction time, and accuracy, with and without shrinking patches.

The demo set ``cells_2d`` is magnified (every pixel repeated ``--magnify`` times along Y and X),
so its nuclei are 40-85 px across and the estimated patch is about 96 px. The default
classifier shrinks such patches to 64 px or less (``Classifier.downscale``); ``downscale=1``
keeps them at full resolution. Printed: the patch, training time from 20 and 100 annotations,
prediction time of every object (best of 3), balanced accuracy on the objects not annotated
(mean over ``--seeds`` draws, the draws of ``bench_engine.py``).

Usage::

    python -m benchmarks.bench_large_objects            # about 2 minutes on 2 cores
    python -m benchmarks.bench_large_objects --quick    # smaller image, 1 draw
"""

from __future__ import annotations

import argparse
import os
import sys
import time

import numpy as np

from benchmarks import bench_engine as be


def main(argv=None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--magnify", type=int, default=3)
    parser.add_argument("--seeds", type=int, default=3)
    parser.add_argument("--threads", type=int, default=2)
    parser.add_argument("--quick", action="store_true")
    args = parser.parse_args(argv)
    import torch

    import svetlana_nb as sv

    torch.set_num_threads(args.threads)
    sizes = be.QUICK if args.quick else be.FULL
    seeds = 1 if args.quick else args.seeds
    demo = be.magnified(be.demo_set("cells_2d", sizes), args.magnify)
    objects = sv.Objects(demo.image, demo.mask)
    truth = be.truth_index(demo, objects.labels)
    print(
        f"cells_2d magnified {args.magnify}x: image {demo.image.shape}, {len(objects)} objects, "
        f"patch {objects.patch_shape}"
    )
    rows_out = []
    for downscale in (None, 1):
        for k in (20, 100) if len(objects) > 100 else (20,):
            fit_s, predict_s, accuracy = [], [], []
            for seed in range(seeds):
                rows = be.draw(objects.labels, truth, k, np.random.default_rng(1000 + seed))
                rest = np.setdiff1d(np.arange(len(objects)), rows)
                annotations = be.annotations_of(objects, demo, rows)
                clf = sv.Classifier(objects, downscale=downscale, seed=seed)
                start = time.perf_counter()
                clf.fit(annotations)
                fit_s.append(time.perf_counter() - start)
                times = []
                for _ in range(3):
                    start = time.perf_counter()
                    probabilities = clf.predict_proba(objects)
                    times.append(time.perf_counter() - start)
                predict_s.append(min(times))
                accuracy.append(be.balanced_accuracy(truth[rest], probabilities.argmax(1)[rest]))
            fit, predict, acc = np.mean(fit_s), np.mean(predict_s), np.mean(accuracy)
            rows_out.append((clf.patch_description, k, fit, predict, acc))
            print(
                f"  {clf.patch_description:<32} {k:>3} annotated: fit {fit:5.1f} s, "
                f"predict {predict:5.2f} s, balanced accuracy {acc:.3f}",
                flush=True,
            )
    print()
    print(f"| patch | annotated | training | prediction of {len(objects)} objects | balanced accuracy |")
    print("|---|---|---|---|---|")
    for patch, k, fit, predict, acc in rows_out:
        print(f"| {patch} | {k} | {fit:.1f} s | {predict:.2f} s | {acc:.3f} (n={seeds}) |")
    print(
        f"\nmachine: {os.cpu_count()} CPU(s), torch {torch.__version__} ({args.threads} threads); "
        f"load average {tuple(round(v, 2) for v in os.getloadavg())}"
    )
    return 0


if __name__ == "__main__":
    sys.exit(main())
