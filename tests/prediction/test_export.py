"""One exporter: the viewer, the command line and scripts write the same files for the same image."""

from __future__ import annotations

import numpy as np
import pandas as pd
import pytest
import tifffile
from helpers import annotate

import svetlana_nb as sv
from svetlana_nb import cli
from svetlana_nb.prediction import export
from svetlana_nb.prediction.prediction import image_stem
from svetlana_nb.widgets.prediction import PredictionViewer


@pytest.fixture(scope="module")
def folders(scene_2d, tmp_path_factory):
    """Two images and their masks in two folders, a model trained on them, its prediction."""
    image, mask, truth = scene_2d
    root = tmp_path_factory.mktemp("export")
    (root / "images").mkdir()
    (root / "masks").mkdir()
    for name in ("well_A1.ome.tif", "well_B2.tif"):
        sv.io.write_tiff(root / "images" / name, image)
        sv.io.write_tiff(root / "masks" / name.replace(".ome.tif", ".tif").replace(".tif", "_cp_masks.tif"), mask)
    objects = sv.Objects.from_folders(root / "images", root / "masks")
    ann = sv.Annotations(objects, ["a", "b"])
    for label in list(truth)[:20]:
        ann.add(("well_B2.tif", label), truth[label])
    clf = sv.Classifier(objects, seed=0)
    clf.fit(ann, epochs=3)
    clf.save(root / "model.svnb")
    return root, objects, clf.predict(objects)


def test_image_stems_drop_the_file_extension():
    assert [image_stem(n) for n in ("a.ome.tif", "b.TIFF", "c.png", "image", "d.zarr", ".tif")] == [
        "a",
        "b",
        "c",
        "image",
        "d",
        ".tif",
    ]


def test_the_viewer_and_the_command_line_write_the_same_files(folders, tmp_path):
    root, objects, prediction = folders
    viewer = PredictionViewer(objects, prediction)
    from_viewer = viewer.export(tmp_path / "viewer", what=("table", "classes"), corrections=False)
    assert (
        cli.main(
            [
                "predict",
                str(root / "model.svnb"),
                str(root / "images"),
                str(root / "masks"),
                str(tmp_path / "cli"),
                "--no-progress",
            ]
        )
        == 0
    )
    names = sorted(p.name for p in from_viewer)
    assert names == [
        "objects.csv",
        "well_A1_classes.tif",
        "well_A1_classes_key.csv",
        "well_B2_classes.tif",
        "well_B2_classes_key.csv",
    ]
    # + proportions, the batch's manifest and the per-image tables it builds objects.csv from
    batch = ["summary.csv", "manifest.json", "well_A1_objects.csv", "well_B2_objects.csv"]
    assert sorted(p.name for p in (tmp_path / "cli").iterdir()) == sorted([*names, *batch])
    for name in names[1:]:
        viewer_file, cli_file = tmp_path / "viewer" / name, tmp_path / "cli" / name
        if name.endswith(".csv"):
            assert viewer_file.read_text() == cli_file.read_text()
        else:
            np.testing.assert_array_equal(tifffile.imread(viewer_file), tifffile.imread(cli_file))
    viewer_table, cli_table = (
        pd.read_csv(tmp_path / "viewer" / "objects.csv"),
        pd.read_csv(tmp_path / "cli" / "objects.csv"),
    )
    assert list(viewer_table.columns) == list(cli_table.columns)
    pd.testing.assert_frame_equal(viewer_table, cli_table, atol=1e-5)


def test_class_masks_are_named_after_the_image_and_the_class(folders, tmp_path):
    _, objects, prediction = folders
    paths = export(prediction, tmp_path, what=("masks",))
    assert sorted(p.name for p in paths) == ["well_A1_a.tif", "well_A1_b.tif", "well_B2_a.tif", "well_B2_b.tif"]
    kept = tifffile.imread(tmp_path / "well_B2_a.tif")
    mask = objects.masks[1]
    np.testing.assert_array_equal(kept > 0, prediction.class_masks("well_B2.tif")["a"])
    assert set(np.unique(kept[kept > 0])) <= set(np.unique(mask[mask > 0]))


def test_unknown_exports_are_refused_naming_them(folders, tmp_path):
    _, _, prediction = folders
    with pytest.raises(ValueError, match=r"what: unknown export\(s\) \['pdf'\]"):
        export(prediction, tmp_path, what=("table", "pdf"))
    assert not any(tmp_path.iterdir())


def test_single_image_objects_are_named_image(scene_2d, tmp_path):
    image, mask, truth = scene_2d
    objects = sv.Objects(image, mask)
    clf = sv.Classifier(objects, seed=0, second_opinion=None)
    clf.fit(annotate(objects, truth, 20), epochs=2)
    paths = export(clf.predict(objects), tmp_path)
    assert sorted(p.name for p in paths) == [
        "image_a.tif",
        "image_b.tif",
        "image_classes.tif",
        "image_classes_key.csv",
        "objects.csv",
    ]
