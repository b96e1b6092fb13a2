"""Command line: batch prediction over a folder of image/mask pairs.

Usage::

    svetlana-nb predict MODEL IMAGES_DIR MASKS_DIR OUT_DIR [--channel-axis N] [--batch-size N]
                        [--device D] [--network-alone] [--no-progress]

writes ``OUT_DIR/<image>_classes.tif`` (0 background, k + 1 for class k) for every pair and one
``OUT_DIR/objects.csv`` with every object of every image (class, confidence, measurements).
A pair that cannot be read or classified is reported by name at the end while the others
complete; the exit status is then 1 (2 for bad arguments, a bad model or OUT_DIR).
"""

from __future__ import annotations

import argparse
import os
import sys
from collections.abc import Sequence
from dataclasses import dataclass, field
from pathlib import Path


def _positive_int(text: str) -> int:
    """A whole number >= 1, for argparse (whose message names the option)."""
    try:
        value = int(text)
    except ValueError:
        raise argparse.ArgumentTypeError(f"expected a whole number >= 1, got {text!r}") from None
    if value < 1:
        raise argparse.ArgumentTypeError(f"expected a whole number >= 1, got {value}")
    return value


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
    return parser


@dataclass
class BatchResult:
    """What a batch prediction wrote, and which images failed.

    Attributes
    ----------
    table : pathlib.Path or None
        ``objects.csv`` with the objects of every image that succeeded (None if none did).
    done : list of str
        Images classified, by file name.
    failures : list of (str, str)
        Image file name and the reason, for every image that failed.
    """

    table: Path | None
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
) -> BatchResult:
    """Classify every object of every image/mask pair; one failing pair does not stop the others.

    Each image's class image is written as soon as it is classified; ``objects.csv`` is written
    once, atomically, with the rows of every image that succeeded. ``network_alone``: predict
    with the model's network only, without its second opinion.
    """
    from tqdm.auto import tqdm

    from .io import find_pairs, read_image, read_mask
    from .models import Classifier
    from .objects import Objects
    from .prediction.export import export_images, write_table

    if batch_size is not None and (isinstance(batch_size, bool) or not isinstance(batch_size, int) or batch_size < 1):
        raise ValueError(f"batch_size: expected a whole number >= 1, got {batch_size!r}")
    clf = Classifier.load(model, device=device)
    if network_alone:
        clf.second_opinion = None
    pairs = find_pairs(images_dir, masks_dir)
    _out_folder(out_dir)
    result = BatchResult(table=None)
    tables = []
    for image_path, mask_path in tqdm(pairs, desc="images", unit="image", disable=not progress):
        try:
            objects = Objects(
                read_image(image_path), read_mask(mask_path), channel_axis=channel_axis, name=image_path.name
            )
            prediction = clf.predict(objects, batch_size=batch_size)
            table = prediction.table
            export_images(prediction, out_dir, what=("classes",))
        except (ValueError, TypeError, KeyError, OSError, MemoryError) as error:
            reason = f"{type(error).__name__}: {error}" if isinstance(error, (KeyError, MemoryError)) else str(error)
            result.failures.append((image_path.name, f"image {image_path.name}, mask {mask_path.name}: {reason}"))
            continue
        tables.append(table)
        result.done.append(image_path.name)
    if tables:
        result.table = write_table(tables, out_dir)
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
        )
    except (ValueError, FileNotFoundError, TypeError, KeyError, OSError) as error:
        print(f"svetlana-nb: error: {error}", file=sys.stderr)
        return 2
    if result.table is not None:
        print(f"wrote {result.table} ({len(result.done)} image(s))")
    if result.failures:
        total = len(result.done) + len(result.failures)
        print(f"svetlana-nb: {len(result.failures)} of {total} image(s) failed:", file=sys.stderr)
        for _, reason in result.failures:
            print(f"  {reason}", file=sys.stderr)
        return 1
    return 0


if __name__ == "__main__":  # pragma: no cover
    sys.exit(main())
