"""Annotations of some images of a batch: the model's out-of-fold errors, and the user's classes per image."""

from __future__ import annotations

import json
from collections.abc import Sequence
from pathlib import Path
from typing import TYPE_CHECKING

if TYPE_CHECKING:
    from ..models import Classifier
    from ..models.cross_validation import OutOfFold
    from ..objects import Annotations


def read_annotations(
    clf: Classifier, path: Path, pairs: Sequence[tuple[Path, Path]], *, channel_axis: int | None
) -> tuple[Annotations, dict[str, list[tuple[int, str]]]]:
    """The annotations in ``path``, and per image file name its (label id, class name) pairs.

    The annotated images must be among the batch's pairs (by file name, as the Annotator names
    them), with the model's classes. ``ValueError`` naming ``--annotations`` for a file that does not fit.
    """
    from ..io import read_image, read_mask
    from ..objects import Annotations, Objects
    from ..objects.annotation_file import parse

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
    except ValueError as error:
        message = str(error)
        raise ValueError(message if message.startswith(where) else f"{where}: {message}") from None
    by_image: dict[str, list[tuple[int, str]]] = {}
    for (image, label), class_name in annotations.items():
        by_image.setdefault(image, []).append((label, class_name))
    return annotations, by_image


def out_of_fold_errors(clf: Classifier, annotations: Annotations, path: Path, *, folds: int) -> OutOfFold:
    """The annotations predicted out of fold: confusion counts and probabilities.

    The model's settings are trained ``folds`` times on the other folds
    (:func:`svetlana_nb.models.cross_validation.out_of_fold`).
    """
    from ..models.cross_validation import out_of_fold

    where = f"--annotations: {str(path)!r}"
    try:
        return out_of_fold(clf, annotations, folds=folds)
    except ValueError as error:
        message = str(error)
        raise ValueError(message if message.startswith(where) else f"{where}: {message}") from None
