"""On a CUDA GPU: training, prediction, evidence maps, the second opinion and the Trainer; skipped without CUDA.

Run it wherever a machine has a GPU: ``pytest tests/models/test_gpu.py``.
"""

from __future__ import annotations

import numpy as np
import pytest
import torch

import svetlana_nb as sv
from svetlana_nb.models.devices import cuda_half_dtype

pytestmark = pytest.mark.skipif(not torch.cuda.is_available(), reason="needs a CUDA GPU")


def _demo(n_annotated: int = 60):
    demo = sv.data.cells_2d()
    objects = sv.Objects(demo.image, demo.mask)
    annotations = sv.Annotations(objects, demo.class_names)
    for label in objects.labels[:n_annotated]:
        annotations.add(int(label), demo.truth[int(label)])
    return demo, objects, annotations


@pytest.mark.parametrize("mixed_precision", [False, True])
def test_training_and_prediction_on_the_gpu_agree_with_the_cpu(tmp_path, mixed_precision):
    demo, objects, annotations = _demo()
    clf = sv.Classifier(objects, n_classes=len(demo.class_names), device="cuda", seed=0)
    history = clf.fit(annotations, epochs=15, mixed_precision=mixed_precision)
    assert history.train_loss[-1] < history.train_loss[0]
    on_gpu = clf.predict_proba()
    assert np.isfinite(on_gpu).all()
    clf.save(tmp_path / "model.svnb")
    on_cpu = sv.Classifier.load(tmp_path / "model.svnb", device="cpu").predict_proba(objects)
    np.testing.assert_allclose(on_gpu, on_cpu, atol=1e-2)
    truth = np.array([demo.class_names.index(demo.truth[int(label)]) for label in objects.labels])
    assert (on_gpu.argmax(1) == truth).mean() > 0.8


def test_the_half_dtype_is_bfloat16_only_from_capability_8():
    expected = torch.bfloat16 if torch.cuda.get_device_capability() >= (8, 0) else torch.float16
    assert cuda_half_dtype(torch.device("cuda")) == expected


def test_grad_cam_and_the_second_opinion_on_the_gpu():
    from svetlana_nb.models.explain import grad_cam

    demo, objects, annotations = _demo()
    clf = sv.Classifier(objects, n_classes=len(demo.class_names), device="cuda", seed=0)
    clf.fit(annotations, epochs=10)
    assert clf.second_opinion is not None
    proba = clf.predict_proba()
    np.testing.assert_allclose(proba.sum(1), 1.0, atol=1e-4)
    cam = grad_cam(clf, objects, int(objects.labels[0]))
    assert np.isfinite(np.asarray(cam.heatmap)).all()


def test_one_training_through_the_trainer_widget_on_the_gpu():
    """Issue 21: the Trainer from Python on the GPU: it names the GPU, trains, and offers no Colab hint."""
    from svetlana_nb.widgets.training import Trainer

    demo, objects, annotations = _demo()
    trainer = Trainer(sv.Classifier(objects, device="cuda", seed=0), annotations, epochs=5)
    assert "GPU" in trainer.device_label.value and "Runtime" not in trainer.device_label.value
    trainer.start()
    history = trainer.wait(timeout=300)
    assert history is not None and len(history.epoch) == 5, trainer.errors.outputs
    assert next(trainer.classifier.network.parameters()).device.type == "cuda"
    assert "Done" in trainer.status.value
