"""The command line: one bad image does not stop a batch, and user errors are messages, not tracebacks."""

from __future__ import annotations

import numpy as np
import pandas as pd
import pytest
import tifffile
from helpers import annotate, grid_scene

import svetlana_nb as sv
from svetlana_nb import cli


@pytest.fixture(scope="module")
def model_and_scene(tmp_path_factory):
    image, mask, truth = grid_scene(size=120)
    objects = sv.Objects(image, mask)
    clf = sv.Classifier(objects, model="random_forest")
    clf.fit(annotate(objects, truth, 12))
    path = tmp_path_factory.mktemp("model") / "model.svnb"
    clf.save(path)
    return path, image, mask


def _folders(tmp_path, image, mask, names=("a", "b", "c")):
    (tmp_path / "images").mkdir()
    (tmp_path / "masks").mkdir()
    for name in names:
        tifffile.imwrite(tmp_path / "images" / f"{name}.tif", image)
        tifffile.imwrite(tmp_path / "masks" / f"{name}.tif", mask)


def _run(model, tmp_path, *extra, out="out"):
    args = ["predict", str(model), str(tmp_path / "images"), str(tmp_path / "masks"), str(tmp_path / out)]
    return cli.main([*args, "--no-progress", *extra])


def test_a_corrupt_image_is_reported_by_name_and_the_others_complete(model_and_scene, tmp_path, capsys):
    model, image, mask = model_and_scene
    _folders(tmp_path, image, mask)
    (tmp_path / "images" / "b.tif").write_bytes(b"II*\x00 this is not a tiff")
    assert _run(model, tmp_path) == 1
    err = capsys.readouterr().err
    assert "1 of 3 image(s) failed" in err and "image b.tif" in err
    assert "Traceback" not in err
    table = pd.read_csv(tmp_path / "out" / "objects.csv")
    assert sorted(set(table["image"])) == ["a.tif", "c.tif"]
    assert len(table) == 2 * len(np.unique(mask[mask > 0]))
    assert (tmp_path / "out" / "a_classes.tif").exists() and (tmp_path / "out" / "c_classes.tif").exists()
    assert not (tmp_path / "out" / "b_classes.tif").exists()


def test_a_mask_of_another_shape_names_both_files(model_and_scene, tmp_path, capsys):
    model, image, mask = model_and_scene
    _folders(tmp_path, image, mask, names=("a", "b"))
    tifffile.imwrite(tmp_path / "masks" / "b.tif", mask[:60])
    assert _run(model, tmp_path) == 1
    err = capsys.readouterr().err
    assert "image b.tif, mask b.tif" in err and "do not match" in err
    assert set(pd.read_csv(tmp_path / "out" / "objects.csv")["image"]) == {"a.tif"}


def test_an_out_dir_that_is_a_file_is_an_error_naming_it(model_and_scene, tmp_path, capsys):
    model, image, mask = model_and_scene
    _folders(tmp_path, image, mask, names=("a",))
    (tmp_path / "out").write_text("not a folder")
    assert _run(model, tmp_path) == 2
    err = capsys.readouterr().err
    assert "OUT_DIR" in err and "is a file" in err and "Traceback" not in err


@pytest.mark.parametrize("value", ["-5", "0", "2.5", "many"])
def test_a_bad_batch_size_is_refused_by_argparse_naming_the_option(model_and_scene, tmp_path, capsys, value):
    model, image, mask = model_and_scene
    _folders(tmp_path, image, mask, names=("a",))
    with pytest.raises(SystemExit) as exit_info:
        _run(model, tmp_path, "--batch-size", value)
    assert exit_info.value.code == 2
    assert "--batch-size" in capsys.readouterr().err
    assert not (tmp_path / "out").exists()


def test_summary_csv_has_raw_proportions_without_annotations(model_and_scene, tmp_path, capsys):
    model, image, mask = model_and_scene
    _folders(tmp_path, image, mask, names=("a", "b"))
    assert _run(model, tmp_path) == 0
    assert "--annotations gives corrected proportions" in capsys.readouterr().out
    objects = pd.read_csv(tmp_path / "out" / "objects.csv")
    summary = pd.read_csv(tmp_path / "out" / "summary.csv")
    assert list(summary.columns) == [
        "image",
        "class",
        "count",
        "proportion",
        "corrected",
        "low",
        "high",
        "estimate",
        "basis",
        "n_objects",
    ]
    assert (summary["basis"] == "raw").all() and np.allclose(summary["estimate"], summary["proportion"])
    expected = objects.groupby(["image", "class"]).size()
    for row in summary.itertuples():
        assert row.count == expected.get((row.image, row._2), 0)
        assert row.proportion == pytest.approx(row.count / (objects["image"] == row.image).sum())
    assert summary["corrected"].isna().all()


def _annotation_file(tmp_path, image, mask, truth, *, name="a.tif", n=14):
    objects = sv.Objects(image, mask, name=name)
    path = tmp_path / "annotations.json"
    annotate(objects, truth, n).save(path)
    return path


def test_summary_csv_is_corrected_by_out_of_fold_errors_of_the_annotations(model_and_scene, tmp_path, capsys):
    model, image, mask = model_and_scene
    _, _, truth = grid_scene(size=120)
    _folders(tmp_path, image, mask, names=("a", "b"))
    path = _annotation_file(tmp_path, image, mask, truth)
    assert _run(model, tmp_path, "--annotations", str(path), "--folds", "3") == 0
    assert (
        "corrected for the model's out-of-fold errors on 14 annotations: balanced accuracy" in capsys.readouterr().out
    )
    summary = pd.read_csv(tmp_path / "out" / "summary.csv")
    assert sorted(set(summary["image"])) == ["a.tif", "b.tif"]
    assert summary[["corrected", "low", "high"]].notna().all().all()
    assert (summary["low"] <= summary["corrected"]).all() and (summary["corrected"] <= summary["high"]).all()
    assert (summary["high"] - summary["low"] > 0).all()  # the annotations' finite number widens the interval
    for _, rows in summary.groupby("image"):
        assert rows["corrected"].sum() == pytest.approx(1.0)
        assert rows["proportion"].sum() == pytest.approx(1.0)
    # The same figures as the scripting API with the same out-of-fold confusion counts.
    clf = sv.Classifier.load(model)
    objects = sv.Objects(image, mask, name="a.tif")
    annotations = sv.Annotations.load(path, objects)
    from svetlana_nb.models.cross_validation import out_of_fold

    expected = clf.predict(objects).corrected(annotations).summary(out_of_fold(clf, annotations, folds=3))
    got = summary[summary["image"] == "a.tif"].reset_index(drop=True)
    np.testing.assert_allclose(got[["corrected", "low", "high"]], expected[["corrected", "low", "high"]])
    # Annotated objects take the user's class in objects.csv too; b.tif has no annotation.
    table = pd.read_csv(tmp_path / "out" / "objects.csv")
    marked = table[table["annotated"].fillna(False).astype(bool)]
    assert set(marked["image"]) == {"a.tif"} and len(marked) == len(annotations)
    assert dict(zip(marked["label"], marked["class"])) == {label: cls for (_, label), cls in annotations.items()}


@pytest.mark.parametrize(
    ("problem", "message"),
    [("missing", "no such file"), ("other_image", "not in IMAGES_DIR"), ("classes", "are not the model's")],
)
def test_a_bad_annotation_file_is_an_error_naming_the_option(model_and_scene, tmp_path, capsys, problem, message):
    model, image, mask = model_and_scene
    _, _, truth = grid_scene(size=120)
    _folders(tmp_path, image, mask, names=("a",))
    if problem == "missing":
        path = tmp_path / "nothing.json"
    elif problem == "other_image":
        path = _annotation_file(tmp_path, image, mask, truth, name="z.tif")
    else:
        objects = sv.Objects(image, mask, name="a.tif")
        path = tmp_path / "annotations.json"
        annotate(objects, {k: {"a": "x", "b": "y"}[v] for k, v in truth.items()}, 14, class_names=("x", "y")).save(path)
    assert _run(model, tmp_path, "--annotations", str(path)) == 2
    err = capsys.readouterr().err
    assert "--annotations" in err and message in err and "Traceback" not in err
    assert not (tmp_path / "out" / "summary.csv").exists()


@pytest.mark.parametrize("value", ["1", "0", "x"])
def test_fewer_than_two_folds_are_refused_by_argparse(model_and_scene, tmp_path, capsys, value):
    model, image, mask = model_and_scene
    _folders(tmp_path, image, mask, names=("a",))
    with pytest.raises(SystemExit) as exit_info:
        _run(model, tmp_path, "--folds", value)
    assert exit_info.value.code == 2
    err = capsys.readouterr().err
    assert "--folds" in err and "expected a whole number >= 2" in err
