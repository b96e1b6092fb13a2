"""A lazy ``sv.Objects`` of a big OME-Zarr: opening it, its overview, its patches, without loading it.

Writes the scene of :mod:`benchmarks.bench_large_image` (``--size`` px, discs on a 32-px grid)
as an OME-Zarr image and mask with levels at factors 1, 2, 4, ... down to about 1024 px, then,
in a fresh subprocess (its own peak memory, ``VmHWM``):

- opening ``sv.Objects(image.ome.zarr, masks.ome.zarr)``: seconds, peak memory, objects;
- a 1024-px overview of the whole image (image and labels), as the annotator's click mode
  asks for it: seconds and bytes read (``rchar`` of ``/proc/self/io``), with the pyramid, and
  from the full resolution alone (the overview then computed once with dask);
- the crop of one object, and the network inputs of 1000 random objects: seconds.

Usage (from the repository root)::

    python -m benchmarks.bench_lazy_objects              # 8192 px, ~65,000 objects
    python -m benchmarks.bench_lazy_objects --quick      # 1024 px: a smoke run
"""

from __future__ import annotations

import argparse
import json
import subprocess
import sys
import tempfile
import time
from pathlib import Path

import numpy as np

from .bench_large_image import _peaks_mb, write_scene


def _rchar() -> int:
    """Bytes this process has read through read() calls so far (page cache included)."""
    try:
        text = Path("/proc/self/io").read_text()
        return int(next(line.split()[1] for line in text.splitlines() if line.startswith("rchar:")))
    except (OSError, StopIteration, ValueError):
        return 0


def ome_pyramid(level0: Path, out: Path, *, smallest: int = 1024) -> Path:
    """An OME-Zarr group at ``out``: ``level0`` copied as level 0, then every 2nd pixel per level."""
    import dask.array as da
    import zarr

    group = zarr.open_group(str(out), mode="w")
    base = da.from_zarr(str(level0))
    datasets, factor, k = [], 1, 0
    while True:
        level = base[::factor, ::factor]
        chunks = zarr.open_array(str(level0)).chunks
        target = group.create_array(str(k), shape=level.shape, chunks=chunks, dtype=level.dtype)
        da.store(level.rechunk(chunks), target, lock=False)
        datasets.append({"path": str(k), "coordinateTransformations": [{"type": "scale", "scale": [factor, factor]}]})
        if max(level.shape) <= smallest:
            break
        factor, k = factor * 2, k + 1
    axes = [{"name": "y", "type": "space"}, {"name": "x", "type": "space"}]
    group.attrs["ome"] = {"version": "0.5", "multiscales": [{"axes": axes, "datasets": datasets}]}
    return out


def child(image: str, mask: str) -> dict:
    """Open, overview, crop and patches in this process; the figures as a dict."""
    import svetlana_nb as sv
    from svetlana_nb.objects.batches import network_inputs

    before = _peaks_mb()[0]
    t0 = time.perf_counter()
    objects = sv.Objects(image, mask)
    opened = time.perf_counter() - t0
    peak_open = _peaks_mb()[0]
    height, width = objects.masks[0].shape
    ys = np.linspace(0, height - 1, 1024).round().astype(np.int64)
    xs = np.linspace(0, width - 1, 1024).round().astype(np.int64)
    read0, t0 = _rchar(), time.perf_counter()
    image_view = objects.sample_image(0, ys, xs)
    labels_view = objects.sample_labels(0, ys, xs)
    overview = time.perf_counter() - t0
    read = _rchar() - read0
    t0 = time.perf_counter()
    objects.sample_image(0, ys, xs)  # a redraw
    redraw = time.perf_counter() - t0
    t0 = time.perf_counter()
    objects.crop(len(objects) // 2)
    crop = time.perf_counter() - t0
    rows = np.random.default_rng(0).choice(len(objects), min(1000, len(objects)), replace=False)
    spec = sv.PatchSpec().resolve(objects)
    t0 = time.perf_counter()
    network_inputs(objects, spec, rows)
    patches = time.perf_counter() - t0
    return {
        "objects": len(objects),
        "open_s": opened,
        "open_peak_mb": peak_open - before,
        "overview_s": overview,
        "overview_mb_read": read / 2**20,
        "redraw_s": redraw,
        "overview_shape": list(image_view.shape) + [int(labels_view.max() > 0)],
        "crop_s": crop,
        "patches_1000_s": patches,
    }


def measured(image: Path, mask: Path) -> dict:
    """:func:`child` in a fresh interpreter."""
    call = f"child({str(image)!r}, {str(mask)!r})"
    code = f"import json; from benchmarks.bench_lazy_objects import child; print(json.dumps({call}))"
    out = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, check=True)
    return json.loads(out.stdout.strip().splitlines()[-1])


def main(argv: list[str] | None = None) -> int:
    """Write the stores, measure both ways, print a table."""
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--size", type=int, default=8192)
    parser.add_argument("--chunk", type=int, default=1024)
    parser.add_argument("--quick", action="store_true", help="1024 px, chunks of 256")
    args = parser.parse_args(argv)
    size, chunk = (1024, 256) if args.quick else (args.size, args.chunk)
    with tempfile.TemporaryDirectory() as folder:
        root = Path(folder)
        image, mask, n = write_scene(root, size, chunk, "scene")
        ome_image = ome_pyramid(image, root / "scene.ome.zarr", smallest=min(1024, size // 2))
        ome_mask = ome_pyramid(mask, root / "masks.ome.zarr", smallest=min(1024, size // 2))
        rows = {
            "OME-Zarr with pyramid": measured(ome_image, ome_mask),
            "zarr, full resolution only": measured(image, mask),
        }
    print(f"{size} x {size} px, chunks {chunk}, about {n} objects")
    print(
        "| store | objects | open s | open peak MB | overview s | overview MB read | redraw s | crop s "
        "| 1000 patches s |"
    )
    print("|---|---|---|---|---|---|---|---|---|")
    for name, r in rows.items():
        print(
            f"| {name} | {r['objects']} | {r['open_s']:.2f} | {r['open_peak_mb']:.0f} | {r['overview_s']:.2f} | "
            f"{r['overview_mb_read']:.1f} | {r['redraw_s']:.3f} | {r['crop_s']:.3f} | {r['patches_1000_s']:.2f} |"
        )
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
