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
from .prediction import Prediction, image_stem

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


def export_images(
    prediction: Prediction, folder: str | os.PathLike, *, what: Sequence[str] = ("classes", "masks")
) -> list[Path]:
    """Write the per-image files of a prediction (not the table), atomically.

    Parameters
    ----------
    prediction : Prediction
    folder : path
        Created if needed.
    what : sequence of {"classes", "masks"}
        ``<image>_classes.tif`` (0 background, k + 1 for class k); ``<image>_<class>.tif`` (one
        label image per class, each object keeping its label id). ``"table"`` is ignored here.

    Returns
    -------
    list of pathlib.Path
        The files written.
    """
    what = check_exports(what)
    folder = Path(folder)
    folder.mkdir(parents=True, exist_ok=True)
    paths: list[Path] = []
    for i, name in enumerate(prediction.objects.names):
        stem = image_stem(name)
        if "classes" in what:
            paths.append(prediction.save_class_image(folder / f"{stem}_classes.tif", image=i))
        if "masks" in what:
            paths += prediction.save_class_masks(folder, image=i, prefix=stem)
    return paths


def write_table(tables: Sequence[pd.DataFrame], folder: str | os.PathLike) -> Path:
    """Write the object tables of one or more predictions as one ``objects.csv``, atomically."""
    path = Path(folder) / TABLE_NAME
    atomic_write_text(path, pd.concat(list(tables), ignore_index=True).to_csv(index=False))
    return path


def export(prediction: Prediction, folder: str | os.PathLike, *, what: Sequence[str] = EXPORTS) -> list[Path]:
    """Write a prediction's object table, class images and per-class masks into ``folder``.

    Parameters
    ----------
    prediction : Prediction
        Use :meth:`Prediction.corrected` first to export the user's corrections.
    folder : path
        Created if needed.
    what : sequence of {"table", "classes", "masks"}
        ``objects.csv``; ``<image>_classes.tif``; ``<image>_<class>.tif``.

    Returns
    -------
    list of pathlib.Path
        The files written, the table first.
    """
    what = check_exports(what)
    Path(folder).mkdir(parents=True, exist_ok=True)
    paths = [write_table([prediction.table], folder)] if "table" in what else []
    return paths + export_images(prediction, folder, what=what)
