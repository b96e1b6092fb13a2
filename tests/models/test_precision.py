"""Mixed precision: bfloat16 only where the hardware has it, a gradient scaler wherever float16 trains."""

from __future__ import annotations

import os
import sys

import pytest
import torch

from svetlana_nb.models import training
from svetlana_nb.models.config import TrainingConfig
from svetlana_nb.models.devices import cuda_half_dtype, inference_dtype
from svetlana_nb.models.networks import LightCNN

CUDA = torch.device("cuda", 0)


@pytest.mark.parametrize(
    ("capability", "expected"),
    [((7, 5), torch.float16), ((7, 0), torch.float16), ((8, 0), torch.bfloat16), ((9, 0), torch.bfloat16)],
)
def test_half_dtype_follows_the_gpu_capability_not_emulated_bf16(monkeypatch, capability, expected):
    # torch answers is_bf16_supported() True on a T4 (7.5), which only emulates bfloat16.
    monkeypatch.setattr(torch.cuda, "is_bf16_supported", lambda including_emulation=True: True)
    monkeypatch.setattr(torch.cuda, "get_device_capability", lambda device=None: capability)
    assert cuda_half_dtype(CUDA) == expected
    assert inference_dtype(CUDA) == expected
    assert training._autocast_dtype(CUDA, True) == expected
    assert training._autocast_dtype(CUDA, False) is None


def test_the_scaler_is_on_for_float16_only():
    # On CUDA the same choice holds (torch disables a CUDA scaler where CUDA is absent, so check the CPU's).
    cpu = torch.device("cpu")
    assert training._grad_scaler(cpu, torch.float16).is_enabled()
    assert not training._grad_scaler(cpu, torch.bfloat16).is_enabled()
    assert not training._grad_scaler(cpu, None).is_enabled()
    assert training._autocast_dtype(torch.device("cpu"), True) is None


def _fit(monkeypatch, dtype: torch.dtype | None) -> tuple[list[float], list[bool]]:
    """Train the light CNN on a separable toy set on the CPU, autocast in ``dtype``; scaler use per step."""
    monkeypatch.setattr(training, "_autocast_dtype", lambda device, enabled: dtype)
    made: list[torch.amp.GradScaler] = []
    real = training._grad_scaler

    def recording(device, amp_dtype):
        made.append(real(device, amp_dtype))
        return made[-1]

    monkeypatch.setattr(training, "_grad_scaler", recording)
    g = torch.Generator().manual_seed(0)
    n = 96
    y = torch.arange(n) % 2
    x = torch.rand(n, 2, 16, 16, generator=g)
    x[:, 1] = 1.0
    x[y == 1, 0, 4:12, 4:12] += 1.5  # class 1: a bright square
    torch.manual_seed(0)
    model = LightCNN(2, 2, ndim=2)
    config = TrainingConfig().updated(
        epochs=8, batch_size=16, augmentation=False, lr=3e-3, early_stopping=False, seed=0
    )
    history = training.train_network(model, x, y, n_classes=2, config=config, device=torch.device("cpu"), val=None)
    return history.train_loss, [s.is_enabled() for s in made]


def test_float16_training_with_the_scaler_learns_like_float32(monkeypatch):
    loss32, scaled32 = _fit(monkeypatch, None)
    loss16, scaled16 = _fit(monkeypatch, torch.float16)
    assert scaled32 == [False] and scaled16 == [True]
    assert loss16[-1] < 0.5 * loss16[0]
    assert loss16[-1] == pytest.approx(loss32[-1], abs=0.1, rel=0.5)


def _count_reads(monkeypatch) -> list[str]:
    """Record every read of a tensor's value to the host (item, tolist, float, int, bool) by svetlana_nb.

    torch's optimisers read their step counts, which live on the CPU whatever the model's device.
    """
    reads: list[str] = []
    for name in ("item", "tolist", "__float__", "__int__", "__bool__"):
        real = getattr(torch.Tensor, name)

        def counted(self, *args, _real=real, _name=name):
            caller = sys._getframe(1).f_code.co_filename
            if f"{os.sep}svetlana_nb{os.sep}" in caller:
                reads.append(f"{_name} {caller}:{sys._getframe(1).f_lineno}")
            return _real(self, *args)

        monkeypatch.setattr(torch.Tensor, name, counted)
    return reads


def _toy(n: int) -> tuple[torch.Tensor, torch.Tensor]:
    g = torch.Generator().manual_seed(1)
    y = torch.arange(n) % 2
    x = torch.rand(n, 2, 8, 8, generator=g)
    x[:, 1] = 1.0
    return x, y


@pytest.mark.parametrize("callbacks", [None, "epoch_only"])
def test_the_loop_reads_the_device_once_per_epoch_not_per_batch(monkeypatch, callbacks):
    from svetlana_nb.models.callbacks import CallbackList, FunctionCallback

    counts = {}
    for n in (16, 128):  # 2 and 16 batches per epoch
        x, y = _toy(n)
        config = TrainingConfig().updated(epochs=3, batch_size=8, augmentation=False, early_stopping=False, seed=0)
        cbs = CallbackList([FunctionCallback(on_epoch_end=lambda epoch, metrics: None)]) if callbacks else None
        with monkeypatch.context() as m:
            reads = _count_reads(m)
            training.train_network(
                LightCNN(2, 2, ndim=2),
                x,
                y,
                n_classes=2,
                config=config,
                device=torch.device("cpu"),
                val=None,
                callbacks=cbs,
            )
        counts[n] = len(reads)
    n_parameters = len(list(LightCNN(2, 2, ndim=2).parameters()))  # the final check of the weights
    assert counts[16] == counts[128] <= 3 + n_parameters


def test_a_batch_listener_still_gets_every_batch_loss(monkeypatch):
    from svetlana_nb.models.callbacks import CallbackList, FunctionCallback

    losses: list[float] = []
    x, y = _toy(64)
    config = TrainingConfig().updated(epochs=2, batch_size=8, augmentation=False, early_stopping=False, seed=0)
    cbs = CallbackList([FunctionCallback(on_batch_end=lambda b, n, loss: losses.append(loss))])
    history = training.train_network(
        LightCNN(2, 2, ndim=2),
        x,
        y,
        n_classes=2,
        config=config,
        device=torch.device("cpu"),
        val=None,
        callbacks=cbs,
    )
    assert len(losses) == 16 and all(isinstance(v, float) for v in losses)
    assert history.train_loss[0] == pytest.approx(sum(losses[:8]) / 8, rel=1e-5)


def test_divergence_is_still_caught_when_read_per_epoch():
    x, y = _toy(64)
    config = TrainingConfig().updated(epochs=5, batch_size=8, augmentation=False, early_stopping=False, seed=0)
    config = config.updated(lr=10.0)
    x = x * 100  # large inputs: a learning rate of 10 blows the weights up
    with pytest.raises(training.TrainingDivergedError, match="the training loss became .* at epoch"):
        training.train_network(
            LightCNN(2, 2, ndim=2), x, y, n_classes=2, config=config, device=torch.device("cpu"), val=None
        )
