"""A trained light CNN fused for fast CPU inference (the same outputs).

Each convolution runs with its ReLU fused in (oneDNN's convolution with a ReLU post-op) on
weights converted once to the inference dtype.
"""

from __future__ import annotations

from typing import TypeGuard

import torch
import torch.nn.functional as F
from torch import nn

from .networks import Downsample, LightCNN, downsample_nonnegative


class FusedLightCNN:
    """A trained :class:`~svetlana_nb.models.LightCNN` for fast CPU inference (same outputs).

    Each convolution runs with its ReLU fused in (oneDNN's convolution with a ReLU post-op),
    on weights converted once to ``dtype`` (bfloat16 on CPUs that have it); the 2x max-pooling
    that follows a convolution is applied after the ReLU, which gives the same values (the two
    commute). The module's own poolings and its linear classifier then run in float32.

    Parameters
    ----------
    network : LightCNN
        In eval mode; its weights are copied (later training does not change this object).
    dtype : torch.dtype
    """

    def __init__(self, network: LightCNN, dtype: torch.dtype) -> None:
        self.dtype = dtype
        layers = list(network.features)
        self.convs: list[tuple[torch.Tensor, torch.Tensor | None, list[int], bool]] = []
        for k, layer in enumerate(layers):
            if isinstance(layer, (nn.Conv2d, nn.Conv3d)):
                fmt = torch.channels_last_3d if isinstance(layer, nn.Conv3d) else torch.channels_last
                weight = layer.weight.detach().to(dtype).contiguous(memory_format=fmt)
                bias = None if layer.bias is None else layer.bias.detach().to(dtype)
                pads = [s // 2 for s in layer.kernel_size]
                downsample = k + 1 < len(layers) and isinstance(layers[k + 1], Downsample)
                self.convs.append((weight, bias, pads, downsample))
        self.pool, self.object_pool = network.pool, network.object_pool
        self.weight = network.classifier.weight.detach().float()
        self.bias = network.classifier.bias.detach().float()

    @staticmethod
    def supports(network: nn.Module) -> TypeGuard[LightCNN]:
        """Whether ``network`` can be fused: a LightCNN with odd kernels, stride 1, on oneDNN.

        A subclass that changes ``forward`` (a user's variant) is not fused: the fused path
        reproduces :meth:`LightCNN.forward` only, and would silently ignore the change.
        """
        if not isinstance(network, LightCNN) or not torch.backends.mkldnn.is_available():
            return False
        if type(network).forward is not LightCNN.forward:
            return False
        if not hasattr(torch.ops.mkldnn, "_convolution_pointwise"):
            return False
        convs = [m for m in network.features if isinstance(m, (nn.Conv2d, nn.Conv3d))]
        expected = sum(isinstance(m, (nn.Conv2d, nn.Conv3d, Downsample, nn.ReLU)) for m in network.features)
        return (
            expected == len(network.features)
            and all(k % 2 == 1 for m in convs for k in m.kernel_size)
            and all(set(m.stride) == {1} and set(m.dilation) == {1} and m.groups == 1 for m in convs)
        )

    def __call__(self, x: torch.Tensor) -> torch.Tensor:
        """Logits (N, n_classes) of patches (N, C + 1, *patch)."""
        features = x.to(self.dtype)
        ones = [1] * (x.dim() - 2)
        for weight, bias, pads, downsample in self.convs:
            features = torch.ops.mkldnn._convolution_pointwise(
                features, weight, bias, pads, ones, ones, 1, "relu", [None], ""
            )
            if downsample:  # after the ReLU: no negative values
                features = downsample_nonnegative(features)
        features = features.to(torch.float32, memory_format=torch.contiguous_format)  # once, for both
        pooled = self.pool(features)
        if self.object_pool is not None:
            pooled = torch.cat([pooled, self.object_pool(features, x)], dim=1)
        return F.linear(pooled, self.weight, self.bias)
