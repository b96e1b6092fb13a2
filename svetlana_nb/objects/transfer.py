"""Move annotations onto a new segmentation of the same images, by overlap, never by a guess.

Users re-run Cellpose or StarDist with other settings; the label ids change, and annotations
keyed by label id would be lost. :func:`match_annotated` pairs each annotated old object with
the new object covering the same pixels (intersection over union, IoU), one to one.

The rule (no assignment solver): a pair (old, new) is a match when its IoU reaches ``min_iou``
and each of the two has no other *substantial* partner, i.e. no other object of the other
segmentation overlaps it with IoU >= ``AMBIGUOUS_IOU`` (0.2, or ``min_iou`` when lower). Since
the pair itself is substantial, each object has at most one candidate: matches are one to one
by construction, for any ``min_iou``. Competition is never resolved by a guess; it is reported:

- *split*: the old object overlaps two or more new objects substantially (a cut cell);
- *merge*: its one substantial new partner also overlaps another old object substantially (two
  cells fused: the new object's pixels belong to several old objects, of classes maybe unlike);
- *unmatched*: nothing reaches ``min_iou`` (the object was lost or moved); its best IoU is given.

Overlaps of all label pairs of an image come from one ``np.unique`` over ``old * K + new`` of
the pixels inside both masks; areas from ``np.bincount``; no Python loop runs over pixels or
over every object (only over the annotated objects, to write the report).
"""

from __future__ import annotations

import math
from collections.abc import Sequence
from dataclasses import dataclass, field

import numpy as np

from .objects import Objects

__all__ = ["AMBIGUOUS_IOU", "TRANSFER_HINT", "TransferReport", "match_annotated", "pair_overlaps"]

#: How to keep labels across a re-segmentation, said wherever a file is refused for a mismatch.
TRANSFER_HINT = (
    "To move these labels onto the new segmentation: new, report = "
    "sv.objects.transfer_file(path, objects, old_masks); print(report.summary()); new.save(new_path) "
    "(or open the Annotator with autosave=path: it offers the same). By hand: old = "
    "sv.Annotations.load(path, old_objects); new, report = old.transfer(objects)"
)

#: IoU from which an overlap counts as substantial: a second such partner makes a match ambiguous.
AMBIGUOUS_IOU = 0.2

OldKey = tuple[str, int]


@dataclass(frozen=True)
class TransferReport:
    """What :meth:`Annotations.transfer` did with every annotation; each is in exactly one list.

    Attributes
    ----------
    matched : list of (old key, new key, iou)
        Annotations moved: ``(image, old label)`` → ``(image, new label)`` with their IoU.
    unmatched : list of (old key, best iou)
        No new object reaches ``min_iou`` (deleted, or moved too far); not transferred.
    ambiguous : list of (old key, kind, reason)
        ``kind`` is ``"split"`` or ``"merge"``; ``reason`` says with which objects and IoUs.
        Not transferred.
    skipped : list of (old key, reason)
        The annotation's image is not in the new objects (matched by name), or its mask has
        another shape there. Not transferred.
    min_iou : float
    """

    matched: list[tuple[OldKey, OldKey, float]] = field(default_factory=list)
    unmatched: list[tuple[OldKey, float]] = field(default_factory=list)
    ambiguous: list[tuple[OldKey, str, str]] = field(default_factory=list)
    skipped: list[tuple[OldKey, str]] = field(default_factory=list)
    min_iou: float = 0.5

    @property
    def n_annotations(self) -> int:
        """Number of annotations considered (the four lists together)."""
        return len(self.matched) + len(self.unmatched) + len(self.ambiguous) + len(self.skipped)

    @property
    def missing_images(self) -> list[str]:
        """Names of the images whose annotations were skipped, in first-seen order."""
        return list(dict.fromkeys(key[0] for key, _ in self.skipped))

    def summary(self) -> str:
        """One plain sentence, e.g. "38 of 40 annotations moved; 1 object was split, 1 has no counterpart"."""
        n = self.n_annotations
        text = f"{len(self.matched)} of {n} annotation{'' if n == 1 else 's'} moved"
        kinds = [kind for _, kind, _ in self.ambiguous]
        parts = []
        if splits := kinds.count("split"):
            parts.append(f"{splits} object{' was' if splits == 1 else 's were'} split")
        if merges := kinds.count("merge"):
            parts.append(f"{merges} {'was' if merges == 1 else 'were'} merged with another object")
        if lost := len(self.unmatched):
            parts.append(f"{lost} {'has' if lost == 1 else 'have'} no counterpart")
        if skipped := len(self.skipped):
            names = ", ".join(repr(name) for name in self.missing_images)
            parts.append(f"{skipped} {'was' if skipped == 1 else 'were'} on images not comparable ({names})")
        return text + ("; " + ", ".join(parts) if parts else "")

    def __str__(self) -> str:
        return self.summary()


def pair_overlaps(old_mask: np.ndarray, new_mask: np.ndarray) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    """IoU of every overlapping (old label, new label) pair of two masks of one shape.

    Parameters
    ----------
    old_mask, new_mask : numpy.ndarray of int, shape (Y, X) or (Z, Y, X)
        Label images (0 is background), non-negative ids.

    Returns
    -------
    old, new : numpy.ndarray of int64, shape (p,)
        Label ids of the p pairs that share at least one pixel.
    iou : numpy.ndarray of float64, shape (p,)
        Intersection over union of each pair.
    """
    a = np.asarray(old_mask).ravel().astype(np.int64, copy=False)
    b = np.asarray(new_mask).ravel().astype(np.int64, copy=False)
    k = int(b.max(initial=0)) + 1
    both = (a > 0) & (b > 0)
    codes, inter = np.unique(a[both] * k + b[both], return_counts=True)
    old, new = codes // k, codes % k
    area_old = np.bincount(a, minlength=int(a.max(initial=0)) + 1)
    area_new = np.bincount(b, minlength=k)
    iou = inter / (area_old[old] + area_new[new] - inter)
    return old, new, iou.astype(np.float64)


def check_min_iou(min_iou: object) -> float:
    """``min_iou`` as a float in (0, 1]; ``ValueError`` naming it otherwise."""
    if isinstance(min_iou, bool) or not isinstance(min_iou, (int, float, np.integer, np.floating)):
        raise ValueError(f"min_iou: expected a number in (0, 1], got {min_iou!r}")
    value = float(min_iou)
    if not (math.isfinite(value) and 0.0 < value <= 1.0):
        raise ValueError(f"min_iou: expected a number in (0, 1], got {min_iou!r}")
    return value


def match_annotated(
    old_objects: Objects, new_objects: Objects, keys: Sequence[OldKey], *, min_iou: float = 0.5
) -> TransferReport:
    """Match annotated objects of ``old_objects`` to objects of ``new_objects`` (see the module).

    Parameters
    ----------
    old_objects, new_objects : Objects
        Two segmentations of the same images; images are matched by name.
    keys : sequence of (image name, label id)
        The annotated old objects, length m.
    min_iou : float in (0, 1], keyword-only
        IoU a match needs.

    Returns
    -------
    TransferReport
        Every key in exactly one of its lists, in the order of ``keys`` within each list.
    """
    if not isinstance(new_objects, Objects):
        raise TypeError(f"new_objects: expected an Objects, got {type(new_objects).__name__}")
    min_iou = check_min_iou(min_iou)
    report = TransferReport(min_iou=min_iou)
    by_image: dict[str, list[OldKey]] = {}
    for key in keys:
        by_image.setdefault(key[0], []).append(key)
    for image, image_keys in by_image.items():
        old_mask = old_objects.masks[old_objects.image_number(image)]
        if image not in new_objects.names:
            report.skipped.extend((key, f"image {image!r} is not in the new objects") for key in image_keys)
            continue
        new_mask = new_objects.masks[new_objects.image_number(image)]
        if new_mask.shape != old_mask.shape:
            reason = f"image {image!r} has shape {list(new_mask.shape)} in the new objects, {list(old_mask.shape)} here"
            report.skipped.extend((key, reason) for key in image_keys)
            continue
        _match_image(report, image, image_keys, pair_overlaps(old_mask, new_mask))
    order = {key: i for i, key in enumerate(keys)}
    for items in (report.matched, report.unmatched, report.ambiguous, report.skipped):
        items.sort(key=lambda item: order[item[0]])
    return report


def _match_image(
    report: TransferReport,
    image: str,
    keys: list[OldKey],
    pairs: tuple[np.ndarray, np.ndarray, np.ndarray],
) -> None:
    """Sort the annotated ``keys`` of one image into the report's lists (pairs from :func:`pair_overlaps`)."""
    old, new, iou = pairs
    threshold = min(AMBIGUOUS_IOU, report.min_iou)
    strong = iou >= threshold
    size = int(max(old.max(initial=0), max(k[1] for k in keys))) + 1
    n_new_partners = np.bincount(old[strong], minlength=size)  # per old label
    n_old_partners = np.bincount(new[strong], minlength=int(new.max(initial=0)) + 1)  # per new label
    accepted = (iou >= report.min_iou) & (n_new_partners[old] == 1) & (n_old_partners[new] == 1)
    best = np.zeros(size)
    np.maximum.at(best, old, iou)
    match = np.full(size, -1, dtype=np.int64)  # per old label: its accepted pair (at most one), or -1
    match[old[accepted]] = np.flatnonzero(accepted)
    labels = np.array([key[1] for key in keys], dtype=np.int64)
    hits = match[labels]
    moved = hits >= 0
    pairs_moved = zip([keys[i] for i in np.flatnonzero(moved)], new[hits[moved]].tolist(), iou[hits[moved]].tolist())
    report.matched.extend((key, (image, n), v) for key, n, v in pairs_moved)
    if moved.all():
        return
    order = np.argsort(old, kind="stable")  # the pairs of each old label, contiguous
    starts = np.searchsorted(old[order], np.arange(size + 1))
    for key in [keys[i] for i in np.flatnonzero(~moved)]:  # the few not moved: explain each
        label = key[1]
        mine = order[starts[label] : starts[label + 1]]
        partners = mine[strong[mine]]
        partners = partners[np.argsort(-iou[partners], kind="stable")]
        if partners.size >= 2:
            pieces = ", ".join(f"{int(new[j])} (IoU {iou[j]:.2f})" for j in partners)
            report.ambiguous.append((key, "split", f"split into new objects {pieces}"))
        elif partners.size == 1 and n_old_partners[new[partners[0]]] >= 2:
            target = int(new[partners[0]])
            rivals = np.flatnonzero((new == target) & strong & (old != label))
            others = ", ".join(f"{int(old[j])} (IoU {iou[j]:.2f})" for j in rivals)
            report.ambiguous.append(
                (
                    key,
                    "merge",
                    f"merged into new object {target} (IoU {iou[partners[0]]:.2f}) with old object(s) {others}",
                )
            )
        else:
            report.unmatched.append((key, float(best[label])))
