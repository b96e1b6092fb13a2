"""GPU benchmark: the figures a Colab or JupyterHub user meets on a CUDA GPU.

Times, on the device given (CUDA by default):

- **predict-all**: every object of the 8000 x 8000 image with ~16,000 objects
  (``sv.data.large_2d``), the default classifier (network and second opinion), fastest of
  ``--repeat`` runs, the device synchronised;
- **train**: the light CNN on 100 annotated objects to its validation plateau (defaults);
- **train 3D**: the same on the 256 x 512 x 512 volume with ~2,000 objects (``sv.data.large_3d``);

each in float32 and in mixed precision (bfloat16 from compute capability 8.0, float16 with a
gradient scaler below: :func:`svetlana_nb.models.devices.cuda_half_dtype`). Targets on a recent
datacenter GPU: predict-all under 0.15 s, training under 3 s.

Usage::

    python -m benchmarks.bench_gpu                    # on the CUDA GPU (says so and stops without one)
    python -m benchmarks.bench_gpu --device cpu --quick   # a smoke run of the code path
"""

from __future__ import annotations

import argparse
import sys
import time

import numpy as np
import torch

import svetlana_nb as sv

from .bench_engine import FULL, QUICK, annotations_of, balanced_accuracy, speed_draw

TARGETS = {"predict-all": 0.15, "train": 3.0}


def _sync(device: torch.device) -> None:
    if device.type == "cuda":
        torch.cuda.synchronize(device)


def run_case(case: str, sizes: dict, device: torch.device, mixed: bool, repeat: int, epochs: int | None) -> dict:
    """Train on 100 annotations, then predict every object; seconds of each, device synchronised."""
    demo = getattr(sv.data, case)(**sizes[case])
    objects = sv.Objects(demo.image, demo.mask, channel_axis=demo.channel_axis)
    truth, rows = speed_draw(demo, objects)
    annotations = annotations_of(objects, demo, rows)
    clf = sv.Classifier(objects, device=str(device), seed=0)
    fit_options = {"mixed_precision": mixed, **({"epochs": epochs} if epochs else {})}
    _sync(device)
    start = time.perf_counter()
    history = clf.fit(annotations, **fit_options)
    _sync(device)
    train_s = time.perf_counter() - start
    clf.predict(objects)  # warm-up: kernels chosen, memory pools filled
    seconds = []
    for _ in range(repeat):
        _sync(device)
        start = time.perf_counter()
        result = clf.predict(objects)
        _sync(device)
        seconds.append(time.perf_counter() - start)
    rest = np.setdiff1d(np.arange(len(objects)), rows)
    return {
        "objects": len(objects),
        "train_s": train_s,
        "epochs": len(history.epoch),
        "predict_s": min(seconds),
        "balanced_accuracy": balanced_accuracy(truth[rest], result.class_index[rest]),
    }


def main(argv: list[str] | None = None) -> int:
    """Print one row per case and precision, and the targets."""
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--device", default="cuda", help="cuda (default), cuda:N, or cpu for a smoke run")
    parser.add_argument("--quick", action="store_true", help="tiny sizes and 3 epochs: a smoke run")
    parser.add_argument("--repeat", type=int, default=3, help="prediction runs, the fastest is kept")
    args = parser.parse_args(argv)
    device = torch.device(args.device)
    if device.type == "cuda" and not torch.cuda.is_available():
        print("bench_gpu: no CUDA GPU on this machine; nothing measured (use --device cpu for a smoke run)")
        return 0  # not a failure: run_all runs every benchmark, GPU or not
    sizes = QUICK if args.quick else FULL
    name = torch.cuda.get_device_name(device) if device.type == "cuda" else "CPU"
    print(f"GPU benchmark on {name} (torch {torch.__version__})\n")
    print("| case | precision | objects | training (s) | epochs | predict-all (s) | balanced accuracy |")
    print("|---|---|---|---|---|---|---|")
    for case, label in (("large_2d", "2D, 8000 x 8000"), ("large_3d", "3D, 256 x 512 x 512")):
        for mixed in (False, True):
            if mixed and device.type != "cuda":
                continue  # mixed precision is a GPU path
            r = run_case(case, sizes, device, mixed, args.repeat, 3 if args.quick else None)
            precision = "mixed" if mixed else "float32"
            print(
                f"| {label} | {precision} | {r['objects']} | {r['train_s']:.2f} | {r['epochs']} | "
                f"{r['predict_s']:.3f} | {r['balanced_accuracy']:.3f} |",
                flush=True,
            )
    print(f"\ntargets (2D): predict-all < {TARGETS['predict-all']} s, training < {TARGETS['train']} s")
    return 0


if __name__ == "__main__":
    sys.exit(main())
