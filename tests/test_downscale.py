"""Large objects: patches shrunk before the network (``downscale``), on every path."""

import numpy as np
import pytest
import torch

import svetlana_nb as sv
from svetlana_nb import inference
from svetlana_nb.patches import choose_downscale, shrink


def _upscaled(scene, factor):
    image, mask, truth = scene
    block = np.ones((factor, factor), dtype=np.int32)
    image = np.stack([np.kron(image[..., c], block) for c in range(image.shape[-1])], axis=-1) \
        if image.ndim == 3 else np.kron(image, block.astype(image.dtype))
    return image, np.kron(mask, block), truth


def _block_reference(patches, factor):
    """Shrink by an explicit loop over output pixels: the obvious way."""
    n, c, y, x = patches.shape
    out = np.empty((n, c, y // factor, x // factor), np.float32)
    for i in range(y // factor):
        for j in range(x // factor):
            block = patches[:, :, i * factor:(i + 1) * factor, j * factor:(j + 1) * factor]
            out[:, :-1, i, j] = block[:, :-1].mean(axis=(2, 3))
            out[:, -1, i, j] = block[:, -1].max(axis=(1, 2))
    return out


def test_patches_shrink_by_block_mean_and_mask_maximum(scene_2d_multichannel):
    image, mask, _ = scene_2d_multichannel
    objects = sv.Objects(image, mask, channel_axis=-1, patch_size=24)
    full = objects.patches()
    shrunk = objects.patches(downscale=3)
    assert shrunk.shape == (len(objects), 3, 8, 8)
    np.testing.assert_allclose(shrunk, _block_reference(full, 3), rtol=1e-5, atol=1e-6)
    # a thin object keeps its pixels: the mask channel is 1 wherever the object touches a block
    assert set(np.unique(shrunk[:, -1])) <= {0.0, 1.0}
    assert (shrunk[:, -1].sum(axis=(1, 2)) >= full[:, -1].sum(axis=(1, 2)) / 9).all()
    chosen = objects.patches(channels=[1], downscale=2)
    np.testing.assert_allclose(chosen, shrink(full[:, [1, 2]], 2), rtol=1e-5, atol=1e-6)


def test_3d_patches_keep_z(scene_3d):
    image, mask, _ = scene_3d
    objects = sv.Objects(image, mask, patch_size=(8, 24, 24))
    shrunk = objects.patches(np.arange(4), downscale=2)
    assert shrunk.shape == (4, 2, 8, 12, 12)
    full = objects.patches(np.arange(4))
    np.testing.assert_allclose(shrunk[:, 0, 3], full[:, 0, 3].reshape(4, 12, 2, 12, 2).mean((2, 4)),
                               rtol=1e-5, atol=1e-6)


@pytest.mark.parametrize("downscale", [0, -2, 1.5, True, "2", 5])
def test_bad_downscale_is_refused_naming_the_parameter(scene_2d, downscale):
    image, mask, _ = scene_2d
    objects = sv.Objects(image, mask, patch_size=24)
    with pytest.raises(ValueError, match="downscale"):
        objects.patches(downscale=downscale)  # 5 does not divide 24
    if downscale != 5:
        with pytest.raises(ValueError, match="downscale"):
            sv.Classifier(objects, downscale=downscale)


@pytest.mark.parametrize("scene", ["scene_2d_multichannel", "scene_3d"])
def test_batched_paths_shrink_like_objects_patches(scene, request):
    image, mask, _ = request.getfixturevalue(scene)
    ndim = mask.ndim
    shape = (40, 40) if ndim == 2 else (8, 40, 40)
    objects = sv.Objects(image, mask, channel_axis=-1 if image.ndim > ndim else None, patch_size=shape)
    rows = np.arange(len(objects))
    batches = inference.PatchBatches(objects, rows, patch_shape=shape, normalization="percentile", context=None,
                                     batch_size=7, device=torch.device("cpu"), downscale=4)
    plan = batches.plan()
    assert any(b.fast for b in plan) and any(not b.fast for b in plan)  # objects inside and on the border
    expected = objects.patches(rows, patch_shape=shape, downscale=4)
    assert expected.shape[-2:] == (10, 10)
    for positions, x in batches.prefetched(plan):
        np.testing.assert_allclose(x.numpy(), expected[positions], rtol=1e-5, atol=1e-5)


def test_choose_downscale_keeps_the_network_input_small():
    assert choose_downscale((48, 48)) == 1 and choose_downscale((64, 64)) == 1
    assert choose_downscale((65, 65)) == 2 and choose_downscale((8, 200, 200)) == 4
    assert choose_downscale((100, 100), max_side=32) == 4


def test_classifier_shrinks_large_objects_and_still_classifies_them(scene_2d, tmp_path):
    image, mask, truth = _upscaled(scene_2d, 4)  # discs of 24-40 px radius
    objects = sv.Objects(image, mask)
    assert max(objects.patch_shape) > 64
    clf = sv.Classifier(objects, seed=0)
    assert clf.downscale == choose_downscale(objects.patch_shape) >= 2
    assert all(s % clf.downscale == 0 for s in clf.patch_shape)
    assert clf.input_shape == tuple(s // clf.downscale for s in clf.patch_shape)
    assert f"shrunk {clf.downscale}x" in repr(clf)
    ann = sv.Annotations(objects, ["a", "b"])
    rng = np.random.default_rng(0)
    chosen = rng.choice(objects.labels, 30, replace=False)
    for label in chosen:
        ann.add(int(label), truth[int(label)])
    seen = {}
    clf.fit(ann, epochs=60, callbacks=[sv.FunctionCallback(on_train_begin=seen.update)])
    assert seen["patch"] == clf.patch_description and f"shrunk {clf.downscale}× to" in seen["patch"]
    assert clf.patches(objects, np.arange(2)).shape == (2, 2, *clf.input_shape)
    result = clf.predict(objects)
    held_out = [k for k in objects.labels if k not in set(chosen.tolist())]
    accuracy = np.mean([result.classes[int(k)] == truth[int(k)] for k in held_out])
    assert accuracy >= 0.85, accuracy
    cam = sv.grad_cam(clf, objects, int(objects.labels[0]))
    assert cam.patch.shape == (2, *clf.input_shape) and cam.heatmap.shape == clf.input_shape
    clf.save(tmp_path / "m.svnb")
    loaded = sv.Classifier.load(tmp_path / "m.svnb")
    assert loaded.downscale == clf.downscale and loaded.input_shape == clf.input_shape
    np.testing.assert_allclose(loaded.predict_proba(objects), result.probabilities, atol=1e-6)


def test_explicit_downscale_and_patch_size_rounding(scene_2d):
    image, mask, _ = scene_2d
    objects = sv.Objects(image, mask)
    assert sv.Classifier(objects, patch_size=96).downscale == 2
    full = sv.Classifier(objects, patch_size=96, downscale=1)
    assert full.downscale == 1 and full.input_shape == (96, 96)
    odd = sv.Classifier(objects, patch_size=99, downscale=2)  # rounded up to a multiple of 2
    assert odd.patch_shape == (100, 100) and odd.input_shape == (50, 50)
    small = sv.Classifier(objects, patch_size=40)
    assert small.downscale == 1 and small.input_shape == small.patch_shape == (40, 40)


def test_model_files_from_before_downscale_load_at_full_resolution(scene_2d, tmp_path):
    import json

    from safetensors import safe_open
    from safetensors.torch import save_file

    image, mask, truth = scene_2d
    objects = sv.Objects(image, mask)
    clf = sv.Classifier(objects, seed=0)
    ann = sv.Annotations(objects, ["a", "b"])
    for label in objects.labels[:12]:
        ann.add(int(label), truth[int(label)])
    clf.fit(ann, epochs=2)
    clf.save(tmp_path / "new.svnb")
    with safe_open(tmp_path / "new.svnb", framework="pt") as f:
        metadata = dict(f.metadata())
        tensors = {k: f.get_tensor(k) for k in f.keys()}
    key = next(k for k, v in metadata.items() if '"downscale"' in v)
    config = json.loads(metadata[key])
    del config["downscale"]
    metadata[key] = json.dumps(config)
    save_file(tensors, str(tmp_path / "old.svnb"), metadata=metadata)
    old = sv.Classifier.load(tmp_path / "old.svnb")
    assert old.downscale == 1
    np.testing.assert_allclose(old.predict_proba(objects), clf.predict_proba(objects), atol=1e-6)

