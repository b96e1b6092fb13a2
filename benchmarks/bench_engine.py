"""Engine benchmark: svetlana_nb against a re-implementation of the SVETLANA plugin's method.

Prints, side by side on this machine:

- **speed** — on an 8000 x 8000 image with ~16,000 objects (``sv.data.large_2d``): ``Objects``
  construction; patch extraction + prediction of every object (wall seconds, peak memory),
  ours vs the plugin's per-object loop; training the light CNN on 100 annotated objects
  (ours: defaults, to the validation plateau; the plugin: its fixed epochs); the same on a
  256 x 512 x 512 volume with ~2,000 objects (``sv.data.large_3d``).
- **accuracy** — balanced accuracy on the objects *not* annotated, for 20 and 100 randomly
  chosen annotated objects (redrawn when a draw holds one class only), over several seeds, on
  each demo set (cells_2d, infected_cells_2d, cells_3d), for the default ``sv.Classifier``, the
  random forest on object features, and the plugin's method; also the default's network alone
  (``second_opinion=None``), shown but not one of the references.

Peak memory is the peak resident set size (RSS) of the process *above* its RSS just before the
measured call (data, model and torch already loaded), sampled every 2 ms by a thread with
``psutil`` — so it counts numpy and torch allocations alike. Each speed case runs in its own
fresh Python process (``--worker``), so one case's memory does not leak into the next.

Usage::

    python -m benchmarks.bench_engine                 # everything (about 60-80 min on 2 cores)
    python -m benchmarks.bench_engine --only speed
    python -m benchmarks.bench_engine --only interleaved  # the interleaved speed rounds alone
    python -m benchmarks.bench_engine --only accuracy --seeds 3
    python -m benchmarks.bench_engine --quick         # tiny sizes, a smoke run (< 1 min)

Timings on a shared machine vary with its load: the load average is printed with the tables.
"""

from __future__ import annotations

import argparse
import gc
import json
import os
import platform
import subprocess
import sys
import threading
import time
from pathlib import Path

import numpy as np

from benchmarks.engine_interleaved import CASES, interleaved_table, worker_interleaved

HERE = Path(__file__).resolve().parent
ROOT = HERE.parent

RESULT_PREFIX = "BENCH-RESULT:"

# -- sizes ---------------------------------------------------------------------------------------
FULL = {
    "large_2d": {"shape": (8000, 8000), "n_objects": 16000},
    "large_3d": {"shape": (256, 512, 512), "n_objects": 2000},
    "textures_2d": {"shape": (8000, 8000), "n_objects": 16000},  # 10 classes, interleaved rounds only
    # accuracy sets: the demo generators at 4x their default object count (same density), so
    # the objects left to score after 100 annotations are many (the defaults have 40-160)
    "cells_2d": {"shape": (1024, 1024), "n_objects": 640},
    "infected_cells_2d": {"shape": (1024, 1024), "n_objects": 640},
    "cells_3d": {"shape": (40, 256, 256), "n_objects": 160},
}
QUICK = {
    "large_2d": {"shape": (600, 600), "n_objects": 120},
    "large_3d": {"shape": (32, 96, 96), "n_objects": 16},
    "textures_2d": {"shape": (600, 600), "n_objects": 120},
    "cells_2d": {"shape": (256, 256), "n_objects": 40},
    "infected_cells_2d": {"shape": (256, 256), "n_objects": 40},
    "cells_3d": {"shape": (40, 128, 128), "n_objects": 30},
}
ACCURACY_SETS = ("cells_2d", "infected_cells_2d", "cells_3d")


# -- measuring -----------------------------------------------------------------------------------
class PeakRSS:
    """Context manager: wall seconds and peak RSS above the RSS at entry (psutil, 2 ms sampling)."""

    def __init__(self, interval: float = 0.002) -> None:
        import psutil

        self._process = psutil.Process()
        self.interval = interval

    def __enter__(self) -> "PeakRSS":
        gc.collect()
        self.baseline = self._process.memory_info().rss
        self.peak = self.baseline
        self._stop = threading.Event()
        self._thread = threading.Thread(target=self._sample, daemon=True)
        self._thread.start()
        self._start = time.perf_counter()
        return self

    def _sample(self) -> None:
        while not self._stop.is_set():
            self.peak = max(self.peak, self._process.memory_info().rss)
            time.sleep(self.interval)

    def __exit__(self, *exc) -> None:
        self.seconds = time.perf_counter() - self._start
        self._stop.set()
        self._thread.join()
        self.peak = max(self.peak, self._process.memory_info().rss)
        self.delta_mb = (self.peak - self.baseline) / 2**20


def draw(labels: np.ndarray, classes: np.ndarray, k: int, rng: np.random.Generator) -> np.ndarray:
    """Indices of ``k`` random objects; redrawn while the draw holds a single class."""
    for _ in range(1000):
        chosen = rng.choice(len(labels), size=k, replace=False)
        if len(np.unique(classes[chosen])) > 1:
            return chosen
    raise RuntimeError("could not draw two classes")


def demo_set(name: str, sizes: dict):
    import svetlana_nb as sv

    return getattr(sv.data, name)(**sizes[name])


def truth_index(demo, labels) -> np.ndarray:
    return np.array([demo.class_names.index(demo.truth[int(lab)]) for lab in labels])


def speed_draw(demo, objects) -> tuple[np.ndarray, np.ndarray]:
    """True class index of every object and the 100 rows annotated in every speed case."""
    truth = truth_index(demo, objects.labels)
    return truth, draw(objects.labels, truth, min(100, len(objects) - 1), np.random.default_rng(0))


def annotations_of(objects, demo, rows):
    import svetlana_nb as sv

    ann = sv.Annotations(objects, demo.class_names)
    for r in rows:
        lab = int(objects.labels[r])
        ann.add(lab, demo.truth[lab])
    return ann


def balanced_accuracy(truth: np.ndarray, pred: np.ndarray) -> float:
    import warnings

    from sklearn.metrics import balanced_accuracy_score

    with warnings.catch_warnings():  # tiny --quick sets may hold one class only
        warnings.simplefilter("ignore")
        return float(balanced_accuracy_score(truth, pred))


# -- speed workers (each in a fresh process) -------------------------------------------------------
def worker_ours(case: str, sizes: dict, opts: dict) -> dict:
    """Objects construction, training on 100 annotations (defaults), prediction of all objects."""
    import torch

    import svetlana_nb as sv

    demo = demo_set(case, sizes)
    out = {
        "image_mb": demo.image.nbytes / 2**20,
        "mask_mb": demo.mask.nbytes / 2**20,
        "n_objects": int(len(demo.truth)),
        "threads": torch.get_num_threads(),
    }
    with PeakRSS() as m:
        objects = sv.Objects(demo.image, demo.mask, channel_axis=demo.channel_axis)
    out.update(objects_s=m.seconds, objects_mb=m.delta_mb, patch=list(objects.patch_shape))
    truth, rows = speed_draw(demo, objects)
    ann = annotations_of(objects, demo, rows)
    clf = sv.Classifier(objects, **opts.get("ours_options", {}))
    with PeakRSS() as m:
        history = clf.fit(ann, **opts.get("fit_options", {}))
    out.update(
        train_s=m.seconds,
        train_epochs=len(history.epoch),
        train_stopped=history.stopped,
        train_best_epoch=history.best_epoch,
    )
    model_mb = sum(p.numel() * p.element_size() for p in clf.network.parameters()) / 2**20
    out["model_mb"] = model_mb
    seconds, peak = [], []
    for _ in range(opts.get("repeat", 1)):  # a shared machine: keep the fastest of a few runs
        with PeakRSS() as m:
            result = clf.predict(objects)
        seconds.append(m.seconds)
        peak.append(m.delta_mb)
    out.update(predict_s=min(seconds), predict_runs=seconds, predict_mb=max(peak))
    t = time.perf_counter()
    result.class_image()
    out["paint_s"] = time.perf_counter() - t
    t = time.perf_counter()
    result.table  # noqa: B018 - the per-object table: measures every object
    out["table_s"] = time.perf_counter() - t
    rest = np.setdiff1d(np.arange(len(objects)), rows)
    out["balanced_accuracy"] = balanced_accuracy(truth[rest], result.class_index[rest])
    if opts.get("breakdown"):
        # where the prediction time goes: patch extraction alone, the network alone
        rows_all = np.arange(len(objects))
        t = time.perf_counter()
        for b in range(0, len(rows_all), 4096):
            clf.patches(objects, rows_all[b : b + 4096])
        out["patches_s"] = time.perf_counter() - t
        x = torch.from_numpy(clf.patches(objects, rows_all[:4096]))
        clf.backend.forward_patches(x[:64])  # warm-up
        t = time.perf_counter()
        clf.backend.forward_patches(x)
        out["forward_s"] = (time.perf_counter() - t) * len(objects) / len(x)
    return out


def worker_plugin(case: str, sizes: dict, opts: dict) -> dict:
    """The plugin's method: training on the same 100 annotations, prediction of all objects."""
    import torch

    import svetlana_nb as sv
    from benchmarks.plugin_method import PluginMethod

    demo = demo_set(case, sizes)
    objects = sv.Objects(demo.image, demo.mask, channel_axis=demo.channel_axis)  # for the same draw
    truth, rows = speed_draw(demo, objects)
    labels = objects.labels
    del objects
    out = {"threads": torch.get_num_threads()}
    epochs = opts["plugin_epochs"]
    timed = min(epochs, opts.get("plugin_timing_epochs") or epochs)
    method = PluginMethod(
        demo.image,
        demo.mask,
        channel_axis=demo.channel_axis,
        n_classes=len(demo.class_names),
        epochs=epochs,
    )
    history = method.fit(labels[rows], truth[rows], epochs=timed)
    out.update(
        train_s=history.seconds * epochs / timed,
        train_measured_epochs=timed,
        train_epochs=epochs,
        patch=method.patch_size,
    )
    best = None
    for _ in range(opts.get("repeat", 1)):  # a shared machine: keep the fastest of a few runs
        with PeakRSS() as m:
            pred_labels, pred, _ = method.predict()
        if best is None or m.seconds < best[0]:
            best = (m.seconds, dict(method.timings))
        out["predict_mb"] = max(out.get("predict_mb", 0.0), m.delta_mb)
        out.setdefault("predict_runs", []).append(m.seconds)
    out.update(predict_s=best[0], **{f"t_{k}": v for k, v in best[1].items()})
    method.paint(pred)
    out["paint_s"] = method.timings["paint"]
    order = np.searchsorted(labels, pred_labels)
    rest = np.setdiff1d(np.arange(len(labels)), rows)
    pred_by_row = np.empty(len(labels), dtype=np.int64)
    pred_by_row[order] = pred
    out["balanced_accuracy"] = balanced_accuracy(truth[rest], pred_by_row[rest])
    return out


WORKERS = {"ours": worker_ours, "plugin": worker_plugin, "interleaved": worker_interleaved}


def run_worker(kind: str, case: str, sizes: dict, opts: dict, inprocess: bool) -> dict:
    """Run a speed case in a fresh process (or here, for --quick) and return its figures."""
    if inprocess:
        return WORKERS[kind](case, sizes, opts)
    payload = json.dumps({"kind": kind, "case": case, "sizes": sizes, "opts": opts})
    proc = subprocess.run(
        [sys.executable, "-m", "benchmarks.bench_engine", "--worker", payload],
        capture_output=True,
        text=True,
        cwd=ROOT,
    )
    for line in proc.stdout.splitlines():
        if line.startswith(RESULT_PREFIX):
            return json.loads(line[len(RESULT_PREFIX) :])
    raise RuntimeError(f"worker {kind}/{case} failed (exit {proc.returncode}):\n{proc.stderr[-3000:]}")


# -- accuracy --------------------------------------------------------------------------------------
def magnified(demo, factor: int):
    """``demo`` with every pixel repeated ``factor`` times along Y and X (image and mask)."""
    import dataclasses

    spatial = demo.mask.ndim
    image = demo.image
    for axis in (spatial - 2, spatial - 1):  # channels (if any) come after the spatial axes
        image = np.repeat(image, factor, axis=axis)
    mask = np.repeat(np.repeat(demo.mask, factor, axis=spatial - 2), factor, axis=spatial - 1)
    return dataclasses.replace(demo, image=image, mask=mask)


#: Annotation draws per accuracy set (``--seeds`` sets one number for all). The 2D sets get
#: more: their figures sit within a few objects of each other, and a draw costs ~40 s there
#: against ~3 min in 3D (the plugin's loop).
ACCURACY_DRAWS = {"cells_2d": 20, "infected_cells_2d": 20, "cells_3d": 5}


def accuracy_runs(
    sizes: dict,
    seeds: int | dict[str, int],
    counts: tuple[int, ...],
    opts: dict,
    sets=ACCURACY_SETS,
    methods=("default", "network_alone", "random_forest", "plugin"),
    log=print,
    image_channels: list[int] | None = None,
    magnify: int = 1,
) -> list[dict]:
    """Balanced accuracy on the non-annotated objects, per set, count, seed and method.

    ``image_channels`` keeps only those channels of the multichannel sets (what a user who
    knows which channel carries the class would give the classifier). ``magnify`` repeats
    every pixel ``magnify`` times along Y and X (large objects, as at a higher magnification).
    ``seeds``: draws per set, one number for every set or ``{set: draws}`` (default 5).
    """
    import dataclasses

    import svetlana_nb as sv
    from benchmarks.plugin_method import PluginMethod

    rows_out = []
    for name in sets:
        demo = demo_set(name, sizes)
        if image_channels is not None and demo.channel_axis is not None:
            demo = dataclasses.replace(demo, image=demo.image[..., list(image_channels)])
        if magnify > 1:
            demo = magnified(demo, magnify)
        objects = sv.Objects(demo.image, demo.mask, channel_axis=demo.channel_axis)
        truth = truth_index(demo, objects.labels)
        for k in counts:
            if k >= len(objects):
                continue
            for seed in range(seeds if isinstance(seeds, int) else seeds.get(name, 5)):
                rows = draw(objects.labels, truth, k, np.random.default_rng(1000 + seed))
                rest = np.setdiff1d(np.arange(len(objects)), rows)
                ann = annotations_of(objects, demo, rows)
                for method in methods:
                    t = time.perf_counter()
                    if method == "plugin":
                        pm = PluginMethod(
                            demo.image,
                            demo.mask,
                            channel_axis=demo.channel_axis,
                            n_classes=len(demo.class_names),
                            epochs=opts["plugin_epochs"],
                            seed=seed,
                        )
                        pm.fit(objects.labels[rows], truth[rows])
                        labs, pred, _ = pm.predict()
                        pred_by_row = np.empty(len(objects), dtype=np.int64)
                        pred_by_row[np.searchsorted(objects.labels, labs)] = pred
                        info = f"{opts['plugin_epochs']} ep"
                    else:
                        options = dict(opts.get("ours_options", {}))
                        if method == "random_forest":
                            options["model"] = "random_forest"
                        if method == "network_alone":  # the default's network without its forest
                            options["second_opinion"] = None
                        options.update(opts.get("variants", {}).get(method, {}))
                        if isinstance(options.get("second_opinion"), dict):  # from JSON (--extra)
                            options["second_opinion"] = sv.SecondOpinion(**options["second_opinion"])
                        options.setdefault("seed", seed)
                        clf = sv.Classifier(objects, **options)
                        history = clf.fit(ann, **opts.get("fit_options", {}))
                        pred_by_row = clf.predict(objects).class_index
                        info = f"{len(history.epoch)} ep" if clf.network is not None else ""
                    score = balanced_accuracy(truth[rest], pred_by_row[rest])
                    seconds = time.perf_counter() - t
                    rows_out.append(
                        {
                            "set": name,
                            "n": k,
                            "seed": seed,
                            "method": method,
                            "bacc": score,
                            "seconds": seconds,
                            "info": info,
                        }
                    )
                    log(
                        f"  [{name} n={k} seed={seed}] {method:<14} balanced acc {score:.3f}  "
                        f"({seconds:.1f} s{', ' + info if info else ''})"
                    )
    return rows_out


# -- tables ----------------------------------------------------------------------------------------
def text_table(header: list[str], rows: list[list[str]]) -> str:
    widths = [max(len(str(r[i])) for r in [header] + rows) for i in range(len(header))]
    line = "+-" + "-+-".join("-" * w for w in widths) + "-+"
    fmt = lambda r: "| " + " | ".join(str(c).ljust(w) for c, w in zip(r, widths)) + " |"  # noqa: E731
    return "\n".join([line, fmt(header), line] + [fmt(r) for r in rows] + [line])


def speed_table(o2: dict, p2: dict, o3: dict, p3: dict, sizes: dict) -> str:
    s2, s3 = sizes["large_2d"], sizes["large_3d"]
    total2 = o2["objects_s"] + o2["predict_s"]
    total3 = o3["objects_s"] + o3["predict_s"]
    budget = 3 * o2["image_mb"] + o2["model_mb"]
    plugin_train_note = (
        f"{p2['train_epochs']} ep"
        if p2["train_measured_epochs"] == p2["train_epochs"]
        else f"{p2['train_epochs']} ep, extrapolated from {p2['train_measured_epochs']}"
    )
    plugin_train3_note = (
        f"{p3['train_epochs']} ep"
        if p3["train_measured_epochs"] == p3["train_epochs"]
        else f"{p3['train_epochs']} ep, extrapolated from {p3['train_measured_epochs']}"
    )
    yx = "x".join(map(str, s2["shape"]))
    zyx = "x".join(map(str, s3["shape"]))
    rows = [
        [
            f"2D {yx}, {o2['n_objects']} objects: Objects / regionprops",
            f"{o2['objects_s']:.2f} s",
            f"{p2['t_regionprops']:.2f} s",
            f"{p2['t_regionprops'] / o2['objects_s']:.1f}x",
            "",
        ],
        [
            "  patch extraction + prediction of all objects",
            f"{o2['predict_s']:.2f} s",
            f"{p2['predict_s'] - p2['t_regionprops']:.2f} s",
            f"{(p2['predict_s'] - p2['t_regionprops']) / o2['predict_s']:.1f}x",
            "",
        ],
        [
            "  total (objects + patches + prediction)",
            f"{total2:.2f} s",
            f"{p2['predict_s']:.2f} s",
            f"{p2['predict_s'] / total2:.1f}x",
            ">= 10x, ours < 20 s",
        ],
        [
            "  peak memory above image+mask+model",
            f"{o2['predict_mb']:.0f} MB",
            f"{p2['predict_mb']:.0f} MB",
            "",
            f"< {budget:.0f} MB (3x image + model)",
        ],
        ["  patch side (px)", f"{o2['patch'][0]}", f"{2 * (p2['patch'] // 2)}", "", ""],
        [
            "  class image painting (not in the total)",
            f"{o2['paint_s']:.2f} s",
            f"{p2['paint_s']:.2f} s",
            f"{p2['paint_s'] / o2['paint_s']:.0f}x",
            "",
        ],
        [
            "  train light CNN, 100 annotated",
            f"{o2['train_s']:.1f} s ({o2['train_epochs']} ep, {o2['train_stopped']})",
            f"{p2['train_s']:.1f} s ({plugin_train_note})",
            f"{p2['train_s'] / o2['train_s']:.1f}x",
            "ours < 10 s",
        ],
        [
            "  balanced accuracy of the rest (sanity)",
            f"{o2['balanced_accuracy']:.3f}",
            f"{p2['balanced_accuracy']:.3f} (after {p2['train_measured_epochs']} ep)",
            "",
            "",
        ],
        [
            f"3D {zyx}, {o3['n_objects']} objects: Objects / regionprops",
            f"{o3['objects_s']:.2f} s",
            f"{p3['t_regionprops']:.2f} s",
            f"{p3['t_regionprops'] / o3['objects_s']:.1f}x",
            "",
        ],
        [
            "  patch extraction + prediction of all objects",
            f"{o3['predict_s']:.2f} s",
            f"{p3['predict_s'] - p3['t_regionprops']:.2f} s",
            f"{(p3['predict_s'] - p3['t_regionprops']) / o3['predict_s']:.1f}x",
            "",
        ],
        [
            "  total (objects + patches + prediction)",
            f"{total3:.2f} s",
            f"{p3['predict_s']:.2f} s",
            f"{p3['predict_s'] / total3:.1f}x",
            "",
        ],
        [
            "  peak memory above image+mask+model",
            f"{o3['predict_mb']:.0f} MB",
            f"{p3['predict_mb']:.0f} MB",
            "",
            f"(image {o3['image_mb']:.0f} MB)",
        ],
        [
            "  patch shape (px)",
            "x".join(map(str, o3["patch"])),
            "x".join([str(2 * (p3["patch"] // 2))] * 3),
            "",
            "",
        ],
        [
            "  class image painting (not in the total)",
            f"{o3['paint_s']:.2f} s",
            f"{p3['paint_s']:.2f} s",
            f"{p3['paint_s'] / o3['paint_s']:.0f}x",
            "",
        ],
        [
            "  train light CNN, 100 annotated",
            f"{o3['train_s']:.1f} s ({o3['train_epochs']} ep, {o3['train_stopped']})",
            f"{p3['train_s']:.1f} s ({plugin_train3_note})",
            f"{p3['train_s'] / o3['train_s']:.1f}x",
            "",
        ],
        [
            "  balanced accuracy of the rest (sanity)",
            f"{o3['balanced_accuracy']:.3f}",
            f"{p3['balanced_accuracy']:.3f} (after {p3['train_measured_epochs']} ep)",
            "",
            "",
        ],
    ]
    notes = [
        f"2D plugin breakdown: regionprops {p2['t_regionprops']:.2f} s, "
        f"pad whole image (float) {p2['t_pad']:.2f} s, "
        f"per-object crop loop {p2['t_crop_loop']:.2f} s, CNN forward {p2['t_forward']:.2f} s.",
        f"Objects construction peak memory: {o2['objects_mb']:.0f} MB (2D), "
        f"{o3['objects_mb']:.0f} MB (3D); "
        f"image {o2['image_mb']:.0f} MB + mask {o2['mask_mb']:.0f} MB (2D).",
    ]
    if "table_s" in o2:
        notes.append(
            f"Per-object table (result.table, measuring every object; not in the total): "
            f"{o2['table_s']:.2f} s (2D), {o3.get('table_s', float('nan')):.2f} s (3D)."
        )
    if "patches_s" in o2:
        notes.append(
            f"2D ours breakdown: patch extraction alone {o2['patches_s']:.2f} s, "
            "network forward alone "
            f"{o2['forward_s']:.2f} s (estimated from 4096 patches)."
        )
    return text_table(["SPEED", "svetlana_nb", "plugin method", "speed-up", "target"], rows) + "\n" + "\n".join(notes)


def paired_gap(results: list[dict], name: str, k: int, method: str, other: str) -> tuple[float, float] | None:
    """Mean and standard error of ``method - other`` over the draws both were scored on."""
    by_seed = {
        m: {r["seed"]: r["bacc"] for r in results if r["set"] == name and r["n"] == k and r["method"] == m}
        for m in (method, other)
    }
    seeds = sorted(set(by_seed[method]) & set(by_seed[other]))
    if not seeds:
        return None
    diff = np.array([by_seed[method][s] - by_seed[other][s] for s in seeds])
    return float(diff.mean()), float(diff.std(ddof=1) / np.sqrt(len(diff))) if len(diff) > 1 else float("nan")


#: The references the default must match (``network_alone`` is shown, not compared).
REFERENCES = ("random_forest", "plugin")


def verdict(default_mean: float, reference_means: list[float], gap: tuple[float, float] | None) -> str:
    """Whether the default is at least as good as every reference.

    ``yes``: its mean is not below any; ``tie``: below the best by less than two standard
    errors of the paired gap (what another set of draws could reverse); ``NO`` otherwise.
    """
    if all(default_mean >= v - 1e-9 for v in reference_means):
        return "yes"
    if gap is not None and np.isfinite(gap[1]) and gap[0] + 2 * gap[1] >= 0:
        return "tie"
    return "NO"


def accuracy_table(results: list[dict], methods=("default", "network_alone", "random_forest", "plugin")) -> str:
    """Mean ± std over draws per method; whether the default is at least as good as each
    reference method (:func:`verdict`), and its paired gap to the strongest (mean ± standard
    error over the same draws)."""
    header = ["ACCURACY (balanced, non-annotated)", *methods, "default >= others?", "default - best other"]
    rows = []
    keys = sorted(
        {(r["set"], r["n"]) for r in results},
        key=lambda k: (ACCURACY_SETS.index(k[0]) if k[0] in ACCURACY_SETS else 9, k[1]),
    )
    for name, k in keys:
        cells, means = [], {}
        for m in methods:
            vals = np.array([r["bacc"] for r in results if r["set"] == name and r["n"] == k and r["method"] == m])
            if len(vals) == 0:
                cells.append("-")
                continue
            means[m] = vals.mean()
            cells.append(f"{vals.mean():.3f} ± {vals.std():.3f} (n={len(vals)})")
        ok, gap_text = "", ""
        others = {m: v for m, v in means.items() if m in REFERENCES}
        if "default" in means and others:
            best = max(others, key=others.get)
            gap = paired_gap(results, name, k, "default", best)
            ok = verdict(means["default"], list(others.values()), gap)
            if gap is not None:
                gap_text = f"{gap[0]:+.3f} ± {gap[1]:.3f} ({best})"
        rows.append([f"{name}, {k} annotated", *cells, ok, gap_text])
    return text_table(header, rows)


def environment() -> str:
    import hashlib

    import torch

    import svetlana_nb.data as data

    load = os.getloadavg() if hasattr(os, "getloadavg") else ("?",)
    sources = b"".join(p.read_bytes() for p in sorted(Path(data.__file__).parent.glob("*.py")))
    data_hash = hashlib.md5(sources).hexdigest()[:8]
    return (
        f"machine: {platform.processor() or platform.machine()}, {os.cpu_count()} CPU(s), torch "
        f"{torch.__version__} ({torch.get_num_threads()} threads), numpy {np.__version__}; "
        f"sv.data {data_hash}; load average {tuple(round(x, 2) for x in load)}"
    )


def main(argv=None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--quick", action="store_true", help="tiny sizes, few epochs: a smoke run")
    parser.add_argument(
        "--only",
        choices=("speed", "interleaved", "accuracy"),
        help="run one part only (interleaved: the speed part's rounds against the plugin, 2 and 10 "
        "classes, without the per-case runs and the plugin's training)",
    )
    parser.add_argument("--rounds", type=int, default=None, help="interleaved speed rounds (default 4; quick 1)")
    parser.add_argument(
        "--seeds",
        type=int,
        default=None,
        help="annotation draws per case (default: ACCURACY_DRAWS, 20 per 2D set, 5 in 3D; quick 1)",
    )
    parser.add_argument(
        "--plugin-epochs",
        type=int,
        default=None,
        help="the plugin's fixed epochs (default 1000, its widget's default; quick 3)",
    )
    parser.add_argument(
        "--plugin-accuracy-epochs",
        type=int,
        default=None,
        help="the plugin's epochs in the accuracy runs (default 300: under its StepLR(100, 0.1) "
        "the learning rate is <= 1e-5 after epoch 300, later epochs change nothing "
        "measurable; quick 3)",
    )
    parser.add_argument(
        "--plugin-timing-epochs",
        type=int,
        default=None,
        help="epochs actually run when timing the plugin's training on the large images; "
        "the time is extrapolated to --plugin-epochs (default: all of them in 2D, 50 in 3D)",
    )
    parser.add_argument(
        "--repeat",
        type=int,
        default=None,
        help="prediction runs per speed case, the fastest is kept (default 3; quick 1)",
    )
    parser.add_argument("--threads", type=int, help="torch threads (default: torch's, one per core)")
    parser.add_argument("--json", type=Path, help="also write every figure to this JSON file")
    parser.add_argument("--worker", help=argparse.SUPPRESS)
    args = parser.parse_args(argv)
    if args.threads:
        os.environ["OMP_NUM_THREADS"] = str(args.threads)  # inherited by the speed workers
        import torch

        torch.set_num_threads(args.threads)

    if args.worker:
        job = json.loads(args.worker)
        sizes = {k: {"shape": tuple(v["shape"]), "n_objects": v["n_objects"]} for k, v in job["sizes"].items()}
        result = WORKERS[job["kind"]](job["case"], sizes, job["opts"])
        print(RESULT_PREFIX + json.dumps(result), flush=True)
        return 0

    sizes = QUICK if args.quick else FULL
    seeds = args.seeds or (1 if args.quick else ACCURACY_DRAWS)
    plugin_epochs = args.plugin_epochs or (3 if args.quick else 1000)
    opts = {"plugin_epochs": plugin_epochs, "repeat": args.repeat or (1 if args.quick else 3)}
    if args.quick:
        opts["fit_options"] = {"epochs": 3}  # a smoke run: the figures are not meaningful
    print(
        "svetlana_nb engine benchmark"
        + (" (--quick: tiny sizes, 3 epochs; figures not meaningful)" if args.quick else "")
    )
    print(environment(), flush=True)
    report = {"environment": environment(), "quick": args.quick}

    if args.only in (None, "speed"):
        print("\nspeed: each case in a fresh process ...", flush=True)
        o2 = run_worker("ours", "large_2d", sizes, dict(opts, breakdown=True), args.quick)
        print(
            f"  ours 2D done ({o2['objects_s'] + o2['predict_s']:.1f} s objects+predict)",
            flush=True,
        )
        p2 = run_worker(
            "plugin",
            "large_2d",
            sizes,
            dict(opts, plugin_timing_epochs=args.plugin_timing_epochs or plugin_epochs),
            args.quick,
        )
        print(f"  plugin 2D done ({p2['predict_s']:.1f} s predict)", flush=True)
        o3 = run_worker("ours", "large_3d", sizes, opts, args.quick)
        print(
            f"  ours 3D done ({o3['objects_s'] + o3['predict_s']:.1f} s objects+predict)",
            flush=True,
        )
        p3 = run_worker(
            "plugin",
            "large_3d",
            sizes,
            dict(opts, plugin_timing_epochs=args.plugin_timing_epochs or min(plugin_epochs, 50)),
            args.quick,
        )
        print(f"  plugin 3D done ({p3['predict_s']:.1f} s predict)", flush=True)
        report["speed"] = {"ours_2d": o2, "plugin_2d": p2, "ours_3d": o3, "plugin_3d": p3}
        print()
        print(speed_table(o2, p2, o3, p3, sizes), flush=True)

    if args.only in (None, "speed", "interleaved"):
        rounds = args.rounds or (1 if args.quick else 4)
        print(f"\nspeed, interleaved rounds: {rounds} per case, each case in a fresh process ...", flush=True)
        pairs = {}
        for case in CASES:
            pairs[case] = run_worker("interleaved", case, sizes, dict(opts, rounds=rounds), args.quick)
            print(f"  {case} done", flush=True)
        report.setdefault("speed", {})["interleaved"] = pairs
        print(interleaved_table(pairs), flush=True)

    if args.only in (None, "accuracy"):
        counts = (20,) if args.quick else (20, 100)
        accuracy_epochs = args.plugin_accuracy_epochs or (3 if args.quick else 300)
        print(
            f"\naccuracy: {seeds} draw(s), {counts} annotated, plugin {accuracy_epochs} epochs ...",
            flush=True,
        )
        results = accuracy_runs(sizes, seeds, counts, dict(opts, plugin_epochs=accuracy_epochs))
        report["accuracy"] = results
        print()
        print(accuracy_table(results), flush=True)

    print("\n" + environment())
    if args.json:
        args.json.write_text(json.dumps(report, indent=1, default=str))
    return 0


if __name__ == "__main__":
    sys.exit(main())
