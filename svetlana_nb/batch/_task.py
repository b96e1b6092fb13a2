"""The work of one image, in this process or on a Dask worker.

The model travels as a :class:`ModelBlob` (the bytes of its file): scattered once to every
worker, unpacked there once, and loaded once per worker process (:func:`classifier` keeps it).
"""

from __future__ import annotations

import hashlib
import os
import tempfile
import threading
from dataclasses import dataclass, field
from pathlib import Path
from typing import TYPE_CHECKING, Any

import numpy as np

if TYPE_CHECKING:
    import pandas as pd

    from ..models import Classifier
    from ..prediction.confidence import Calibration

#: Errors of one image that do not stop the batch (unreadable file, shape mismatch...).
IMAGE_ERRORS = (ValueError, TypeError, KeyError, OSError, MemoryError)

_LOCK = threading.Lock()
_MODELS: dict[tuple[str, str, bool], Classifier] = {}
#: In this process: how many model blobs were unpickled, and how many models loaded from one.
COUNTS = {"unpacked": 0, "loaded": 0}


def _unpack(data: bytes, sha256: str) -> ModelBlob:
    with _LOCK:
        COUNTS["unpacked"] += 1
    return ModelBlob(data, sha256)


class ModelBlob:
    """The bytes of a model file and their sha256, as sent to the workers (counted when unpickled)."""

    def __init__(self, data: bytes, sha256: str | None = None):
        self.data = data
        self.sha256 = sha256 or hashlib.sha256(data).hexdigest()

    def __reduce__(self) -> tuple[Any, tuple[bytes, str]]:
        return _unpack, (self.data, self.sha256)

    def __dask_tokenize__(self) -> str:
        return self.sha256


def model_blob(model: str | os.PathLike | Classifier) -> ModelBlob:
    """The bytes of a model file, or of a :class:`~svetlana_nb.Classifier` saved to a temporary file."""
    from ..models import Classifier

    if isinstance(model, Classifier):
        with tempfile.TemporaryDirectory() as folder:
            path = Path(folder) / "model.svnb"
            model.save(path)
            return ModelBlob(path.read_bytes())
    path = Path(model)
    if not path.is_file():
        raise FileNotFoundError(f"model: no model file at {str(path)!r}")
    return ModelBlob(path.read_bytes())


def classifier(blob: ModelBlob, device: str, network_alone: bool) -> Classifier:
    """The classifier of ``blob``, loaded once per process and kept (the last two models)."""
    from ..models import Classifier

    key = (blob.sha256, device, network_alone)
    with _LOCK:
        if key not in _MODELS:
            with tempfile.TemporaryDirectory() as folder:
                path = Path(folder) / "model.svnb"
                path.write_bytes(blob.data)
                clf = Classifier.load(path, device=device)
            if network_alone:
                clf.second_opinion = None
            while len(_MODELS) >= 2:
                _MODELS.pop(next(iter(_MODELS)))
            _MODELS[key] = clf
            COUNTS["loaded"] += 1
        return _MODELS[key]


def share_cores(workers_on_host: dict[str, int], dask_worker: Any = None) -> int:
    """Give torch this worker's share of the machine's cores, and fast large allocations; return the threads set.

    Run on every worker with ``client.run``; ``workers_on_host`` maps each worker's address
    to the number of workers on its machine.
    """
    import torch

    from .. import models  # noqa: F401  the engine imported on every worker at once, not in its first task
    from ._malloc import restore_malloc_thresholds

    restore_malloc_thresholds()  # a Dask nanny's MALLOC_TRIM_THRESHOLD_ doubles each image's CPU time
    address = getattr(dask_worker, "address", None)
    threads = max(1, (os.cpu_count() or 1) // max(1, workers_on_host.get(str(address), 1)))
    torch.set_num_threads(threads)
    return threads


@dataclass(frozen=True)
class SummarySettings:
    """What every image's ``summary.csv`` rows need besides its table (see ``_outputs.image_summary``)."""

    class_names: tuple[str, ...]
    #: Out-of-fold confusion counts of the annotations, shape (k, k), or None: raw counts only.
    confusion: np.ndarray | None = None
    #: The annotations' out-of-fold probabilities (A, k) and classes (A,), or None.
    calibration: tuple[np.ndarray, np.ndarray] | None = None
    #: The classifier's own temperature, which scaled the tables' probabilities.
    temperature: Calibration | None = None


@dataclass(frozen=True)
class Job:
    """One image/mask pair and how to predict it."""

    image: Path
    mask: Path
    channel_axis: int | None = None
    batch_size: int | None = None
    device: str = "auto"
    network_alone: bool = False
    #: The user's annotations of this image: (label id, class name).
    annotated: tuple[tuple[int, str], ...] = ()
    #: The output folder: an image read lazily writes its class image there as zarr itself.
    out: Path | None = None
    #: How to summarise the image's classes once written (the run's class names and errors):
    #: its ``summary.csv`` rows are then computed where it is predicted, not by the client.
    summary: SummarySettings | None = None

    @property
    def lazy(self) -> bool:
        """Whether the pair is read block by block (a zarr store, or a large tiled TIFF)."""
        from ..objects.lazy import is_large_tiff, is_zarr_store

        return is_zarr_store(self.image) or is_zarr_store(self.mask) or is_large_tiff(self.image)

    @property
    def name(self) -> str:
        """The image's file name, which names it in the outputs and the manifest."""
        return self.image.name


@dataclass
class Outcome:
    """What predicting one image gave: its class image and object table, or the reason it failed."""

    name: str
    classes: np.ndarray | None = None
    table: pd.DataFrame | None = None
    reason: str | None = None
    class_names: list[str] = field(default_factory=list)
    #: An image read lazily: its class image, already written as a zarr store in the output folder.
    classes_store: Path | None = None
    #: The files written for it in the output folder, once written (then ``classes`` and ``table``
    #: are dropped: a worker that wrote its image's files sends back this light outcome only).
    written: list[str] | None = None
    objects: int = 0
    #: The image's ``summary.csv`` rows, computed where it was predicted (``Job.summary``).
    summary: pd.DataFrame | None = None

    @property
    def n_objects(self) -> int:
        """Objects classified (0 for a failure)."""
        return self.objects if self.table is None else len(self.table)


def failure(job: Job, error: BaseException) -> Outcome:
    """The outcome of an image whose prediction raised ``error``, naming both files."""
    text = str(error)
    reason = f"{type(error).__name__}: {text}" if isinstance(error, (KeyError, MemoryError)) or not text else text
    return Outcome(job.name, reason=f"image {job.image.name}, mask {job.mask.name}: {reason}")


def predict_one(model: Classifier | ModelBlob, job: Job) -> Outcome:
    """Classify the objects of one image; an unreadable or mismatched pair gives a failed outcome."""
    from ..io import read_image, read_mask
    from ..objects import Annotations, Objects

    try:
        clf = classifier(model, job.device, job.network_alone) if isinstance(model, ModelBlob) else model
        if job.lazy:
            return _predict_lazy(clf, job)
        objects = Objects(read_image(job.image), read_mask(job.mask), channel_axis=job.channel_axis, name=job.name)
        prediction = clf.predict(objects, batch_size=job.batch_size)
        if job.annotated:  # the user's class counts, known, as in the notebook's export
            known = Annotations(objects, list(clf.class_names or []))
            for label, class_name in job.annotated:
                known.add(label, class_name)
            prediction = prediction.corrected(known)
        return Outcome(
            job.name,
            classes=prediction.class_image(0),
            table=prediction.table,
            class_names=list(prediction.class_names),
        )
    except IMAGE_ERRORS as error:
        return failure(job, error)


def _predict_lazy(clf: Classifier, job: Job) -> Outcome:
    """Classify a pair read block by block; its class image goes to ``<image>_classes.zarr`` in ``job.out``."""
    from ..prediction.prediction import image_stem
    from ._large import predict_large

    if job.out is None:
        raise ValueError(f"image {job.image.name}: read lazily, it needs an output folder for its class image")
    if job.annotated:
        raise ValueError(f"image {job.image.name}: annotations of an image read lazily are not supported yet")
    store = job.out / f"{image_stem(job.name)}_classes.zarr"
    table = predict_large(
        clf, job.image, job.mask, store, channel_axis=job.channel_axis, name=job.name, batch_size=job.batch_size
    )
    return Outcome(job.name, table=table, class_names=list(clf.class_names or []), classes_store=store)
