"""Command line: batch prediction over a folder of image/mask pairs.

Usage::

    svetlana-nb predict MODEL IMAGES_DIR MASKS_DIR OUT_DIR [--channel-axis N] [--batch-size N]
                        [--device D] [--network-alone] [--no-progress]
                        [--annotations FILE [--folds N]]

writes ``OUT_DIR/<image>_classes.tif`` (0 background, k + 1 for class k) for every pair, one
``OUT_DIR/objects.csv`` with every object of every image (class, confidence, measurements) and
one ``OUT_DIR/summary.csv`` with, per image and class, the count and the raw proportion.

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
import os
import sys
from collections.abc import Callable, Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import TYPE_CHECKING

import numpy as np

if TYPE_CHECKING:
    import pandas as pd

    from .models import Classifier
    from .prediction import Prediction


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
    predict.add_argument("images_dir", type=Path, help="folder of images (TIFF/PNG)")
    predict.add_argument("masks_dir", type=Path, help="folder of label masks with matching names")
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
    return parser


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
        Out-of-fold confusion counts of the ``--annotations`` (``[j, i]``: annotated ``i``
        predicted ``j``); None without annotations.
    done : list of str
        Images classified, by file name.
    failures : list of (str, str)
        Image file name and the reason, for every image that failed.
    """

    table: Path | None
    summary: Path | None = None
    confusion: np.ndarray | None = None
    done: list[str] = field(default_factory=list)
    failures: list[tuple[str, str]] = field(default_factory=list)


def _out_folder(out_dir: Path) -> None:
    """Create ``out_dir``; ``ValueError`` naming it when it cannot be (a file there, no permission)."""
    try:
        out_dir.mkdir(parents=True, exist_ok=True)
    except (FileExistsError, NotADirectoryError):
        raise ValueError(f"OUT_DIR: {str(out_dir)!r} is a file, not a folder") from None
    except OSError as error:
        raise ValueError(f"OUT_DIR: cannot create {str(out_dir)!r}: {error.strerror or error}") from None
    if not os.access(out_dir, os.W_OK):
        raise ValueError(f"OUT_DIR: cannot write into {str(out_dir)!r} (permission denied)")


def _out_of_fold_confusion(
    clf: Classifier,
    path: Path,
    pairs: Sequence[tuple[Path, Path]],
    *,
    channel_axis: int | None,
    folds: int,
) -> tuple[np.ndarray, dict[str, list[tuple[int, str]]]]:
    """Out-of-fold confusion counts of the annotations in ``path``, and the annotations per image.

    The annotated images must be among the batch's pairs (by file name, as the Annotator names
    them); the model's settings are trained ``folds`` times on the other folds.
    ``ValueError`` naming ``--annotations`` for a file that does not fit.

    Returns
    -------
    confusion : numpy.ndarray of int64, shape (k, k)
        ``[j, i]``: annotated ``i`` predicted ``j`` out of fold.
    by_image : dict of image file name to list of (label id, class name)
    """
    import json

    from .io import read_image, read_mask
    from .models.cross_validation import out_of_fold
    from .objects import Annotations, Objects
    from .objects.annotation_file import parse

    where = f"--annotations: {str(path)!r}"
    try:
        content = json.loads(path.read_text(encoding="utf-8"))
    except FileNotFoundError:
        raise ValueError(f"{where}: no such file") from None
    except (OSError, UnicodeDecodeError, json.JSONDecodeError, RecursionError) as error:
        raise ValueError(f"{where} is not a readable annotation file ({error})") from None
    parsed = parse(content, where)
    model_classes = list(clf.class_names or [])
    if parsed.class_names != model_classes:
        raise ValueError(
            f"{where}: its classes {parsed.class_names} are not the model's {model_classes} (same names, same order)"
        )
    named = sorted({image for image, _, _ in parsed.records})
    by_name = {image.name: (image, mask) for image, mask in pairs}
    missing = [name for name in named if name not in by_name]
    if missing:
        raise ValueError(f"{where} annotates images that are not in IMAGES_DIR: {missing}")
    if not named:
        raise ValueError(f"{where} holds no annotation")
    objects = Objects(
        [read_image(by_name[name][0]) for name in named],
        [read_mask(by_name[name][1]) for name in named],
        channel_axis=channel_axis,
        name=named,
    )
    try:
        annotations = Annotations.load(path, objects)
        confusion = out_of_fold(clf, annotations, folds=folds).confusion
    except ValueError as error:
        message = str(error)
        raise ValueError(message if message.startswith(where) else f"{where}: {message}") from None
    by_image: dict[str, list[tuple[int, str]]] = {}
    for (image, label), class_name in annotations.items():
        by_image.setdefault(image, []).append((label, class_name))
    return confusion, by_image


def _summary(prediction: Prediction, confusion: np.ndarray | None) -> pd.DataFrame:
    """Per image and class: count, raw proportion, and (with ``confusion``) corrected proportion and interval."""
    import pandas as pd

    if confusion is not None:
        return prediction.summary(confusion)
    k = len(prediction.class_names)
    counts = np.bincount(prediction.predicted_index, minlength=k)
    n = int(counts.sum())
    nan = np.full(k, np.nan)
    return pd.DataFrame(
        {
            "image": prediction.objects.names[0],
            "class": list(prediction.class_names),
            "count": counts,
            "proportion": counts / n if n else nan,
            "corrected": nan,
            "low": nan,
            "high": nan,
            "n_objects": n,
        }
    )


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
) -> BatchResult:
    """Classify every object of every image/mask pair; one failing pair does not stop the others.

    Each image's class image is written as soon as it is classified; ``objects.csv`` and
    ``summary.csv`` are written once, atomically, with the rows of every image that succeeded.
    ``network_alone``: predict with the model's network only, without its second opinion.
    ``annotations``: an annotation file of some of these images; the model's out-of-fold errors
    on them (``folds`` trainings) correct the proportions of ``summary.csv``, and annotated
    objects take the user's class (:meth:`~svetlana_nb.Prediction.corrected`) in both tables.
    """
    from tqdm.auto import tqdm

    from ._files import atomic_write_text
    from .io import find_pairs, read_image, read_mask
    from .models import Classifier
    from .objects import Annotations, Objects
    from .prediction.export import export_images, write_table

    if batch_size is not None and (isinstance(batch_size, bool) or not isinstance(batch_size, int) or batch_size < 1):
        raise ValueError(f"batch_size: expected a whole number >= 1, got {batch_size!r}")
    clf = Classifier.load(model, device=device)
    if network_alone:
        clf.second_opinion = None
    pairs = find_pairs(images_dir, masks_dir)
    _out_folder(out_dir)
    result = BatchResult(table=None)
    annotated: dict[str, list[tuple[int, str]]] = {}
    if annotations is not None:
        result.confusion, annotated = _out_of_fold_confusion(
            clf, annotations, pairs, channel_axis=channel_axis, folds=folds
        )
    tables, summaries = [], []
    for image_path, mask_path in tqdm(pairs, desc="images", unit="image", disable=not progress):
        try:
            objects = Objects(
                read_image(image_path), read_mask(mask_path), channel_axis=channel_axis, name=image_path.name
            )
            prediction = clf.predict(objects, batch_size=batch_size)
            if image_path.name in annotated:  # the user's class counts, known, as in the notebook's export
                known = Annotations(objects, list(clf.class_names or []))
                for label, class_name in annotated[image_path.name]:
                    known.add(label, class_name)
                prediction = prediction.corrected(known)
            table = prediction.table
            summary = _summary(prediction, result.confusion)
            export_images(prediction, out_dir, what=("classes",))
        except (ValueError, TypeError, KeyError, OSError, MemoryError) as error:
            reason = f"{type(error).__name__}: {error}" if isinstance(error, (KeyError, MemoryError)) else str(error)
            result.failures.append((image_path.name, f"image {image_path.name}, mask {mask_path.name}: {reason}"))
            continue
        tables.append(table)
        summaries.append(summary)
        result.done.append(image_path.name)
    if tables:
        import pandas as pd

        result.table = write_table(tables, out_dir)
        result.summary = out_dir / "summary.csv"
        atomic_write_text(result.summary, pd.concat(summaries, ignore_index=True).to_csv(index=False))
    return result


def main(argv: Sequence[str] | None = None) -> int:
    """Entry point of ``svetlana-nb``; returns the exit status (2: bad input, 1: some images failed)."""
    args = _parser().parse_args(argv)
    try:
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
        )
    except (ValueError, FileNotFoundError, TypeError, KeyError, OSError) as error:
        print(f"svetlana-nb: error: {error}", file=sys.stderr)
        return 2
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
