from __future__ import annotations

import time

import ipywidgets as widgets
import numpy as np
import pytest
import torch

import svetlana_nb as sv
from svetlana_nb.models import History
from svetlana_nb.models.training import class_weights, evaluate
from svetlana_nb.widgets._monitor import TrainingMonitor
from svetlana_nb.widgets.training import Trainer


def held_out_accuracy(clf, objects, demo, held_out):
    classes = clf.predict(objects).classes
    return np.mean([classes[int(label)] == demo.truth[int(label)] for label in held_out])


def test_start_trains_to_a_real_accuracy_on_held_out_objects(demo, annotated):
    objects, ann, held_out = annotated
    trainer = Trainer(sv.Classifier(objects), ann)
    trained = []
    trainer.on_trained(lambda clf, history: trained.append((clf, history)))
    trainer.controls.epochs.value = "40"
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
    assert (
        "weights of epoch" in trainer.summary.value
        and "validation objects right" in trainer.summary.value
        and "<table" in trainer.confusion.value
    )
    assert history.second_opinion_val_acc is not None
    assert f"<b>{history.second_opinion_val_acc:.1%}</b> with the second opinion" in trainer.summary.value
    assert trained and trained[0][0] is trainer.classifier and trained[0][1] is history
    assert trainer.progress.value == 1.0
    # 80 annotations, 16 held out: the confidence is calibrated on them, and the Done line says so
    assert (
        f"; confidence calibrated: temperature {trainer.classifier.calibration.temperature:.3g}" in trainer.status.value
    )
    # What plotting costs the training thread is timed per epoch (benchmarks/bench_viewer.py).
    assert len(trainer.monitor.plot_seconds) == n and min(trainer.monitor.plot_seconds) > 0


def test_curves_grow_with_epochs(annotated):
    _, ann, _ = annotated
    trainer = Trainer(None, ann, epochs=8, early_stopping=False)
    lengths = []
    trainer.loss_line.observe(lambda change: lengths.append(len(change["new"])), names="x")
    trainer.start()
    trainer.wait(120)
    # Reassigned (never rebuilt) as epochs end; fast epochs may be drawn together.
    assert lengths[-1] == 8 and lengths == sorted(lengths)
    assert trainer.monitor.draw_seconds and len(trainer.monitor.plot_seconds) == 8
    assert trainer.loss_figure.marks == [trainer.loss_line]
    assert trainer.loss_figure.axes[0].tick_values.tolist()[0] == 1.0


def test_stop_ends_training_early_and_keeps_weights(annotated):
    _, ann, _ = annotated
    trainer = Trainer(None, ann)
    trainer.controls.epochs.value = "500"
    trainer.controls.early_stopping.value = False
    trainer.start()
    deadline = time.monotonic() + 60
    while trainer.monitor.n_points < 2 and time.monotonic() < deadline:
        time.sleep(0.01)
    trainer.stop_button.click()
    history = trainer.wait(60)
    assert history.stopped == "user" and len(history.epoch) < 500
    assert trainer.classifier.is_fitted and not trainer.running
    assert trainer.progress.bar_style == "warning"
    # The network holds the best epoch's weights: its validation loss is the lowest recorded.
    clf = trainer.classifier
    rows, targets = ann.rows_and_targets()
    is_val = np.isin(rows, history.val_rows)
    weight = class_weights(torch.from_numpy(targets[~is_val]), 2)
    x = torch.from_numpy(clf.patches(ann.objects, rows[is_val]))
    val_loss, _, _ = evaluate(clf.network.float().eval(), x, torch.from_numpy(targets[is_val]), weight)
    assert val_loss == pytest.approx(min(history.val_loss), abs=1e-4)
    assert history.val_loss[history.best_epoch - 1] == min(history.val_loss)


def test_random_forest_trains_fast_with_the_same_summary(demo, annotated):
    objects, ann, held_out = annotated
    trainer = Trainer(None, ann)
    cnn = trainer.classifier
    trainer.model_buttons.value = "random_forest"
    assert trainer.model == "random_forest" and trainer.classifier is not cnn
    assert trainer.classifier.model_name == "random_forest"
    assert trainer.controls.lr.disabled
    trainer.start()
    history = trainer.wait(60)
    assert history.best_epoch == 1 and "Random forest" in trainer.summary.value
    assert "<table" in trainer.confusion.value
    assert held_out_accuracy(trainer.classifier, objects, demo, held_out) >= 0.85
    # Switching back gives the same CNN classifier object (and options carried over).
    trainer.model = "light_cnn"
    assert trainer.classifier is cnn


def test_model_change_keeps_objects_and_options(annotated):
    objects, ann, _ = annotated
    clf = sv.Classifier(objects, patch_size=24, lr=1e-3, downscale=2)
    trainer = Trainer(clf, ann)
    trainer.model = "resnet"
    new = trainer.classifier
    assert new.model_name == "resnet" and new.objects is objects
    assert new.patch_shape == clf.patch_shape and new.config.lr == 1e-3
    assert new.downscale == 2 and new.input_shape == (12, 12)
    assert trainer.channel_row.children == ()  # one channel: nothing to choose


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
    trainer.controls.epochs.value = "many"
    assert trainer.start() is None
    text = trainer.errors.outputs[0]["text"]
    assert text.startswith("Epochs: expected a whole number") and "Error" not in text and not trainer.running


def test_messages_use_the_labels_words_not_parameter_names(annotated):
    """UI finding 11: no `val_fraction:` or `ValueError:` in what the Trainer shows."""
    from svetlana_nb.models.callbacks import History
    from svetlana_nb.widgets._canvas import plain_error

    assert plain_error(ValueError("val_fraction: expected a number in [0, 0.9], got 2")) == (
        "Validation share: expected a number in [0, 0.9], got 2"
    )
    assert plain_error(ZeroDivisionError("division by zero")) == "ZeroDivisionError: division by zero"
    history = History(epoch=[1, 2], train_loss=[0.5, 0.4], stopped="early_stopping", best_epoch=1)
    assert "early_stopping" not in history.summary() and "stopped early" in history.summary()
    _, ann, _ = annotated
    trainer = Trainer(None, ann)
    trainer.controls.lr.value = 0.5
    trainer.controls.val_fraction.value = 0.0
    trainer._update_plan()
    assert "_" not in trainer.plan_note.value.replace("svnb_", "")


def test_advanced_options_are_folded_away(annotated):
    """UI finding 11: epochs and validation shown; the rest under a closed "Advanced" section."""
    _, ann, _ = annotated
    controls = Trainer(None, ann).controls
    assert controls.advanced.selected_index is None
    folded = controls.advanced.children[0]

    def inside(widget, box):
        return widget is box or any(inside(widget, c) for c in getattr(box, "children", ()))

    for name in ("lr", "batch_size", "weight_decay", "seed", "early_stopping", "patience", "loss", "rotate", "noise"):
        assert inside(getattr(controls, name), folded), name
    for name in ("epochs", "val_fraction"):
        assert inside(getattr(controls, name), controls) and not inside(getattr(controls, name), folded), name
    assert len(controls.controls) == len(controls.values()) + 2  # rotate/flip/noise make one augmentation


def test_device_line_says_how_to_get_a_gpu_in_colab(annotated, monkeypatch):
    """Issue 21: on a Colab runtime without a GPU, the Trainer says where to choose one."""
    _, ann, _ = annotated
    monkeypatch.delenv("COLAB_RELEASE_TAG", raising=False)
    plain = Trainer(None, ann).device_label.value
    assert "CPU" in plain and "Runtime" not in plain
    monkeypatch.setenv("COLAB_RELEASE_TAG", "release-colab_20261201")
    advised = Trainer(None, ann).device_label.value
    assert "Runtime → Change runtime type" in advised and "CPU" in advised


def test_options_map_to_fit_arguments(annotated):
    _, ann, _ = annotated
    trainer = Trainer(None, ann)
    trainer.controls.epochs.value = ""
    trainer.controls.seed.value = ""
    trainer.controls.noise.value = False
    trainer.warm_toggle.value = True
    options = trainer.options()
    assert options["epochs"] is None and options["seed"] is None and options["warm_start"] is True
    assert options["augmentation"].intensity == 0 and options["augmentation"].rotate
    assert options["augmentation"].channel_gain == 0
    sv.TrainingConfig().updated(**{k: v for k, v in options.items() if k != "warm_start"})
    # Initial option values can be given as keywords.
    trainer = Trainer(None, ann, epochs=7, lr=1e-3, early_stopping=False)
    assert trainer.controls.epochs.value == "7" and trainer.options()["lr"] == 1e-3
    assert trainer.options()["early_stopping"] is False


def test_loss_dropdown_chooses_the_training_loss(annotated):
    """Issue 19: the Advanced section's "Loss" dropdown, in words, gives ``fit`` its ``loss``."""
    _, ann, _ = annotated
    trainer = Trainer(None, ann)
    assert trainer.options()["loss"] == "cross_entropy"
    labels = [label for label, _ in trainer.controls.loss.options]
    assert labels == ["Cross-entropy", "Focal (hard examples)", "Balanced softmax (rare classes)"]
    trainer.controls.loss.label = "Focal (hard examples)"
    assert trainer.options()["loss"] == "focal"
    assert Trainer(None, ann, loss="balanced_softmax").options()["loss"] == "balanced_softmax"


@pytest.mark.slow
def test_warm_start_continues_from_current_weights(annotated):
    _, ann, _ = annotated
    trainer = Trainer(None, ann)
    trainer.controls.epochs.value = "3"
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


def test_monitor_draws_each_epoch_in_place(annotated):
    _, ann, _ = annotated
    trainer = Trainer(None, ann)
    monitor, line = trainer.monitor, trainer.acc_line
    assert isinstance(monitor, TrainingMonitor) and isinstance(monitor, sv.Callback)
    monitor.on_train_begin(
        {"max_epochs": 3, "n_batches": 2, "n_train": 10, "n_val": 4, "patch": "96×96 px, shrunk 2× to 48×48"}
    )
    assert "Training on 10 objects" in trainer.status.value and "shrunk 2× to 48×48" in trainer.status.value
    for epoch in (1, 2, 3):
        monitor.on_batch_end(1, 2, 0.5)
        monitor.on_epoch_end(
            epoch,
            {
                "epoch": epoch,
                "max_epochs": 3,
                "train_loss": 1.0 / epoch,
                "train_acc": 0.5,
                "val_loss": None,
                "val_acc": None,
                "seconds": float(epoch),
            },
        )
        monitor.draw()
        assert line.x.tolist() == list(range(1, epoch + 1))
        assert np.isnan(line.y[1]).all() and f"Epoch {epoch}/3" in trainer.status.value
    monitor.on_train_end(History(stopped="user"))
    assert trainer.progress.value == 1.0 and trainer.progress.bar_style == "warning"
    assert trainer.loss_figure.axes[1].tick_values.tolist() == [0.0, 0.25, 0.5, 0.75, 1.0]


def test_channel_boxes_choose_the_channels_the_classifier_sees(scene_2d_multichannel):
    image, mask, truth = scene_2d_multichannel
    objects = sv.Objects(image, mask, channel_axis=-1)
    ann = sv.Annotations(objects, ["a", "b"])
    for label in objects.labels[:30]:
        ann.add(int(label), truth[int(label)])
    trainer = Trainer(None, ann)
    first = trainer.classifier
    boxes = trainer.channel_boxes
    assert len(boxes) == 2 and all(b.value for b in boxes) and trainer.channels == ()
    boxes[0].value = False
    assert trainer.channels == (1,) and trainer.classifier is not first
    assert trainer.classifier.channels == (1,)
    boxes[1].value = False  # no channel left: refused
    assert boxes[1].value and trainer.channels == (1,) and "at least one channel" in trainer.status.value
    trainer.model = "random_forest"
    assert trainer.classifier.model_name == "random_forest" and trainer.classifier.channels == (1,)
    trainer.model = "light_cnn"
    spots_only = trainer.classifier
    trainer.controls.epochs.value = "2"
    trainer.start()
    assert trainer.wait(60) is not None and spots_only.network.features[0].in_channels == 2
    boxes[0].value = True  # every channel again: the first classifier, kept
    assert trainer.channels == () and trainer.classifier is first
    trainer.channels = (0,)  # the trait drives the boxes too
    assert [b.value for b in boxes] == [True, False]


def test_second_opinion_box_sets_the_second_opinion_and_trains_its_forest(annotated):
    objects, ann, _ = annotated
    trainer = Trainer(sv.Classifier(objects, second_opinion=sv.SecondOpinion(weight=0.3)), ann, epochs=3)
    clf = trainer.classifier
    assert trainer.second_opinion and trainer.second_opinion_toggle.value
    trainer.second_opinion_toggle.value = False  # off before training: the network alone
    assert not trainer.second_opinion and clf.second_opinion is None
    assert "averaged with a random forest" not in trainer.model_help.value
    trainer.start()
    assert trainer.second_opinion_toggle.disabled  # not while training
    trainer.wait(120)
    assert clf.backend.opinion is None and not trainer.second_opinion_toggle.disabled
    trainer.second_opinion = True  # on again: the settings the classifier came with, from the next run
    assert clf.second_opinion == sv.SecondOpinion(weight=0.3) and "next training" in trainer.status.value
    assert "share 0.3" in trainer.model_help.value
    trainer.start()
    trainer.wait(120)
    assert clf.backend.opinion is not None
    network = clf.network_proba(objects)
    unsure = np.flatnonzero(network.max(1) < clf.second_opinion.below)
    trainer.second_opinion = False  # off after training: prediction is the network's at once
    np.testing.assert_allclose(clf.predict_proba(objects, calibrated=False), network, atol=1e-6)
    trainer.second_opinion = True
    assert len(unsure) > 0  # 3 epochs: the network is unsure of some objects
    assert not np.allclose(clf.predict_proba(objects, calibrated=False)[unsure], network[unsure])
    # a new model or channel choice follows the box; the random forest has no second opinion
    trainer.second_opinion = False
    trainer.model = "light_cnn_deep"
    assert trainer.classifier.second_opinion is None
    trainer.second_opinion = True
    assert trainer.classifier.second_opinion == sv.SecondOpinion(weight=0.3)
    trainer.second_opinion = False
    trainer.model = "random_forest"
    assert trainer.second_opinion_toggle.disabled
    trainer.model = "light_cnn"
    assert trainer.classifier is clf and clf.second_opinion is None


def test_the_trainer_says_before_start_when_there_are_too_few_annotations_to_validate(demo):
    objects = sv.Objects(demo.image, demo.mask)
    ann = sv.Annotations(objects, demo.class_names)
    trainer = Trainer(None, ann)
    for i, label in enumerate(objects.labels[:24]):
        ann.add(int(label), demo.truth[int(label)])
    note = trainer.plan_note.value
    assert "24 annotations are too few to hold some out for validation (40 needed)" in note
    assert "early stopping is off" in note and "300 epochs" in note
    for label in objects.labels[24:50]:
        ann.add(int(label), demo.truth[int(label)])
    assert "10 of 50 annotations will be held out for validation, then early stopping" in trainer.plan_note.value
    trainer.controls.early_stopping.value = False
    assert "early stopping" not in trainer.plan_note.value
    assert isinstance(trainer.warm_toggle, widgets.Checkbox)  # a toggle looks like one


def test_history_counts_validation_objects_with_an_interval():
    from svetlana_nb.models import History

    history = History(epoch=[1, 2], val_acc=[0.5, 8 / 9], val_loss=[1.0, 0.5], best_epoch=2, n_val=9)
    assert history.best_val_counts == (8, 9)
    low, high = history.best_val_interval
    assert 0.55 < low < 0.6 and 0.97 < high < 0.99  # Wilson, 95 %
    assert "8 of 9 validation objects right (95 % interval 57%–98%)" in history.summary()
    assert History(epoch=[1], best_epoch=1).best_val_interval is None


def test_ready_status_says_what_is_annotated(annotated):
    """The first status line follows the annotations (it said "annotate two classes" with 60 done)."""
    objects, ann, _ = annotated
    trainer = Trainer(None, ann)
    assert f"{len(ann)} annotations of 2 classes" in trainer.status.value
    empty = sv.Annotations(objects, ["a", "b"])
    trainer = Trainer(None, empty)
    assert "at least two classes" in trainer.status.value and "0 annotated" in trainer.status.value
    empty.add(int(objects.labels[0]), "a")
    assert "1 annotated" in trainer.status.value


def test_learning_curve_section_reads_the_curve_in_the_background(annotated):
    """Issue 19: "Do I need more labels?" from the Trainer: a reading, the curve drawn, the button back."""
    objects, ann, _ = annotated
    trainer = Trainer(sv.Classifier(objects, model="random_forest"), ann)
    box = trainer.learning_box
    assert box.selected_index is None  # a closed section until opened
    box.start().join(180)
    assert box.curve is not None and not box.curve.partial, box.status.value
    assert box.reading.value.startswith("<b>") and ("rising" in box.reading.value or "flat" in box.reading.value)
    assert box.plot.value[:8] == b"\x89PNG\r\n\x1a\n" and "Done" in box.status.value
    assert not box.button.disabled and box.stop_button.disabled


def test_learning_curve_section_stops_and_keeps_the_points_done(annotated):
    objects, ann, _ = annotated
    trainer = Trainer(sv.Classifier(objects, model="random_forest"), ann)
    box = trainer.learning_box
    box._stop.set()  # as if Stop were pressed before the first fit ended
    box._stop.set = lambda: None  # start() clears the event; keep it set through the run
    box._stop.clear = lambda: None
    box.start().join(180)
    assert box.curve is not None and box.curve.partial and "Stopped" in box.status.value


def test_pretraining_box_learns_from_every_object_first_and_says_so(annotated):
    """Issue 20: "Learn from all objects first" under Advanced pretrains, with its progress shown."""
    objects, ann, _ = annotated
    trainer = Trainer(sv.Classifier(objects), ann, pretrain_steps=2, epochs=2)
    assert trainer.options()["pretrain"] is False
    assert trainer.controls.pretrain in trainer.controls.controls
    trainer.controls.pretrain.value = True
    assert trainer.options()["pretrain"] is True
    seen: list[str] = []
    trainer.monitor.status.observe(lambda change: seen.append(str(change["new"])), names="value")
    trainer.start_button.click()
    assert trainer.wait(300) is not None
    clf = trainer.classifier
    assert clf.pretrained is not None and clf.pretrained.steps == 2
    assert clf.pretrained.n_objects == len(objects.labels)
    said = [text for text in seen if text.startswith("Learning from all")]
    assert said and f"all {len(objects.labels)} objects" in said[-1] and "step 2" in said[-1]
    assert f"first learned from all {len(objects.labels)} objects without labels (2 steps" in trainer.status.value
    assert "; confidence calibrated: temperature" in trainer.status.value  # 80 annotations, 16 held out
    first = clf.pretrained
    trainer.start_button.click()  # new training, same objects: what it learned is reused, and said so
    assert trainer.wait(300) is not None
    assert clf.pretrained is first and "(kept from an earlier training)" in trainer.status.value


def test_monitor_shows_pretraining_steps_as_progress(annotated):
    _, ann, _ = annotated
    trainer = Trainer(None, ann)
    monitor = trainer.monitor
    step = {"step": 3, "max_steps": None, "seconds": 12.0, "budget_seconds": 48.0, "loss": 1.0, "objects": 900}
    monitor.on_pretrain_step(step)
    assert trainer.progress.value == pytest.approx(0.25)
    assert "all 900 objects" in trainer.status.value and "step 3" in trainer.status.value
    monitor.on_pretrain_step({**step, "step": 9, "max_steps": 10, "seconds": 1.0})
    assert trainer.progress.value == pytest.approx(0.9)


def test_options_given_to_the_trainer_without_a_control_still_reach_fit(annotated):
    _, ann, _ = annotated
    trainer = Trainer(None, ann, label_smoothing=0.2, pretrain_seconds=7.0, loss="focal")
    options = trainer.options()
    assert options["label_smoothing"] == 0.2 and options["pretrain_seconds"] == 7.0 and options["loss"] == "focal"
    trainer.controls.loss.value = "cross_entropy"  # a control shown wins over what was given at first
    assert trainer.options()["loss"] == "cross_entropy"


def test_done_line_says_when_the_confidence_is_not_calibrated(demo):
    objects = sv.Objects(demo.image, demo.mask, channel_axis=demo.channel_axis)
    ann = sv.Annotations(objects, demo.class_names)
    for label in objects.labels[:20]:  # too few to hold any out: no honest temperature
        ann.add(int(label), demo.truth[int(label)])
    trainer = Trainer(None, ann, epochs=2)
    trainer.start_button.click()
    assert trainer.wait(120) is not None
    assert "; confidence not calibrated (" in trainer.status.value
