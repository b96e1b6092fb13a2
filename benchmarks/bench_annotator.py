"""Annotator latency: label -> next crop's pixels sent, and the cost of the click-mode overview.

Measured in Python without a browser: the canvases are marked connected and every frame goes
through the real encode-and-send path (``Painter.draw`` -> ipycanvas draw command); the time is
taken when the crop frame has been handed to the comm. Run::

    .venv/bin/python -m benchmarks.bench_annotator [--labels 1000] [--quick]

``--quick`` uses smaller images (for a smoke run); the figures in the issue need the defaults:
``sv.data.large_2d()`` (8000 x 8000, 16,000 objects) and ``sv.data.large_3d()``
(256 x 512 x 512, 2,000 objects).
"""

from __future__ import annotations

import argparse
import tempfile
import time
from pathlib import Path

import numpy as np

import svetlana_nb as sv
from svetlana_nb.widgets.annotator import Annotator


def _ready(annotator: Annotator) -> None:
    for painter in (annotator.crop_painter, annotator.overview.painter, annotator.thumbnails.painter):
        painter.mark_ready()


def label_latency(objects: sv.Objects, class_names: list[str], n_labels: int, autosave: Path | None = None) -> dict:
    """Time from ``label()`` to the next crop being sent, over ``n_labels`` consecutive labels."""
    annotator = Annotator(objects, class_names, seed=0, autosave=autosave)
    _ready(annotator)
    sent: list[float] = []
    sizes: list[int] = []
    annotator.crop_painter.on_sent(lambda _layer, n: (sent.append(time.perf_counter()), sizes.append(n)))
    to_crop, whole = [], []
    for i in range(n_labels):
        sent.clear()
        start = time.perf_counter()
        annotator.label(class_names[i % len(class_names)])
        end = time.perf_counter()
        if not sent:
            raise RuntimeError("no crop was sent after a label")
        to_crop.append(sent[0] - start)
        whole.append(end - start)
    assert len(annotator.annotations) == n_labels
    return {"to_crop": np.array(to_crop), "whole": np.array(whole), "bytes": np.array(sizes)}


def overview_cost(objects: sv.Objects, class_names: list[str]) -> list[tuple[str, float, int]]:
    """Draw the click-mode overview: whole image, zoomed in, and after a label (overlay only)."""
    annotator = Annotator(objects, class_names, seed=0)
    _ready(annotator)
    painter = annotator.overview.painter
    rows = []

    def measure(name, action):
        before = painter.bytes_sent
        start = time.perf_counter()
        action()
        rows.append((name, time.perf_counter() - start, painter.bytes_sent - before))

    measure("switch to click mode (image + overlay)", lambda: setattr(annotator, "mode", "click"))
    measure("redraw whole image (image + overlay)", annotator.overview.refresh)
    measure("zoom in x4 (image + overlay)", lambda: annotator.overview.zoom(4.0))
    measure("pan (image + overlay)", lambda: annotator.overview.pan(300, 300))
    y, x = objects.centres[np.argmin(np.abs(objects.centres - objects.centres.mean(0)).sum(1))][-2:]
    annotator.overview.centre_on(float(y), float(x))
    measure("click an object (overlay only)", lambda: annotator.click_image(float(y), float(x)))
    measure("label it (overlay only)", lambda: annotator.label(class_names[0]))
    return rows


def _row(name: str, seconds: np.ndarray, target: float | None) -> str:
    ms = seconds * 1000
    flag = "" if target is None else ("  ok" if np.percentile(ms, 95) < target else "  SLOW")
    goal = "" if target is None else f"<{target:.0f}"
    return (
        f"| {name:<44} | {ms.mean():7.2f} | {np.median(ms):7.2f} | "
        f"{np.percentile(ms, 95):7.2f} | {ms.max():7.2f} | {goal:>6}{flag} |"
    )


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--labels", type=int, default=1000)
    parser.add_argument("--quick", action="store_true", help="small images (smoke run)")
    args = parser.parse_args()

    if args.quick:
        d2 = sv.data.large_2d(shape=(2000, 2000), n_objects=1000)
        d3 = sv.data.large_3d(shape=(64, 256, 256), n_objects=200)
    else:
        d2, d3 = sv.data.large_2d(), sv.data.large_3d()
    o2 = sv.Objects(d2.image, d2.mask)
    o3 = sv.Objects(d3.image, d3.mask)
    n3 = min(args.labels, len(o3) - 1)
    print(f"2D: {d2.image.shape} {d2.image.dtype}, {len(o2)} objects; 3D: {d3.image.shape}, {len(o3)} objects\n")

    r2 = label_latency(o2, d2.class_names, min(args.labels, len(o2) - 1))
    r3 = label_latency(o3, d3.class_names, n3)
    with tempfile.TemporaryDirectory() as folder:
        rs = label_latency(o2, d2.class_names, min(200, args.labels), autosave=Path(folder) / "annotations.json")
    header = (
        f"| {'label -> next crop sent (ms)':<44} | {'mean':>7} | {'median':>7} | {'p95':>7} "
        f"| {'max':>7} | {'target':>10} |"
    )
    print(header)
    print("|" + "|".join("-" * (len(c)) for c in header.split("|")[1:-1]) + "|")
    print(_row(f"2D crop ({len(r2['to_crop'])} labels)", r2["to_crop"], 30))
    print(_row("2D whole label() incl. thumbnails", r2["whole"], None))
    print(_row(f"3D crop ({len(r3['to_crop'])} labels)", r3["to_crop"], 100))
    print(_row("3D whole label() incl. thumbnails", r3["whole"], None))
    print(_row(f"2D crop, autosave on ({len(rs['to_crop'])} labels)", rs["to_crop"], 30))
    print(
        f"\nbytes per crop frame (PNG): 2D median {np.median(r2['bytes']) / 1024:.1f} KiB, "
        f"3D median {np.median(r3['bytes']) / 1024:.1f} KiB\n"
    )

    full = d2.image.shape[0] * d2.image.shape[1] * 4
    print(
        f"| {'click-mode overview of ' + 'x'.join(map(str, d2.image.shape)):<40} "
        f"| {'ms':>8} | {'KiB sent':>9} | {'% of full-res RGBA':>18} |"
    )
    print(f"|{'-' * 42}|{'-' * 10}|{'-' * 11}|{'-' * 20}|")
    for name, seconds, n_bytes in overview_cost(o2, d2.class_names):
        print(f"| {name:<40} | {seconds * 1000:8.1f} | {n_bytes / 1024:9.1f} | {100 * n_bytes / full:17.3f}% |")
    print(
        f"\nfull-resolution RGBA would be {full / 2**20:.0f} MiB; the canvas frame is at most "
        "2 x size = 640 px on a side (image layer JPEG, overlay PNG)."
    )


if __name__ == "__main__":
    main()
