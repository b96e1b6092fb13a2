"""On-device augmentation: geometry shared by image and mask, intensity on the image only."""

from __future__ import annotations

import numpy as np
import pytest
import torch

from svetlana_nb.models.augment import Augmentation, augment


def _batch(n: int = 64, channels: int = 2, spatial: tuple[int, ...] = (12, 12), seed: int = 0) -> torch.Tensor:
    """Positive random images and a 0/1 mask that marks the pixels of channel 0 above 0.5."""
    g = torch.Generator().manual_seed(seed)
    image = torch.rand((n, channels, *spatial), generator=g) + 0.5
    mask = (image[:, :1] > 1.0).float()
    return torch.cat([image, mask], dim=1)


def _generator(seed: int = 1) -> torch.Generator:
    return torch.Generator().manual_seed(seed)


@pytest.mark.parametrize("spatial", [(12, 12), (4, 12, 12)])
def test_geometry_moves_the_mask_with_the_image(spatial):
    batch = _batch(spatial=spatial)
    out = augment(batch, Augmentation(intensity=0.0, blur=0.0, channel_gain=0.0), _generator())
    # the mask still marks exactly the pixels of channel 0 above 0.5: it moved with the image
    torch.testing.assert_close(out[:, -1:], (out[:, :1] > 1.0).float())
    assert not torch.equal(out, batch)  # some patches were turned or flipped
    # each patch is a rearrangement of its own pixels
    torch.testing.assert_close(out.flatten(2).sort(-1).values, batch.flatten(2).sort(-1).values)


def test_no_augmentation_returns_the_batch_unchanged():
    batch = _batch()
    torch.testing.assert_close(augment(batch, Augmentation.none(), _generator()), batch)


def test_channel_gain_scales_each_channel_of_each_patch_by_one_log_normal_factor():
    batch = _batch(n=4000, channels=3, spatial=(4, 4))
    spec = Augmentation(rotate=False, flip=False, intensity=0.0, blur=0.0, channel_gain=0.3)
    out = augment(batch, spec, _generator())
    torch.testing.assert_close(out[:, -1:], batch[:, -1:])  # the mask is never scaled
    ratio = (out[:, :-1] / batch[:, :-1]).flatten(2)  # (n, C, pixels)
    # one factor per channel and patch ...
    torch.testing.assert_close(ratio.amin(-1), ratio.amax(-1), rtol=1e-5, atol=1e-6)
    log_gain = ratio[..., 0].log().numpy()  # (n, C)
    # ... log-normal with the given spread, centred on 1, independent between channels
    np.testing.assert_allclose(log_gain.std(axis=0), 0.3, rtol=0.06)
    np.testing.assert_allclose(log_gain.mean(axis=0), 0.0, atol=0.03)
    assert abs(np.corrcoef(log_gain.T)[0, 1]) < 0.08
    # the same generator state gives the same gains
    torch.testing.assert_close(augment(batch, spec, _generator()), out)


def test_intensity_jitter_leaves_the_mask_alone():
    batch = _batch()
    out = augment(batch, Augmentation(rotate=False, flip=False, intensity=0.3, blur=1.0), _generator())
    torch.testing.assert_close(out[:, -1:], batch[:, -1:])
    assert not torch.allclose(out[:, :-1], batch[:, :-1])


@pytest.mark.parametrize("option", ["intensity", "blur", "channel_gain"])
@pytest.mark.parametrize("value", [-0.1, "0.3", float("nan"), True])
def test_bad_strengths_are_refused_naming_the_option(option, value):
    with pytest.raises(ValueError, match=option):
        Augmentation(**{option: value})
