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
    python -m benchmarks.bench_batch --steady --images 48 --size 2048 --objects 1000 --workers 1 2

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
    parser.add_argument(
        "--steady",
        action="store_true",
        help="issue 18's measure: each way also on a one-image folder; per-image steady time and start-up",
    )
    args = parser.parse_args(argv)
    if args.quick:
        args.images, args.size, args.objects, args.model = 4, 192, 30, "random_forest"
    if args.steady:
        return steady(args)
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


def steady(args: argparse.Namespace) -> int:
    """Per-image steady-state time and start-up of each way, from a one-image and a full folder.

    The steady time per image is ``(T(N images) - T(1 image)) / (N - 1)``: start-up (a cluster's
    processes, their imports, the model's loading) cancels out. Start-up is ``T(1) - steady``.
    """
    print("BATCH, steady state: svetlana_nb.batch.predict_many on N images and on 1 image")
    print(
        f"{args.images} images {args.size} x {args.size} (cells_2d, ~{args.objects} objects each), "
        f"model {args.model}, {os.cpu_count()} cores, load average {os.getloadavg()[0]:.2f}"
    )
    with tempfile.TemporaryDirectory() as folder:
        root = Path(folder)
        demos = write_images(root, args.images, (args.size, args.size), args.objects)
        model = train(demos[0], args.model, root, args.epochs)
        one = root / "one"
        (one / "images").mkdir(parents=True)
        (one / "masks").mkdir()
        for kind in ("images", "masks"):
            (one / kind / "cells_00.tif").write_bytes((root / kind / "cells_00.tif").read_bytes())
        ways: dict[str, int | None] = {"1 process (no Dask)": None, **{f"--workers {w}": w for w in args.workers}}
        per_image: dict[str, float] = {}
        print("| run | T(1 image) s | T(N) s | steady s/image | objects/s (steady) | start-up s |")
        print("|---|---|---|---|---|---|")
        for name, workers in ways.items():
            t_one, _, _ = timed(model, one, workers, f"out_{workers or 0}")
            t_all, images, objects = timed(model, root, workers, f"out_{workers or 0}")
            per_image[name] = (t_all - t_one) / (images - 1)
            rate = objects / images / per_image[name]
            print(
                f"| {name} | {t_one:.2f} | {t_all:.2f} | {per_image[name]:.3f} | {rate:.0f} | "
                f"{t_one - per_image[name]:.2f} |",
                flush=True,
            )
        base = per_image["1 process (no Dask)"]
        for name, value in per_image.items():
            print(f"{name}: steady time per image {value / base:.2f}x the in-process loop's")
        if len(args.workers) >= 2:
            first, last = args.workers[0], args.workers[-1]
            ratio = per_image[f"--workers {first}"] / per_image[f"--workers {last}"]
            print(f"steady-state speed-up of --workers {last} over --workers {first}: {ratio:.2f}x")
    print(f"scheduler overhead per task (2 workers already running, 2000 no-op tasks): {task_overhead() * 1e3:.2f} ms")
    return 0


def task_overhead(n: int = 2000) -> float:
    """Seconds per task of ``n`` trivial tasks on a running 2-worker local cluster (the scheduler's share)."""
    with (
        LocalCluster(n_workers=2, threads_per_worker=1, dashboard_address=":0", silence_logs=50) as cluster,
        Client(cluster) as client,
    ):
        client.gather(client.map(abs, range(-50, 0)))  # warm the connections
        start = time.perf_counter()
        client.gather(client.map(abs, range(n)))
        return (time.perf_counter() - start) / n


if __name__ == "__main__":
    raise SystemExit(main())
