"""The annotation file: its JSON layout, a fingerprint per image, and a strict reader.

Version 2 stores, beside the class names and the ``(image, label, class)`` records, a
fingerprint of every image's segmentation: its shape, its object count and a hash of its sorted
label ids. Annotations keyed by image name and label id would otherwise attach silently to
another image saved under the same name (the default name is ``"image"``).
"""

from __future__ import annotations

import hashlib
import os
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import numpy as np

from .objects import Objects

FORMAT = "svetlana_nb.annotations"
VERSION = 2
READABLE_VERSIONS = (1, 2)


class FileChangedError(RuntimeError):
    """The annotation file was changed by someone else since this session read or wrote it."""


def fingerprint(objects: Objects, image: int) -> dict[str, Any]:
    """Shape, object count, and SHA-256s of the sorted label ids and of their bounding boxes.

    The boxes catch a re-segmentation that keeps the same label ids (Cellpose numbers its
    objects 1..n every time) but puts them elsewhere; files written before they were stored
    are checked on the other fields only.

    Parameters
    ----------
    objects : Objects
    image : int
        Index of the image.

    Returns
    -------
    dict
        ``{"shape": [...], "objects": n, "labels_sha256": "...", "boxes_sha256": "..."}``
        (JSON-ready).
    """
    rows = objects.image_index == image
    labels = np.ascontiguousarray(objects.labels[rows], dtype="<i8")
    boxes = np.ascontiguousarray(objects.bbox[rows], dtype="<i8")
    return {
        "shape": [int(n) for n in objects.masks[image].shape],
        "objects": int(labels.size),
        "labels_sha256": hashlib.sha256(labels.tobytes()).hexdigest(),
        "boxes_sha256": hashlib.sha256(boxes.tobytes()).hexdigest(),
    }


def file_digest(path: str | os.PathLike) -> str | None:
    """SHA-256 of a file's bytes (None when there is no file): what this session last saw there."""
    try:
        return hashlib.sha256(Path(path).read_bytes()).hexdigest()
    except FileNotFoundError:
        return None


@dataclass(frozen=True)
class AnnotationRecords:
    """What a checked annotation file holds."""

    class_names: list[str]
    records: list[tuple[str, int, str]]
    fingerprints: dict[str, dict[str, Any]] | None


def parse(content: object, where: str) -> AnnotationRecords:
    """Check the JSON content of an annotation file; ``ValueError`` naming ``where`` and the field.

    Strict: labels must be JSON integers (not ``1.9``, ``true`` or ``"1"``), the version one
    this reader knows, and two records for one object must agree.
    """
    if not isinstance(content, dict) or content.get("format") != FORMAT:
        raise ValueError(f"{where} is not a svetlana_nb annotation file")
    version = content.get("version")
    if isinstance(version, bool) or version not in READABLE_VERSIONS:
        raise ValueError(
            f"{where} is an annotation file of version {version!r}; this svetlana_nb reads versions "
            f"{', '.join(map(str, READABLE_VERSIONS))} (a newer svetlana_nb wrote it?)"
        )
    names = content.get("class_names")
    if not isinstance(names, list) or not all(isinstance(n, str) for n in names):
        raise ValueError(f"{where}: field 'class_names': expected a list of class names, got {names!r:.100}")
    raw = content.get("annotations")
    if not isinstance(raw, list):
        raise ValueError(f"{where}: field 'annotations': expected a list of records, got {type(raw).__name__}")
    records: list[tuple[str, int, str]] = []
    seen: dict[tuple[str, int], str] = {}
    for i, record in enumerate(raw):
        if (
            not isinstance(record, dict)
            or not isinstance(record.get("image"), str)
            or type(record.get("label")) is not int
            or not isinstance(record.get("class"), str)
        ):
            raise ValueError(
                f"{where}: record {i}: expected {{'image': name, 'label': integer id, 'class': name}}, "
                f"got {record!r:.120}"
            )
        key = (record["image"], record["label"])
        if key in seen and seen[key] != record["class"]:
            raise ValueError(
                f"{where}: object {key} is annotated twice with different classes "
                f"({seen[key]!r} and {record['class']!r}); fix the file by hand"
            )
        seen[key] = record["class"]
        records.append((record["image"], record["label"], record["class"]))
    fingerprints = content.get("fingerprints")
    if version >= 2:
        if not isinstance(fingerprints, dict) or not all(isinstance(v, dict) for v in fingerprints.values()):
            raise ValueError(f"{where}: field 'fingerprints': expected a mapping of image name to fingerprint")
    else:
        fingerprints = None
    return AnnotationRecords(list(names), records, fingerprints)


class SegmentationMismatchError(ValueError):
    """An annotation file was saved on other segmentations than the objects it is loaded for.

    Attributes
    ----------
    images : list of str
        The names of the images whose segmentation differs.
    """

    def __init__(self, message: str, images: list[str]) -> None:
        super().__init__(message)
        self.images = images


def mismatches(objects: Objects, fingerprints: dict[str, dict[str, Any]], images: set[str]) -> dict[str, str]:
    """Image name → plain description of how ``objects`` differ from the file's fingerprint there.

    Only the ``images`` named are checked; an image that fits is absent.
    """
    problems = {}
    for name in sorted(images):
        if name not in fingerprints or name not in objects.names:
            continue
        stored, current = fingerprints[name], fingerprint(objects, objects.names.index(name))
        differences = [
            f"{field} {stored.get(field)!r} in the file, {current[field]!r} here"
            for field in ("shape", "objects")
            if stored.get(field) != current[field]
        ]
        if not differences and stored.get("labels_sha256") != current["labels_sha256"]:
            differences.append("the same number of objects but other label ids")
        elif not differences and stored.get("boxes_sha256", current["boxes_sha256"]) != current["boxes_sha256"]:
            differences.append("the same label ids but objects elsewhere (a re-segmentation)")
        if differences:
            problems[name] = f"image {name!r}: " + "; ".join(differences)
    return problems
