"""Network architectures, 2D and 3D, for any number of input channels.

All networks take ``(N, C + 1, *patch_shape)`` float tensors (image channels plus the object
mask) and return logits ``(N, n_classes)``: no softmax, the loss applies it.
"""

from __future__ import annotations

import torch
import torch.nn.functional as F
from torch import nn


def _conv(ndim: int) -> type[nn.Module]:
    return nn.Conv3d if ndim == 3 else nn.Conv2d


def _batch_norm(ndim: int) -> type[nn.Module]:
    return nn.BatchNorm3d if ndim == 3 else nn.BatchNorm2d


class Downsample(nn.Module):
    """Max-pool by 2 along every spatial axis longer than 1 (anisotropic 3D patches keep working).

    Same values as ``max_pool(kernel_size=2, ceil_mode=True)``. Without gradients (prediction,
    validation) it is computed as an element-wise maximum of the even and odd slices along each
    axis, faster than the pooling kernel on channels-last CPU tensors; when gradients flow
    (training, on the CPU or CUDA) the pooling kernel runs, whose backward pass is faster than
    that of slices and maxima (``docs/decisions.md``).
    """

    def forward(self, x: torch.Tensor) -> torch.Tensor:  # noqa: D102
        if x.requires_grad and torch.is_grad_enabled() and x.device.type in ("cpu", "cuda"):
            kernel = [2 if size >= 2 else 1 for size in x.shape[2:]]
            pool = F.max_pool3d if x.dim() == 5 else F.max_pool2d
            return pool(x, kernel, kernel, ceil_mode=True)
        for axis in range(2, x.dim()):
            size = x.shape[axis]
            if size < 2:
                continue
            even, odd = x.narrow(axis, 0, size - size % 2), x.narrow(axis, 1, size // 2 * 2 - 1)
            pooled = torch.maximum(
                even[(slice(None),) * axis + (slice(0, None, 2),)], odd[(slice(None),) * axis + (slice(0, None, 2),)]
            )
            if size % 2:  # ceil mode: the last single slice is its own window
                pooled = torch.cat([pooled, x.narrow(axis, size - 1, 1)], dim=axis)
            x = pooled
        return x


_DOWNSAMPLE = Downsample()


#: Integer dtype of the same width as each float dtype: the bit patterns of non-negative floats
#: sort like the integers they read as, so a maximum on them is the float maximum.
_SAME_WIDTH_INT = {torch.bfloat16: torch.int16, torch.float16: torch.int16, torch.float32: torch.int32}


def downsample_nonnegative(x: torch.Tensor) -> torch.Tensor:
    """:class:`Downsample` of a tensor with no negative values (after a ReLU, or a 0/1 mask).

    Same values, computed on the integer view of the floats in channels-last memory order: each
    2x maximum is one integer maximum of two contiguous halves, faster on the CPU than the
    float maximum of strided slices. Falls back to :class:`Downsample` for odd sizes,
    other memory orders or dtypes, and tensors that require gradients.

    Parameters
    ----------
    x : torch.Tensor, shape (N, C, *spatial), every value >= 0 (``-0.0`` allowed)

    Returns
    -------
    torch.Tensor, shape (N, C, *ceil(spatial / 2)), channels-last in memory when ``x`` was
    """
    spatial = x.shape[2:]
    last = x.movedim(1, -1)  # (N, *spatial, C): contiguous when x is channels-last
    if (
        x.dtype not in _SAME_WIDTH_INT
        or x.requires_grad
        or not last.is_contiguous()
        or any(size % 2 and size > 1 for size in spatial)
    ):
        return _DOWNSAMPLE(x)
    values = last.view(_SAME_WIDTH_INT[x.dtype])
    for axis, size in enumerate(spatial, start=1):
        if size < 2:
            continue
        pairs = values.unflatten(axis, (size // 2, 2))
        values = torch.maximum(pairs.select(axis + 1, 0), pairs.select(axis + 1, 1))
    return values.view(x.dtype).movedim(-1, 1)


def feature_rows(x: torch.Tensor) -> torch.Tensor:
    """Feature maps (N, F, *spatial) as float32 rows (N, F, P), channel-first in memory.

    Every pooling is then a reduction over contiguous rows: on the CPU faster than adaptive
    pooling over channels-last pixels, or than bfloat16 reductions. No copy when
    ``x`` is already contiguous float32.
    """
    return x.to(torch.float32, memory_format=torch.contiguous_format).flatten(2)


class GlobalPool(nn.Module):
    """Concatenate global average and global max pooling: (N, F, ...) → (N, 2F)."""

    def forward(self, x: torch.Tensor) -> torch.Tensor:  # noqa: D102
        rows = feature_rows(x)
        return torch.cat([rows.mean(-1), rows.amax(-1)], dim=1)


class ObjectPool(nn.Module):
    """Average and maximum of the feature maps inside the object only: (N, F, ...) → (N, 2F).

    The object mask (the network's last input channel) is brought to the feature maps'
    resolution by max-pooling, so every feature pixel the object touches counts. Global pooling
    mixes in what lies around the object (a neighbour's bright spot fires a filter as much as
    the object's own); pooling inside the object keeps the evidence that belongs to it.
    """

    def forward(self, features: torch.Tensor, inputs: torch.Tensor) -> torch.Tensor:  # noqa: D102
        rows = feature_rows(features)
        inside = inputs[:, -1:].detach().float()  # 0/1: no gradient flows into the mask
        while inside.shape[2:] != features.shape[2:]:
            inside = downsample_nonnegative(inside)
        inside = inside.flatten(2)  # (N, 1, P)
        masked = rows * inside  # features are >= 0 (after a ReLU): zero outside is neutral
        fraction = inside.mean(-1).clamp_min(1e-6)  # (N, 1)
        return torch.cat([masked.mean(-1) / fraction, masked.amax(-1)], dim=1)


class LightCNN(nn.Module):
    """The paper's light network: a few convolutions of 16 filters, ~3k parameters for 2 layers.

    Parameters
    ----------
    in_channels : int
        Image channels + 1 (the object mask).
    n_classes : int
    ndim : {2, 3}
        Spatial dimensions of the patches.
    depth : int
        Number of convolution layers (2 in the paper); a 2× max-pool follows each but the last.
    width : int or list of int
        Filters per layer.
    kernel_size : int
        Odd or even; padding keeps the spatial size (``kernel_size // 2``, cropped for even sizes).
    dropout : float
        Dropout before the linear classifier.
    object_pooling : bool
        Also pool the last feature maps inside the object only (:class:`ObjectPool`), besides
        over the whole patch.
    """

    def __init__(
        self,
        in_channels: int,
        n_classes: int,
        *,
        ndim: int = 2,
        depth: int = 2,
        width: int | list[int] = 16,
        kernel_size: int = 3,
        dropout: float = 0.0,
        object_pooling: bool = True,
    ) -> None:
        super().__init__()
        widths = [width] * depth if isinstance(width, int) else list(width)
        conv = _conv(ndim)
        layers: list[nn.Module] = []
        channels = in_channels
        for i, out in enumerate(widths):
            layers.append(conv(channels, out, kernel_size, padding="same"))
            if i < len(widths) - 1:
                # pooling before the ReLU gives the same values (ReLU is monotone) on 4x fewer pixels
                layers.append(Downsample())
            layers.append(nn.ReLU(inplace=True))
            channels = out
        self.features = nn.Sequential(*layers)
        self.pool = GlobalPool()
        self.dropout = nn.Dropout(dropout)
        self.object_pool = ObjectPool() if object_pooling else None
        self.classifier = nn.Linear((4 if object_pooling else 2) * channels, n_classes)

    @property
    def target_layer(self) -> nn.Module:
        """The last convolution (kept for Grad-CAM-style explanations; the viewer uses integrated gradients)."""
        return [m for m in self.features if isinstance(m, (nn.Conv2d, nn.Conv3d))][-1]

    def forward(self, x: torch.Tensor) -> torch.Tensor:  # noqa: D102
        # float32, channel-first: converted once here, so both poolings reduce contiguous rows
        features = self.features(x).to(torch.float32, memory_format=torch.contiguous_format)
        pooled = self.pool(features)
        if self.object_pool is not None:
            pooled = torch.cat([pooled, self.object_pool(features, x)], dim=1)
        return self.classifier(self.dropout(pooled))


class BasicBlock(nn.Module):
    """Residual block: two 3×3 convolutions with batch norm, optional 2× downsampling."""

    def __init__(self, ndim: int, in_ch: int, out_ch: int, downsample: bool) -> None:
        super().__init__()
        conv, norm = _conv(ndim), _batch_norm(ndim)
        self.down = Downsample() if downsample else nn.Identity()
        self.conv1 = conv(in_ch, out_ch, 3, padding=1, bias=False)
        self.bn1 = norm(out_ch)
        self.conv2 = conv(out_ch, out_ch, 3, padding=1, bias=False)
        self.bn2 = norm(out_ch)
        self.skip = (
            nn.Identity() if in_ch == out_ch else nn.Sequential(conv(in_ch, out_ch, 1, bias=False), norm(out_ch))
        )

    def forward(self, x: torch.Tensor) -> torch.Tensor:  # noqa: D102
        x = self.down(x)
        y = F.relu(self.bn1(self.conv1(x)), inplace=True)
        y = self.bn2(self.conv2(y))
        return F.relu(y + self.skip(x), inplace=True)


class SmallResNet(nn.Module):
    """A small ResNet (3 stages of one basic block: 16, 32, 64 filters by default), 2D or 3D."""

    def __init__(
        self,
        in_channels: int,
        n_classes: int,
        *,
        ndim: int = 2,
        widths: tuple[int, ...] = (16, 32, 64),
        dropout: float = 0.2,
    ) -> None:
        super().__init__()
        conv, norm = _conv(ndim), _batch_norm(ndim)
        self.stem = nn.Sequential(
            conv(in_channels, widths[0], 3, padding=1, bias=False), norm(widths[0]), nn.ReLU(inplace=True)
        )
        blocks, channels = [], widths[0]
        for i, w in enumerate(widths):
            blocks.append(BasicBlock(ndim, channels, w, downsample=i > 0))
            channels = w
        self.blocks = nn.Sequential(*blocks)
        self.pool = GlobalPool()
        self.dropout = nn.Dropout(dropout)
        self.classifier = nn.Linear(2 * channels, n_classes)

    @property
    def target_layer(self) -> nn.Module:
        """The last residual block (kept for Grad-CAM-style explanations; the viewer uses integrated gradients)."""
        return self.blocks[-1]

    def forward(self, x: torch.Tensor) -> torch.Tensor:  # noqa: D102
        return self.classifier(self.dropout(self.pool(self.blocks(self.stem(x)))))


def count_parameters(module: nn.Module) -> int:
    """Number of trainable parameters."""
    return sum(p.numel() for p in module.parameters() if p.requires_grad)
