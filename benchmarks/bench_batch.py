"""Batch prediction: one process against a local Dask cluster (``svetlana-nb predict --workers N``).

Writes ``--images`` demo images (``sv.data.cells_2d`` with one seed each) and their masks to a
temporary folder, trains a model on the first one, then times ``svetlana_nb.batch.predict_many``
into a fresh output folder: in this process (no Dask), with ``workers=N`` (cluster start-up
included, as a user of ``--workers`` pays it), and on a cluster of N workers already running (a
user's ``client``). Prints images/s and objects/s for each.

Usage (from the repository root)::

    python -m benchmarks.bench_batch                       # 8 images 512 x 512, default model, 2 workers
    python -m benchmarks.bench_batch --model random_forest --workers 2 4
    python -m benchmarks.bench_batch --quick               # 4 small images, forest: a smoke run

Timings on a shared machine vary with its load: the load average is printed with the table.
"""

from __future__ import annotations

import argparse
import os
import tempfile
import time
from pathlib import Path
from typing import Any

import numpy as np
from distributed import Client, LocalCluster

import svetlana_nb as sv
from svetlana_nb.batch import predict_many

from .draws import random_annotations


def write_images(root: Path, n: int, shape: tuple[int, int], n_objects: int) -> list[sv.data.DemoData]:
    """``n`` demo images and masks in ``root/images`` and ``root/masks``."""
    (root / "images").mkdir()
    (root / "masks").mkdir()
    demos = []
    for seed in range(n):
        demo = sv.data.cells_2d(shape=shape, n_objects=n_objects, seed=seed)
        sv.io.write_tiff(root / "images" / f"cells_{seed:02d}.tif", demo.image)
        sv.io.write_tiff(root / "masks" / f"cells_{seed:02d}.tif", demo.mask)
        demos.append(demo)
    return demos


def train(demo: sv.data.DemoData, model: str, root: Path, epochs: int | None) -> Path:
    """A model trained on up to 40 random annotations of ``demo``, saved in ``root``."""
    objects = sv.Objects(demo.image, demo.mask, channel_axis=demo.channel_axis)
    annotations, _ = random_annotations(demo, objects, min(40, len(demo.labels) // 2), np.random.default_rng(0))
    clf = sv.Classifier(objects) if model == "default" else sv.Classifier(objects, model=model)
    clf.fit(annotations, **({"epochs": epochs} if epochs and model == "default" else {}))
    path = root / "model.svnb"
    clf.save(path)
    return path


def timed(model: Path, root: Path, workers: int | None, out: str, client: Any = None) -> tuple[float, int, int]:
    """Seconds, images and objects of one ``predict_many`` run into a fresh folder."""
    start = time.perf_counter()
    result = predict_many(
        model, root / "images", root / "masks", root / out, workers=workers, client=client, progress=False
    )
    seconds = time.perf_counter() - start
    if result.failures:
        raise RuntimeError(f"failed images: {result.failures}")
    objects = sum(1 for _ in open(root / out / "objects.csv", encoding="utf-8")) - 1
    return seconds, len(result.done), objects


def main(argv: list[str] | None = None) -> int:
    """Print one table row per way of running the batch."""
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--images", type=int, default=8)
    parser.add_argument("--size", type=int, default=512, help="image side in pixels")
    parser.add_argument("--objects", type=int, default=160, help="objects per image")
    parser.add_argument("--model", default="default", choices=("default", "random_forest"))
    parser.add_argument("--epochs", type=int, default=20, help="training epochs of the default model")
    parser.add_argument("--workers", type=int, nargs="+", default=[2], help="cluster sizes to time")
    parser.add_argument("--quick", action="store_true", help="4 images of 192 px, 30 objects, forest; no warm cluster")
    args = parser.parse_args(argv)
    if args.quick:
        args.images, args.size, args.objects, args.model = 4, 192, 30, "random_forest"
    print("BATCH: svetlana_nb.batch.predict_many, one process against a local Dask cluster (start-up included)")
    print(
        f"{args.images} images {args.size} x {args.size} (cells_2d, ~{args.objects} objects each), "
        f"model {args.model}, {os.cpu_count()} cores, load average {os.getloadavg()[0]:.2f}"
    )
    with tempfile.TemporaryDirectory() as folder:
        root = Path(folder)
        demos = write_images(root, args.images, (args.size, args.size), args.objects)
        model = train(demos[0], args.model, root, args.epochs)
        print("| run | seconds | images/s | objects/s |")
        print("|---|---|---|---|")
        for workers in [None, *args.workers]:
            seconds, images, objects = timed(model, root, workers, f"out_{workers or 1}")
            name = "1 process (no Dask)" if workers is None else f"--workers {workers}"
            print(f"| {name} | {seconds:.2f} | {images / seconds:.2f} | {objects / seconds:.0f} |", flush=True)
        for workers in [] if args.quick else args.workers:  # a cluster already running: no start-up
            with (
                LocalCluster(
                    n_workers=workers, threads_per_worker=1, dashboard_address=":0", silence_logs=40
                ) as cluster,
                Client(cluster) as client,
            ):
                client.run(lambda: __import__("svetlana_nb.batch._task"))  # workers import the engine first
                seconds, images, objects = timed(model, root, None, f"warm_{workers}", client)
            name = f"{workers} workers, cluster already running"
            print(f"| {name} | {seconds:.2f} | {images / seconds:.2f} | {objects / seconds:.0f} |", flush=True)
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
