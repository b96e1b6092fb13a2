import numpy as np
import pandas as pd
import pytest
import tifffile

import svetlana_nb as sv
from svetlana_nb import cli
from svetlana_nb.models.forest_backend import feature_matrix


@pytest.fixture(scope="module")
def trained(scene_2d):
    image, mask, truth = scene_2d
    objects = sv.Objects(image, mask)
    ann = sv.Annotations(objects, ["a", "b"])
    for label in objects.labels[:30]:
        ann.add(int(label), truth[int(label)])
    clf = sv.Classifier(objects)
    clf.fit(ann, epochs=60)
    return objects, ann, clf, clf.predict(objects)


def test_prediction_outputs_are_consistent(trained, scene_2d):
    objects, _, _, result = trained
    _, mask, _ = scene_2d
    assert set(result.classes) == set(objects.labels.tolist())
    classes = result.class_image()
    assert classes.shape == mask.shape and classes[mask == 0].max() == 0
    label = int(objects.labels[4])
    expected = result.class_names.index(result.classes[label]) + 1
    assert np.all(classes[mask == label] == expected)
    masks = result.class_masks()
    assert list(masks) == ["a", "b"]
    np.testing.assert_array_equal(masks["a"] | masks["b"], mask > 0)
    table = result.table
    assert len(table) == len(objects)
    for column in ("label", "class", "confidence", "area", "centroid_y", "bbox_x1", "eccentricity", "mean_intensity_0"):
        assert column in table.columns
    assert table["class"].astype(str).tolist() == [result.classes[int(x)] for x in table["label"]]
    np.testing.assert_allclose(table["confidence"], result.probabilities.max(1))
    confidence = result.confidence_image()
    assert confidence[mask == label].min() == pytest.approx(result.confidence[4])
    assert sum(result.counts().values()) == len(objects)


def test_corrected_prediction_takes_the_annotated_classes(trained):
    objects, _, _, result = trained
    first, second = (int(label) for label in objects.labels[:2])
    fixes = sv.Annotations(objects, ["a", "b", "debris"])  # a class added after training
    wrong = "b" if result.classes[first] == "a" else "a"
    fixes.add(first, wrong)
    fixes.add(second, "debris")
    fixed = result.corrected(fixes)
    assert fixed.class_names == ["a", "b", "debris"]
    assert fixed.classes[first] == wrong and fixed.classes[second] == "debris"
    others = [int(label) for label in objects.labels[2:]]
    assert all(fixed.classes[label] == result.classes[label] for label in others)
    assert fixed.annotated.tolist() == [True, True] + [False] * (len(objects) - 2)
    np.testing.assert_array_equal(fixed.predicted_index, result.class_index)
    # the model's own probabilities and confidence stay, also for the objects the user corrected
    assert fixed.probabilities.shape == (len(objects), 3)
    np.testing.assert_array_equal(fixed.probabilities[:, :2], result.probabilities)
    np.testing.assert_array_equal(fixed.confidence, result.confidence)
    assert (fixed.probabilities[:, 2] == 0).all()
    table = fixed.table
    assert table["annotated"].tolist()[:3] == [True, True, False]
    assert table.loc[0, "class"] == wrong and table.loc[0, "predicted_class"] == result.classes[first]
    assert fixed.class_image()[objects.masks[0] == second].min() == 3
    assert "annotated" not in result.table.columns  # the model's own prediction is unchanged
    assert result.classes[first] != wrong
    elsewhere = sv.Annotations(sv.Objects(objects.images[0][..., 0], objects.masks[0]), ["a", "b"])
    with pytest.raises(ValueError, match="annotations: they belong to other objects"):
        result.corrected(elsewhere)


def test_exports_round_trip(trained, tmp_path, scene_2d):
    objects, _, _, result = trained
    _, mask, _ = scene_2d
    result.to_csv(tmp_path / "objects.csv")
    table = pd.read_csv(tmp_path / "objects.csv")
    assert table["label"].tolist() == objects.labels.tolist()
    result.save_class_image(tmp_path / "classes.tif")
    np.testing.assert_array_equal(tifffile.imread(tmp_path / "classes.tif"), result.class_image())
    paths = result.save_class_masks(tmp_path / "masks")
    kept = tifffile.imread(paths[0])
    np.testing.assert_array_equal(kept > 0, result.class_masks()["a"])
    assert set(np.unique(kept)) - {0} <= set(objects.labels.tolist())


def test_model_file_round_trip_and_corrupt_files(trained, tmp_path):
    objects, ann, clf, result = trained
    path = tmp_path / "model.svnb"
    clf.save(path)
    loaded = sv.Classifier.load(path)
    assert loaded.class_names == clf.class_names and loaded.patch_shape == clf.patch_shape
    np.testing.assert_allclose(loaded.predict(objects).probabilities, result.probabilities, atol=1e-5)
    bad = tmp_path / "bad.svnb"
    bad.write_bytes(b"\x00garbage" * 10)
    with pytest.raises(ValueError, match="not a svetlana_nb model file"):
        sv.Classifier.load(bad)
    truncated = tmp_path / "truncated.svnb"
    truncated.write_bytes(path.read_bytes()[:200])
    with pytest.raises(ValueError, match="not a svetlana_nb model file"):
        sv.Classifier.load(truncated)
    with pytest.raises(FileNotFoundError):
        sv.Classifier.load(tmp_path / "missing.svnb")
    before = path.read_bytes()
    with pytest.raises(RuntimeError, match="not trained"):
        sv.Classifier(objects).save(path)
    assert path.read_bytes() == before


def test_forest_model_file_round_trip(trained, tmp_path):
    objects, ann, _, _ = trained
    forest = sv.Classifier(objects, model="random_forest")
    forest.fit(ann)
    forest.save(tmp_path / "rf.svnb")
    loaded = sv.Classifier.load(tmp_path / "rf.svnb")
    np.testing.assert_allclose(loaded.predict_proba(objects), forest.predict_proba(objects))
    from sklearn.ensemble import RandomForestClassifier  # the array forest agrees with scikit-learn's

    x, _ = feature_matrix(objects)
    rows, targets = ann.rows_and_targets()
    reference = RandomForestClassifier(n_estimators=200, random_state=0, n_jobs=1, class_weight="balanced")
    reference.fit(x[rows], targets)
    # the model's own probabilities (before its temperature) are scikit-learn's
    np.testing.assert_allclose(forest.predict_proba(objects, calibrated=False), reference.predict_proba(x), atol=1e-6)


def test_grad_cam_is_a_real_map(trained):
    objects, _, clf, result = trained
    cam = sv.grad_cam(clf, objects, int(objects.labels[3]))
    assert cam.heatmap.shape == clf.patch_shape
    assert cam.heatmap.max() == pytest.approx(1.0) and cam.heatmap.std() > 0.01
    assert cam.patch.shape == (2, *clf.patch_shape)
    np.testing.assert_allclose(cam.probabilities, result.probabilities[3], atol=2e-3)  # bf16 inference on CPU
    other = sv.grad_cam(clf, objects, int(objects.labels[3]), class_name="b" if cam.class_name == "a" else "a")
    assert not np.allclose(other.heatmap, cam.heatmap)


def test_cli_predicts_a_folder(trained, tmp_path, scene_2d):
    objects, _, clf, result = trained
    image, mask, _ = scene_2d
    clf.save(tmp_path / "model.svnb")
    (tmp_path / "images").mkdir()
    (tmp_path / "masks").mkdir()
    for name in ("one", "two"):
        tifffile.imwrite(tmp_path / "images" / f"{name}.tif", image)
        tifffile.imwrite(tmp_path / "masks" / f"{name}_cp_masks.tif", mask)
    status = cli.main(
        [
            "predict",
            str(tmp_path / "model.svnb"),
            str(tmp_path / "images"),
            str(tmp_path / "masks"),
            str(tmp_path / "out"),
            "--no-progress",
        ]
    )
    assert status == 0
    table = pd.read_csv(tmp_path / "out" / "objects.csv")
    assert len(table) == 2 * len(objects) and set(table["image"]) == {"one.tif", "two.tif"}
    classes = tifffile.imread(tmp_path / "out" / "one_classes.tif")
    np.testing.assert_array_equal(classes, result.class_image())
    assert (
        cli.main(
            [
                "predict",
                str(tmp_path / "nope.svnb"),
                str(tmp_path / "images"),
                str(tmp_path / "masks"),
                str(tmp_path / "out2"),
                "--no-progress",
            ]
        )
        == 2
    )


def test_objects_from_folders(tmp_path, scene_2d):
    image, mask, _ = scene_2d
    (tmp_path / "img").mkdir()
    (tmp_path / "lab").mkdir()
    for name in ("b", "a"):
        tifffile.imwrite(tmp_path / "img" / f"{name}.tif", image)
        tifffile.imwrite(tmp_path / "lab" / f"{name}_masks.tif", mask)
    objects = sv.Objects.from_folders(tmp_path / "img", tmp_path / "lab")
    assert objects.names == ["a.tif", "b.tif"] and len(objects) == 2 * len(np.unique(mask[mask > 0]))


def test_cli_predicts_with_a_model_trained_on_one_channel(tmp_path, scene_2d_multichannel):
    image, mask, truth = scene_2d_multichannel
    objects = sv.Objects(image, mask, channel_axis=-1)
    ann = sv.Annotations(objects, ["a", "b"])
    for label in objects.labels[:30]:
        ann.add(int(label), truth[int(label)])
    clf = sv.Classifier(objects, channels=[1], seed=0)
    clf.fit(ann, epochs=3)
    clf.save(tmp_path / "model.svnb")
    (tmp_path / "images").mkdir()
    (tmp_path / "masks").mkdir()
    tifffile.imwrite(tmp_path / "images" / "cells.tif", image)
    tifffile.imwrite(tmp_path / "masks" / "cells.tif", mask)
    status = cli.main(
        [
            "predict",
            str(tmp_path / "model.svnb"),
            str(tmp_path / "images"),
            str(tmp_path / "masks"),
            str(tmp_path / "out"),
            "--channel-axis",
            "-1",
            "--no-progress",
        ]
    )
    assert status == 0
    np.testing.assert_array_equal(
        tifffile.imread(tmp_path / "out" / "cells_classes.tif"), clf.predict(objects).class_image()
    )
    # --network-alone: the network's probabilities, without the forest where it is unsure (3 epochs: many)
    network = clf.network_proba(objects).max(1)
    assert (network < clf.second_opinion.below).sum() > 0
    status = cli.main(
        [
            "predict",
            str(tmp_path / "model.svnb"),
            str(tmp_path / "images"),
            str(tmp_path / "masks"),
            str(tmp_path / "alone"),
            "--channel-axis",
            "-1",
            "--no-progress",
            "--network-alone",
        ]
    )
    assert status == 0
    default = pd.read_csv(tmp_path / "out" / "objects.csv")["confidence"].to_numpy()
    alone = pd.read_csv(tmp_path / "alone" / "objects.csv")["confidence"].to_numpy()
    np.testing.assert_allclose(alone, network, atol=1e-5)
    assert not np.allclose(default, network, atol=1e-3)
