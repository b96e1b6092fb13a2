from __future__ import annotations

import time

import numpy as np
import pytest

import svetlana_nb as sv
from svetlana_nb.widgets.training import Trainer, TrainingMonitor


def held_out_accuracy(clf, objects, demo, held_out):
    classes = clf.predict(objects).classes
    return np.mean([classes[int(label)] == demo.truth[int(label)] for label in held_out])


def test_start_trains_to_a_real_accuracy_on_held_out_objects(demo, annotated):
    objects, ann, held_out = annotated
    trainer = Trainer(sv.Classifier(objects), ann)
    trained = []
    trainer.on_trained(lambda clf, history: trained.append((clf, history)))
    trainer.epochs_text.value = "40"
    trainer.start_button.click()
    assert trainer.running
    history = trainer.wait(300)
    assert history is not None and not trainer.running
    assert trainer.errors.outputs == ()
    # The curves hold one point per epoch, training and validation rows.
    n = len(history.epoch)
    assert trainer.loss_line.x.tolist() == history.epoch
    assert trainer.loss_line.y.shape == (2, n) and trainer.acc_line.y.shape == (2, n)
    assert np.isfinite(trainer.acc_line.y).all()
    np.testing.assert_allclose(trainer.loss_line.y[0], history.train_loss)
    assert held_out_accuracy(trainer.classifier, objects, demo, held_out) >= 0.85
    assert "best epoch" in trainer.summary.value and "<table" in trainer.confusion.value
    assert trained and trained[0][0] is trainer.classifier and trained[0][1] is history
    assert trainer.progress.value == 1.0
    # Plotting an epoch costs the training thread well under 5 ms.
    assert np.median(trainer.monitor.plot_seconds) < 0.005


def test_curves_grow_with_epochs(annotated):
    _, ann, _ = annotated
    lengths = []

    class Recorder(sv.Callback):
        def on_epoch_end(self, epoch, metrics):
            lengths.append(len(trainer.loss_line.x))

    trainer = Trainer(None, ann)
    trainer.epochs_text.value = "5"
    trainer.monitor_extra = Recorder()
    # Wrap the widget's monitor to observe the line after each of its updates.
    original = trainer.monitor.on_epoch_end

    def observed(epoch, metrics):
        original(epoch, metrics)
        lengths.append(len(trainer.loss_line.x))

    trainer.monitor.on_epoch_end = observed
    trainer.start()
    trainer.wait(120)
    assert lengths == [1, 2, 3, 4, 5]


def test_stop_ends_training_early_and_keeps_weights(annotated):
    _, ann, _ = annotated
    trainer = Trainer(None, ann)
    trainer.epochs_text.value = "500"
    trainer.early_check.value = False
    trainer.start()
    deadline = time.monotonic() + 60
    while trainer.monitor.n_points < 2 and time.monotonic() < deadline:
        time.sleep(0.01)
    trainer.stop_button.click()
    begin = time.monotonic()
    history = trainer.wait(60)
    assert time.monotonic() - begin < 10
    assert history.stopped == "user" and len(history.epoch) < 500
    assert trainer.classifier.is_fitted and not trainer.running
    assert trainer.progress.bar_style == "warning"


def test_random_forest_trains_fast_with_the_same_summary(demo, annotated):
    objects, ann, held_out = annotated
    trainer = Trainer(None, ann)
    cnn = trainer.classifier
    trainer.model_buttons.value = "random_forest"
    assert trainer.model == "random_forest" and trainer.classifier is not cnn
    assert trainer.classifier.model_name == "random_forest"
    assert trainer.lr_text.disabled
    begin = time.perf_counter()
    trainer.start()
    history = trainer.wait(60)
    assert time.perf_counter() - begin < 3
    assert history.best_epoch == 1 and "Random forest" in trainer.summary.value
    assert "<table" in trainer.confusion.value
    assert held_out_accuracy(trainer.classifier, objects, demo, held_out) >= 0.85
    # Switching back gives the same CNN classifier object (and options carried over).
    trainer.model = "light_cnn"
    assert trainer.classifier is cnn


def test_model_change_keeps_objects_and_options(annotated):
    objects, ann, _ = annotated
    clf = sv.Classifier(objects, patch_size=24, lr=1e-3)
    trainer = Trainer(clf, ann)
    trainer.model = "resnet"
    new = trainer.classifier
    assert new.model_name == "resnet" and new.objects is objects
    assert new.patch_shape == clf.patch_shape and new.config.lr == 1e-3


def test_one_class_error_is_shown_in_the_widget(demo):
    objects = sv.Objects(demo.image, demo.mask)
    ann = sv.Annotations(objects, demo.class_names)
    for label in objects.labels[:5]:
        ann.add(int(label), demo.class_names[0])
    trainer = Trainer(None, ann)
    trainer.start()
    assert trainer.wait(30) is None
    text = "".join(o["text"] for o in trainer.errors.outputs)
    assert "at least 2 classes" in text and trainer.progress.bar_style == "danger"
    assert not trainer.running and not trainer.start_button.disabled


def test_invalid_option_is_shown_not_raised(annotated):
    _, ann, _ = annotated
    trainer = Trainer(None, ann)
    trainer.epochs_text.value = "many"
    assert trainer.start() is None
    assert "epochs" in trainer.errors.outputs[0]["text"] and not trainer.running


def test_options_map_to_fit_arguments(annotated):
    _, ann, _ = annotated
    trainer = Trainer(None, ann)
    trainer.epochs_text.value = ""
    trainer.seed_text.value = ""
    trainer.noise_check.value = False
    trainer.warm_toggle.value = True
    options = trainer.options()
    assert options["epochs"] is None and options["seed"] is None and options["warm_start"] is True
    assert options["augmentation"].intensity == 0 and options["augmentation"].rotate
    sv.TrainingConfig().updated(**{k: v for k, v in options.items() if k != "warm_start"})


def test_warm_start_continues_from_current_weights(annotated):
    _, ann, _ = annotated
    trainer = Trainer(None, ann)
    trainer.epochs_text.value = "3"
    trainer.start()
    trainer.wait(60)
    network = trainer.classifier.network
    trainer.warm_start = True
    trainer.start()
    trainer.wait(60)
    assert trainer.classifier.network is network
    trainer.warm_start = False
    trainer.start()
    trainer.wait(60)
    assert trainer.classifier.network is not network


def test_monitor_is_a_plain_callback():
    assert issubclass(TrainingMonitor, sv.Callback)
