"""``PatchSpec``: one value for what a patch holds, checked, resolved for objects, serialised."""

import json

import numpy as np
import pytest

import svetlana_nb as sv
from svetlana_nb.objects.patch_spec import choose_downscale, estimate_patch_shape


def test_a_spec_resolves_for_its_objects_and_round_trips_through_json(scene_2d_multichannel):
    image, mask, _ = scene_2d_multichannel
    objects = sv.Objects(image, mask, channel_axis=-1)
    spec = sv.PatchSpec(channels=[1], context=3)
    assert not spec.is_resolved and spec.describe() == "patch size not set yet"
    resolved = spec.resolve(objects)
    assert resolved.is_resolved and resolved.shape == objects.patch_shape and resolved.downscale == 1
    assert resolved.input_shape == objects.patch_shape and resolved.n_image_channels(2) == 1
    assert sv.PatchSpec.from_dict(json.loads(json.dumps(resolved.to_dict()))) == resolved
    assert resolved.replace(channels=None).channels is None and resolved.channels == (1,)  # frozen
    with pytest.raises(AttributeError):
        resolved.context = 1


def test_large_patches_are_shrunk_and_rounded_to_a_multiple_of_the_factor(scene_2d):
    image, mask, _ = scene_2d
    objects = sv.Objects(image, mask)
    spec = sv.PatchSpec(shape=99).resolve(objects)
    assert spec.downscale == 2 and spec.shape == (100, 100) and spec.input_shape == (50, 50)
    assert spec.describe() == "100×100 px, shrunk 2× to 50×50"
    assert sv.PatchSpec(shape=96, downscale=1).resolve(objects).input_shape == (96, 96)
    assert sv.PatchSpec(shape=40).resolve(objects).describe() == "40×40 px"
    with pytest.raises(ValueError, match="patch_size: \\(8, 40, 40\\) has 3 sides but the objects are 2D"):
        sv.PatchSpec(shape=(8, 40, 40)).resolve(objects)


@pytest.mark.parametrize(
    "settings, message",
    [
        ({"shape": 0}, "patch_size"),
        ({"shape": (10,)}, "patch_size"),
        ({"shape": "32"}, "patch_size"),
        ({"shape": (24, 24), "downscale": 5}, "downscale: 5 does not divide"),
        ({"downscale": 0}, "downscale"),
        ({"downscale": 1.5}, "downscale"),
        ({"downscale": True}, "downscale"),
        ({"context": -3}, "context"),
        ({"context": 2.5}, "context"),
        ({"context": 346361856}, "context"),  # a crafted model file: it hung prediction
        ({"channels": [1, 1]}, "channels"),
        ({"channels": ["0"]}, "channels"),
        ({"normalization": "zscore"}, "normalization"),
    ],
)
def test_bad_settings_are_refused_naming_them(settings, message):
    with pytest.raises(ValueError, match=message):
        sv.PatchSpec(**settings)


def test_from_dict_refuses_unknown_settings():
    with pytest.raises(ValueError, match=r"patch: unknown setting\(s\) \['size'\]"):
        sv.PatchSpec.from_dict({"size": 32})


def test_channels_beyond_the_objects_are_refused_at_resolution(scene_2d):
    image, mask, _ = scene_2d
    with pytest.raises(ValueError, match="channels: expected indices below 1"):
        sv.PatchSpec(channels=[1]).resolve(sv.Objects(image, mask))


def test_choose_downscale_keeps_the_network_input_small():
    assert choose_downscale((48, 48)) == 1 and choose_downscale((64, 64)) == 1
    assert choose_downscale((65, 65)) == 2 and choose_downscale((8, 200, 200)) == 4
    assert choose_downscale((100, 100), max_side=32) == 4


def test_patch_shape_estimate_ignores_one_huge_outlier():
    extents = np.array([[10, 12]] * 50 + [[300, 300]])
    assert estimate_patch_shape(extents) == (16, 16)
    assert estimate_patch_shape(np.array([[4, 30, 30]] * 10)) == (8, 40, 40)


@pytest.mark.parametrize("diameter", [10, 20, 30, 50, 100, 150, 200])
def test_objects_of_10_to_200_px_reach_the_network_whole_at_16_to_64_px(diameter):
    rng = np.random.default_rng(diameter)
    extents = rng.uniform(0.7, 1.3, (200, 2)) * diameter
    shape = estimate_patch_shape(extents)
    spec = sv.PatchSpec(shape=shape).resolve(_Geometry(2, shape))
    assert min(spec.resolved_shape) >= np.percentile(extents, 95)  # the patch holds nearly every object
    assert all(16 <= side <= 64 for side in spec.input_shape)
    assert min(spec.input_shape) >= 0.5 * 64 or spec.factor == 1  # shrunk no further than needed


@pytest.mark.parametrize("z_step", [2, 3, 4, 5])
def test_anisotropic_3d_objects_keep_their_planes_and_a_z_context(z_step):
    # objects 40 px across in Y and X, imaged every z_step pixels along Z
    extents = np.column_stack([np.full(50, 40 // z_step), np.full(50, 40), np.full(50, 40)])
    shape = estimate_patch_shape(extents)
    assert shape[0] >= extents[0, 0] and shape[0] % 4 == 0 and shape[1] == shape[2] == 52
    spec = sv.PatchSpec(shape=shape).resolve(_Geometry(3, shape))
    assert spec.input_shape[0] == shape[0]  # Z is never shrunk: it holds few planes already


class _Geometry:
    """The three properties a spec reads of objects (:class:`ObjectGeometry`)."""

    def __init__(self, ndim: int, patch_shape: tuple[int, ...]) -> None:
        self.spatial_ndim, self.n_channels, self.patch_shape = ndim, 1, patch_shape
