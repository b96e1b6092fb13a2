"""Command line: batch prediction over a folder of image/mask pairs.

Usage::

    svetlana-nb predict MODEL IMAGES_DIR MASKS_DIR OUT_DIR [--channel-axis N] [--batch-size N]
                        [--device D] [--network-alone] [--no-progress]

writes ``OUT_DIR/<image>_classes.tif`` (0 background, k + 1 for class k) for every pair and one
``OUT_DIR/objects.csv`` with every object of every image (class, confidence, measurements).
"""

from __future__ import annotations

import argparse
import sys
from collections.abc import Sequence
from pathlib import Path


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
        "--batch-size", type=int, default=None, help="objects per network batch (default: sized to the patch)"
    )
    predict.add_argument("--device", default="auto", help="auto, cpu, cuda or mps")
    predict.add_argument(
        "--network-alone",
        action="store_true",
        help="without the model's second opinion (its random forest where the network is unsure)",
    )
    predict.add_argument("--no-progress", action="store_true", help="hide the progress bar")
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
) -> Path:
    """Classify every object of every image/mask pair; return the path of the CSV table.

    ``network_alone``: predict with the model's network only, without its second opinion.
    """
    from tqdm.auto import tqdm

    from .io import find_pairs, read_image, read_mask
    from .models import Classifier
    from .objects import Objects
    from .prediction.export import export_images, write_table

    clf = Classifier.load(model, device=device)
    if network_alone:
        clf.second_opinion = None
    pairs = find_pairs(images_dir, masks_dir)
    out_dir.mkdir(parents=True, exist_ok=True)
    tables = []
    for image_path, mask_path in tqdm(pairs, desc="images", unit="image", disable=not progress):
        objects = Objects(read_image(image_path), read_mask(mask_path), channel_axis=channel_axis, name=image_path.name)
        result = clf.predict(objects, batch_size=batch_size)
        export_images(result, out_dir, what=("classes",))
        tables.append(result.table)
    return write_table(tables, out_dir)


def main(argv: Sequence[str] | None = None) -> int:
    """Entry point of ``svetlana-nb``; returns the exit status."""
    args = _parser().parse_args(argv)
    try:
        path = predict_folder(
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
    except (ValueError, FileNotFoundError, TypeError, KeyError) as error:
        print(f"svetlana-nb: error: {error}", file=sys.stderr)
        return 2
    print(f"wrote {path}")
    return 0


if __name__ == "__main__":  # pragma: no cover
    sys.exit(main())
