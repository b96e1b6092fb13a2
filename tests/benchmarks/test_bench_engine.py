"""Smoke test of the engine benchmark: ``python -m benchmarks.bench_engine --quick`` runs and prints its tables."""

from __future__ import annotations

import numpy as np
import pytest
from helpers import run_benchmark


@pytest.mark.timeout(120)
def test_bench_engine_quick_prints_tables():
    out = run_benchmark("bench_engine", "--quick", "--threads", "1", timeout=110)
    for expected in (
        "SPEED",
        "svetlana_nb",
        "plugin method",
        "patch extraction + prediction",
        "train light CNN, 100 annotated",
        "ACCURACY",
        "random_forest",
        "network_alone",
        "cells_2d, 20 annotated",
        "infected_cells_2d, 20 annotated",
        "cells_3d, 20 annotated",
        "default - best other",
    ):
        assert expected in out, f"{expected!r} missing from the benchmark's output:\n{out[-3000:]}"
    assert out.count("+-") >= 4  # two bordered tables


def test_plugin_method_reproduces_the_plugin():
    import numpy as np
    import torch

    from benchmarks.plugin_method import (
        PluginCNN,
        count_parameters,
        crop_patch,
        estimate_patch_size,
        prepare_image,
    )

    # the paper's network: ~3k parameters for a grey image (3 stacked channels + mask), 2 classes
    assert count_parameters(PluginCNN(2, 4)) == 3010
    out = PluginCNN(2, 4)(torch.rand(3, 4, 32, 32))
    assert torch.allclose(out.sum(1), torch.ones(3))  # it ends with a softmax, as the plugin
    mask = np.zeros((40, 40), np.int32)
    mask[5:15, 5:25] = 7  # largest object: 20 px wide -> 1.4 x 20 = 28
    mask[30:34, 30:34] = 2
    assert estimate_patch_size(mask) == 28
    image = np.arange(1600, dtype=np.uint16).reshape(40, 40)
    pad_image, pad_labels = prepare_image(image, mask, 28)
    assert pad_image.shape == (40 + 2 * 15, 40 + 2 * 15, 3) and pad_image.dtype == np.float32
    patch = crop_patch(pad_image, pad_labels, (9.5, 14.5), 7, 14)
    assert patch.shape == (4, 28, 28) and patch.dtype == np.float32
    assert patch[:3].min() == 0 and patch[:3].max() == 1  # min-max over the crop
    assert patch[3].sum() == 10 * 20  # the object's mask as the last channel


def test_paired_gap_pairs_draws_by_seed():
    from benchmarks.bench_engine import paired_gap

    rows = [
        {"set": "s", "n": 20, "seed": seed, "method": m, "bacc": v}
        for seed, (a, b) in enumerate([(0.90, 0.80), (0.70, 0.70), (0.95, 0.85)])
        for m, v in (("default", a), ("random_forest", b))
    ]
    rows.append({"set": "s", "n": 20, "seed": 9, "method": "default", "bacc": 0.0})  # no partner: ignored
    mean, se = paired_gap(rows, "s", 20, "default", "random_forest")
    assert abs(mean - 0.2 / 3) < 1e-12
    assert abs(se - (np.std([0.1, 0.0, 0.1], ddof=1) / np.sqrt(3))) < 1e-12


def test_accuracy_table_compares_the_default_with_the_references_only():
    from benchmarks.bench_engine import accuracy_table

    scores = {"default": 0.95, "network_alone": 0.97, "random_forest": 0.94, "plugin": 0.90}
    rows = [
        {"set": "cells_2d", "n": 20, "seed": seed, "method": m, "bacc": v + 0.01 * seed}
        for seed in range(2)
        for m, v in scores.items()
    ]
    line = next(t for t in accuracy_table(rows).splitlines() if "cells_2d, 20" in t)
    assert "yes" in line and "(random_forest)" in line  # the network alone is shown, not a reference
    assert "0.975 ± 0.005 (n=2)" in line
    rows = [dict(r, bacc=0.99) if r["method"] == "plugin" else r for r in rows]
    line = next(t for t in accuracy_table(rows).splitlines() if "cells_2d, 20" in t)
    assert "NO" in line and "(plugin)" in line


def test_verdict_calls_a_gap_within_two_standard_errors_a_tie():
    from benchmarks.bench_engine import accuracy_table, verdict

    assert verdict(0.95, [0.94, 0.95], (0.0, 0.01)) == "yes"
    assert verdict(0.95, [0.96], (-0.01, 0.005)) == "tie"  # -0.01 + 2 x 0.005 = 0: within noise
    assert verdict(0.95, [0.96], (-0.01, 0.004)) == "NO"
    assert verdict(0.95, [0.96], (-0.01, float("nan"))) == "NO"  # one draw: no error estimate
    assert verdict(0.95, [0.96], None) == "NO"
    # a paired gap of -0.002 +- 0.003 over three draws: a tie in the table
    gaps = [0.001, -0.008, 0.001]
    rows = [
        {"set": "cells_2d", "n": 100, "seed": s, "method": m, "bacc": 0.99 + (g if m == "default" else 0)}
        for s, g in enumerate(gaps)
        for m in ("default", "plugin")
    ]
    line = next(t for t in accuracy_table(rows).splitlines() if "cells_2d, 100" in t)
    assert "tie" in line and "-0.002 ± 0.003 (plugin)" in line


def test_best_threshold_accuracy_finds_the_best_cut():
    from benchmarks.diagnose_scores import best_threshold_accuracy, log_odds

    truth = np.array([0, 0, 0, 1, 1])
    assert best_threshold_accuracy(truth, np.array([0.1, 0.2, 0.3, 0.8, 0.9])) == 1.0
    # one class-0 object scores above one class-1 object: the best cut misses exactly one of them
    best = best_threshold_accuracy(truth, np.array([0.1, 0.2, 0.85, 0.8, 0.9]))
    assert best == pytest.approx(max((1 + 0.5) / 2, (2 / 3 + 1) / 2))
    # a score ranking the classes the wrong way round: calling every object one class is best
    assert best_threshold_accuracy(truth, -np.arange(5.0)) == 0.5
    np.testing.assert_allclose(log_odds(np.array([[0.5, 0.5], [0.2, 0.8]])), [0.0, np.log(4.0)])


def test_measurement_models_find_the_deciding_measurement_and_pay_for_noise():
    from benchmarks.diagnose_scores import MEASUREMENT_SUBSETS, measurement_models

    rng = np.random.default_rng(0)
    truth = np.repeat([0, 1], 200)
    deciding = truth + rng.normal(0, 0.1, truth.size)  # separates the classes
    noise = rng.normal(0, 1, (truth.size, 2))
    values = np.column_stack([noise[:, 0], deciding, noise[:, 1]])
    names = ["area", "max_intensity_1", "max_intensity_0"]
    rows = np.concatenate([np.arange(0, 10), np.arange(200, 210)])
    rest = np.setdiff1d(np.arange(truth.size), rows)
    scores = measurement_models(values, names, truth, rows, rest, measurement="max_intensity_1")
    assert sorted(scores) == sorted(f"{m}, {s}" for m in ("logistic", "forest") for s in MEASUREMENT_SUBSETS)
    assert scores["logistic, the measurement"] > 0.99 and scores["forest, the measurement"] > 0.99
    # trained on the noise only, neither model can beat chance clearly
    only_noise = measurement_models(values, names, truth, rows, rest, measurement="area")
    assert only_noise["logistic, the measurement"] < 0.65 and only_noise["forest, the measurement"] < 0.65


@pytest.mark.timeout(120)
def test_bench_large_objects_quick_compares_shrunk_and_full_patches():
    out = run_benchmark("bench_large_objects", "--quick", "--threads", "1", timeout=110)
    table = [line for line in out.splitlines() if line.startswith("| ") and " px" in line]
    assert len(table) == 2, out[-3000:]
    assert "shrunk 2× to" in table[0] and "shrunk" not in table[1]
