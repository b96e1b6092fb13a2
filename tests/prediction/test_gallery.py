"""Quality-control selection against a brute-force computation, and the contact sheet's files."""

from __future__ import annotations

import numpy as np
import pytest
from helpers import annotate

import svetlana_nb as sv
from svetlana_nb.models.cross_validation import OutOfFold, out_of_fold
from svetlana_nb.prediction.gallery import GROUPS, SELECTION_COLUMNS, contact_sheet, object_thumbnail, qc_selection

NAMES = ["a", "b", "c"]


@pytest.fixture(scope="module")
def objects(scene_2d):
    image, mask, _ = scene_2d
    return sv.Objects(image, mask)


@pytest.fixture(scope="module")
def prediction(objects):
    rng = np.random.default_rng(7)
    probabilities = rng.dirichlet([1.0, 1.0, 0.4], size=len(objects)).astype(np.float32)
    return sv.Prediction(objects, probabilities, NAMES)


def _brute_force(prediction, per_class):
    """Per class, by a plain loop: the top ``per_class`` by confidence, then the bottom among the rest."""
    expected = []
    for k, name in enumerate(prediction.class_names):
        rows = np.flatnonzero(prediction.class_index == k)
        by_confidence = rows[np.argsort(prediction.confidence[rows], kind="stable")]
        most = by_confidence[::-1][:per_class]
        rest = [r for r in by_confidence if r not in set(most.tolist())]
        least = rest[:per_class]
        expected += [(int(r), name, "most confident") for r in most]
        expected += [(int(r), name, "least confident") for r in least]
    return expected


@pytest.mark.parametrize("per_class", [1, 3, 8, 40])
def test_selection_matches_a_brute_force_computation(prediction, per_class):
    selection = qc_selection(prediction, per_class=per_class)
    assert list(selection.columns) == list(SELECTION_COLUMNS)
    got = list(zip(selection["row"].tolist(), selection["class"], selection["group"]))
    assert got == _brute_force(prediction, per_class)
    np.testing.assert_allclose(selection["confidence"], prediction.confidence[selection["row"]], rtol=1e-6)
    np.testing.assert_array_equal(selection["label"], prediction.labels[selection["row"]])
    assert (selection["image"] == prediction.objects.names[0]).all()
    assert selection["annotated class"].isna().all()
    # every object at most once; a class smaller than 2 * per_class shows all its objects
    assert selection["row"].is_unique
    counts = np.bincount(prediction.class_index, minlength=3)
    shown = selection.groupby("class").size().reindex(NAMES, fill_value=0).to_numpy()
    np.testing.assert_array_equal(shown, np.minimum(counts, 2 * per_class))


def test_disagreements_are_the_annotations_whose_out_of_fold_class_differs(prediction):
    rng = np.random.default_rng(1)
    rows = np.sort(rng.choice(len(prediction), 30, replace=False))
    annotated = rng.integers(0, 2, rows.size)
    # out of fold, the classes are named in another order and one class is new: names map by name
    probabilities = rng.dirichlet([1.0, 1.0, 1.0], size=rows.size).astype(np.float32)
    oof = OutOfFold(rows=rows, annotated=annotated, probabilities=probabilities, class_names=["b", "a", "d"], folds=3)
    selection = qc_selection(prediction, per_class=2, out_of_fold=oof)
    wrong = oof.predicted != oof.annotated
    disagree = selection[selection["group"] == GROUPS[2]]
    assert sorted(disagree["row"].tolist()) == sorted(rows[wrong].tolist())
    by_row = disagree.set_index("row")
    oof_names = np.array(oof.class_names)
    for r, p, t, conf in zip(rows[wrong], oof.predicted[wrong], oof.annotated[wrong], probabilities.max(1)[wrong]):
        assert by_row.loc[r, "class"] == oof_names[p] and by_row.loc[r, "annotated class"] == oof_names[t]
        assert by_row.loc[r, "confidence"] == pytest.approx(conf)
    # the surest mistakes first, within each class; the classes in order a, b, c, then d
    for _, block in disagree.groupby("class", sort=False):
        assert (np.diff(block["confidence"].to_numpy()) <= 0).all()
    order = {"a": 0, "b": 1, "c": 2, "d": 3}
    assert (np.diff(selection["class"].map(order).to_numpy()) >= 0).all()
    # the other groups say an object's annotation where it has one
    others = selection[selection["group"] != GROUPS[2]].set_index("row")
    for r, t in zip(rows, annotated):
        if r in others.index:
            assert others.loc[r, "annotated class"] == oof_names[t]


def test_disagreements_of_a_real_out_of_fold(scene_2d, objects):
    _, _, truth = scene_2d
    annotations = annotate(objects, truth, 24, seed=0)
    for key, _ in list(annotations.items())[::3]:  # a third of the annotations made wrong
        annotations.add(key, "a" if annotations[key] == "b" else "b")
    clf = sv.Classifier(objects, model="random_forest")
    oof = out_of_fold(clf, annotations, folds=3)
    clf.fit(annotations)
    selection = qc_selection(clf.predict(objects), per_class=4, out_of_fold=oof)
    disagree = selection[selection["group"] == GROUPS[2]]
    expected = oof.rows[oof.predicted != oof.annotated]
    assert expected.size > 0 and sorted(disagree["row"]) == sorted(expected.tolist())


def test_bad_options_are_clear_errors(prediction):
    with pytest.raises(ValueError, match="per_class"):
        qc_selection(prediction, per_class=0)
    with pytest.raises(ValueError, match="per_class"):
        qc_selection(prediction, per_class=True)
    with pytest.raises(ValueError, match="out_of_fold"):
        qc_selection(prediction, out_of_fold="not a result")
    oof = OutOfFold(np.array([10**6]), np.array([0]), np.ones((1, 3), np.float32) / 3, NAMES, 2)
    with pytest.raises(ValueError, match="out_of_fold: rows outside"):
        qc_selection(prediction, out_of_fold=oof)


def test_thumbnail_is_a_square_opaque_frame(objects):
    frame = object_thumbnail(objects, 3, size=48)
    assert frame.shape == (48, 48, 4) and frame.dtype == np.uint8 and (frame[..., 3] == 255).all()
    assert frame[..., :3].std() > 0  # not a blank frame


@pytest.mark.parametrize("suffix, magic", [(".png", b"\x89PNG\r\n\x1a\n"), (".PDF", b"%PDF-")])
def test_contact_sheet_writes_a_valid_file_and_no_temporary(tmp_path, objects, prediction, suffix, magic):
    selection = qc_selection(prediction, per_class=3)
    path = contact_sheet(objects, prediction, selection, tmp_path / f"sheet{suffix}", size=48, columns=4)
    assert path == tmp_path / f"sheet{suffix}"
    assert path.read_bytes()[: len(magic)] == magic
    assert [p.name for p in tmp_path.iterdir()] == [path.name]  # no temporary left beside it
    if suffix == ".png":
        from PIL import Image

        with Image.open(path) as image:
            width, height = image.size
        # 2 x (3 columns (no block has 4) of 48 + 4 px gaps, + 4); 6 blocks of a heading and a line of crops
        assert width == 2 * (3 * 52 + 4)
        assert height == 2 * (6 * 22 + 6 * (48 + 14 + 4) + 4)


def test_contact_sheet_refuses_other_formats_and_bad_selections(tmp_path, objects, prediction):
    selection = qc_selection(prediction, per_class=2)
    with pytest.raises(ValueError, match=r"path: .*\.png or \.pdf, not '\.jpg'"):
        contact_sheet(objects, prediction, selection, tmp_path / "sheet.jpg")
    with pytest.raises(ValueError, match="selection: it holds no objects"):
        contact_sheet(objects, prediction, selection.iloc[:0], tmp_path / "sheet.png")
    with pytest.raises(ValueError, match="columns"):
        contact_sheet(objects, prediction, selection, tmp_path / "sheet.png", columns=0)
    with pytest.raises(ValueError, match="selection: expected the DataFrame"):
        contact_sheet(objects, prediction, [1, 2], tmp_path / "sheet.png")
    assert list(tmp_path.iterdir()) == []
