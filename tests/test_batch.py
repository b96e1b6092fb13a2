"""Batch prediction (svetlana_nb.batch): in this process or on Dask, resumable, one bad image does not stop it."""

from __future__ import annotations

import hashlib
import json
import logging
from pathlib import Path

import numpy as np
import pandas as pd
import pytest
import tifffile
from helpers import annotate, grid_scene

import svetlana_nb as sv
from svetlana_nb import cli
from svetlana_nb.batch import _outputs as _outputs_module
from svetlana_nb.batch import _run, _task, predict_many

NAMES = ("a", "b", "c", "d", "e", "f")


@pytest.fixture(scope="module")
def model_path(tmp_path_factory):
    image, mask, truth = grid_scene(size=120)
    objects = sv.Objects(image, mask)
    clf = sv.Classifier(objects, model="random_forest")
    clf.fit(annotate(objects, truth, 12))
    path = tmp_path_factory.mktemp("model") / "model.svnb"
    clf.save(path)
    return path


@pytest.fixture(scope="module")
def inputs(tmp_path_factory):
    """Six image/mask pairs, each image a little different."""
    root = tmp_path_factory.mktemp("inputs")
    (root / "images").mkdir()
    (root / "masks").mkdir()
    for seed, name in enumerate(NAMES):
        image, mask, _ = grid_scene(size=90, seed=seed)
        tifffile.imwrite(root / "images" / f"{name}.tif", image)
        tifffile.imwrite(root / "masks" / f"{name}.tif", mask)
    return root


def _outputs(folder: Path) -> dict[str, bytes]:
    """The tables and class images of an output folder (the manifest aside), by file name."""
    return {p.name: p.read_bytes() for p in sorted(folder.iterdir()) if p.name != "manifest.json"}


def _class_images(folder: Path) -> dict[str, np.ndarray]:
    return {p.name: tifffile.imread(p) for p in sorted(folder.glob("*_classes.tif"))}


@pytest.fixture(scope="module")
def clean_run(model_path, inputs, tmp_path_factory):
    """A clean in-process run: its output folder."""
    out = tmp_path_factory.mktemp("clean")
    result = predict_many(model_path, inputs / "images", inputs / "masks", out, progress=False)
    assert result.predicted == [f"{n}.tif" for n in NAMES] and not result.failures
    return out


@pytest.mark.timeout(180)  # two worker processes each import torch: slow on a loaded 2-core machine
def test_a_user_cluster_of_processes_gives_the_in_process_tables_gets_the_model_once_and_stays_open(
    model_path, inputs, clean_run, tmp_path
):
    from distributed import Client, LocalCluster

    with (
        LocalCluster(
            n_workers=2, threads_per_worker=1, processes=True, dashboard_address=":0", silence_logs=logging.ERROR
        ) as cluster,
        Client(cluster) as client,
    ):
        result = predict_many(model_path, inputs / "images", inputs / "masks", tmp_path, client=client, progress=False)
        assert len(result.predicted) == len(NAMES)
        counts = client.run(lambda: dict(_task.COUNTS))
        # The model was scattered, not sent with each of the six tasks: distributed may unpickle a
        # scattered value again when it replicates it between workers (seen in CI: 1 + 2 unpacks on
        # 2 workers), but never once per task. Each worker loaded it once.
        assert len(counts) == 2
        assert sum(c["unpacked"] for c in counts.values()) < len(NAMES)
        assert all(c["loaded"] <= 1 for c in counts.values())
        assert sum(c["loaded"] for c in counts.values()) >= 1  # the work ran on the workers
        assert client.status == "running" and client.submit(sum, [1, 2]).result() == 3  # left open
    assert _outputs(tmp_path) == _outputs(clean_run)


def test_resume_after_an_interruption_predicts_only_the_rest_and_equals_a_clean_run(
    model_path, inputs, clean_run, tmp_path, monkeypatch
):
    calls = []

    def interrupted(model, job):
        if len(calls) == 2:
            raise KeyboardInterrupt
        calls.append(job.name)
        return _outputs_module.predict_and_write(model, job)

    monkeypatch.setattr(_run, "predict_and_write", interrupted)
    with pytest.raises(KeyboardInterrupt):
        predict_many(model_path, inputs / "images", inputs / "masks", tmp_path, progress=False)
    monkeypatch.undo()
    manifest = json.loads((tmp_path / "manifest.json").read_text())
    assert sorted(manifest["images"]) == ["a.tif", "b.tif"]
    assert not (tmp_path / "objects.csv").exists()
    result = predict_many(model_path, inputs / "images", inputs / "masks", tmp_path, progress=False)
    assert result.predicted == [f"{n}.tif" for n in NAMES[2:]]
    assert _outputs(tmp_path) == _outputs(clean_run)
    # Outputs of one image lost, and another image's entry lost after its files were written: those two only.
    for name in ("c_classes.tif", "c_classes_key.csv", "c_objects.csv"):
        (tmp_path / name).unlink()
    manifest = json.loads((tmp_path / "manifest.json").read_text())
    del manifest["images"]["e.tif"]
    (tmp_path / "manifest.json").write_text(json.dumps(manifest))
    result = predict_many(model_path, inputs / "images", inputs / "masks", tmp_path, progress=False)
    assert result.predicted == ["c.tif", "e.tif"]
    assert _outputs(tmp_path) == _outputs(clean_run)
    again = predict_many(model_path, inputs / "images", inputs / "masks", tmp_path, progress=False)
    assert again.predicted == [] and again.done == [f"{n}.tif" for n in NAMES]


def test_another_model_predicts_every_image_again(model_path, inputs, tmp_path):
    predict_many(model_path, inputs / "images", inputs / "masks", tmp_path, progress=False)
    other = tmp_path / "other.svnb"
    clf = sv.Classifier.load(model_path)
    image, mask, truth = grid_scene(size=120, seed=9)
    objects = sv.Objects(image, mask)
    clf = sv.Classifier(objects, model="random_forest")
    clf.fit(annotate(objects, truth, 10))
    clf.save(other)
    result = predict_many(other, inputs / "images", inputs / "masks", tmp_path, progress=False)
    assert len(result.predicted) == len(NAMES)
    manifest = json.loads((tmp_path / "manifest.json").read_text())
    assert manifest["model_sha256"] == hashlib.sha256(other.read_bytes()).hexdigest()


def test_the_manifest_records_the_model_the_inputs_and_each_image(model_path, inputs, clean_run):
    manifest = json.loads((clean_run / "manifest.json").read_text())
    assert manifest["model_sha256"] == hashlib.sha256(model_path.read_bytes()).hexdigest()
    assert manifest["inputs"]["images"] == str(inputs / "images")
    entry = manifest["images"]["a.tif"]
    assert entry["status"] == "done" and entry["reason"] is None and entry["objects"] > 0
    assert entry["outputs"] == ["a_classes.tif", "a_classes_key.csv", "a_objects.csv"]
    assert entry["inputs"]["mask"]["path"] == str(inputs / "masks" / "a.tif")


def _copy_inputs(inputs: Path, tmp_path: Path, names=("a", "b", "c")) -> None:
    for kind in ("images", "masks"):
        (tmp_path / kind).mkdir()
        for name in names:
            (tmp_path / kind / f"{name}.tif").write_bytes((inputs / kind / f"{name}.tif").read_bytes())


@pytest.mark.timeout(180)  # two worker processes each import torch: slow on a loaded 2-core machine
def test_a_corrupt_image_on_two_worker_processes_is_in_the_manifest_and_the_others_complete(
    model_path, inputs, clean_run, tmp_path, capsys
):
    _copy_inputs(inputs, tmp_path)
    (tmp_path / "images" / "b.tif").write_bytes(b"II*\x00 this is not a tiff")
    args = [str(model_path), str(tmp_path / "images"), str(tmp_path / "masks"), str(tmp_path / "out")]
    assert cli.main(["predict", *args, "--workers", "2"]) == 1
    captured = capsys.readouterr()
    assert "Dask dashboard: http" in captured.out  # it ran on a cluster
    assert "1 of 3 image(s) failed" in captured.err and "image b.tif" in captured.err
    assert "objects_per_s=" in captured.err and "failed=1" in captured.err  # the progress bar
    manifest = json.loads((tmp_path / "out" / "manifest.json").read_text())
    assert manifest["images"]["b.tif"]["status"] == "failed"
    assert "image b.tif, mask b.tif" in manifest["images"]["b.tif"]["reason"]
    assert {manifest["images"][n]["status"] for n in ("a.tif", "c.tif")} == {"done"}
    assert not (tmp_path / "out" / "b_classes.tif").exists()
    clean = _class_images(clean_run)
    for name, array in _class_images(tmp_path / "out").items():
        np.testing.assert_array_equal(array, clean[name])


def test_a_scheduler_address_runs_there_and_single_files_are_one_pair(model_path, inputs, clean_run, tmp_path, capsys):
    from distributed import LocalCluster

    with LocalCluster(n_workers=2, processes=False, dashboard_address=":0", silence_logs=logging.ERROR) as cluster:
        args = [str(model_path), str(inputs / "images" / "d.tif"), str(inputs / "masks" / "d.tif"), str(tmp_path)]
        assert cli.main(["predict", *args, "--scheduler", cluster.scheduler_address]) == 0
        assert "Dask dashboard" in capsys.readouterr().out
    assert _outputs(tmp_path)["d_objects.csv"] == _outputs(clean_run)["d_objects.csv"]
    assert _outputs(tmp_path)["objects.csv"] == _outputs(clean_run)["d_objects.csv"]


def test_workers_and_scheduler_together_are_refused(model_path, inputs, tmp_path, capsys):
    args = [str(model_path), str(inputs / "images"), str(inputs / "masks"), str(tmp_path / "out")]
    with pytest.raises(SystemExit) as exit_info:
        cli.main(["predict", *args, "--workers", "2", "--scheduler", "tcp://localhost:1"])
    assert exit_info.value.code == 2 and "not allowed with" in capsys.readouterr().err


def test_a_folder_and_a_file_are_refused(model_path, inputs, tmp_path):
    with pytest.raises(ValueError, match="two folders or two files"):
        predict_many(model_path, inputs / "images", inputs / "masks" / "a.tif", tmp_path)


def test_each_worker_gets_its_share_of_the_cores(monkeypatch):
    import os

    import torch

    before = torch.get_num_threads()
    monkeypatch.setattr(os, "cpu_count", lambda: 8)

    class Worker:
        address = "tcp://10.0.0.1:4000"

    try:
        assert _task.share_cores({"tcp://10.0.0.1:4000": 4}, dask_worker=Worker()) == 2
        assert torch.get_num_threads() == 2
        assert _task.share_cores({"tcp://10.0.0.1:4000": 16}, dask_worker=Worker()) == 1
    finally:
        torch.set_num_threads(before)


def test_a_classifier_object_gives_the_same_outputs_as_its_file(model_path, inputs, clean_run, tmp_path):
    clf = sv.Classifier.load(model_path)
    result = predict_many(clf, inputs / "images", inputs / "masks", tmp_path, progress=False)
    assert result.done == [f"{n}.tif" for n in NAMES]
    assert _outputs(tmp_path) == _outputs(clean_run)


def test_annotations_on_a_cluster_give_the_in_process_summary_and_resume_with_the_same_errors(
    model_path, inputs, tmp_path
):
    from distributed import Client, LocalCluster

    image, mask, truth = grid_scene(size=90, seed=0)
    objects = sv.Objects(image, mask, name="a.tif")
    path = tmp_path / "annotations.json"
    annotate(objects, truth, 9).save(path)  # every object of a.tif, 6 of class a and 3 of b
    options = {"annotations": path, "folds": 3, "progress": False}
    here = predict_many(model_path, inputs / "images", inputs / "masks", tmp_path / "here", **options)
    with (
        LocalCluster(n_workers=2, processes=False, dashboard_address=":0", silence_logs=logging.ERROR) as cluster,
        Client(cluster) as client,
    ):
        there = predict_many(
            model_path, inputs / "images", inputs / "masks", tmp_path / "there", client=client, **options
        )
    assert here.confusion is not None and np.array_equal(here.confusion, there.confusion)
    assert _outputs(tmp_path / "here") == _outputs(tmp_path / "there")
    summary = (tmp_path / "here" / "summary.csv").read_text()
    assert "nan" not in summary.lower() and summary.count("a.tif") == 2  # corrected, with intervals
    manifest = json.loads((tmp_path / "here" / "manifest.json").read_text())
    assert manifest["confusion"] == here.confusion.tolist()
    assert here.calibration is not None and manifest["out_of_fold"]["annotated"] == here.calibration[1].tolist()
    assert len(manifest["out_of_fold"]["probabilities"]) == 9  # the resumed run calibrates on the same errors
    (tmp_path / "here" / "summary.csv").unlink()
    again = predict_many(model_path, inputs / "images", inputs / "masks", tmp_path / "here", **options)
    assert again.predicted == [] and (tmp_path / "here" / "summary.csv").read_text() == summary


def test_importing_the_package_and_its_command_line_does_not_import_dask():
    import subprocess
    import sys

    code = (
        "import sys, svetlana_nb, svetlana_nb.cli, svetlana_nb.batch; "
        "print(sorted(m for m in sys.modules if m.split('.')[0] in ('dask', 'distributed', 'zarr')))"
    )
    root = Path(__file__).resolve().parents[1]
    proc = subprocess.run([sys.executable, "-c", code], cwd=root, capture_output=True, text=True, timeout=180)
    assert proc.returncode == 0, proc.stderr[-2000:]
    assert proc.stdout.strip() == "[]"


def test_an_image_is_written_where_it_is_predicted_and_only_names_come_back(model_path, inputs, clean_run, tmp_path):
    import pickle

    blob = _task.model_blob(model_path)
    settings = _task.SummarySettings(tuple(sv.Classifier.load(model_path).class_names))
    job = _task.Job(inputs / "images" / "a.tif", inputs / "masks" / "a.tif", out=tmp_path, summary=settings)
    outcome = _outputs_module.predict_and_write(blob, job)
    assert outcome.reason is None
    assert outcome.classes is None and outcome.table is None  # no class image travels to the client
    # The summary rows are computed where the image is predicted, equal to the client's from the file.
    assert outcome.summary is not None and outcome.summary["count"].sum() == outcome.n_objects
    pd.testing.assert_frame_equal(outcome.summary, _outputs_module.written_image_summary(tmp_path, "a.tif", settings))
    assert outcome.written == ["a_classes.tif", "a_classes_key.csv", "a_objects.csv"]
    assert {name: (tmp_path / name).read_bytes() for name in outcome.written} == {
        name: (clean_run / name).read_bytes() for name in outcome.written
    }
    assert outcome.n_objects == len((clean_run / "a_objects.csv").read_text().splitlines()) - 1 > 0
    assert len(pickle.dumps(outcome)) < 2_000


def test_an_image_whose_files_cannot_be_written_fails_by_name_and_leaves_no_part(model_path, inputs, tmp_path):
    (tmp_path / "b_objects.csv").mkdir()  # the table cannot replace a folder: the write fails after the class image
    (tmp_path / "b_objects.csv" / "keep").write_text("x")
    job = _task.Job(inputs / "images" / "b.tif", inputs / "masks" / "b.tif", out=tmp_path)
    outcome = _outputs_module.predict_and_write(_task.model_blob(model_path), job)
    assert outcome.reason is not None and "b.tif" in outcome.reason
    assert not (tmp_path / "b_classes.tif").exists() and not (tmp_path / "b_classes_key.csv").exists()
    assert (tmp_path / "b_objects.csv" / "keep").read_text() == "x"  # a folder that is not ours is left alone


def test_the_manifest_is_not_rewritten_after_every_image_but_is_complete_at_the_end(
    model_path, inputs, clean_run, tmp_path, monkeypatch
):
    """Rewriting the whole manifest per image costs O(images²) on a screen of 10,000 fields."""
    writes = []
    original = _outputs_module.Manifest.write

    def counted(self):
        writes.append(len(self.images))
        original(self)

    monkeypatch.setattr(_outputs_module.Manifest, "write", counted)
    monkeypatch.setattr(_run, "MANIFEST_EVERY", 3600.0)
    result = predict_many(model_path, inputs / "images", inputs / "masks", tmp_path, progress=False)
    assert result.done == [f"{n}.tif" for n in NAMES]
    assert writes == [0, len(NAMES)]  # once before the work (settings), once at the end
    manifest = json.loads((tmp_path / "manifest.json").read_text())
    assert sorted(manifest["images"]) == [f"{n}.tif" for n in NAMES]
    assert _outputs(tmp_path) == _outputs(clean_run)


def test_the_combined_table_is_written_image_by_image_as_one_concat_would_write_it(tmp_path):
    """objects.csv streams the per-image tables (one in memory at a time), with the union of their columns.

    ``q.tif`` has every column in order (its text is copied), the others lack some (rewritten).
    """
    import pandas as pd

    plain = pd.DataFrame({"label": ["1", "2"], "class": ["a", "b"], "note": ['x, "quoted"', ""]})
    annotated = pd.DataFrame(
        {
            "label": ["7", "8"],
            "class": ["b", "a"],
            "note": ["é", 'y, "q"\nz'],
            "annotated": ["True", "False"],
            "predicted_class": ["a", "a"],
        }
    )
    later = pd.DataFrame({"label": ["3"], "class": ["a"], "note": ["line"]})
    names = ["p.tif", "q.tif", "r.tif"]
    for name, table in zip(names, (plain, annotated, later)):
        (tmp_path / _outputs_module.output_names(name)[2]).write_text(table.to_csv(index=False), encoding="utf-8")
    table_path, summary_path = _outputs_module.write_combined(tmp_path, names, _task.SummarySettings(("a", "b")))
    read = [pd.read_csv(tmp_path / _outputs_module.output_names(n)[2], dtype=str, keep_default_na=False) for n in names]
    assert table_path.read_bytes() == pd.concat(read, ignore_index=True).to_csv(index=False).encode("utf-8")
    combined = pd.read_csv(table_path, dtype=str, keep_default_na=False)
    assert list(combined.columns) == ["label", "class", "note", "annotated", "predicted_class"]
    assert combined["predicted_class"].tolist() == ["", "", "a", "a", ""]
    assert combined["note"].tolist()[3] == 'y, "q"\nz'
    summary = pd.read_csv(summary_path)
    assert summary.groupby("image")["count"].sum().to_dict() == {"p.tif": 2, "q.tif": 2, "r.tif": 1}
