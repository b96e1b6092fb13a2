"""Where prediction time goes, and what the faster alternatives give (not run by run_all.py).

Compares, on the same trained network and the same objects, ``Classifier.predict`` as it is
with a prediction loop built from the changes proposed for the core:

- **window gather**: crops taken from ``numpy.lib.stride_tricks.sliding_window_view`` (a view,
  no copy) indexed by the crop corners, instead of broadcast fancy indexing; objects whose crop
  leaves the image fall back to the current code. Bit-identical patches.
- **channels_last** memory format for the network and its input (oneDNN's fast path on CPU).
- **batch size** of the forward (small batches keep the activations in cache; 3D batches
  must be small or the first convolution's output is GBs).
- **bf16 autocast** on CPUs with AVX-512 BF16 / AMX (kept when the predicted classes agree).

Each configuration is run ``--repeat`` times interleaved with the others, the fastest kept
(the machine is shared). Usage::

    python benchmarks/explore_speed.py                 # 8000x8000 2D and 256x512x512 3D
    python benchmarks/explore_speed.py --quick
"""

from __future__ import annotations

import argparse
import sys
import time
from pathlib import Path

import numpy as np

HERE = Path(__file__).resolve().parent
sys.path.insert(0, str(HERE))
sys.path.insert(0, str(HERE.parent))

import bench_engine as be  # noqa: E402


def window_patches(objects, rows, shape, ranges, out=None) -> np.ndarray:
    """Patches like ``Objects.patches`` (normalised image channels + object mask), gathered from
    a sliding-window view of each image; bit-identical to the current code."""
    from numpy.lib.stride_tricks import sliding_window_view

    from svetlana_nb import patches as _patches

    shape = tuple(int(s) for s in shape)
    nd = len(shape)
    n_ch = objects.n_channels
    out = np.empty((len(rows), n_ch + 1, *shape), np.float32) if out is None else out
    for i in np.unique(objects.image_index[rows]):
        sel = np.flatnonzero(objects.image_index[rows] == i)
        image, mask = objects.images[i], objects.masks[i]
        starts = objects.centres[rows[sel]] - np.array(shape) // 2
        limit = np.array(mask.shape) - np.array(shape)
        inside = np.all((starts >= 0) & (starts <= limit), axis=1)
        low = ranges[i][:, 0].astype(np.float32)
        scale = (1.0 / (ranges[i][:, 1] - ranges[i][:, 0])).astype(np.float32)
        win_image = sliding_window_view(image, shape, axis=tuple(range(nd)))  # (*pos, C, *shape)
        win_mask = sliding_window_view(mask, shape)  # (*pos, *shape)
        good = sel[inside]
        for b in range(0, len(good), 2048):
            part = good[b : b + 2048]
            corner = tuple((objects.centres[rows[part]] - np.array(shape) // 2).T)
            crops = win_image[corner].astype(
                np.float32
            )  # (m, C, *shape): a copy of just these crops
            crops -= low.reshape((1, n_ch) + (1,) * nd)
            crops *= scale.reshape((1, n_ch) + (1,) * nd)
            out[part, :n_ch] = crops
            out[part, n_ch] = win_mask[corner] == objects.labels[rows[part]].reshape(
                (-1,) + (1,) * nd
            )
        bad = sel[~inside]
        if len(bad):
            _patches.extract_into(
                out,
                bad,
                image,
                mask,
                objects.centres[rows[bad]],
                objects.labels[rows[bad]],
                ranges[i],
                shape,
            )
    return out


def fast_predict(
    clf,
    objects,
    *,
    batch_size: int,
    channels_last: bool,
    bf16: bool,
    window: bool,
    chunk: int = 4096,
) -> np.ndarray:
    """Class probabilities with the proposed prediction loop."""
    import torch

    network = clf.network.eval()
    fmt = torch.channels_last_3d if objects.spatial_ndim == 3 else torch.channels_last
    network = network.to(memory_format=fmt if channels_last else torch.contiguous_format)
    rows = np.arange(len(objects))
    ranges = objects.channel_ranges(clf.normalization)
    out = np.empty((len(rows), clf.n_classes), np.float32)
    with torch.inference_mode():
        for begin in range(0, len(rows), chunk):
            part = rows[begin : begin + chunk]
            x = (
                window_patches(objects, part, clf.patch_shape, ranges)
                if window
                else clf.patches(objects, part)
            )
            x = torch.from_numpy(x)
            for b in range(0, len(x), batch_size):
                xb = x[b : b + batch_size]
                if channels_last:
                    xb = xb.contiguous(memory_format=fmt)
                with torch.autocast("cpu", dtype=torch.bfloat16, enabled=bf16):
                    logits = network(xb)
                out[begin + b : begin + b + len(xb)] = torch.softmax(logits.float(), 1).numpy()
    network.to(memory_format=torch.contiguous_format)
    return out


def main(argv=None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--quick", action="store_true")
    parser.add_argument("--repeat", type=int, default=3)
    parser.add_argument("--cases", nargs="+", default=["large_2d", "large_3d"])
    parser.add_argument(
        "--plugin", action="store_true", help="also time the plugin's prediction, interleaved"
    )
    parser.add_argument(
        "--patch-scale",
        type=float,
        default=None,
        help="also time the proposal with the 2D patch side scaled by this factor",
    )
    args = parser.parse_args(argv)
    import torch

    import svetlana_nb as sv
    from svetlana_nb.devices import cpu_supports_bf16

    sizes = be.QUICK if args.quick else be.FULL
    print(be.environment())
    for case in args.cases:
        demo = be._demo(case, sizes)
        t = time.perf_counter()
        objects = sv.Objects(demo.image, demo.mask, channel_axis=demo.channel_axis)
        print(
            f"\n{case}: {demo.image.shape}, {len(objects)} objects, patch {objects.patch_shape}; "
            f"Objects {time.perf_counter() - t:.2f} s"
        )
        truth = be._truth_index(demo, objects.labels)
        rows = be._draw(objects.labels, truth, min(100, len(objects) - 1), np.random.default_rng(0))
        clf = sv.Classifier(objects)
        clf.fit(be._annotations(objects, demo, rows), epochs=5)
        ranges = objects.channel_ranges(clf.normalization)
        all_rows = np.arange(len(objects))
        # patch extraction alone
        reference = clf.patches(objects, all_rows[:4096])
        same = np.array_equal(
            reference, window_patches(objects, all_rows[:4096], clf.patch_shape, ranges)
        )
        timing: dict[str, float] = {}
        memory: dict[str, float] = {}
        bf16 = cpu_supports_bf16()
        is3d = objects.spatial_ndim == 3
        configs = {
            "current Classifier.predict": None,
            "patches: current gather (all objects)": "patches_current",
            "patches: window gather (all objects)": "patches_window",
            "window + fp32, bs 1024": dict(
                batch_size=1024, channels_last=False, bf16=False, window=True
            ),
            "window + channels_last fp32, bs 1024": dict(
                batch_size=1024, channels_last=True, bf16=False, window=True
            ),
            "window + channels_last fp32, bs 256": dict(
                batch_size=256, channels_last=True, bf16=False, window=True
            ),
            "window + channels_last fp32, bs 128": dict(
                batch_size=128, channels_last=True, bf16=False, window=True
            ),
            "window + channels_last bf16, bs 256": dict(
                batch_size=256, channels_last=True, bf16=bf16, window=True
            ),
            "window + channels_last bf16, bs 128": dict(
                batch_size=128, channels_last=True, bf16=bf16, window=True
            ),
            "window + fp32, bs 64": dict(
                batch_size=64, channels_last=False, bf16=False, window=True
            ),
            "window + channels_last fp32, bs 64": dict(
                batch_size=64, channels_last=True, bf16=False, window=True
            ),
            "window + channels_last bf16, bs 64": dict(
                batch_size=64, channels_last=True, bf16=bf16, window=True
            ),
            "window + channels_last fp32, bs 16": dict(
                batch_size=16, channels_last=True, bf16=False, window=True
            ),
        }
        if not is3d:
            configs.pop("window + channels_last fp32, bs 16")
        # the proposal: first-convolution activations of a batch kept under 32 MB
        voxels = int(np.prod(objects.patch_shape))
        proposed_bs = int(max(8, min(512, 2 ** int(np.log2(32 * 2**20 / (16 * 4 * voxels))))))
        proposed = dict(
            batch_size=proposed_bs,
            channels_last=True,
            bf16=bf16,
            window=True,
            chunk=max(256, 2**22 // voxels),
        )
        configs[f"PROPOSED: window, chunked by size, channels_last, bf16, bs {proposed_bs}"] = (
            proposed
        )
        small = None
        if args.patch_scale and not is3d:
            side = int(round(objects.patch_shape[-1] * args.patch_scale / 4)) * 4
            small = sv.Classifier(objects, patch_size=side)
            small.fit(be._annotations(objects, demo, rows), epochs=5)
            configs[f"PROPOSED with a {side}-px patch (margin x{args.patch_scale:g})"] = (
                "small",
                dict(proposed, batch_size=proposed_bs),
            )
        plugin = None
        if args.plugin:
            from plugin_method import PluginMethod

            plugin = PluginMethod(
                demo.image,
                demo.mask,
                channel_axis=demo.channel_axis,
                n_classes=len(demo.class_names),
            )
            plugin.fit(objects.labels[rows], truth[rows], epochs=2)
            configs["plugin method (regionprops + pad + crop loop + forward)"] = "plugin"
        baseline = clf.predict_proba(objects)
        agree: dict[str, float] = {}
        for _ in range(args.repeat):
            for name, config in configs.items():
                with be.PeakRSS() as m:
                    if config is None:
                        p = clf.predict_proba(objects)
                    elif config == "patches_current":
                        for b in range(0, len(objects), 4096):
                            clf.patches(objects, all_rows[b : b + 4096])
                        p = None
                    elif config == "patches_window":
                        for b in range(0, len(objects), 4096):
                            window_patches(objects, all_rows[b : b + 4096], clf.patch_shape, ranges)
                        p = None
                    elif config == "plugin":
                        plugin.predict()
                        p = None
                    elif isinstance(config, tuple):
                        p = fast_predict(small, objects, **config[1])
                        p = None  # another network: classes not comparable
                    else:
                        p = fast_predict(clf, objects, **config)
                timing[name] = min(timing.get(name, np.inf), m.seconds)
                memory[name] = max(memory.get(name, 0.0), m.delta_mb)
                if p is not None:
                    agree[name] = float((p.argmax(1) == baseline.argmax(1)).mean())
        base = timing["current Classifier.predict"]
        rows_out = [
            [
                name,
                f"{timing[name]:.2f} s",
                f"{base / timing[name]:.1f}x",
                f"{memory[name]:.0f} MB",
                f"{agree[name]:.4f}" if name in agree else "",
            ]
            for name in configs
        ]
        print(
            be._table(
                [
                    f"{case} ({torch.get_num_threads()} threads)",
                    "wall (best)",
                    "vs current",
                    "peak RSS above",
                    "classes agree",
                ],
                rows_out,
            )
        )
        print(
            f"window-gather patches identical to the current ones: {same}; bf16 available: {bf16}"
        )
    return 0


if __name__ == "__main__":
    sys.exit(main())
