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
    python -m benchmarks.bench_batch --steady --images 48 --size 2048 --objects 1000 --workers 2

Timings on a shared machine vary with its load: the load average is printed with the table.
"""

from __future__ import annotations

import argparse
import contextlib
import os
import tempfile
import time
from collections.abc import Iterator
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


def _header(title: str, args: argparse.Namespace) -> None:
    print(title)
    print(
        f"{args.images} images {args.size} x {args.size} (cells_2d, ~{args.objects} objects each), "
        f"model {args.model}, {os.cpu_count()} cores, load average {os.getloadavg()[0]:.2f}"
    )


def _prepare(root: Path, args: argparse.Namespace) -> Path:
    """Write the demo images into ``root`` and train the model on the first: the model file."""
    demos = write_images(root, args.images, (args.size, args.size), args.objects)
    return train(demos[0], args.model, root, args.epochs)


@contextlib.contextmanager
def _running_cluster(workers: int) -> Iterator[Client]:
    """A local cluster of ``workers`` processes already started, the engine imported on each (a user's client)."""
    with (
        LocalCluster(n_workers=workers, threads_per_worker=1, dashboard_address=":0", silence_logs=50) as cluster,
        Client(cluster) as client,
    ):
        client.run(lambda: __import__("svetlana_nb.batch._task"))
        yield client


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
    parser.add_argument("--rounds", type=int, default=3, help="--steady: rounds in which the ways take turns")
    args = parser.parse_args(argv)
    if args.quick:
        args.images, args.size, args.objects, args.model = 4, 192, 30, "random_forest"
    if args.steady:
        return steady(args)
    _header("BATCH: svetlana_nb.batch.predict_many, one process against a local Dask cluster (start-up included)", args)
    with tempfile.TemporaryDirectory() as folder:
        root = Path(folder)
        model = _prepare(root, args)
        print("| run | seconds | images/s | objects/s |")
        print("|---|---|---|---|")
        for workers in [None, *args.workers]:
            seconds, images, objects = timed(model, root, workers, f"out_{workers or 1}")
            name = "1 process (no Dask)" if workers is None else f"--workers {workers}"
            print(f"| {name} | {seconds:.2f} | {images / seconds:.2f} | {objects / seconds:.0f} |", flush=True)
        for workers in [] if args.quick else args.workers:  # a cluster already running: no start-up
            with _running_cluster(workers) as client:
                seconds, images, objects = timed(model, root, None, f"warm_{workers}", client)
            name = f"{workers} workers, cluster already running"
            print(f"| {name} | {seconds:.2f} | {images / seconds:.2f} | {objects / seconds:.0f} |", flush=True)
    return 0


def _subset(root: Path, name: str, n: int) -> Path:
    """A folder ``root/name`` with the first ``n`` image/mask pairs of ``root``."""
    folder = root / name
    for kind in ("images", "masks"):
        (folder / kind).mkdir(parents=True)
        for path in sorted((root / kind).iterdir())[:n]:
            (folder / kind / path.name).write_bytes(path.read_bytes())
    return folder


def steady(args: argparse.Namespace) -> int:
    """Per-image steady-state time and start-up of each way, from a one-image and a full folder.

    The steady time per image is ``(T(N images) - T(1 image)) / (N - 1)``: start-up (a cluster's
    processes, their imports, the model's loading) cancels out. Start-up is ``T(1) - steady``.
    ``--workers 1`` is the in-process loop (the default); "Dask, 1 worker" runs the same work on
    a one-process cluster already started, which isolates the Dask path's overhead per image.
    The ways take turns in ``--rounds`` rounds, so that a change in the machine's load falls on
    all of them; the ratios are per round, then their median and range.
    """
    _header("BATCH, steady state: svetlana_nb.batch.predict_many on N images and on 1 image", args)
    in_process, dask_one = "--workers 1 (in process, no Dask)", "Dask, 1 worker (cluster already running)"
    clusters = [w for w in args.workers if w > 1]
    with tempfile.TemporaryDirectory() as folder:
        root = Path(folder)
        model = _prepare(root, args)
        one, few = _subset(root, "one", 1), _subset(root, "few", max(args.workers))
        rows: dict[str, list[tuple[float, float, float]]] = {}  # way -> per round (T(1), T(N), steady)
        n_objects = 0

        def measure(name: str, workers: int | None, client: Any = None) -> None:
            nonlocal n_objects
            out = f"out_{len(rows)}_{sum(map(len, rows.values()))}"
            t_one, _, _ = timed(model, one, workers, out, client)
            t_all, images, n_objects = timed(model, root, workers, out, client)
            rows.setdefault(name, []).append((t_one, t_all, (t_all - t_one) / (images - 1)))

        def warm(workers: int) -> Iterator[Client]:
            """A running cluster that has already predicted an image on each worker (the model loaded there)."""
            with _running_cluster(workers) as client:
                timed(model, few, None, f"warm_up_{len(rows)}", client)
                yield client

        for _ in range(args.rounds):
            measure(in_process, None)
            for workers in clusters:
                measure(f"--workers {workers}", workers)
                with contextlib.contextmanager(warm)(workers) as client:
                    measure(f"{workers} workers, cluster already running", None, client)
            with contextlib.contextmanager(warm)(1) as client:
                measure(dask_one, None, client)
        print(f"{args.rounds} rounds, the ways in turn; medians over rounds")
        print("| run | T(1 image) s | T(N) s | steady s/image | objects/s (steady) | start-up s |")
        print("|---|---|---|---|---|---|")
        per_image = {name: float(np.median([r[2] for r in runs])) for name, runs in rows.items()}
        for name, runs in rows.items():
            t_one, t_all = float(np.median([r[0] for r in runs])), float(np.median([r[1] for r in runs]))
            rate = n_objects / args.images / per_image[name]
            start_up = float(np.median([r[0] - r[2] for r in runs]))
            print(f"| {name} | {t_one:.2f} | {t_all:.2f} | {per_image[name]:.3f} | {rate:.0f} | {start_up:.2f} |")

        def ratios(numerator: str, denominator: str) -> str:
            each = [a[2] / b[2] for a, b in zip(rows[numerator], rows[denominator])]
            return f"median {np.median(each):.2f}x (rounds: {', '.join(f'{x:.2f}' for x in each)})"

        for workers in clusters:
            speed_up = ratios(in_process, f"--workers {workers}")
            print(f"steady-state speed-up of --workers {workers} over --workers 1: {speed_up}")
            speed_up = ratios(in_process, f"{workers} workers, cluster already running")
            print(f"the same, {workers} workers already running (no start-up to subtract): {speed_up}")
        print(f"Dask path (1 worker) against the in-process loop, time per image: {ratios(dask_one, in_process)}")
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
