"""A semantic, binary or reused-id mask is said, not silently classified (issue 17's spirit)."""

from __future__ import annotations

import warnings

import numpy as np
import pytest

import svetlana_nb as sv
from svetlana_nb.objects.mask_checks import split_labels


@pytest.fixture(scope="module")
def demo():
    return sv.data.cells_2d(shape=(256, 256), n_objects=40, seed=1)


def test_a_semantic_mask_is_named_with_its_pieces(demo):
    semantic = np.where(demo.mask > 0, 1 + demo.mask % 2, 0).astype(np.int32)
    with pytest.warns(UserWarning, match=r"mask \('image'\): 2 labels each cover several separate pieces") as caught:
        sv.Objects(demo.image, semantic)
    text = str(caught[0].message)
    assert "label 1: " in text and "label 2: " in text and "skimage.measure.label" in text


def test_a_binary_mask_and_a_reused_id_are_said(demo):
    with pytest.warns(UserWarning, match=r"1 label covers several separate pieces \(label 1: \d+ pieces\)"):
        sv.Objects(demo.image, (demo.mask > 0).astype(np.uint8))
    from scipy import ndimage

    reused = demo.mask.copy()
    labels = np.unique(demo.mask)[1:]
    centres = np.array(ndimage.center_of_mass(demo.mask > 0, demo.mask, labels))
    first = int(labels[0])
    far = int(labels[np.argmax(np.linalg.norm(centres - centres[0], axis=1))])
    reused[reused == far] = first  # two objects far apart share one id
    assert split_labels(reused, *_boxes(reused)) == {first: 2}


def test_good_masks_are_not_suspected(demo):
    big = demo.mask.copy()
    big[100:220, 20:140] = big.max() + 1  # one large object, in one piece, among small ones
    volume = sv.data.cells_3d(shape=(24, 96, 96), n_objects=12, seed=0)
    with warnings.catch_warnings():
        warnings.simplefilter("error")
        sv.Objects(demo.image, demo.mask)
        sv.Objects(demo.image, big)
        sv.Objects(volume.image, volume.mask, channel_axis=volume.channel_axis)
        single = np.zeros((64, 64), np.int32)
        single[10:50, 10:50] = 1  # one object filling most of a small image is fine
        sv.Objects(np.ones((64, 64)), single)


def _boxes(mask):
    from svetlana_nb.objects.boxes import bounding_boxes

    return bounding_boxes(mask)
