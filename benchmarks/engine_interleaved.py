"""The engine benchmark's interleaved speed rounds: ours against the plugin's method, one process.

:mod:`benchmarks.bench_engine` runs these (``--only interleaved`` runs them alone). Each case
is an 8000 x 8000 image: the 2-class nuclei (``large_2d``, 100 annotations) and the 10-class
textures (``textures_2d``, 200 annotations: the network is unsure of most objects, so the
second opinion is consulted on most of them). Round after round, one right after the other so
that a slow spell of a shared machine hits all three: the plugin's prediction, then ours
(default, with the second opinion) and ours with the network alone, taking turns to go first.
Each of ours includes building the ``Objects`` (the plugin's includes its ``regionprops``).
"""

from __future__ import annotations

import time

import numpy as np

#: The interleaved cases: demo set, annotations, label for the tables.
CASES = {
    "large_2d": {"annotations": 100, "title": "2 classes"},
    "textures_2d": {"annotations": 200, "title": "10 classes"},
}


def worker_interleaved(case: str, sizes: dict, opts: dict) -> dict:
    """Both methods' objects + patches + prediction, alternated round after round in one process.

    Ours is trained with its defaults (to its plateau): how many objects get the forest's
    second opinion depends on how sure the network is. The plugin's network is trained for
    one epoch: its prediction time does not depend on its weights.

    Returns
    -------
    dict
        ``ours_s``, ``alone_s``, ``plugin_s`` (one time per round), ``unsure`` (the share of
        objects the second opinion was consulted on), ``n_objects``, ``n_classes``, ``annotations``.
    """
    import svetlana_nb as sv
    from benchmarks.bench_engine import annotations_of, demo_set, draw, truth_index
    from benchmarks.plugin_method import PluginMethod

    demo = demo_set(case, sizes)
    objects = sv.Objects(demo.image, demo.mask, channel_axis=demo.channel_axis)
    truth = truth_index(demo, objects.labels)
    k = min(CASES.get(case, {}).get("annotations", 100), len(objects) - 1)
    rows = draw(objects.labels, truth, k, np.random.default_rng(0))
    clf = sv.Classifier(objects, seed=0)
    clf.fit(annotations_of(objects, demo, rows), **opts.get("fit_options", {}))
    network = clf.network_proba(objects)
    settings = clf.second_opinion
    assert settings is not None
    method = PluginMethod(
        demo.image, demo.mask, channel_axis=demo.channel_axis, n_classes=len(demo.class_names), epochs=1
    )
    method.fit(objects.labels[rows], truth[rows])
    times: dict[str, list[float]] = {"plugin_s": [], "ours_s": [], "alone_s": []}
    for round_ in range(opts.get("rounds", 4)):
        start = time.perf_counter()
        method.predict()
        times["plugin_s"].append(time.perf_counter() - start)
        # ours and the network alone take turns right after the plugin (which leaves the most
        # memory to hand back): neither always pays for it
        order = [("ours_s", settings), ("alone_s", None)]
        for key, opinion in order if round_ % 2 == 0 else order[::-1]:
            clf.second_opinion = opinion
            start = time.perf_counter()
            clf.predict(sv.Objects(demo.image, demo.mask, channel_axis=demo.channel_axis))
            times[key].append(time.perf_counter() - start)
        clf.second_opinion = settings
    return {
        **times,
        "unsure": float(len(settings.consulted(network)) / len(objects)),
        "n_objects": len(objects),
        "n_classes": len(demo.class_names),
        "annotations": int(k),
    }


def interleaved_line(result: dict) -> str:
    """One line: median times, their ranges, and the range of the per-round speed-ups."""
    ours, plugin = np.array(result["ours_s"]), np.array(result["plugin_s"])
    ratio = plugin / ours
    line = (
        f"interleaved in one process, {len(ours)} rounds (objects + patches + prediction): "
        f"plugin median {np.median(plugin):.2f} s ({plugin.min():.2f}-{plugin.max():.2f}), "
        f"ours median {np.median(ours):.2f} s ({ours.min():.2f}-{ours.max():.2f}); "
        f"ratio per round {ratio.min():.1f}x-{ratio.max():.1f}x (median {np.median(ratio):.1f}x)"
    )
    if "alone_s" in result:
        alone = np.array(result["alone_s"])
        line += (
            f"; network alone median {np.median(alone):.2f} s ({alone.min():.2f}-{alone.max():.2f}), "
            f"ratio median {np.median(plugin / alone):.1f}x; second opinion consulted on "
            f"{100 * result['unsure']:.0f} % of {result['n_objects']} objects, ours/alone per round median "
            f"{np.median(ours / alone):.2f}"
        )
    return line


def interleaved_table(results: dict[str, dict]) -> str:
    """The interleaved cases, one line each, titled by their case."""
    lines = []
    for case, result in results.items():
        title = CASES.get(case, {}).get("title", case)
        lines.append(f"2D {title} ({case}, {result.get('annotations', '?')} annotated): {interleaved_line(result)}")
    return "\n".join(lines)
