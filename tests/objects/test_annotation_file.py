"""Annotation files: fingerprints, two writers, a strict reader, saves as transactions."""

from __future__ import annotations

import json
import multiprocessing
import warnings

import numpy as np
import pytest
from helpers import grid_scene

import svetlana_nb as sv
from svetlana_nb.objects.annotations import FileChangedError


@pytest.fixture()
def objects():
    image, mask, _ = grid_scene(size=120)
    return sv.Objects(image, mask)


def _other_objects():
    image, mask, _ = grid_scene(size=150, seed=3)
    return sv.Objects(image, mask)


# -- 5: fingerprints -----------------------------------------------------------------------------
def test_annotations_saved_on_one_image_are_refused_on_another_of_the_same_name(objects, tmp_path):
    ann = sv.Annotations(objects, ["a", "b"])
    ann.add(int(objects.labels[0]), "a")
    ann.save(tmp_path / "ann.json")
    other = _other_objects()  # also named "image", and label ids that exist there too
    assert int(objects.labels[0]) in other.labels
    with pytest.raises(ValueError, match=r"saved on other segmentations.*image 'image': shape \[120, 120\]"):
        sv.Annotations.load(tmp_path / "ann.json", other)
    with pytest.warns(UserWarning, match="saved on other segmentations"):
        loaded = sv.Annotations.load(tmp_path / "ann.json", other, check="warn")
    assert len(loaded) == 1


def test_same_shape_and_count_but_other_ids_is_a_mismatch(objects, tmp_path):
    ann = sv.Annotations(objects, ["a", "b"])
    ann.add(int(objects.labels[0]), "a")
    ann.save(tmp_path / "ann.json")
    mask = objects.masks[0].copy()
    mask[mask == objects.labels[-1]] = objects.labels[-1] + 1000
    with pytest.raises(ValueError, match="other label ids"):
        sv.Annotations.load(tmp_path / "ann.json", sv.Objects(objects.images[0][..., 0], mask))


def test_a_version_1_file_loads_with_a_warning(objects, tmp_path):
    label = int(objects.labels[0])
    content = {
        "format": "svetlana_nb.annotations",
        "version": 1,
        "class_names": ["a", "b"],
        "images": ["image"],
        "annotations": [{"image": "image", "label": label, "class": "b"}],
    }
    (tmp_path / "old.json").write_text(json.dumps(content))
    with pytest.warns(UserWarning, match="no fingerprint"):
        ann = sv.Annotations.load(tmp_path / "old.json", objects)
    assert ann[label] == "b"


# -- 9: a strict reader ----------------------------------------------------------------------------
def _file(tmp_path, objects, **changes):
    ann = sv.Annotations(objects, ["a", "b"])
    ann.add(int(objects.labels[0]), "a")
    content = ann.to_dict()
    for key, value in changes.items():
        if key == "record":
            content["annotations"][0].update(value)
        else:
            content[key] = value
    path = tmp_path / "ann.json"
    path.write_text(json.dumps(content))
    return path


@pytest.mark.parametrize(
    ("changes", "message"),
    [
        ({"record": {"label": 1.9}}, "record 0: expected"),
        ({"record": {"label": True}}, "record 0: expected"),
        ({"record": {"label": "3"}}, "record 0: expected"),
        ({"version": 99}, "version 99"),
        ({"version": True}, "version True"),
        ({"class_names": "ab"}, "field 'class_names'"),
        ({"class_names": None}, "field 'class_names'"),
        ({"annotations": {}}, "field 'annotations'"),
        ({"fingerprints": []}, "field 'fingerprints'"),
    ],
)
def test_a_file_with_wrong_types_is_refused_naming_the_field(objects, tmp_path, changes, message):
    path = _file(tmp_path, objects, **changes)
    with pytest.raises(ValueError, match=message):
        sv.Annotations.load(path, objects)


def test_conflicting_records_for_one_object_are_refused(objects, tmp_path):
    path = _file(tmp_path, objects)
    content = json.loads(path.read_text())
    content["annotations"].append({**content["annotations"][0], "class": "b"})
    path.write_text(json.dumps(content))
    with pytest.raises(ValueError, match="annotated twice with different classes"):
        sv.Annotations.load(path, objects)


@pytest.mark.parametrize("names", [None, "ab"])
def test_class_names_must_be_a_list(objects, names):
    with pytest.raises(TypeError, match="class_names: expected a list of class names"):
        sv.Annotations(objects, names)


# -- 6: two writers --------------------------------------------------------------------------------
def test_a_second_writer_on_one_file_is_refused_and_no_label_is_lost(objects, tmp_path):
    path = tmp_path / "shared.json"
    first = sv.Annotations.open(path, objects, ["a", "b"])
    second = sv.Annotations.open(path, objects, ["a", "b"])
    for label in objects.labels[:5]:
        first.add(int(label), "a")
    with pytest.raises(FileChangedError, match="changed by another program or Annotator"):
        second.add(int(objects.labels[10]), "b")
    assert len(second) == 0  # the refused change is not kept in memory either
    on_disk = sv.Annotations.load(path, objects)
    assert len(on_disk) == 5
    first.add(int(objects.labels[6]), "b")  # the first writer goes on
    assert len(sv.Annotations.load(path, objects)) == 6


def _write_from_another_process(path, labels):
    image, mask, _ = grid_scene(size=120)
    objects = sv.Objects(image, mask)
    ann = sv.Annotations.open(path, objects, ["a", "b"])
    for label in labels:
        ann.add(int(label), "b")


def test_a_writer_in_another_process_is_detected(objects, tmp_path):
    path = tmp_path / "shared.json"
    mine = sv.Annotations.open(path, objects, ["a", "b"])
    mine.add(int(objects.labels[0]), "a")
    context = multiprocessing.get_context("spawn")
    process = context.Process(target=_write_from_another_process, args=(path, objects.labels[1:4].tolist()))
    process.start()
    process.join(120)
    assert process.exitcode == 0
    with pytest.raises(FileChangedError):
        mine.add(int(objects.labels[5]), "a")
    assert len(sv.Annotations.load(path, objects)) == 4


# -- 10: a failed save changes nothing -------------------------------------------------------------
def test_a_failed_autosave_leaves_memory_as_the_file_and_tells_no_listener(objects, tmp_path, monkeypatch):
    path = tmp_path / "auto.json"
    ann = sv.Annotations.open(path, objects, ["a", "b"])
    ann.add(int(objects.labels[0]), "a")
    heard = []
    ann.on_change(lambda a: heard.append(len(a)))
    import svetlana_nb._files as files

    def disk_full(*args, **kwargs):
        raise OSError("disk full")

    monkeypatch.setattr(files.os, "fsync", disk_full)
    for action in (
        lambda: ann.add(int(objects.labels[1]), "b"),
        lambda: ann.remove(int(objects.labels[0])),
        lambda: ann.undo(),
        lambda: ann.add_class("c"),
    ):
        with pytest.raises(OSError, match="disk full"):
            action()
        assert dict(ann.items()) == {("image", int(objects.labels[0])): "a"}
        assert ann.class_names == ["a", "b"]
    assert heard == []
    monkeypatch.undo()
    ann.add(int(objects.labels[1]), "b")  # the next save works and holds what memory holds
    assert heard == [2]
    assert dict(sv.Annotations.load(path, objects).items()) == dict(ann.items())
    assert ann.undo() == ("image", int(objects.labels[1]))


def test_load_warns_nothing_for_a_current_file(objects, tmp_path):
    ann = sv.Annotations(objects, ["a", "b"])
    ann.add(int(objects.labels[0]), "a")
    ann.save(tmp_path / "ann.json")
    with warnings.catch_warnings():
        warnings.simplefilter("error")
        loaded = sv.Annotations.load(tmp_path / "ann.json", objects)
    assert dict(loaded.items()) == dict(ann.items())
    assert np.array_equal(loaded.rows_and_targets()[0], ann.rows_and_targets()[0])
