"""Training never ends in a silently broken model: bad options, divergence, two fits, exit mid-fit."""

from __future__ import annotations

import subprocess
import sys
import textwrap
import threading

import numpy as np
import pytest
from helpers import ROOT, annotate

import svetlana_nb as sv
from svetlana_nb.models.config import TrainingConfig
from svetlana_nb.models.training import TrainingDivergedError


@pytest.mark.parametrize(
    ("option", "value"),
    [
        ("epochs", 2.5),
        ("epochs", "3"),
        ("epochs", True),
        ("batch_size", 2.5),
        ("weight_decay", -5),
        ("label_smoothing", 2),
        ("patience", -1),
        ("augmentation", "yes"),
        ("lr", float("inf")),
        ("lr", float("nan")),
        ("lr", 1e6),
        ("val_fraction", 1.5),
        ("early_stopping", "no"),
        ("seed", 1.5),
    ],
)
def test_a_training_option_of_the_wrong_type_or_range_is_refused_by_name(option, value):
    with pytest.raises(ValueError, match=f"^{option}: expected"):
        TrainingConfig().updated(**{option: value})


def _scene(scene_2d):
    image, mask, truth = scene_2d
    objects = sv.Objects(image, mask)
    return objects, annotate(objects, truth, 16)


def test_a_diverging_fit_raises_and_keeps_the_classifier_as_it_was(scene_2d):
    objects, annotations = _scene(scene_2d)
    clf = sv.Classifier(objects, epochs=3)
    history = clf.fit(annotations)
    before = clf.predict_proba()
    with pytest.raises(TrainingDivergedError, match="lower the learning rate"):
        clf.fit(annotations, lr=5.0, warm_start=True, epochs=5)
    assert clf.history is history
    np.testing.assert_array_equal(clf.predict_proba(), before)


def test_a_diverging_first_fit_leaves_the_classifier_untrained(scene_2d):
    objects, annotations = _scene(scene_2d)
    clf = sv.Classifier(objects)
    with pytest.raises(TrainingDivergedError, match="epoch"):
        clf.fit(annotations, lr=5.0, epochs=5)
    assert not clf.is_fitted
    assert clf.history is None


def test_a_second_fit_while_one_runs_is_refused_and_the_first_completes(scene_2d):
    objects, annotations = _scene(scene_2d)
    clf = sv.Classifier(objects, second_opinion=None)
    started = threading.Event()
    release = threading.Event()

    class Hold(sv.Callback):
        def on_epoch_end(self, epoch, metrics):
            started.set()
            release.wait(60)

    job = clf.fit_in_background(annotations, epochs=2, callbacks=[Hold()])
    assert started.wait(60)
    with pytest.raises(RuntimeError, match="already training"):
        clf.fit(annotations, epochs=1)
    with pytest.raises(RuntimeError, match="already training"):
        clf.fit_in_background(annotations, epochs=1)
    release.set()
    history = job.join(60)
    assert history is not None and history.stopped == "completed" and len(history.epoch) == 2
    clf.fit(annotations, epochs=1)  # free again once the first has ended


@pytest.mark.slow
def test_exiting_python_while_a_background_fit_runs_exits_cleanly():
    script = textwrap.dedent(
        """
        import sys, threading
        sys.path.insert(0, "tests")
        import svetlana_nb as sv
        from helpers import grid_scene, annotate
        image, mask, truth = grid_scene()
        objects = sv.Objects(image, mask)
        annotations = annotate(objects, truth, 40)
        started = threading.Event()
        clf = sv.Classifier(objects)
        job = clf.fit_in_background(
            annotations, epochs=300, callbacks=[sv.FunctionCallback(on_batch_end=lambda *a: started.set())]
        )
        assert started.wait(120)
        print("exiting while training", flush=True)
        """
    )
    for _ in range(3):
        run = subprocess.run([sys.executable, "-c", script], cwd=ROOT, capture_output=True, text=True, timeout=240)
        assert "exiting while training" in run.stdout, run.stderr[-2000:]
        assert run.returncode == 0, run.stderr[-2000:]
        assert "terminate called" not in run.stderr
