"""What the tests share: small generated scenes, annotating them, scoring held-out objects.

Scenes are discs on a grid whose class 'b' carries a bright centre (:func:`grid_scene`).
"""

from __future__ import annotations

import subprocess
import sys
from collections.abc import Mapping, Sequence
from pathlib import Path

import numpy as np

import svetlana_nb as sv
from svetlana_nb.objects.batches import network_inputs

#: The repository's root (benchmarks run as modules from there).
ROOT = Path(__file__).resolve().parents[1]


def grid_scene(*, size: int = 240, spacing: int = 30, ndim: int = 2, channels: int = 0, seed: int = 0, depth: int = 12):
    """Objects on a grid; label ids are multiples of 3 (non-consecutive).

    Returns
    -------
    image : (Y, X[, C]) or (Z, Y, X[, C]) float32
    mask : int32 of the spatial shape
    truth : dict label -> "a" | "b"
    """
    rng = np.random.default_rng(seed)
    spatial = (size, size) if ndim == 2 else (depth, size, size)
    mask = np.zeros(spatial, np.int32)
    image = rng.normal(0.1, 0.03, spatial).astype(np.float32)
    cue = np.zeros(spatial, np.float32)
    truth = {}
    yy, xx = np.mgrid[:size, :size]
    label = 3
    for cy in range(spacing // 2, size, spacing):
        for cx in range(spacing // 2, size, spacing):
            radius = rng.uniform(6, 10)
            disc = (yy - cy) ** 2 + (xx - cx) ** 2 <= radius**2
            cls = "b" if rng.random() < 0.5 else "a"
            truth[label] = cls
            brightness = rng.uniform(0.3, 0.6)
            spot = (yy - cy) ** 2 + (xx - cx) ** 2 <= 4
            if ndim == 2:
                mask[disc] = label
                image[disc] += brightness
                if cls == "b":
                    cue[spot] += 0.6
            else:
                z0, z1 = depth // 2 - 3, depth // 2 + 3
                mask[z0:z1][:, disc] = label
                image[z0:z1][:, disc] += brightness
                if cls == "b":
                    cue[z0 + 2 : z1 - 2][:, spot] += 0.6
            label += 3
    if channels:
        stack = [image] + [cue + rng.normal(0.05, 0.02, spatial).astype(np.float32)] * (channels - 1)
        return np.stack(stack, axis=-1), mask, truth
    return image + cue, mask, truth


def annotate(
    objects: sv.Objects,
    truth: Mapping[int, str],
    n: int,
    *,
    seed: int | None = 0,
    class_names: Sequence[str] = ("a", "b"),
) -> sv.Annotations:
    """Annotations of ``n`` objects with their true class: random ones (``seed``), or the first ``n`` (None)."""
    ann = sv.Annotations(objects, list(class_names))
    labels = (
        objects.labels[:n] if seed is None else np.random.default_rng(seed).choice(objects.labels, n, replace=False)
    )
    for label in labels:
        ann.add(int(label), truth[int(label)])
    return ann


def held_out_accuracy(prediction: sv.Prediction, truth: Mapping[int, str], annotations: sv.Annotations) -> float:
    """Accuracy of a prediction on the objects not annotated (single-image objects)."""
    classes = prediction.classes
    annotated = {label for (_, label), _ in annotations.items()}
    rest = [int(label) for label in prediction.labels if int(label) not in annotated]
    return float(np.mean([classes[label] == truth[label] for label in rest]))


def patches(objects: sv.Objects, rows: Sequence[int] | np.ndarray | None = None, **settings) -> np.ndarray:
    """Network inputs of ``rows`` for a :class:`~svetlana_nb.PatchSpec` of ``settings``, resolved for the objects."""
    return network_inputs(
        objects, sv.PatchSpec(**settings).resolve(objects), None if rows is None else np.asarray(rows)
    )


def run_benchmark(module: str, *arguments: str, timeout: float) -> str:
    """Run ``python -m benchmarks.<module> <arguments>`` from the repository root; its stdout.

    Fails the test, with the end of its stderr, when the benchmark exits non-zero.
    """
    proc = subprocess.run(
        [sys.executable, "-m", f"benchmarks.{module}", *arguments],
        cwd=ROOT,
        capture_output=True,
        text=True,
        timeout=timeout,
    )
    assert proc.returncode == 0, proc.stderr[-3000:]
    return proc.stdout


def ome_zarr(path: Path, array: np.ndarray, *, factors: Sequence[int] = (1, 2, 4), chunk: int = 40) -> list[Path]:
    """Write ``array`` (Y, X) as an OME-Zarr 0.5 image with one level per factor (every factor-th pixel).

    Returns
    -------
    list of pathlib.Path
        The folder of each level, finest first (``path / "0"``...).
    """
    import zarr

    group = zarr.open_group(str(path), mode="w")
    datasets = []
    for k, factor in enumerate(factors):
        group.create_array(str(k), data=np.ascontiguousarray(array[::factor, ::factor]), chunks=(chunk, chunk))
        scale = {"type": "scale", "scale": [float(factor), float(factor)]}
        datasets.append({"path": str(k), "coordinateTransformations": [scale]})
    axes = [{"name": "y", "type": "space"}, {"name": "x", "type": "space"}]
    group.attrs["ome"] = {"version": "0.5", "multiscales": [{"axes": axes, "datasets": datasets}]}
    return [path / str(k) for k in range(len(factors))]
