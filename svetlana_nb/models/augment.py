"""On-device, batched data augmentation for 2D and 3D patches.

The object-mask channel (last) is moved with the image by the geometric transforms but never
gets intensity changes.
"""

from __future__ import annotations

from dataclasses import dataclass

import torch
import torch.nn.functional as F

from .._validation import check_number


@dataclass(frozen=True)
class Augmentation:
    """Which random transforms to apply to training batches.

    Attributes
    ----------
    rotate : bool
        Random 90° rotations in the (Y, X) plane (the paper's augmentation).
    flip : bool
        Random flips along every spatial axis.
    intensity : float
        Strength of random per-channel gain/offset jitter and Gaussian noise (0 to disable).
    blur : float
        Probability of a light 3×3 blur of the image channels.
    channel_gain : float
        Standard deviation of the logarithm of a random gain drawn for each image channel of each
        patch (0 to disable): 0.3 multiplies a channel by 0.55-1.8 in 95 % of the patches, as
        stains and exposures differ between cells and images. The network then learns what a
        channel shows relative to the rest of the patch more than its absolute level.
    """

    rotate: bool = True
    flip: bool = True
    intensity: float = 0.1
    blur: float = 0.2
    channel_gain: float = 0.3

    def __post_init__(self) -> None:
        for name in ("intensity", "blur", "channel_gain"):
            check_number(getattr(self, name), name=name)

    @classmethod
    def none(cls) -> "Augmentation":
        """No augmentation at all."""
        return cls(rotate=False, flip=False, intensity=0.0, blur=0.0, channel_gain=0.0)


def augment(batch: torch.Tensor, spec: Augmentation, generator: torch.Generator | None = None) -> torch.Tensor:
    """Return a randomly transformed copy of ``batch``.

    Parameters
    ----------
    batch : torch.Tensor, shape (N, C + 1, *spatial)
        Normalised patches, last channel the object mask; spatial Y == X.
    spec : Augmentation
    generator : torch.Generator, optional
        For reproducible randomness (on the batch's device).

    Returns
    -------
    torch.Tensor, same shape
    """
    x = batch
    n = x.shape[0]
    device = x.device
    spatial = list(range(2, x.dim()))

    def rand(*shape: int) -> torch.Tensor:
        return torch.rand(*shape, device=device, generator=generator)

    if spec.rotate and x.shape[-1] == x.shape[-2]:
        turns = (rand(n) * 4).long().clamp(max=3)
        x = x.clone()
        for k in (1, 2, 3):
            chosen = turns == k
            if chosen.any():
                x[chosen] = torch.rot90(x[chosen], k, dims=(-2, -1))
    if spec.flip:
        for axis in spatial:
            chosen = (rand(n) < 0.5).view(n, *([1] * (x.dim() - 1)))
            x = torch.where(chosen, x.flip(axis), x)
    image, obj = x[:, :-1], x[:, -1:]
    if spec.blur > 0:
        chosen = (rand(n) < spec.blur).view(n, *([1] * (x.dim() - 1)))
        pool = F.avg_pool3d if x.dim() == 5 else F.avg_pool2d
        kernel = [1 if s < 3 else 3 for s in image.shape[2:]]
        blurred = pool(image, kernel_size=kernel, stride=1, padding=[k // 2 for k in kernel], count_include_pad=False)
        image = torch.where(chosen, blurred, image)
    per_channel = (n, image.shape[1]) + (1,) * len(spatial)  # one value per patch and image channel
    if spec.intensity > 0:
        gain = 1 + spec.intensity * (2 * rand(*per_channel) - 1) * 2
        offset = spec.intensity * (2 * rand(*per_channel) - 1) * 0.5
        noise = torch.randn(image.shape, device=device, generator=generator) * (spec.intensity * 0.3)
        image = image * gain + offset + noise
    if spec.channel_gain > 0:
        image = image * torch.exp(spec.channel_gain * torch.randn(per_channel, device=device, generator=generator))
    return torch.cat([image, obj], dim=1)
