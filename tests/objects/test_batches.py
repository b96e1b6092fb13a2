"""Network inputs: every path of :mod:`svetlana_nb.objects.batches` against a slow, obvious reference."""

import numpy as np
import pytest
import torch
from helpers import patches
from scipy import ndimage

import svetlana_nb as sv
from svetlana_nb.objects.batches import PatchBatches, network_inputs
from svetlana_nb.objects.pixels import window_view


def reference_inputs(objects, spec, rows=None):
    """A per-object loop over zero-padded copies of the images: the slow, obvious way.

    Crop, normalise (zero outside the image), hide what lies beyond ``context`` pixels of the
    object, keep the chosen channels, then average ``downscale`` blocks (the object: their maximum).
    """
    rows = np.arange(len(objects)) if rows is None else np.asarray(rows)
    shape = spec.resolved_shape
    out = []
    for row in rows:
        i = int(objects.image_index[row])
        image, mask = objects.images[i], objects.masks[i]
        pad = [(s, s) for s in shape]
        padded_image = np.pad(image.astype(np.float64), pad + [(0, 0)])
        padded_mask = np.pad(mask, pad)
        inside_image = np.pad(np.ones(mask.shape, bool), pad)
        start = objects.centres[row] - np.asarray(shape) // 2 + np.asarray(shape)
        box = tuple(slice(a, a + s) for a, s in zip(start, shape))
        low, high = objects.channel_ranges(spec.normalization)[i].T
        channels = (
            (np.moveaxis(padded_image[box], -1, 0) - low.reshape(-1, *[1] * len(shape)))
            / (high - low).reshape(-1, *[1] * len(shape))
            * inside_image[box]
        )
        obj = padded_mask[box] == objects.labels[row]
        if spec.context is not None:
            channels = channels * ndimage.maximum_filter(obj, size=2 * spec.context + 1, mode="constant")
        if spec.channels is not None:
            channels = channels[list(spec.channels)]
        patch = np.concatenate([channels, obj[None].astype(np.float64)])
        f = spec.factor
        if f > 1:
            lead, (y, x) = patch.shape[:-2], patch.shape[-2:]
            blocks = patch.reshape(*lead, y // f, f, x // f, f)
            patch = np.concatenate([blocks[:-1].mean(axis=(-3, -1)), blocks[-1:].max(axis=(-3, -1))])
        out.append(patch)
    return np.stack(out).astype(np.float32)


def _with_corner_objects(image, mask):
    """The scene with an object in two opposite corners: patches that leave the image."""
    mask = mask.copy()
    mask[(slice(0, 3),) * mask.ndim] = mask.max() + 1
    mask[(slice(-2, None),) * mask.ndim] = mask.max() + 1
    return image, mask


SETTINGS = [
    {},
    {"normalization": "none"},
    {"normalization": "minmax", "channels": [1]},
    {"context": 2},
    {"shape": 40, "downscale": 4},
    {"shape": 24, "downscale": 3, "channels": [1, 0], "context": 1},
]


@pytest.mark.parametrize("settings", SETTINGS, ids=lambda s: ",".join(f"{k}={v}" for k, v in s.items()) or "default")
@pytest.mark.parametrize("scene", ["scene_2d_multichannel", "scene_3d"])
def test_network_inputs_equal_the_reference_inside_and_on_the_border(scene, settings, request):
    image, mask = _with_corner_objects(*request.getfixturevalue(scene)[:2])
    if mask.ndim == 3:
        settings = {k: v for k, v in settings.items() if k != "channels"}  # one channel
        if "shape" in settings:
            settings["shape"] = (8, settings["shape"], settings["shape"])
    objects = sv.Objects(image, mask, channel_axis=-1 if image.ndim > mask.ndim else None)
    spec = sv.PatchSpec(**settings).resolve(objects)
    starts = objects.centres - np.asarray(spec.resolved_shape) // 2
    on_border = np.any((starts < 0) | (starts + np.asarray(spec.resolved_shape) > mask.shape), axis=1)
    assert on_border.any() and (~on_border).any()  # both kinds of batch
    order = np.random.default_rng(0).permutation(len(objects))  # rows in any order
    got = network_inputs(objects, spec, order)
    assert got.shape == (len(order), spec.n_image_channels(objects.n_channels) + 1, *spec.input_shape)
    np.testing.assert_allclose(got, reference_inputs(objects, spec, order), rtol=1e-5, atol=2e-6)


def test_patch_batches_cover_every_row_once_in_both_kinds_of_batch(scene_2d_multichannel):
    image, mask, _ = scene_2d_multichannel
    objects = sv.Objects(image, mask, channel_axis=-1, patch_size=40)
    rows = np.arange(len(objects))[::-1]
    spec = sv.PatchSpec(channels=[1]).resolve(objects)
    batches = PatchBatches(objects, rows, spec, batch_size=7, device=torch.device("cpu"))
    plan = batches.plan()
    assert any(b.inner for b in plan) and any(not b.inner for b in plan)
    expected = reference_inputs(objects, spec, rows)
    seen = []
    for positions, x in batches:
        assert x.shape == (len(positions), 2, 40, 40) and x.dtype == torch.float32
        assert x.is_contiguous(memory_format=torch.channels_last)  # what the convolutions want
        np.testing.assert_allclose(x.numpy(), expected[positions], rtol=1e-5, atol=2e-6)
        seen.append(positions)
    assert np.array_equal(np.sort(np.concatenate(seen)), np.arange(len(rows)))


def test_bfloat16_inputs_are_the_float32_ones_rounded(scene_2d):
    image, mask, _ = scene_2d
    objects = sv.Objects(image, mask)
    spec = sv.PatchSpec().resolve(objects)
    rows = np.arange(len(objects))
    full = np.concatenate(
        [x.numpy() for _, x in PatchBatches(objects, rows, spec, batch_size=16, device=torch.device("cpu"))]
    )
    half = np.concatenate(
        [
            x.float().numpy()
            for _, x in PatchBatches(
                objects, rows, spec, batch_size=16, device=torch.device("cpu"), dtype=torch.bfloat16
            )
        ]
    )
    np.testing.assert_array_equal(half, torch.from_numpy(full).to(torch.bfloat16).float().numpy())


def test_several_images_and_dtypes_torch_does_not_take(scene_2d):
    image, mask, _ = scene_2d
    wide = (image * 1000).astype(np.uint32)  # torch has no uint32 from numpy: converted to float32
    objects = sv.Objects([image, wide], [mask, mask], name=["f.tif", "u.tif"])
    spec = sv.PatchSpec().resolve(objects)
    np.testing.assert_allclose(network_inputs(objects, spec), reference_inputs(objects, spec), rtol=1e-5, atol=2e-6)


def test_patches_match_a_direct_crop(scene_2d_multichannel):
    image, mask, _ = scene_2d_multichannel
    objects = sv.Objects(image, mask, patch_size=24)
    row = 7
    patch = patches(objects, [row], normalization="none")[0]
    cy, cx = objects.centres[row]
    y0, x0 = cy - 12, cx - 12
    np.testing.assert_allclose(patch[0], image[y0 : y0 + 24, x0 : x0 + 24, 0])
    np.testing.assert_allclose(patch[1], image[y0 : y0 + 24, x0 : x0 + 24, 1])
    np.testing.assert_array_equal(patch[2], mask[y0 : y0 + 24, x0 : x0 + 24] == objects.labels[row])
    lo, hi = objects.channel_ranges("percentile")[0, 0]
    normed = patches(objects, [row])[0, 0]
    np.testing.assert_allclose(normed, (image[y0 : y0 + 24, x0 : x0 + 24, 0] - lo) / (hi - lo), rtol=1e-5, atol=1e-6)


def test_border_objects_are_padded_not_dropped():
    mask = np.zeros((50, 50), np.int32)
    mask[0:6, 0:6] = 1
    mask[20:30, 20:30] = 2
    image = np.ones((50, 50), np.float32)
    objects = sv.Objects(image, mask, patch_size=16)
    assert len(objects) == 2
    patch = patches(objects, [0], normalization="none")[0]
    assert patch.shape == (2, 16, 16)
    # the top-left corner object sits at the centre: what lies outside the image is zero
    cy, cx = objects.centres[0]
    assert patch[0, : 8 - cy].sum() == 0 and patch[0, 8 - cy :, 8 - cx :].min() == 1
    assert patch[1].sum() == 36


def test_context_reduction_hides_far_pixels(scene_2d):
    image, mask, _ = scene_2d
    objects = sv.Objects(image, mask, patch_size=40)
    full = patches(objects, [10], normalization="none")[0]
    reduced = patches(objects, [10], normalization="none", context=2)[0]
    obj = full[1] > 0
    np.testing.assert_allclose(reduced[0][obj], full[0][obj])
    far = np.ones_like(obj)
    ys, xs = np.nonzero(obj)
    far[max(ys.min() - 2, 0) : ys.max() + 3, max(xs.min() - 2, 0) : xs.max() + 3] = False
    assert np.all(reduced[0][far] == 0) and np.any(full[0][far] != 0)


def test_shrinking_averages_blocks_and_keeps_thin_objects(scene_2d_multichannel):
    image, mask, _ = scene_2d_multichannel
    objects = sv.Objects(image, mask, channel_axis=-1, patch_size=24)
    full = patches(objects)
    shrunk = patches(objects, downscale=3)
    assert shrunk.shape == (len(objects), 3, 8, 8)
    # a thin object keeps its pixels: the mask channel is 1 wherever the object touches a block
    assert set(np.unique(shrunk[:, -1])) <= {0.0, 1.0}
    assert (shrunk[:, -1].sum(axis=(1, 2)) >= full[:, -1].sum(axis=(1, 2)) / 9).all()
    np.testing.assert_allclose(shrunk[:, :2], full[:, :2].reshape(-1, 2, 8, 3, 8, 3).mean((3, 5)), rtol=1e-5, atol=1e-6)


def test_3d_patches_keep_z_when_shrunk(scene_3d):
    image, mask, _ = scene_3d
    objects = sv.Objects(image, mask, patch_size=(8, 24, 24))
    shrunk = patches(objects, np.arange(4), downscale=2)
    assert shrunk.shape == (4, 2, 8, 12, 12)
    full = patches(objects, np.arange(4))
    np.testing.assert_allclose(
        shrunk[:, 0, 3], full[:, 0, 3].reshape(4, 12, 2, 12, 2).mean((2, 4)), rtol=1e-5, atol=1e-6
    )


def test_3d_patches_and_crop(scene_3d):
    image, mask, truth = scene_3d
    objects = sv.Objects(image, mask)
    assert objects.spatial_ndim == 3 and len(objects) == len(truth)
    pz, py, px = objects.patch_shape
    assert pz < py == px
    x = patches(objects, np.arange(4), normalization="none")
    assert x.shape == (4, 2, pz, py, px)
    row = 2
    cz, cy, cx = objects.centres[row]
    z0, y0, x0 = cz - pz // 2, cy - py // 2, cx - px // 2
    np.testing.assert_allclose(x[row, 0], image[z0 : z0 + pz, y0 : y0 + py, x0 : x0 + px])
    crop, obj, origin = objects.crop(row, size=(pz, py, px))
    assert origin == (z0, y0, x0)
    np.testing.assert_allclose(crop[..., 0], x[row, 0])
    np.testing.assert_array_equal(obj, x[row, 1] > 0)


def test_a_spec_not_resolved_or_for_other_objects_is_refused(scene_2d, scene_3d):
    image, mask, _ = scene_2d
    objects = sv.Objects(image, mask)
    with pytest.raises(ValueError, match="patch: the patch shape is not set yet"):
        network_inputs(objects, sv.PatchSpec())
    spec_3d = sv.PatchSpec().resolve(sv.Objects(*scene_3d[:2]))
    with pytest.raises(ValueError, match="objects: the patches are 3D; these objects are 2D"):
        network_inputs(objects, spec_3d)
    with pytest.raises(ValueError, match="channels: expected indices below 1"):
        network_inputs(objects, sv.PatchSpec(shape=(24, 24), channels=[1], downscale=1))


def test_window_view_is_a_view_of_every_window():
    array = np.arange(5 * 6 * 2).reshape(5, 6, 2)
    view = window_view(array, (3, 4))
    assert view.shape == (3, 3, 3, 4, 2) and np.shares_memory(view, array)
    np.testing.assert_array_equal(view[1, 2], array[1:4, 2:6])
    with pytest.raises(ValueError):
        view[0, 0, 0, 0, 0] = 1  # read-only
