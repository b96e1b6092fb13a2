"""An annotation file saved on old masks, moved onto a new segmentation (issue 19)."""

from __future__ import annotations

import numpy as np
import pytest

import svetlana_nb as sv
from svetlana_nb.io import write_tiff
from svetlana_nb.objects.annotation_file import SegmentationMismatchError
from svetlana_nb.objects.transfer_file import backup_copy

CLASSES = ["healthy", "infected"]


def _mask(shift: int = 0) -> np.ndarray:
    """16 squares of 12 x 12 px on a 4 x 4 grid, labels in reading order (reversed when shifted)."""
    mask = np.zeros((128, 128), np.int32)
    for i in range(4):
        for j in range(4):
            y, x = 8 + 30 * i + shift, 8 + 30 * j + shift
            mask[y : y + 12, x : x + 12] = 4 * i + j + 1
    if shift:  # a re-segmentation numbers its objects differently
        mask[mask > 0] = 17 - mask[mask > 0]
    return mask


def _objects(mask: np.ndarray) -> sv.Objects:
    image = np.random.default_rng(0).random((128, 128)).astype(np.float32)
    return sv.Objects(image, mask, name="field")


@pytest.fixture()
def saved(tmp_path):
    """An annotation file on the old masks: labels 1-5 healthy, 6-8 infected."""
    old = sv.Annotations(_objects(_mask()), CLASSES)
    for label in range(1, 9):
        old.add(label, CLASSES[label > 5])
    path = tmp_path / "ann.json"
    old.save(path)
    return path


def test_a_file_on_old_masks_is_refused_naming_the_image_and_moved_with_the_old_mask(saved, tmp_path):
    new_objects = _objects(_mask(shift=1))
    with pytest.raises(SegmentationMismatchError, match="saved on other segmentations") as caught:
        sv.Annotations.load(saved, new_objects)
    assert caught.value.images == ["field"]

    write_tiff(tmp_path / "old_mask.tif", _mask())
    for old_mask in (_mask(), tmp_path / "old_mask.tif", {"field": _mask()}):
        moved, report = sv.objects.transfer_file(saved, new_objects, old_mask)
        assert report.summary() == "8 of 8 annotations moved"
        # old label L (at the same place, shifted by 1 px) is new label 17 - L
        assert dict(moved.items()) == {("field", 17 - label): CLASSES[label > 5] for label in range(1, 9)}
        assert moved.objects is new_objects and moved.autosave is None


def test_a_wrong_old_mask_is_refused_rather_than_matched(saved):
    new_objects = _objects(_mask(shift=1))
    with pytest.raises(SegmentationMismatchError):
        sv.objects.transfer_file(saved, new_objects, _mask(shift=2))
    with pytest.raises(ValueError, match=r"old_masks: no image named \['other'\]"):
        sv.objects.transfer_file(saved, new_objects, {"other": _mask()})


def test_adopt_keeps_labels_given_here_replaces_the_file_and_rolls_back_on_failure(saved, monkeypatch):
    new_objects = _objects(_mask(shift=1))
    moved, _ = sv.objects.transfer_file(saved, new_objects, _mask())
    here = sv.Annotations(new_objects, CLASSES)
    here.add(16, "infected")  # old label 1 (healthy in the file): the user's new label wins
    backup = backup_copy(saved)
    assert backup.name == "ann.before-transfer.json" and backup.read_bytes() == saved.read_bytes()
    assert backup_copy(saved).name == "ann.before-transfer-2.json"  # never over a copy

    import svetlana_nb.objects.annotations as annotations_module

    def full_disk(path, text):
        raise OSError("No space left on device")

    monkeypatch.setattr(annotations_module, "atomic_write_text", full_disk)
    with pytest.raises(OSError):
        here.adopt(moved, autosave=saved)
    assert len(here) == 1 and here.autosave is None  # memory put back
    monkeypatch.undo()

    assert here.adopt(moved, autosave=saved) == 7
    assert here[16] == "infected" and here[15] == "healthy" and len(here) == 8
    reread = sv.Annotations.load(saved, new_objects)
    assert dict(reread.items()) == dict(here.items())
    with pytest.raises(ValueError, match="other Objects"):
        here.adopt(sv.Annotations(_objects(_mask()), CLASSES))


def test_a_file_written_before_boxes_were_fingerprinted_still_loads_on_its_objects(saved):
    import json

    content = json.loads(saved.read_text())
    for print_ in content["fingerprints"].values():
        del print_["boxes_sha256"]
    saved.write_text(json.dumps(content))
    assert len(sv.Annotations.load(saved, _objects(_mask()))) == 8
    # Same label ids elsewhere: that older file cannot tell (the new field is what catches it).
    assert len(sv.Annotations.load(saved, _objects(_mask(shift=1)))) == 8
