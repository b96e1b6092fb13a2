"""``predict_many``: classify the objects of many images, in this process or on a Dask cluster."""

from __future__ import annotations

import contextlib
import hashlib
import os
import sys
import time
from collections.abc import Iterator, Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import TYPE_CHECKING, Any

import numpy as np

from ._outputs import Manifest, out_folder, predict_and_write, remove_image_outputs, write_combined
from ._task import Job, Outcome, SummarySettings, classifier, failure, model_blob, share_cores

if TYPE_CHECKING:
    import pandas as pd

    from ..models import Classifier


@dataclass
class BatchResult:
    """What a batch prediction wrote, and which images failed.

    Attributes
    ----------
    table : pathlib.Path or None
        ``objects.csv`` with the objects of every image that succeeded (None if none did).
    summary : pathlib.Path or None
        ``summary.csv``: per image that succeeded and class, count and proportions (None if none did).
    confusion : numpy.ndarray or None, shape (k, k)
        Out-of-fold confusion counts of the ``annotations`` (``[j, i]``: annotated ``i``
        predicted ``j``); None without annotations.
    calibration : (numpy.ndarray of shape (A, k), numpy.ndarray of int of shape (A,)) or None
        The annotations' out-of-fold probabilities and annotated classes, which calibrate the
        corrected proportions (:func:`svetlana_nb.prediction.proportions.proportion_table`);
        None without annotations, or resumed from a manifest that lacks them.
    done : list of str
        Images classified (this run or, resumed, an earlier one), by file name.
    failures : list of (str, str)
        Image file name and the reason, for every image that failed.
    predicted : list of str
        Images predicted by this run (the others were done by an earlier run).
    manifest : pathlib.Path or None
        ``manifest.json``.
    """

    table: Path | None
    summary: Path | None = None
    confusion: np.ndarray | None = None
    calibration: tuple[np.ndarray, np.ndarray] | None = None
    done: list[str] = field(default_factory=list)
    failures: list[tuple[str, str]] = field(default_factory=list)
    predicted: list[str] = field(default_factory=list)
    manifest: Path | None = None


#: Seconds between two writes of ``manifest.json`` during a run (it is also written at the end).
MANIFEST_EVERY = 2.0


def find_inputs(images: Path, masks: Path) -> list[tuple[Path, Path]]:
    """The image/mask pairs: two folders (paired by name) or two single files."""
    from ..io import find_pairs
    from ..objects.lazy import is_zarr_store

    for what, path in (("IMAGES", images), ("MASKS", masks)):
        if not path.exists():
            raise FileNotFoundError(f"{what}: no such file or folder {str(path)!r}")
    if all(p.is_file() or is_zarr_store(p) for p in (images, masks)):
        return [(images, masks)]
    if images.is_dir() and masks.is_dir():
        return find_pairs(images, masks, stores=True)
    raise ValueError(
        f"IMAGES and MASKS: expected two folders or two files (a zarr store counts as a file), "
        f"got {str(images)!r} and {str(masks)!r}"
    )


@contextlib.contextmanager
def _cluster(client: Any, workers: int | None) -> Iterator[Any]:
    """``client`` as it is (left open), or a local cluster of ``workers`` processes, closed after."""
    if client is not None:
        yield client
        return
    import logging

    from distributed import Client, LocalCluster

    # CRITICAL, not ERROR: at close, a worker whose heartbeat meets the closed scheduler logs a
    # traceback that is only noise; an image's own errors come back through its future.
    cluster = LocalCluster(
        n_workers=workers, threads_per_worker=1, processes=True, dashboard_address=":0", silence_logs=logging.CRITICAL
    )
    try:
        with Client(cluster) as local:
            yield local
    finally:
        cluster.close()


def _workers_on_host(client: Any) -> dict[str, int]:
    """Per worker address, the number of workers on its machine."""
    try:
        info = client.scheduler_info(n_workers=-1)["workers"]
    except TypeError:  # older distributed lists every worker
        info = client.scheduler_info()["workers"]
    hosts = [str(entry.get("host", address)) for address, entry in info.items()]
    return {address: hosts.count(host) for address, host in zip(info, hosts)}


def _distributed(client: Any, blob: Any, jobs: Sequence[Job], report: Any) -> Iterator[Outcome]:
    """The outcomes of ``jobs`` on ``client``'s workers, as they complete; the model is scattered once."""
    from distributed import as_completed

    report(f"Dask dashboard: {client.dashboard_link}")
    client.run(share_cores, _workers_on_host(client))
    model = client.scatter(blob, broadcast=True)
    token = hashlib.sha256(f"{time.time_ns()}-{os.getpid()}".encode()).hexdigest()[:12]
    futures = {
        client.submit(predict_and_write, model, job, key=f"svnb-predict-{token}-{i}", pure=False, retries=0): job
        for i, job in enumerate(jobs)
    }
    try:
        for future in as_completed(futures):
            job = futures.pop(future)
            try:
                yield future.result()
            except Exception as error:  # a worker lost, an unexpected error: this image fails, not the batch
                yield failure(job, error)
            future.release()
    finally:
        for future in futures:
            future.cancel()


def predict_many(
    model: str | os.PathLike | Classifier,
    images: str | os.PathLike,
    masks: str | os.PathLike,
    out: str | os.PathLike,
    *,
    client: Any = None,
    workers: int | None = None,
    channel_axis: int | None = None,
    batch_size: int | None = None,
    device: str = "auto",
    network_alone: bool = False,
    progress: bool | None = None,
    annotations: str | os.PathLike | None = None,
    folds: int = 5,
) -> BatchResult:
    """Classify every object of many images; resumable, one failing image does not stop the others.

    Parameters
    ----------
    model : path or Classifier
        A model file written by :meth:`~svetlana_nb.Classifier.save`, or a trained classifier.
    images, masks : path
        Two folders (pairs matched by name, :func:`svetlana_nb.io.find_pairs`) or two files.
        A zarr store (OME-Zarr too) or a large tiled TIFF is read block by block
        (:func:`svetlana_nb.batch.predict_large`): images larger than memory.
    out : path
        Created if needed. Per image, as soon as it is done: ``<image>_classes.tif`` (for an
        image read block by block, ``<image>_classes.zarr``) with its key
        and ``<image>_objects.csv``; ``manifest.json`` (model sha256, inputs, per image status);
        at the end ``objects.csv`` and ``summary.csv`` from the per-image tables.
        Images done by an earlier run with the same model and settings are not predicted again.
    client : distributed.Client, optional
        Run on this Dask cluster (the client is left open). The model is sent once to every
        worker; the workers read the images and write their files themselves, so they must see
        the same paths (``out`` too).
    workers : int, optional
        Without ``client``: above 1, a local Dask cluster of that many worker processes, closed
        at the end. None or 1 (and no client): in this process, without Dask.
    channel_axis, batch_size, device, network_alone
        As in :class:`~svetlana_nb.Objects` and :meth:`~svetlana_nb.Classifier.predict`;
        ``network_alone``: without the model's second opinion.
    progress : bool, optional
        A progress bar (images, objects per second, failures, time left); None: on a terminal only.
    annotations : path, optional
        An annotation file of some of these images: their out-of-fold errors (``folds``
        trainings) correct ``summary.csv``, and annotated objects take the user's class.
    """
    from tqdm.auto import tqdm

    from ..models import Classifier
    from ._annotated import out_of_fold_errors, read_annotations

    if batch_size is not None and (isinstance(batch_size, bool) or not isinstance(batch_size, int) or batch_size < 1):
        raise ValueError(f"batch_size: expected a whole number >= 1, got {batch_size!r}")
    if workers is not None and (isinstance(workers, bool) or not isinstance(workers, int) or workers < 1):
        raise ValueError(f"workers: expected a whole number >= 1, got {workers!r}")
    blob = model_blob(model)
    if isinstance(model, Classifier):  # the user's classifier is not changed: a copy goes without its forest
        clf = classifier(blob, device, True) if network_alone else model
    else:
        clf = Classifier.load(model, device=device)
        if network_alone:
            clf.second_opinion = None
    pairs = find_inputs(Path(images), Path(masks))
    out = Path(out)
    out_folder(out)
    annotation_path = None if annotations is None else Path(annotations)
    settings: dict[str, Any] = {
        "channel_axis": channel_axis,
        "network_alone": bool(network_alone),
        "annotations_sha256": None,
        "folds": None,
    }
    if annotation_path is not None and annotation_path.is_file():
        settings["annotations_sha256"] = hashlib.sha256(annotation_path.read_bytes()).hexdigest()
        settings["folds"] = folds
    inputs = {
        "images": str(images),
        "masks": str(masks),
        "model": str(model) if not isinstance(model, Classifier) else "",
    }
    manifest = Manifest(out, model_sha256=blob.sha256, inputs=inputs, settings=settings)
    manifest.keep_only([image.name for image, _ in pairs])
    result = BatchResult(table=None, manifest=manifest.path)
    annotated: dict[str, list[tuple[int, str]]] = {}
    if annotation_path is not None:
        known, annotated = read_annotations(clf, annotation_path, pairs, channel_axis=channel_axis)
        stored, stored_oof = manifest.data.get("confusion"), manifest.data.get("out_of_fold")
        if stored is None:
            errors = out_of_fold_errors(clf, known, annotation_path, folds=folds)
            stored = errors.confusion.tolist()
            stored_oof = {"probabilities": errors.probabilities.tolist(), "annotated": errors.annotated.tolist()}
        result.confusion = np.asarray(stored, dtype=np.int64)
        if stored_oof is not None:  # a manifest of an earlier version has the counts only
            result.calibration = (
                np.asarray(stored_oof["probabilities"], dtype=np.float32),
                np.asarray(stored_oof["annotated"], dtype=np.int64),
            )
        manifest.data["confusion"], manifest.data["out_of_fold"] = stored, stored_oof
    manifest.write()
    by_name = {image.name: (image, mask) for image, mask in pairs}
    summarise = SummarySettings(
        tuple(clf.class_names or ()), result.confusion, calibration=result.calibration, temperature=clf.calibration
    )
    summaries: dict[str, pd.DataFrame] = {}
    jobs = [
        Job(
            image,
            mask,
            channel_axis,
            batch_size,
            device,
            bool(network_alone),
            tuple(annotated.get(image.name, ())),
            out=out.resolve(),
            summary=summarise,
        )
        for image, mask in pairs
        if not manifest.is_done(image, mask)
    ]
    show = sys.stderr.isatty() if progress is None else bool(progress)
    bar = tqdm(total=len(pairs), initial=len(pairs) - len(jobs), desc="images", unit="image", disable=not show)
    n_objects, start = 0, time.perf_counter()
    # Kept as a set, not recounted from the manifest per image: that was O(images²) on a screen.
    failed = {name for name, entry in manifest.images.items() if entry.get("status") == "failed"}
    distributed = client is not None or (workers or 1) > 1
    with contextlib.ExitStack() as stack:
        stack.callback(bar.close)
        stack.callback(manifest.flush)  # also on Ctrl-C or an error
        if distributed and jobs:
            active = stack.enter_context(_cluster(client, workers))
            outcomes: Iterator[Outcome] = _distributed(active, blob, jobs, print if show else lambda _: None)
        else:
            outcomes = (predict_and_write(clf, job) for job in jobs)
        for outcome in outcomes:
            image, mask = by_name[outcome.name]
            if outcome.reason is None:
                outputs = list(outcome.written or [])
                result.predicted.append(outcome.name)
                n_objects += outcome.n_objects
                if outcome.summary is not None:
                    summaries[outcome.name] = outcome.summary
                failed.discard(outcome.name)
            else:
                remove_image_outputs(outcome.name, out)
                outputs = []
                failed.add(outcome.name)
            manifest.record(image, mask, outcome, outputs, every=MANIFEST_EVERY)
            rate = n_objects / max(time.perf_counter() - start, 1e-9)
            bar.set_postfix(objects_per_s=f"{rate:.0f}", failed=len(failed), refresh=False)
            bar.update(1)
    predicted = set(result.predicted)
    result.predicted = [image.name for image, _ in pairs if image.name in predicted]  # in the order of the pairs
    for image, _ in pairs:
        entry = manifest.images.get(image.name, {})
        if entry.get("status") == "done":
            result.done.append(image.name)
        elif entry.get("status") == "failed":
            result.failures.append((image.name, str(entry.get("reason"))))
    if result.done:
        result.table, result.summary = write_combined(out, result.done, summarise, summaries=summaries)
    return result
