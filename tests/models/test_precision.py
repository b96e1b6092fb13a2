"""Mixed precision: bfloat16 only where the hardware has it, a gradient scaler wherever float16 trains."""

from __future__ import annotations

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
