"""What a batch writes: each image's files as it completes, ``manifest.json``, and the combined tables.

The combined ``objects.csv`` and ``summary.csv`` are built from the per-image
``<image>_objects.csv`` files, in the order of the pairs, so a resumed run writes the same
tables as a clean one.
"""

from __future__ import annotations

import contextlib
import csv
import io
import json
import os
import shutil
import time
from collections.abc import Sequence
from pathlib import Path
from typing import TYPE_CHECKING, Any

import numpy as np
import pandas as pd

from .._files import atomic_path, atomic_write_text
from ..prediction.confidence import Calibration
from ..prediction.export import TABLE_NAME, key_table
from ..prediction.prediction import image_stem
from ._task import IMAGE_ERRORS, Job, ModelBlob, Outcome, SummarySettings, failure, predict_one

if TYPE_CHECKING:
    from ..models import Classifier

MANIFEST_NAME = "manifest.json"
SUMMARY_NAME = "summary.csv"
FORMAT = "svetlana_nb batch manifest"


def output_names(name: str, *, lazy: bool = False) -> list[str]:
    """The files written for the image named ``name``: class image (zarr when ``lazy``), its key, object table."""
    stem = image_stem(name)
    classes = f"{stem}_classes.zarr" if lazy else f"{stem}_classes.tif"
    return [classes, f"{stem}_classes_key.csv", f"{stem}_objects.csv"]


def write_image_outputs(outcome: Outcome, folder: Path) -> list[str]:
    """Write one image's class image, key and object table, each atomically; return their names.

    An image read lazily brings its class image already written (``outcome.classes_store``).
    """
    import tifffile

    assert outcome.table is not None
    names = output_names(outcome.name, lazy=outcome.classes_store is not None)
    if outcome.classes_store is None:
        assert outcome.classes is not None
        with atomic_path(folder / names[0]) as tmp:
            tifffile.imwrite(tmp, outcome.classes, compression="zlib")
    atomic_write_text(folder / names[1], key_table(outcome.class_names).to_csv(index=False))
    atomic_write_text(folder / names[2], outcome.table.to_csv(index=False))
    return names


def remove_image_outputs(name: str, folder: Path) -> None:
    """Delete the files an earlier run wrote for ``name`` (it failed this time)."""
    for file_name in output_names(name) + output_names(name, lazy=True)[:1]:
        path = folder / file_name
        if path.is_dir():  # only a class image written as zarr is ours to remove; another folder is left
            if file_name.endswith(".zarr"):
                shutil.rmtree(path, ignore_errors=True)
            continue
        with contextlib.suppress(FileNotFoundError, IsADirectoryError, PermissionError):
            path.unlink()


def predict_and_write(model: Classifier | ModelBlob, job: Job) -> Outcome:
    """Classify one image and write its files into ``job.out``; return the outcome without its arrays.

    Runs where the image is predicted (this process or a Dask worker), so on a cluster the
    workers compress and write their images' files in parallel and send back only the file
    names and the object count, not a class image of megabytes for the client to write.
    A failure to write is the image's failure, its partial files removed.
    """
    assert job.out is not None, "a batch job names its output folder"
    outcome = predict_one(model, job)
    if outcome.reason is not None:
        return outcome
    try:
        written = write_image_outputs(outcome, job.out)
    except IMAGE_ERRORS as error:
        remove_image_outputs(job.name, job.out)
        return failure(job, error)
    summary = None
    if job.summary is not None:  # from the text just written: the rows a resumed run computes from the file
        with contextlib.suppress(*IMAGE_ERRORS):  # the client computes them then
            summary = written_image_summary(job.out, job.name, job.summary)
    return Outcome(
        outcome.name,
        class_names=outcome.class_names,
        classes_store=outcome.classes_store,
        written=written,
        objects=outcome.n_objects,
        summary=summary,
    )


def written_image_summary(folder: Path, name: str, settings: SummarySettings, text: str | None = None) -> pd.DataFrame:
    """The ``summary.csv`` rows of the image ``name`` from its table in ``folder`` (or that table's ``text``).

    Only the columns the summary needs are parsed.
    """
    if text is None:
        text = (folder / output_names(name)[2]).read_text(encoding="utf-8")
    needed = {"predicted_class", "class", "annotated", *(f"p_{c}" for c in settings.class_names)}
    table = pd.read_csv(io.StringIO(text), dtype=str, keep_default_na=False, usecols=lambda c: c in needed)
    return image_summary(
        table,
        name,
        list(settings.class_names),
        settings.confusion,
        calibration=settings.calibration,
        temperature=settings.temperature,
    )


def _file_record(path: Path) -> dict[str, Any]:
    info = path.stat()
    return {"path": str(path), "size": info.st_size, "mtime_ns": info.st_mtime_ns}


class Manifest:
    """``manifest.json``: the model's sha256, the settings, the inputs, and per image its status.

    An earlier manifest in the folder is taken over when it was written with the same model and
    settings: its images that are done, with the same input files and their outputs present,
    are not predicted again.
    """

    def __init__(self, folder: Path, *, model_sha256: str, inputs: dict[str, str], settings: dict[str, Any]):
        self.path = folder / MANIFEST_NAME
        self.folder = folder
        #: Entries recorded since the last write, and when that was (``time.monotonic``).
        self.pending, self.written_at = False, float("-inf")
        old = self._read()
        same = old.get("model_sha256") == model_sha256 and old.get("settings") == settings
        self.data: dict[str, Any] = {
            "format": FORMAT,
            "version": 1,
            "model_sha256": model_sha256,
            "inputs": inputs,
            "settings": settings,
            "confusion": old.get("confusion") if same else None,
            "out_of_fold": old.get("out_of_fold") if same else None,
            "images": dict(old.get("images", {})) if same else {},
        }

    def _read(self) -> dict[str, Any]:
        try:
            data = json.loads(self.path.read_text(encoding="utf-8"))
        except (OSError, UnicodeDecodeError, ValueError, RecursionError):
            return {}
        return data if isinstance(data, dict) and data.get("format") == FORMAT else {}

    @property
    def images(self) -> dict[str, dict[str, Any]]:
        """Per image file name: ``status`` ("done" or "failed"), ``reason``, ``outputs``, inputs."""
        return self.data["images"]

    def is_done(self, image: Path, mask: Path) -> bool:
        """True when ``image`` was done with this model and settings, from the same files, outputs present."""
        entry = self.images.get(image.name)
        try:
            inputs = {"image": _file_record(image), "mask": _file_record(mask)}
        except OSError:
            return False
        return (
            isinstance(entry, dict)
            and entry.get("status") == "done"
            and entry.get("inputs") == inputs
            and all((self.folder / name).exists() for name in entry.get("outputs", []))
        )

    def keep_only(self, names: Sequence[str]) -> None:
        """Forget images that are not in this batch."""
        self.data["images"] = {name: entry for name, entry in self.images.items() if name in set(names)}

    def record(self, image: Path, mask: Path, outcome: Outcome, outputs: list[str], *, every: float = 0.0) -> None:
        """Record one image's outcome; write the manifest (atomically) if ``every`` seconds passed since the last write.

        The manifest is rewritten whole, so writing it after each of 10,000 images would cost
        O(images²); with ``every`` > 0 the caller must :meth:`write` at the end (an image whose
        entry was not written yet is predicted again on resume: its files are only replaced).
        """
        inputs: dict[str, Any] = {}
        with contextlib.suppress(OSError):
            inputs = {"image": _file_record(image), "mask": _file_record(mask)}
        self.images[image.name] = {
            "status": "failed" if outcome.reason else "done",
            "reason": outcome.reason,
            "outputs": outputs,
            "objects": outcome.n_objects,
            "inputs": inputs,
        }
        self.pending = True
        if time.monotonic() - self.written_at >= every:
            self.write()

    def flush(self) -> None:
        """Write the manifest if entries were recorded since it was last written."""
        if self.pending:
            self.write()

    def write(self) -> None:
        """Write the manifest atomically."""
        atomic_write_text(self.path, json.dumps(self.data, indent=1) + "\n")
        self.pending, self.written_at = False, time.monotonic()


def image_summary(
    table: pd.DataFrame,
    name: str,
    class_names: list[str],
    confusion: np.ndarray | None,
    *,
    calibration: tuple[np.ndarray, np.ndarray] | None = None,
    temperature: Calibration | None = None,
) -> pd.DataFrame:
    """Per class of one image: count and raw proportion, and with ``confusion`` the corrected one and its interval.

    The same figures as :meth:`svetlana_nb.Prediction.summary` (or raw counts without
    ``confusion``), computed from the image's object table; with ``calibration`` (the
    annotations' out-of-fold probabilities, shape (A, k), and classes, shape (A,)) from the
    objects' probabilities (its ``p_`` columns) calibrated on them. Those columns hold the
    probabilities the classifier showed, scaled by its own ``temperature``: it is undone first,
    as the expected counts calibrate the model's raw probabilities
    (:attr:`svetlana_nb.Prediction.raw_probabilities`) themselves.
    """
    from ..prediction.proportions import proportion_table

    index = {c: i for i, c in enumerate(class_names)}
    model_column = "predicted_class" if "predicted_class" in table else "class"
    predicted = table[model_column].astype(str).map(index).to_numpy(dtype=np.int64)
    k = len(class_names)
    if confusion is None:
        counts = np.bincount(predicted, minlength=k)
        n = int(counts.sum())
        nan = np.full(k, np.nan)
        return pd.DataFrame(
            {
                "image": name,
                "class": class_names,
                "count": counts,
                "proportion": counts / n if n else nan,
                "corrected": nan,
                "low": nan,
                "high": nan,
                "estimate": counts / n if n else nan,  # the columns of a corrected summary, one way to read both
                "basis": "raw",
                "n_objects": n,
            }
        )
    known = np.full(len(table), -1, dtype=np.int64)
    if "annotated" in table:
        marked = table["annotated"].astype(str).eq("True").to_numpy()
        known[marked] = table["class"].astype(str).map(index).to_numpy(dtype=np.int64)[marked]
    probabilities = None
    if calibration is not None:  # float32 as the prediction had them: the same figures as Prediction.summary
        columns = [f"p_{c}" for c in class_names]
        probabilities = table[columns].to_numpy(dtype=np.float32)
        if temperature is not None and temperature.temperature != 1.0:
            probabilities = temperature.unapply(probabilities).astype(np.float32)
    summary = proportion_table(
        predicted,
        confusion,
        class_names,
        known=known,
        groups=np.full(len(table), name, object),
        probabilities=probabilities,
        calibration=calibration,
    )
    return summary.rename(columns={"group": "image"})


def _header(folder: Path, name: str) -> list[str]:
    """The column names of the per-image table of ``name`` (its first line only)."""
    with open(folder / output_names(name)[2], encoding="utf-8", newline="") as file:
        return next(csv.reader(file), [])


def write_combined(
    folder: Path, names: Sequence[str], settings: SummarySettings, *, summaries: dict[str, pd.DataFrame] | None = None
) -> tuple[Path, Path]:
    """Write ``objects.csv`` and ``summary.csv`` (atomically) from the per-image tables of ``names``.

    ``summaries``: rows already computed where the images were predicted (``Outcome.summary``);
    the others' (images done by an earlier run) are computed here from their tables.
    One image's table is in memory at a time, so a screen of 10,000 images of 1,000 objects
    does not hold ten million rows: the tables are appended one by one under the union of their
    columns (in order of first appearance, empty where an image lacks one: images with
    annotations have more), the same text ``pandas.concat`` of them all would write.
    """
    summaries = summaries or {}
    columns: list[str] = []
    for name in names:
        columns += [c for c in _header(folder, name) if c not in columns]
    header = pd.DataFrame(columns=columns).to_csv(index=False)
    rows = []
    table_path, summary_path = folder / TABLE_NAME, folder / SUMMARY_NAME
    with atomic_path(table_path) as tmp, open(tmp, "w", encoding="utf-8", newline="") as out:
        out.write(header)
        for name in names:
            text = (folder / output_names(name)[2]).read_text(encoding="utf-8")
            known = summaries.get(name)
            rows.append(known if known is not None else written_image_summary(folder, name, settings, text))
            # A table with every column in order (the common case) is copied as text: pandas
            # wrote it and would write it back unchanged. Parsing and rewriting each cost the
            # client ~25 ms per image of 1,000 objects, with the workers waiting at the end.
            if text.startswith(header):
                out.write(text[len(header) :])
            else:
                full = pd.read_csv(io.StringIO(text), dtype=str, keep_default_na=False)
                out.write(full.reindex(columns=columns, fill_value="").to_csv(index=False, header=False))
    atomic_write_text(summary_path, pd.concat(rows, ignore_index=True).to_csv(index=False))
    return table_path, summary_path


def out_folder(out_dir: Path) -> None:
    """Create ``out_dir``; ``ValueError`` naming it when it cannot be (a file there, no permission)."""
    try:
        out_dir.mkdir(parents=True, exist_ok=True)
    except (FileExistsError, NotADirectoryError):
        raise ValueError(f"OUT_DIR: {str(out_dir)!r} is a file, not a folder") from None
    except OSError as error:
        raise ValueError(f"OUT_DIR: cannot create {str(out_dir)!r}: {error.strerror or error}") from None
    if not os.access(out_dir, os.W_OK):
        raise ValueError(f"OUT_DIR: cannot write into {str(out_dir)!r} (permission denied)")
