"""An image larger than memory: ``svetlana_nb.batch.predict_large`` on a zarr store, block by block.

Generates, block by block (never whole in memory), a ``--size`` x ``--size`` uint8 image and
its uint32 mask in zarr stores chunked in ``--chunk`` pixels: discs on a 32-px grid (about a
million objects at 32768 px), the class 'b' ones with a bright centre; the grid is offset so
that a row and a column of discs cross every chunk border. A light CNN (with its second
opinion) is trained on a small image made the same way. Then, each in a fresh subprocess (its
peak memory is its own ``ru_maxrss``):

- the lazy prediction of the big image: seconds, objects/s, peak memory (target < 2 GB):
  ``VmHWM`` (the process's own), and ``ru_maxrss``, which on Linux also counts the parent's
  resident size at the start (it survives ``execve``);
- on a ``--compare-size`` image that fits in memory both ways: the in-memory path
  (``Objects`` + ``Classifier.predict`` + its table and class image; with the arrays already
  in memory, and with reading the stores and writing the class image as zarr) and the lazy path
  (from the stores, reading and writing included): seconds per object, their ratios (target
  <= 1.5), and whether the classes and class images are equal.

Usage (from the repository root)::

    python -m benchmarks.bench_large_image                  # 32768 px, ~1 million objects (minutes)
    python -m benchmarks.bench_large_image --size 8192      # ~65,000 objects
    python -m benchmarks.bench_large_image --network-alone  # without the second opinion
    python -m benchmarks.bench_large_image --quick          # 1024 px, chunks of 256: a smoke run

Timings on a shared machine vary with its load: the load average is printed with the table.
"""

from __future__ import annotations

import argparse
import json
import os
import resource
import subprocess
import sys
import tempfile
import time
from pathlib import Path

import numpy as np

SPACING = 32  # grid step of the discs: radius <= 12 + jitter 3 keeps each disc in its cell
OFFSET = 3  # first centre: discs of the column at 4096 k + 3 cross the chunk border at 4096 k
SEED = 0


def _cells(n_cells: int, seed: int) -> dict[str, np.ndarray]:
    """Per grid cell (n_cells x n_cells): centre jitter, radius, class, brightness."""
    rng = np.random.default_rng(seed)
    shape = (n_cells, n_cells)
    return {
        "dy": rng.integers(-3, 4, shape).astype(np.int16),
        "dx": rng.integers(-3, 4, shape).astype(np.int16),
        "radius": rng.uniform(6, 12, shape).astype(np.float32),
        "b": rng.random(shape) < 0.5,
        "bright": rng.integers(60, 120, shape).astype(np.uint8),
    }


def paint(
    lo: tuple[int, int], hi: tuple[int, int], cells: dict[str, np.ndarray], size: int
) -> tuple[np.ndarray, np.ndarray]:
    """Image (uint8) and mask (uint32) of the block ``[lo, hi)`` of the scene (vectorised, no loop over discs)."""
    n_cells = cells["radius"].shape[0]
    y = np.arange(lo[0], hi[0])[:, None]
    x = np.arange(lo[1], hi[1])[None, :]
    ky = np.clip((y - OFFSET + SPACING // 2) // SPACING, 0, n_cells - 1)  # the nearest grid row
    kx = np.clip((x - OFFSET + SPACING // 2) // SPACING, 0, n_cells - 1)
    dy = y - (ky * SPACING + OFFSET + cells["dy"][ky, kx])
    dx = x - (kx * SPACING + OFFSET + cells["dx"][ky, kx])
    d2 = dy.astype(np.float32) ** 2 + dx.astype(np.float32) ** 2
    inside = d2 <= cells["radius"][ky, kx] ** 2
    mask = np.where(inside, (ky * n_cells + kx + 1).astype(np.uint32), np.uint32(0))
    rng = np.random.default_rng([SEED, lo[0], lo[1]])
    image = rng.normal(20, 4, mask.shape).astype(np.float32)
    image += inside * cells["bright"][ky, kx]
    image += (inside & cells["b"][ky, kx] & (d2 <= 12)) * 100.0
    return np.clip(image, 0, 255).astype(np.uint8), mask


def write_scene(root: Path, size: int, chunk: int, name: str) -> tuple[Path, Path, int]:
    """Zarr stores of the scene, written block by block; their paths and the number of objects."""
    import zarr

    cells = _cells(-(-(size - OFFSET) // SPACING), SEED)
    image = zarr.create_array(root / f"{name}.zarr", shape=(size, size), chunks=(chunk, chunk), dtype=np.uint8)
    mask = zarr.create_array(root / f"{name}_masks.zarr", shape=(size, size), chunks=(chunk, chunk), dtype=np.uint32)
    for y0 in range(0, size, chunk):
        for x0 in range(0, size, chunk):
            hi = (min(y0 + chunk, size), min(x0 + chunk, size))
            pixels, labels = paint((y0, x0), hi, cells, size)
            image[y0 : hi[0], x0 : hi[1]] = pixels
            mask[y0 : hi[0], x0 : hi[1]] = labels
    n_cells = -(-(size - OFFSET) // SPACING)
    n = n_cells * n_cells  # every cell's disc lies in the image (the last ones may be cut)
    return root / f"{name}.zarr", root / f"{name}_masks.zarr", n


def train(root: Path, epochs: int) -> Path:
    """A default classifier trained on 100 random objects of a 512-px scene; its model file."""
    import svetlana_nb as sv

    cells = _cells(16, SEED + 1)
    image, mask = paint((0, 0), (512, 512), cells, 512)
    objects = sv.Objects(image, mask)
    ann = sv.Annotations(objects, ["a", "b"])
    labels = np.random.default_rng(0).choice(objects.labels, 100, replace=False)
    flat_b = cells["b"].ravel()
    for label in labels:
        ann.add(int(label), "b" if flat_b[int(label) - 1] else "a")
    clf = sv.Classifier(objects, epochs=epochs, seed=0)
    clf.fit(ann)
    path = root / "model.svnb"
    clf.save(path)
    return path


def _peaks_mb() -> tuple[float, float]:
    """This process's peak resident memory: its own (``VmHWM``), and ``ru_maxrss``.

    On Linux, ``ru_maxrss`` of a process started by fork + exec keeps the parent's resident
    size at the start (it survives ``execve``): an upper bound. ``VmHWM`` is the high-water
    mark of the process's own memory since its exec (``ru_maxrss`` where /proc is absent).
    """
    maxrss = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024  # kilobytes on Linux
    try:
        status = Path("/proc/self/status").read_text()
        own = next(float(line.split()[1]) / 1024 for line in status.splitlines() if line.startswith("VmHWM:"))
    except (OSError, StopIteration, ValueError, IndexError):
        own = maxrss
    return own, maxrss


def child(mode: str, model: Path, image: Path, mask: Path, out: Path) -> dict:
    """One measured run in this (fresh) process: ``lazy`` or ``memory``; saves labels and classes to ``out``."""
    import zarr

    import svetlana_nb as sv

    clf = sv.Classifier.load(model)
    if mode == "lazy":
        start = time.perf_counter()
        table = sv.predict_large(clf, image, mask, out / "classes.zarr")
        seconds = time.perf_counter() - start
        labels, classes = table["label"].to_numpy(), table["class"].cat.codes.to_numpy()
        with_files = seconds
    else:
        begin = time.perf_counter()
        pixels, ids = zarr.open_array(image, mode="r")[:], zarr.open_array(mask, mode="r")[:]
        start = time.perf_counter()
        objects = sv.Objects(pixels, ids)
        prediction = clf.predict(objects)
        table = prediction.table
        class_image = prediction.class_image(0)
        seconds = time.perf_counter() - start
        stored = zarr.open_array(mask, mode="r")
        zarr.create_array(out / "classes.zarr", data=class_image, chunks=stored.chunks)
        with_files = time.perf_counter() - begin
        labels, classes = prediction.labels, prediction.class_index
        np.save(out / "class_image.npy", class_image)
        assert len(table) == len(labels)
    np.save(out / "labels.npy", np.asarray(labels, dtype=np.int64))
    np.save(out / "classes.npy", np.asarray(classes, dtype=np.int64))
    own, maxrss = _peaks_mb()
    return {
        "seconds": seconds,
        "with_files": with_files,
        "objects": int(len(labels)),
        "peak_mb": own,
        "maxrss_mb": maxrss,
    }


def measured(mode: str, model: Path, image: Path, mask: Path, out: Path) -> dict:
    """:func:`child` in a fresh subprocess; its figures."""
    out.mkdir()
    command = [
        sys.executable,
        "-m",
        "benchmarks.bench_large_image",
        "--child",
        mode,
        str(model),
        str(image),
        str(mask),
        str(out),
    ]
    proc = subprocess.run(command, capture_output=True, text=True, cwd=Path(__file__).resolve().parents[1])
    if proc.returncode:
        raise RuntimeError(f"{mode} run failed:\n{proc.stderr[-3000:]}")
    return json.loads(proc.stdout.strip().splitlines()[-1])


def main(argv: list[str] | None = None) -> int:
    """Print the big image's figures and the comparison with the in-memory path."""
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--size", type=int, default=32768, help="side of the big image in pixels")
    parser.add_argument("--chunk", type=int, default=4096, help="zarr chunk side")
    parser.add_argument("--compare-size", type=int, default=4096, help="side of the image predicted both ways")
    parser.add_argument("--epochs", type=int, default=20)
    parser.add_argument("--repeats", type=int, default=2, help="alternated runs of the comparison (fastest kept)")
    parser.add_argument("--network-alone", action="store_true", help="predict without the second opinion")
    parser.add_argument("--quick", action="store_true", help="1024 px, chunks of 256, compare on 512 px")
    parser.add_argument("--child", nargs=5, help=argparse.SUPPRESS)
    args = parser.parse_args(argv)
    if args.child:
        mode, *paths = args.child
        print(json.dumps(child(mode, *(Path(p) for p in paths))))
        return 0
    if args.quick:
        args.size, args.chunk, args.compare_size, args.epochs, args.repeats = 1024, 256, 512, 2, 1
    print("LARGE IMAGE: svetlana_nb.batch.predict_large on zarr stores, block by block (fresh process each)")
    print(
        f"{os.cpu_count()} cores, load average {os.getloadavg()[0]:.2f} (a shared machine: figures vary with its load)"
    )
    with tempfile.TemporaryDirectory() as folder:
        root = Path(folder)
        model = train(root, args.epochs)
        if args.network_alone:
            import svetlana_nb as sv

            clf = sv.Classifier.load(model)
            clf.second_opinion = None
            clf.save(model)
        print(f"model: default light CNN, {args.epochs} epochs, second opinion {'off' if args.network_alone else 'on'}")
        start = time.perf_counter()
        small = write_scene(root, args.compare_size, min(args.chunk, args.compare_size), "small")
        memory = lazy_small = None
        for k in range(args.repeats):  # alternated; the fastest of each (the machine's load varies)
            runs = (
                measured("memory", model, small[0], small[1], root / f"memory_{k}"),
                measured("lazy", model, small[0], small[1], root / f"lazy_small_{k}"),
            )
            memory = runs[0] if memory is None or runs[0]["seconds"] < memory["seconds"] else memory
            lazy_small = runs[1] if lazy_small is None or runs[1]["seconds"] < lazy_small["seconds"] else lazy_small
        assert memory is not None and lazy_small is not None
        same_labels = np.array_equal(
            np.load(root / "memory_0" / "labels.npy"), np.load(root / "lazy_small_0" / "labels.npy")
        )
        same_classes = same_labels and np.array_equal(
            np.load(root / "memory_0" / "classes.npy"), np.load(root / "lazy_small_0" / "classes.npy")
        )
        import zarr

        same_image = np.array_equal(
            np.load(root / "memory_0" / "class_image.npy"),
            zarr.open_array(root / "lazy_small_0" / "classes.zarr", mode="r")[:],
        )
        big = write_scene(root, args.size, args.chunk, "big")
        written = time.perf_counter() - start
        lazy = measured("lazy", model, big[0], big[1], root / "lazy_big")
        print(f"scenes generated and written block by block in {written:.0f} s; big image: {big[2]:,} grid cells")
        print("| run | image | objects | seconds | objects/s | peak memory, own (MB) | ru_maxrss (MB) |")
        print("|---|---|---|---|---|---|---|")
        files = {**memory, "seconds": memory["with_files"]}
        for name, size, run in (
            ("in memory (arrays in memory)", args.compare_size, memory),
            ("in memory (reading and writing the stores)", args.compare_size, files),
            ("lazy (zarr)", args.compare_size, lazy_small),
            ("lazy (zarr)", args.size, lazy),
        ):
            rate = run["objects"] / run["seconds"]
            memory_mb = f"{run['peak_mb']:.0f} | {run['maxrss_mb']:.0f}"
            figures = f"{run['objects']:,} | {run['seconds']:.1f} | {rate:.0f} | {memory_mb}"
            print(f"| {name} | {size} x {size} | {figures} |")
        per_object = lazy_small["seconds"] / lazy_small["objects"]
        ratio = per_object / (memory["seconds"] / memory["objects"])
        ratio_files = per_object / (memory["with_files"] / memory["objects"])
        big_ratio = (lazy["seconds"] / lazy["objects"]) / (memory["with_files"] / memory["objects"])
        print(f"time per object, lazy / in memory ({args.compare_size} px; target <= 1.5):")
        print(
            f"  against arrays already in memory: {ratio:.2f}; "
            f"against reading and writing the stores: {ratio_files:.2f}"
        )
        print(f"  lazy {args.size} px / in memory {args.compare_size} px with the stores: {big_ratio:.2f}")
        print(
            f"peak memory of the big lazy run: {lazy['peak_mb']:.0f} MB own, "
            f"{lazy['maxrss_mb']:.0f} MB ru_maxrss (target < 2048)"
        )
        print(
            "(ru_maxrss of a fresh subprocess keeps its parent's resident size at the start on Linux: an upper bound)"
        )
        print(
            f"equal on {args.compare_size} px: labels {same_labels}, classes {same_classes}, class image {same_image}"
        )
    return 0 if same_classes and same_image else 1


if __name__ == "__main__":
    raise SystemExit(main())
