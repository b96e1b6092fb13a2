"""The one writer of prediction outputs, for the viewer, the command line and scripts.

Every output of an image is named after the image (:func:`~.prediction.image_stem`), so the
viewer's *Export* buttons and ``svetlana-nb predict`` write the same files for the same
image: ``<image>_classes.tif``, ``<image>_<class>.tif`` and one ``objects.csv`` for all.
"""

from __future__ import annotations

import os
from collections.abc import Sequence
from pathlib import Path

import pandas as pd

from .._files import atomic_write_text
from .prediction import Prediction, image_stem, safe_name

#: What :func:`export` can write.
EXPORTS = ("table", "classes", "masks")
#: Name of the object table in an export folder.
TABLE_NAME = "objects.csv"


def check_exports(what: Sequence[str]) -> tuple[str, ...]:
    """``what`` as a tuple of known exports; ``ValueError`` naming the unknown ones."""
    if isinstance(what, str):
        what = (what,)
    unknown = sorted(set(what) - set(EXPORTS))
    if unknown:
        raise ValueError(f"what: unknown export(s) {unknown}; expected some of {list(EXPORTS)}")
    return tuple(what)


def key_table(class_names: Sequence[str]) -> pd.DataFrame:
    """What each value of a class image of these classes means: ``value`` (0 background) and ``class``."""
    return pd.DataFrame({"value": range(len(class_names) + 1), "class": ["(background)", *class_names]})


def class_key(prediction: Prediction) -> pd.DataFrame:
    """What each value of a class image means: ``value`` (0 background) and ``class``."""
    return key_table(prediction.class_names)


def planned_paths(
    prediction: Prediction, folder: str | os.PathLike, *, what: Sequence[str], stems: Sequence[str] | None = None
) -> list[Path]:
    """The files :func:`export` would write, table first (nothing is written).

    ``stems``: the file-name prefix of each image (default: the image's name without extension).
    """
    what = check_exports(what)
    folder = Path(folder)
    names = prediction.objects.names
    stems = [image_stem(n) for n in names] if stems is None else list(stems)
    if len(stems) != len(names):
        raise ValueError(f"stems: expected one file-name prefix per image ({len(names)}), got {len(stems)}")
    paths = [folder / TABLE_NAME] if "table" in what else []
    for stem in stems:
        if "classes" in what:
            paths += [folder / f"{stem}_classes.tif", folder / f"{stem}_classes_key.csv"]
        if "masks" in what:
            paths += [folder / f"{stem}_{safe_name(c)}.tif" for c in prediction.class_names]
    return paths


def export_images(
    prediction: Prediction,
    folder: str | os.PathLike,
    *,
    what: Sequence[str] = ("classes", "masks"),
    stems: Sequence[str] | None = None,
) -> list[Path]:
    """Write the per-image files of a prediction (not the table), atomically.

    Parameters
    ----------
    prediction : Prediction
    folder : path
        Created if needed.
    what : sequence of {"classes", "masks"}
        ``<image>_classes.tif`` (0 background, k + 1 for class k) with its key
        ``<image>_classes_key.csv``; ``<image>_<class>.tif`` (one label image per class, each
        object keeping its label id). ``"table"`` is ignored here.
    stems : sequence of str, optional
        File-name prefix of each image (default: its name without extension).

    Returns
    -------
    list of pathlib.Path
        The files written.
    """
    what = check_exports(what)
    folder = Path(folder)
    folder.mkdir(parents=True, exist_ok=True)
    names = prediction.objects.names
    stems = [image_stem(n) for n in names] if stems is None else list(stems)
    paths: list[Path] = []
    for i, stem in enumerate(stems):
        if "classes" in what:
            paths.append(prediction.save_class_image(folder / f"{stem}_classes.tif", image=i))
            key = folder / f"{stem}_classes_key.csv"
            atomic_write_text(key, class_key(prediction).to_csv(index=False))
            paths.append(key)
        if "masks" in what:
            paths += prediction.save_class_masks(folder, image=i, prefix=stem)
    return paths


def write_table(tables: Sequence[pd.DataFrame], folder: str | os.PathLike) -> Path:
    """Write the object tables of one or more predictions as one ``objects.csv``, atomically."""
    path = Path(folder) / TABLE_NAME
    atomic_write_text(path, pd.concat(list(tables), ignore_index=True).to_csv(index=False))
    return path


def export(
    prediction: Prediction,
    folder: str | os.PathLike,
    *,
    what: Sequence[str] = EXPORTS,
    stems: Sequence[str] | None = None,
    overwrite: bool = False,
) -> list[Path]:
    """Write a prediction's object table, class images (with their key) and per-class masks into ``folder``.

    Parameters
    ----------
    prediction : Prediction
        Use :meth:`Prediction.corrected` first to export the user's corrections.
    folder : path
        Created if needed.
    what : sequence of {"table", "classes", "masks"}
        ``objects.csv``; ``<image>_classes.tif`` and ``<image>_classes_key.csv``; ``<image>_<class>.tif``.
    stems : sequence of str, optional
        File-name prefix of each image (default: its name without extension).
    overwrite : bool
        Replace files already there. False (default): ``FileExistsError`` naming them, and
        nothing is written.

    Returns
    -------
    list of pathlib.Path
        The files written, the table first.
    """
    what = check_exports(what)
    planned = planned_paths(prediction, folder, what=what, stems=stems)
    existing = [p.name for p in planned if p.exists()]
    if existing and not overwrite:
        shown = ", ".join(existing[:5]) + (f" and {len(existing) - 5} more" if len(existing) > 5 else "")
        raise FileExistsError(
            f"folder: {str(folder)!r} already has {shown}; choose another folder or name, or overwrite them"
        )
    Path(folder).mkdir(parents=True, exist_ok=True)
    paths = [write_table([prediction.table], folder)] if "table" in what else []
    return paths + export_images(prediction, folder, what=what, stems=stems)
