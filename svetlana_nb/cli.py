"""Command line: batch prediction over a folder of image/mask pairs.

Usage::

    svetlana-nb predict MODEL IMAGES MASKS OUT_DIR [--channel-axis N] [--batch-size N]
                        [--device D] [--network-alone] [--no-progress]
                        [--annotations FILE [--folds N]] [--workers N | --scheduler ADDRESS]

writes ``OUT_DIR/<image>_classes.tif`` (0 background, k + 1 for class k) and
``OUT_DIR/<image>_objects.csv`` for every pair as it completes, one ``OUT_DIR/objects.csv`` with
every object of every image (class, confidence, measurements), one ``OUT_DIR/summary.csv`` with,
per image and class, the count and the raw proportion, and ``OUT_DIR/manifest.json``: the same
command run again predicts only the images not done yet (:func:`svetlana_nb.batch.predict_many`).
IMAGES and MASKS are two folders (pairs matched by name) or two files. ``--workers N`` runs on a
local Dask cluster of N worker processes, ``--scheduler ADDRESS`` on an existing Dask cluster.
A zarr store (OME-Zarr too; a folder named ``*.zarr``) or a large tiled TIFF is read block by
block, never whole (:func:`svetlana_nb.batch.predict_large`), and its class image is written as
``OUT_DIR/<image>_classes.zarr``, block by block.

With ``--annotations FILE`` (an annotation file of some of these images, as the Annotator saves
it), ``summary.csv`` also gives the proportions corrected for the model's errors and their 95 %
interval (:meth:`svetlana_nb.Prediction.summary`), and annotated objects take the user's class
in both tables (counted as known, without uncertainty). The errors are measured on those annotations by
cross-validation: the model's settings are trained ``--folds`` times, each time without one fold,
which predicts the fold (:func:`svetlana_nb.models.cross_validation.out_of_fold`). The model file
itself holds no such figures: the errors of a model on the annotations it learned from would be
too small, and the correction too weak; the annotations are the honest source.
A pair that cannot be read or classified is reported by name at the end while the others
complete; the exit status is then 1 (2 for bad arguments, a bad model or OUT_DIR).
"""

from __future__ import annotations

import argparse
import sys
from collections.abc import Callable, Sequence
from pathlib import Path
from typing import Any

import numpy as np

from .batch import BatchResult, predict_many

__all__ = ["BatchResult", "main", "predict_folder"]


def _whole_number(minimum: int) -> Callable[[str], int]:
    """An argparse type: a whole number >= ``minimum`` (argparse's message names the option)."""

    def parse(text: str) -> int:
        try:
            value = int(text)
        except ValueError:
            raise argparse.ArgumentTypeError(f"expected a whole number >= {minimum}, got {text!r}") from None
        if value < minimum:
            raise argparse.ArgumentTypeError(f"expected a whole number >= {minimum}, got {value}")
        return value

    return parse


_positive_int = _whole_number(1)


def _parser() -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(prog="svetlana-nb", description="svetlana_nb: classify segmented objects.")
    commands = parser.add_subparsers(dest="command", required=True)
    predict = commands.add_parser("predict", help="classify every object of a folder of image/mask pairs")
    predict.add_argument("model", type=Path, help="model file written by Classifier.save")
    predict.add_argument(
        "images_dir", type=Path, help="folder of images (TIFF/PNG/zarr), or one image file or zarr store"
    )
    predict.add_argument(
        "masks_dir", type=Path, help="folder of label masks with matching names, or one mask file or zarr store"
    )
    predict.add_argument("out_dir", type=Path, help="folder for class images and objects.csv (created)")
    predict.add_argument("--channel-axis", type=int, default=None, help="channel axis of the images")
    predict.add_argument(
        "--batch-size", type=_positive_int, default=None, help="objects per network batch (default: sized to the patch)"
    )
    predict.add_argument("--device", default="auto", help="auto, cpu, cuda or mps")
    predict.add_argument(
        "--network-alone",
        action="store_true",
        help="without the model's second opinion (its random forest where the network is unsure)",
    )
    predict.add_argument("--no-progress", action="store_true", help="hide the progress bar")
    predict.add_argument(
        "--annotations",
        type=Path,
        default=None,
        help="annotation file of some of these images: the model's errors on them, measured by cross-validation, "
        "correct the proportions of summary.csv and give their 95%% interval",
    )
    predict.add_argument(
        "--folds",
        type=_whole_number(2),
        default=5,
        help="cross-validation folds for --annotations (trainings of the model's settings; default 5)",
    )
    where = predict.add_mutually_exclusive_group()
    where.add_argument(
        "--workers",
        type=_positive_int,
        default=None,
        help="a local Dask cluster of N worker processes (default: 1, no Dask)",
    )
    where.add_argument("--scheduler", default=None, metavar="ADDRESS", help="run on the Dask cluster at ADDRESS")
    return parser


def predict_folder(
    model: Path,
    images_dir: Path,
    masks_dir: Path,
    out_dir: Path,
    *,
    channel_axis: int | None = None,
    batch_size: int | None = None,
    device: str = "auto",
    network_alone: bool = False,
    progress: bool = True,
    annotations: Path | None = None,
    folds: int = 5,
    workers: int | None = None,
    client: Any = None,
) -> BatchResult:
    """Classify every object of every image/mask pair: :func:`svetlana_nb.batch.predict_many`.

    One failing pair does not stop the others; each image's outputs are written as soon as it
    is classified, ``objects.csv`` and ``summary.csv`` at the end, atomically. ``annotations``:
    an annotation file of some of these images; the model's out-of-fold errors on them
    (``folds`` trainings) correct the proportions of ``summary.csv``, and annotated objects take
    the user's class (:meth:`~svetlana_nb.Prediction.corrected`) in both tables.
    """
    return predict_many(
        model,
        images_dir,
        masks_dir,
        out_dir,
        client=client,
        workers=workers,
        channel_axis=channel_axis,
        batch_size=batch_size,
        device=device,
        network_alone=network_alone,
        progress=progress,
        annotations=annotations,
        folds=folds,
    )


def _connect(address: str) -> Any:
    """A client of the Dask scheduler at ``address``; ``ValueError`` naming ``--scheduler`` if none answers."""
    from distributed import Client

    try:
        return Client(address, timeout="10s")
    except (OSError, TimeoutError, ValueError) as error:
        raise ValueError(f"--scheduler: cannot reach a Dask scheduler at {address!r} ({error})") from None


def main(argv: Sequence[str] | None = None) -> int:
    """Entry point of ``svetlana-nb``; returns the exit status (2: bad input, 1: some images failed)."""
    args = _parser().parse_args(argv)
    client = None
    try:
        client = _connect(args.scheduler) if args.scheduler else None
        result = predict_folder(
            args.model,
            args.images_dir,
            args.masks_dir,
            args.out_dir,
            channel_axis=args.channel_axis,
            batch_size=args.batch_size,
            device=args.device,
            network_alone=args.network_alone,
            progress=not args.no_progress,
            annotations=args.annotations,
            folds=args.folds,
            workers=args.workers,
            client=client,
        )
    except (ValueError, FileNotFoundError, TypeError, KeyError, OSError) as error:
        print(f"svetlana-nb: error: {error}", file=sys.stderr)
        return 2
    finally:
        if client is not None:
            client.close()
    if len(result.done) > len(result.predicted):
        print(f"resumed: {len(result.done) - len(result.predicted)} image(s) already done ({result.manifest})")
    if result.table is not None:
        print(f"wrote {result.table} ({len(result.done)} image(s))")
        if result.confusion is not None:
            totals = result.confusion.sum(axis=0)
            recall = np.diag(result.confusion)[totals > 0] / totals[totals > 0]
            corrected = (
                f"corrected for the model's out-of-fold errors on {int(totals.sum())} annotations: "
                f"balanced accuracy {recall.mean():.3f}"
            )
        else:
            corrected = "raw counts only: --annotations gives corrected proportions with intervals"
        print(f"wrote {result.summary} ({corrected})")
    if result.failures:
        total = len(result.done) + len(result.failures)
        print(f"svetlana-nb: {len(result.failures)} of {total} image(s) failed:", file=sys.stderr)
        for _, reason in result.failures:
            print(f"  {reason}", file=sys.stderr)
        return 1
    return 0


if __name__ == "__main__":  # pragma: no cover
    sys.exit(main())
