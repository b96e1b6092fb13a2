"""Annotations that survive re-segmentation: moved by overlap, never by a guess (issue 19)."""

from __future__ import annotations

import numpy as np
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

import svetlana_nb as sv
from svetlana_nb.objects.transfer import TransferReport, pair_overlaps

SIZE, SIDE, STEP, GRID = 160, 16, 30, 5
CLASSES = ["healthy", "infected"]


def _mask() -> np.ndarray:
    """25 squares of 16 x 16 px, 14 px apart, labels 1..25 row by row."""
    mask = np.zeros((SIZE, SIZE), np.int32)
    for i in range(GRID):
        for j in range(GRID):
            y, x = 10 + STEP * i, 10 + STEP * j
            mask[y : y + SIDE, x : x + SIDE] = GRID * i + j + 1
    return mask


def _objects(mask: np.ndarray, name: str = "image") -> sv.Objects:
    return sv.Objects(np.ones(mask.shape, np.float32), mask, name=name)


@pytest.fixture()
def old() -> sv.Annotations:
    """Every object annotated: healthy for odd labels, infected for even ones."""
    ann = sv.Annotations(_objects(_mask()), CLASSES)
    for label in range(1, GRID * GRID + 1):
        ann._labels[("image", label)] = CLASSES[label % 2 == 0]
    return ann


def _class_at(ann: sv.Annotations, mask: np.ndarray, y: int, x: int) -> str | None:
    return ann.get(("image", int(mask[y, x])))


def _centres():
    return [(10 + STEP * i + SIDE // 2, 10 + STEP * j + SIDE // 2) for i in range(GRID) for j in range(GRID)]


def test_a_shift_of_one_or_two_pixels_moves_every_annotation(old):
    new_mask = np.roll(_mask(), (1, 2), axis=(0, 1))
    new, report = old.transfer(_objects(new_mask))
    assert len(new) == len(old) == 25 and len(report.matched) == 25
    assert all(iou > 0.6 for _, _, iou in report.matched)
    for y, x in _centres():
        assert _class_at(new, new_mask, y, x) == _class_at(old, _mask(), y, x)
    assert report.summary() == "25 of 25 annotations moved"
    assert new.class_names == CLASSES and new.objects.masks[0] is not old.objects.masks[0]
    assert new.autosave is None


def test_a_split_object_is_reported_ambiguous_and_not_transferred(old):
    new_mask = _mask()
    piece = new_mask[10 : 10 + SIDE, 10 + SIDE // 2 : 10 + SIDE]  # right half of object 1
    piece[piece == 1] = 99
    new, report = old.transfer(_objects(new_mask))
    assert [(key, kind) for key, kind, _ in report.ambiguous] == [(("image", 1), "split")]
    assert "split into new objects" in report.ambiguous[0][2] and "IoU 0.50" in report.ambiguous[0][2]
    assert ("image", 1) not in new and ("image", 99) not in new
    assert len(new) == 24 and len(report.matched) == 24
    assert report.summary() == "24 of 25 annotations moved; 1 object was split"


def test_two_merged_objects_of_different_classes_are_reported_and_not_transferred(old):
    new_mask = _mask()
    new_mask[10 : 10 + SIDE, 10 : 10 + STEP + SIDE][new_mask[10 : 10 + SIDE, 10 : 10 + STEP + SIDE] == 2] = 1
    new_mask[10 : 10 + SIDE, 10 + SIDE : 10 + STEP] = 1  # bridge the gap: one object
    assert old[("image", 1)] != old[("image", 2)]
    new, report = old.transfer(_objects(new_mask))
    assert sorted((key, kind) for key, kind, _ in report.ambiguous) == [
        (("image", 1), "merge"),
        (("image", 2), "merge"),
    ]
    assert "merged into new object 1" in report.ambiguous[0][2]
    assert ("image", 1) not in new and len(new) == 23
    assert report.summary() == "23 of 25 annotations moved; 2 were merged with another object"
    _, lenient = old.transfer(_objects(new_mask), min_iou=0.3)  # both reach 0.3 (IoU 0.35): still no guess
    assert len(lenient.ambiguous) == 2 and ("image", 1) not in [key for key, _, _ in lenient.matched]


def test_a_deleted_object_is_unmatched_with_its_best_iou(old):
    new_mask = _mask()
    new_mask[new_mask == 7] = 0
    new_mask[new_mask == 8] = 0
    new_mask[40:44, 70:74] = 8  # a speck where object 8 was: IoU 16 / 256
    new, report = old.transfer(_objects(new_mask))
    assert report.unmatched == [(("image", 7), 0.0), (("image", 8), 16 / 256)]
    assert len(new) == 23 and ("image", 8) not in new
    assert report.summary() == "23 of 25 annotations moved; 2 have no counterpart"


def test_random_new_ids_carry_the_classes_with_the_pixels(old):
    rng = np.random.default_rng(4)
    lookup = np.concatenate([[0], rng.permutation(np.arange(100, 125))])
    new_mask = lookup[_mask()]
    new, report = old.transfer(_objects(new_mask))
    assert len(report.matched) == 25 and all(iou == 1.0 for _, _, iou in report.matched)
    for y, x in _centres():
        assert _class_at(new, new_mask, y, x) == _class_at(old, _mask(), y, x)
    assert [old_key for old_key, _, _ in report.matched] == [key for key, _ in old.items()]


@settings(max_examples=25, deadline=None)
@given(st.permutations(list(range(1, GRID * GRID + 1))), st.sets(st.integers(1, GRID * GRID), max_size=25))
def test_a_pure_relabelling_moves_every_annotation_with_iou_one(permutation, annotated):
    mask = _mask()
    ann = sv.Annotations(_objects(mask), CLASSES)
    for label in sorted(annotated):
        ann._labels[("image", label)] = CLASSES[label % 3 == 0]
    new_mask = np.concatenate([[0], permutation])[mask]
    new, report = ann.transfer(_objects(new_mask))
    assert len(report.matched) == len(annotated) == len(new)
    assert not report.unmatched and not report.ambiguous and not report.skipped
    for (_, old_label), (_, new_label), iou in report.matched:
        assert iou == 1.0 and new_label == permutation[old_label - 1]
        assert new[("image", new_label)] == ann[("image", old_label)]


@pytest.mark.parametrize("bad", [0, 0.0, -0.1, 1.01, float("nan"), float("inf"), "0.5", None, True])
def test_min_iou_outside_zero_one_is_refused_by_name(old, bad):
    with pytest.raises(ValueError, match="min_iou: expected a number in \\(0, 1\\]"):
        old.transfer(_objects(_mask()), min_iou=bad)


def test_new_objects_of_the_wrong_type_are_refused_by_name(old):
    with pytest.raises(TypeError, match="new_objects: expected an Objects"):
        old.transfer(_mask())  # type: ignore[arg-type]


def test_an_image_absent_from_the_new_objects_is_reported():
    masks = [_mask(), _mask()[::-1].copy()]
    ann = sv.Annotations(sv.Objects([np.ones((SIZE, SIZE))] * 2, masks, name=["a.tif", "b.tif"]), CLASSES)
    ann.add(("a.tif", 3), "healthy")
    ann.add(("b.tif", 4), "infected")
    ann.add(("b.tif", 5), "healthy")
    new, report = ann.transfer(_objects(_mask(), name="a.tif"))
    assert [key for key, _ in report.skipped] == [("b.tif", 4), ("b.tif", 5)]
    assert report.missing_images == ["b.tif"] and "not in the new objects" in report.skipped[0][1]
    assert len(new) == 1 and new[("a.tif", 3)] == "healthy"
    assert report.summary() == "1 of 3 annotations moved; 2 were on images not comparable ('b.tif')"


def test_an_image_of_another_shape_is_skipped():
    ann = sv.Annotations(_objects(_mask()), CLASSES)
    ann.add(1, "healthy")
    _, report = ann.transfer(_objects(_mask()[:100, :100]))
    assert report.skipped == [(("image", 1), "image 'image' has shape [100, 100] in the new objects, [160, 160] here")]


def test_a_low_threshold_matches_a_shrunk_object(old):
    new_mask = _mask()
    new_mask[(new_mask == 1) & (np.arange(SIZE)[None, :] >= 10 + 6)] = 0  # object 1 keeps 6 of 16 columns
    _, strict = old.transfer(_objects(new_mask))
    assert strict.unmatched == [(("image", 1), 6 / 16)]
    _, lenient = old.transfer(_objects(new_mask), min_iou=0.3)
    assert (("image", 1), ("image", 1), 6 / 16) in lenient.matched and not lenient.unmatched


def test_the_report_is_frozen_and_every_annotation_is_in_one_list(old):
    new_mask = _mask()
    new_mask[new_mask == 5] = 0
    _, report = old.transfer(_objects(new_mask))
    assert isinstance(report, TransferReport) and report.n_annotations == len(old)
    with pytest.raises(AttributeError):
        report.min_iou = 0.1  # type: ignore[misc]
    assert str(report) == report.summary()


def test_pair_overlaps_counts_every_pair_at_once():
    a = np.array([[1, 1, 0], [2, 2, 2]])
    b = np.array([[3, 0, 0], [3, 4, 4]])
    old, new, iou = pair_overlaps(a, b)
    assert list(zip(old.tolist(), new.tolist())) == [(1, 3), (2, 3), (2, 4)]
    np.testing.assert_allclose(iou, [1 / 3, 1 / 4, 2 / 3])


def test_a_refused_file_says_how_to_transfer(old, tmp_path):
    old.save(tmp_path / "ann.json")
    new_objects = _objects(np.roll(_mask(), 2, axis=1)[:, :150])
    with pytest.raises(ValueError, match=r"loads it anyway\). To move these labels.*old.transfer\(objects\)"):
        sv.Annotations.open(tmp_path / "ann.json", new_objects, CLASSES)  # what the Annotator does


def test_volumes_transfer_like_images():
    mask = np.zeros((12, 40, 40), np.int32)
    mask[2:10, 4:16, 4:16], mask[2:10, 22:36, 20:34] = 3, 8
    ann = sv.Annotations(_objects(mask), CLASSES)
    ann.add(3, "healthy")
    ann.add(8, "infected")
    new, report = ann.transfer(_objects(np.roll(np.where(mask == 3, 5, mask), 1, axis=0)))
    assert dict(new.items()) == {("image", 5): "healthy", ("image", 8): "infected"}
    assert [round(iou, 3) for _, _, iou in report.matched] == [round(7 / 9, 3)] * 2


def test_ten_thousand_annotated_objects_all_move():
    # (Speed is not asserted here: unit tests are not timed; the transfer is vectorised, one
    # np.unique over the pixels of an image.)
    n = 1000
    yy, xx = np.mgrid[:n, :n]
    mask = ((yy // 10) * (n // 10) + (xx // 10) + 1).astype(np.int32)
    mask[(yy % 10 < 2) | (xx % 10 < 2)] = 0
    ann = sv.Annotations(sv.Objects(np.ones((n, n), np.float32), mask, patch_size=8), CLASSES)
    ann._labels = {("image", int(label)): CLASSES[label % 2] for label in range(1, 10_001)}
    shifted = np.zeros_like(mask)
    shifted[:, 1:] = mask[:, :-1]
    new, report = ann.transfer(sv.Objects(np.ones((n, n), np.float32), shifted, patch_size=8))
    assert len(new) == 10_000 and report.summary() == "10000 of 10000 annotations moved"


def test_no_annotations_transfer_to_none():
    new, report = sv.Annotations(_objects(_mask()), CLASSES).transfer(_objects(_mask()))
    assert len(new) == 0 and report.n_annotations == 0 and report.summary() == "0 of 0 annotations moved"
