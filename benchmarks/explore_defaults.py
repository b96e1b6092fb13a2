"""Try alternatives to the default classifier's options on the demo sets (not run by run_all.py).

Each variant is ``sv.Classifier(objects, **options)`` with public options only; the accuracy is
the balanced accuracy on the objects not annotated, for random draws of 20 and 100 annotated
objects (the same draws as ``bench_engine.py``). Used to choose the core's defaults.

Usage::

    python -m benchmarks.explore_defaults --variants default context3 minmax --seeds 3
    python -m benchmarks.explore_defaults --sets infected_cells_2d --variants default random_forest \
        --seeds 15 --image-channels 1
    python -m benchmarks.explore_defaults --sets cells_2d --variants default full_resolution --magnify 3
    python -m benchmarks.explore_defaults --list
"""

from __future__ import annotations

import argparse
import json
import sys
from pathlib import Path

from benchmarks import bench_engine as be


def variants() -> dict[str, dict]:
    import svetlana_nb as sv

    aug = sv.Augmentation
    return {
        "default": {},
        "random_forest": {"model": "random_forest"},
        "network_alone": {"second_opinion": None},
        "forest_weight0.3": {"second_opinion": sv.SecondOpinion(weight=0.3)},
        "forest_weight0.7": {"second_opinion": sv.SecondOpinion(weight=0.7)},
        "context0": {"context": 0},
        "context2": {"context": 2},
        "context4": {"context": 4},
        "context8": {"context": 8},
        "minmax": {"normalization": "minmax"},
        "nonorm": {"normalization": "none"},
        "aug_geometric": {"augmentation": aug(intensity=0.0, blur=0.0)},
        "aug_none": {"augmentation": aug.none()},
        "aug_noblur": {"augmentation": aug(blur=0.0)},
        "aug_weak_int": {"augmentation": aug(intensity=0.03)},
        "lr1e-2": {"lr": 1e-2},
        "lr1e-3": {"lr": 1e-3},
        "bs8": {"batch_size": 8},
        "bs16": {"batch_size": 16},
        "bs64": {"batch_size": 64},
        "noval": {"val_fraction": 0.0},
        "val_min20": {"min_val_annotations": 20},
        "patience10": {"patience": 10},
        "patience15": {"patience": 15},
        "epochs100": {"epochs": 100},
        "epochs150": {"epochs": 150},
        "nosmooth": {"label_smoothing": 0.0},
        "smooth0.15": {"label_smoothing": 0.15},
        "wd0": {"weight_decay": 0.0},
        "wd1e-2": {"weight_decay": 1e-2},
        "deep": {"model": "light_cnn_deep"},
        "resnet": {"model": "resnet"},
        "full_resolution": {"downscale": 1},
        "patch_small": {"patch_size": "x0.75"},
        "patch_large": {"patch_size": "x1.4"},
        "sched_none": {"lr_schedule": "none"},
    }


def main(argv=None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--variants", nargs="+", default=["default"])
    parser.add_argument("--sets", nargs="+", default=list(be.ACCURACY_SETS))
    parser.add_argument("--counts", nargs="+", type=int, default=[20, 100])
    parser.add_argument("--seeds", type=int, default=3)
    parser.add_argument("--threads", type=int, default=1)
    parser.add_argument("--json", type=Path)
    parser.add_argument("--list", action="store_true")
    parser.add_argument(
        "--image-channels",
        nargs="+",
        type=int,
        help="keep only these channels of the multichannel sets (e.g. 1: the spots)",
    )
    parser.add_argument(
        "--magnify", type=int, default=1, help="repeat every pixel this many times along Y and X (large objects)"
    )
    parser.add_argument(
        "--extra",
        type=json.loads,
        default={},
        help='extra variants as JSON: {"name": {"option": value}}',
    )
    args = parser.parse_args(argv)
    import torch

    torch.set_num_threads(args.threads)
    table = {**variants(), **args.extra}
    if args.list:
        for name, options in table.items():
            print(f"{name:<16} {options}")
        return 0
    results = []
    for name in args.sets:
        for variant in args.variants:
            options = dict(table[variant])
            per_set = {}
            if isinstance(options.get("patch_size"), str):  # relative to the objects' own estimate
                import svetlana_nb as sv

                demo = be.demo_set(name, be.FULL)
                if args.magnify > 1:
                    demo = be.magnified(demo, args.magnify)
                base = sv.Objects(demo.image, demo.mask, channel_axis=demo.channel_axis).patch_shape
                factor = float(options["patch_size"][1:])
                per_set["patch_size"] = tuple(max(4, int(round(s * factor / 4)) * 4) for s in base)
                options.pop("patch_size")
            opts = {"variants": {variant: {**options, **per_set}}}
            methods = (variant,)
            results += be.accuracy_runs(
                be.FULL,
                args.seeds,
                tuple(args.counts),
                opts,
                sets=(name,),
                methods=methods,
                image_channels=args.image_channels,
                magnify=args.magnify,
            )
    print()
    print(be.accuracy_table(results, methods=tuple(args.variants)))
    if args.json:
        args.json.write_text(json.dumps(results, indent=1))
    return 0


if __name__ == "__main__":
    sys.exit(main())
