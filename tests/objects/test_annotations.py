import json

import numpy as np
import pytest

import svetlana_nb as sv


@pytest.fixture()
def objects(scene_2d):
    image, mask, _ = scene_2d
    return sv.Objects(image, mask)


def test_add_undo_redo_remove(objects):
    ann = sv.Annotations(objects, ["a", "b", "c"])
    first, second = int(objects.labels[0]), int(objects.labels[1])
    ann.add(first, "a")
    ann.add(second, "c")
    ann.add(first, "b")  # relabel
    assert len(ann) == 2 and ann[first] == "b" and ann[second] == "c"
    assert ann.undo() == ("image", first)
    assert ann[first] == "a"
    ann.redo()
    assert ann[first] == "b"
    ann.remove(second)
    assert second not in ann and len(ann) == 1
    ann.undo()
    assert ann[second] == "c"
    assert ann.counts() == {"a": 0, "b": 1, "c": 1}
    rows, targets = ann.rows_and_targets()
    assert objects.labels[rows].tolist() == [first, second] and targets.tolist() == [1, 2]
    ann.add(first, "a")
    assert not ann.can_redo  # a new change clears the redo stack


def test_assign_gives_a_class_or_forgets_it_without_error(objects):
    ann = sv.Annotations(objects, ["a", "b"])
    first = int(objects.labels[0])
    ann.assign(first, "b")
    assert ann[first] == "b"
    ann.assign(first, None)
    assert first not in ann
    ann.assign(first, None)  # nothing to forget: no error, nothing to undo
    assert ann.undo() == ("image", first) and ann[first] == "b"


def test_errors(objects):
    ann = sv.Annotations(objects, ["a", "b"])
    with pytest.raises(ValueError, match="unknown class 'z'"):
        ann.add(int(objects.labels[0]), "z")
    with pytest.raises(KeyError, match="not an object"):
        ann.add(1, "a")
    with pytest.raises(ValueError, match="at least 2 classes"):
        sv.Annotations(objects, ["only"])
    with pytest.raises(KeyError, match="not annotated"):
        ann.remove(int(objects.labels[0]))


def test_save_load_round_trip_and_relative_names(objects, tmp_path):
    ann = sv.Annotations(objects, ["a", "b"])
    for label, cls in zip(objects.labels[:10], "abababbbaa"):
        ann.add(int(label), cls)
    path = tmp_path / "ann.json"
    ann.save(path)
    content = json.loads(path.read_text())
    assert all(r["image"] == "image" for r in content["annotations"])
    assert str(tmp_path) not in path.read_text()
    loaded = sv.Annotations.load(path, objects)
    assert list(loaded.items()) == list(ann.items())
    assert loaded.class_names == ["a", "b"]


def test_corrupt_or_foreign_files_change_nothing(objects, tmp_path):
    path = tmp_path / "ann.json"
    path.write_text("{not json")
    with pytest.raises(ValueError, match="not a readable annotation file"):
        sv.Annotations.load(path, objects)
    path.write_text(json.dumps({"hello": 1}))
    with pytest.raises(ValueError, match="not a svetlana_nb annotation file"):
        sv.Annotations.load(path, objects)
    good = sv.Annotations(objects, ["a", "b"])
    good.add(int(objects.labels[0]), "a")
    good.save(path)
    content = json.loads(path.read_text())
    content["annotations"].append({"image": "image", "label": 1, "class": "a"})  # label 1 is not in the mask
    path.write_text(json.dumps(content))
    with pytest.raises(ValueError, match="does not match these objects"):
        sv.Annotations.load(path, objects)


def test_autosave_resume_and_atomic(objects, tmp_path):
    path = tmp_path / "auto.json"
    ann = sv.Annotations.open(path, objects, ["a", "b"])
    ann.add(int(objects.labels[3]), "b")
    ann.add(int(objects.labels[4]), "a")
    assert sv.Annotations.load(path, objects)[int(objects.labels[4])] == "a"
    resumed = sv.Annotations.open(path, objects, ["a", "b"])
    assert len(resumed) == 2
    assert [p.name for p in tmp_path.iterdir()] == ["auto.json"]  # no temp file left behind


def test_save_failure_keeps_old_file(objects, tmp_path, monkeypatch):
    path = tmp_path / "ann.json"
    ann = sv.Annotations(objects, ["a", "b"])
    ann.add(int(objects.labels[0]), "a")
    ann.save(path)
    before = path.read_text()
    ann.add(int(objects.labels[1]), "b")
    import svetlana_nb._files as files

    def boom(*args, **kwargs):
        raise OSError("disk full")

    monkeypatch.setattr(files.os, "fsync", boom)
    with pytest.raises(OSError, match="disk full"):
        ann.save(path)
    assert path.read_text() == before
    assert [p.name for p in tmp_path.iterdir()] == ["ann.json"]


def test_on_change_callback(objects):
    ann = sv.Annotations(objects, ["a", "b"])
    seen = []
    ann.on_change(lambda a: seen.append(len(a)))
    ann.add(int(objects.labels[0]), "a")
    ann.undo()
    assert seen == [1, 0]


def test_several_images(objects):
    mask = np.zeros((30, 30), np.int32)
    mask[3:9, 3:9] = 2
    multi = sv.Objects([np.ones((30, 30)), np.ones((30, 30))], [mask, mask], name=["x", "y"])
    ann = sv.Annotations(multi, ["a", "b"])
    ann.add(("x", 2), "a")
    ann.add(("y", 2), "b")
    assert ann[("x", 2)] == "a" and ann[("y", 2)] == "b"
    assert ann.rows_and_targets()[0].tolist() == [0, 1]
