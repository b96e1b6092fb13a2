"""Choosing the compute device: CUDA, then Apple MPS, then the CPU."""

from __future__ import annotations

import math
import os
import sys

import torch


def choose_device(device: str | torch.device = "auto") -> torch.device:
    """Resolve ``"auto"`` to the best available device.

    Parameters
    ----------
    device : str or torch.device
        ``"auto"``, ``"cpu"``, ``"cuda"``, ``"cuda:1"``, ``"mps"``...

    Returns
    -------
    torch.device
    """
    if isinstance(device, torch.device):
        return device
    if device == "auto":
        if torch.cuda.is_available():
            return torch.device("cuda")
        mps = getattr(torch.backends, "mps", None)
        if mps is not None and mps.is_available():
            return torch.device("mps")
        return torch.device("cpu")
    try:
        resolved = torch.device(device)
    except (RuntimeError, TypeError):
        raise ValueError(f"device: expected 'auto', 'cpu', 'cuda' or 'mps', got {device!r}") from None
    if resolved.type == "cuda" and not torch.cuda.is_available():
        raise ValueError("device: 'cuda' was asked for but no CUDA GPU is available; use 'auto' or 'cpu'")
    return resolved


def describe_device(device: torch.device) -> str:
    """A readable name for the device, e.g. ``"GPU: NVIDIA H100"`` or ``"CPU (2 threads)"``."""
    if device.type == "cuda":
        return f"GPU: {torch.cuda.get_device_name(device)}"
    if device.type == "mps":
        return "GPU: Apple MPS"
    return f"CPU ({torch.get_num_threads()} threads)"


def in_colab() -> bool:
    """Whether this Python runs in a Google Colab runtime."""
    return "google.colab" in sys.modules or "COLAB_RELEASE_TAG" in os.environ


def gpu_advice(device: torch.device) -> str | None:
    """What to do for a GPU when training falls back to the CPU in Colab (else None).

    A Colab runtime has no GPU unless one is chosen; the CNN then trains on 2 CPU threads,
    several times slower. Elsewhere the CPU is what the machine has, and nothing is said.
    """
    if device.type != "cpu" or not in_colab():
        return None
    return (
        "No GPU in this Colab runtime: choose Runtime → Change runtime type → a GPU (e.g. T4), "
        "then run the notebook again; training is several times faster."
    )


def cpu_supports_bf16() -> bool:
    """Whether the CPU has fast bfloat16 matrix instructions (used for faster CPU inference)."""
    try:
        return bool(torch.ops.mkldnn._is_mkldnn_bf16_supported())
    except (AttributeError, RuntimeError):
        return False


def fast_layout(tensor: torch.Tensor) -> torch.Tensor:
    """Return ``tensor`` in channels-last memory order (faster convolutions on the CPU)."""
    if tensor.device.type == "mps":
        return tensor
    if tensor.dim() == 4:
        return tensor.contiguous(memory_format=torch.channels_last)
    if tensor.dim() == 5:
        return tensor.contiguous(memory_format=torch.channels_last_3d)
    return tensor


def fast_module(module: torch.nn.Module, ndim: int) -> torch.nn.Module:
    """Put a network's weights in channels-last order to match :func:`fast_layout` inputs."""
    first = next(module.parameters(), None)
    if first is None or first.device.type == "mps":
        return module
    fmt = torch.channels_last_3d if ndim == 3 else torch.channels_last
    return module.to(memory_format=fmt)  # type: ignore[call-overload]  # torch's stubs lack it


def cuda_half_dtype(device: torch.device) -> torch.dtype:
    """Half precision for a CUDA device: bfloat16 where the hardware has it, float16 elsewhere.

    ``torch.cuda.is_bf16_supported()`` also answers True on GPUs that only emulate bfloat16
    (compute capability below 8.0, e.g. a T4 or a V100), where it is many times slower than
    float16; so only the capability counts. Used by training and inference alike.
    """
    return torch.bfloat16 if torch.cuda.get_device_capability(device) >= (8, 0) else torch.float16


def inference_dtype(device: torch.device) -> torch.dtype:
    """Precision of inference: bfloat16/float16 on CUDA, bfloat16 on CPUs that have it, else float32."""
    if device.type == "cuda":
        return cuda_half_dtype(device)
    if device.type == "cpu" and cpu_supports_bf16():
        return torch.bfloat16
    return torch.float32


def input_dtype(device: torch.device) -> torch.dtype:
    """Dtype of the network's input batches in prediction.

    bfloat16 where inference runs in it; float32 otherwise (autocast converts on the device).
    """
    dtype = inference_dtype(device)
    return dtype if dtype == torch.bfloat16 else torch.float32


def inference_batch_size(input_shape: tuple[int, ...], device: torch.device) -> int:
    """Objects per forward pass, so that the first layer's activations stay cache-sized on a CPU.

    Small batches are faster on the CPU than large ones for these small networks: the
    full-resolution feature maps stay in cache instead of streaming through memory. A GPU
    takes larger ones.
    """
    first_layer = 16 * math.prod(input_shape)  # activations per object (16 filters)
    if device.type != "cpu":
        return max(64, min(4096, 64_000_000 // first_layer))
    return max(4, min(256, 4_000_000 // first_layer))
