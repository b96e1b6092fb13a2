"""``Prediction``: the class of every object, with probabilities, images, masks, table, exports."""

from __future__ import annotations

import os
from collections.abc import Mapping
from functools import cached_property
from pathlib import Path
from typing import TYPE_CHECKING, Any

import numpy as np
import pandas as pd

from .._files import atomic_path, atomic_write_text
from .confidence import Calibration

if TYPE_CHECKING:
    from ..objects.annotations import Annotations
    from ..objects.objects import Objects


class Prediction:
    """Classes and probabilities of every object of an :class:`~svetlana_nb.Objects`.

    Parameters
    ----------
    objects : Objects
    probabilities : numpy.ndarray, shape (n_objects, n_classes)
        Rows aligned with ``objects`` rows: the probabilities shown (calibrated when
        ``calibration`` is).
    class_names : list of str
    raw_probabilities : numpy.ndarray, shape (n_objects, n_classes), keyword-only, optional
        The model's probabilities before calibration (default: ``probabilities``).
    calibration : Calibration, keyword-only, optional
        The temperature that turned ``raw_probabilities`` into ``probabilities`` (default: not
        calibrated, temperature 1).

    Attributes
    ----------
    labels : numpy.ndarray, shape (n,)
        Label ids (rows of ``probabilities``).
    image_index : numpy.ndarray, shape (n,)
    class_index : numpy.ndarray, shape (n,)
        Winning class of each object.
    confidence : numpy.ndarray, shape (n,)
        Winning probability (calibrated when :attr:`calibrated`: of the objects given 90 %,
        about 9 in 10 are right).
    raw_probabilities : numpy.ndarray, shape (n, k)
        The model's probabilities before calibration (same winning class).
    calibration : Calibration
        Its temperature and where it was fitted (:attr:`calibrated`, :attr:`temperature`).
    margin : numpy.ndarray, shape (n,)
        Difference between the two highest probabilities (small = uncertain).
    annotated : numpy.ndarray of bool, shape (n,)
        Objects whose class is the user's annotation, not the model's (see :meth:`corrected`).
    predicted_index : numpy.ndarray, shape (n,)
        The model's own class of each object (equal to ``class_index`` where not annotated).
    """

    def __init__(
        self,
        objects: "Objects",
        probabilities: np.ndarray,
        class_names: list[str],
        *,
        raw_probabilities: np.ndarray | None = None,
        calibration: Calibration | None = None,
    ) -> None:
        probabilities = np.asarray(probabilities, dtype=np.float32)
        if probabilities.shape != (len(objects), len(class_names)):
            raise ValueError(
                f"probabilities: expected shape {(len(objects), len(class_names))}, got {probabilities.shape}"
            )
        raw = probabilities if raw_probabilities is None else np.asarray(raw_probabilities, dtype=np.float32)
        if raw.shape != probabilities.shape:
            raise ValueError(f"raw_probabilities: expected shape {probabilities.shape}, got {raw.shape}")
        if calibration is not None and not isinstance(calibration, Calibration):
            raise TypeError(f"calibration: expected a Calibration, got {type(calibration).__name__}")
        self.objects = objects
        self.probabilities = probabilities
        self.raw_probabilities = raw
        self.calibration = calibration if calibration is not None else Calibration.none("raw probabilities")
        self.class_names = list(class_names)
        self.labels = objects.labels
        self.image_index = objects.image_index
        self.class_index = probabilities.argmax(axis=1)
        self.confidence = probabilities.max(axis=1)
        top2 = np.sort(probabilities, axis=1)[:, -2:] if probabilities.shape[1] > 1 else probabilities
        self.margin = top2[:, -1] - top2[:, 0]
        self.annotated = np.zeros(len(self.labels), dtype=bool)
        self.predicted_index = self.class_index

    @property
    def calibrated(self) -> bool:
        """Whether :attr:`probabilities` and :attr:`confidence` are calibrated (a fitted temperature)."""
        return self.calibration.calibrated

    @property
    def temperature(self) -> float:
        """The temperature applied to the model's probabilities (1: none)."""
        return self.calibration.temperature

    def corrected(self, annotations: "Annotations") -> "Prediction":
        """The same prediction with every annotated object given its annotated class.

        What a user exports after correcting the model in the viewer: the classes they set win
        over the model's; the probabilities stay the model's (a table then shows how sure the
        model was of an object the user corrected). Classes only the annotations have (added
        after training) are appended to :attr:`class_names`.

        Parameters
        ----------
        annotations : Annotations
            Made on this prediction's objects (``ValueError`` otherwise).

        Returns
        -------
        Prediction
            A new prediction; ``annotated`` marks the rows set by the user and
            ``predicted_index`` keeps the model's class of every object. Probabilities and
            confidence stay the model's own, also for annotated objects.
        """
        if annotations.objects is not self.objects:
            raise ValueError(
                "annotations: they belong to other objects than this prediction's "
                "(a key is an image name and a label id: they would mean other objects)"
            )
        names = self.class_names + [c for c in annotations.class_names if c not in self.class_names]
        probabilities = np.zeros((len(self), len(names)), dtype=np.float32)
        probabilities[:, : len(self.class_names)] = self.probabilities
        raw = np.zeros_like(probabilities)
        raw[:, : len(self.class_names)] = self.raw_probabilities
        items = list(annotations.items())
        rows = self.objects.rows([key for key, _ in items]) if items else np.zeros(0, dtype=np.int64)
        targets = np.array([names.index(name) for _, name in items], dtype=np.int64)
        result = Prediction(self.objects, probabilities, names, raw_probabilities=raw, calibration=self.calibration)
        result.class_index = result.class_index.copy()
        result.class_index[rows] = targets
        result.annotated = np.zeros(len(self), dtype=bool)
        result.annotated[rows] = True
        result.predicted_index = self.predicted_index.copy()
        return result

    def __len__(self) -> int:
        return len(self.labels)

    def __repr__(self) -> str:
        counts = np.bincount(self.class_index, minlength=len(self.class_names))
        text = ", ".join(f"{n}: {c}" for n, c in zip(self.class_names, counts))
        return f"Prediction({len(self)} objects; {text}; confidence {self.calibration.describe()})"

    @property
    def keys(self) -> list[tuple[str, int]]:
        """``(image name, label id)`` per row."""
        return self.objects.keys

    @property
    def classes(self) -> dict:
        """``{label id: class name}`` (keys are ``(image, label)`` when there are several images)."""
        names = np.asarray(self.class_names, dtype=object)[self.class_index]
        if self.objects.n_images == 1:
            return dict(zip(self.labels.tolist(), names.tolist()))
        return dict(zip(self.keys, names.tolist()))

    def counts(self, image: int | str | None = None) -> dict[str, int]:
        """Objects per predicted class (of one image, or all)."""
        index = self.class_index if image is None else self.class_index[self.objects.rows_of_image(image)]
        return dict(zip(self.class_names, np.bincount(index, minlength=len(self.class_names)).tolist()))

    def summary(
        self,
        confusion: Any,
        *,
        groups: Mapping[str, Any] | None = None,
        n_boot: int = 2000,
        level: float = 0.95,
        seed: int | None = 0,
    ) -> pd.DataFrame:
        """Class proportions per image (or group of images), corrected for the classifier's errors.

        A raw count of predicted classes carries the classifier's bias; the corrected proportion
        removes it using the errors the classifier makes on annotations it did not learn, and its
        interval accounts for the finite number of objects and of annotations
        (:mod:`svetlana_nb.prediction.proportions`).

        Parameters
        ----------
        confusion : numpy.ndarray, shape (k, k), or an object with a ``confusion`` attribute
            Out-of-fold confusion counts of the annotations, ``[j, i]`` = annotated ``i`` predicted
            ``j``, e.g. ``svetlana_nb.models.cross_validation.out_of_fold(clf, annotations)``.
            Given that :class:`~svetlana_nb.models.cross_validation.OutOfFold` (which also has the
            out-of-fold ``probabilities`` and ``annotated`` classes), the estimate is the expected
            count of the calibrated probabilities (``basis`` ``"calibrated"``); given counts only,
            adjusted classify-and-count or the raw share (:func:`.proportions.proportion_table`).
            The expected count calibrates the model's *raw* probabilities
            (:attr:`raw_probabilities`) with a temperature of its own, fitted on the raw
            out-of-fold probabilities and refitted in every bootstrap replicate; the
            classifier's temperature (:attr:`calibration`) is not applied on top.
        groups : mapping of image name to group, keyword-only, optional
            Pool images by condition, well...; every image must be mapped. One row set per image if None.
        n_boot, level, seed : keyword-only
            Bootstrap replicates, interval coverage, seed (reproducible intervals).

        Returns
        -------
        pandas.DataFrame
            One row per image (column ``image``) or group (column ``group``) and class: ``count``,
            ``proportion`` (raw), ``corrected``, ``low``, ``high``, ``estimate`` (the figure to
            report), ``basis`` (how it was found), ``n_objects``. On a
            :meth:`corrected` prediction, annotated objects count as their annotated class, with
            no uncertainty, and only the others are corrected; elsewhere every object counts as
            the model's class.
        """
        from .proportions import proportion_table

        counts = np.asarray(getattr(confusion, "confusion", confusion))
        k = len(self.class_names)
        if counts.shape != (k, k):
            raise ValueError(
                f"confusion: expected out-of-fold counts of shape ({k}, {k}) for the classes {self.class_names}, "
                f"got shape {counts.shape}"
            )
        image_names = np.asarray(self.objects.names, dtype=object)[self.image_index]
        column = "image"
        if groups is not None:
            missing = sorted(set(self.objects.names) - set(groups))
            if missing:
                raise ValueError(f"groups: no group given for the images {missing}")
            image_names = np.asarray([groups[name] for name in self.objects.names], dtype=object)[self.image_index]
            column = "group"
        oof_probabilities = getattr(confusion, "probabilities", None)
        oof_annotated = getattr(confusion, "annotated", None)
        calibration = (
            None
            if oof_probabilities is None or oof_annotated is None
            else (np.asarray(oof_probabilities), np.asarray(oof_annotated))
        )
        table = proportion_table(
            self.predicted_index,
            counts,
            self.class_names,
            known=np.where(self.annotated, self.class_index, -1),
            groups=image_names,
            probabilities=None if calibration is None else self.raw_probabilities,
            calibration=calibration,
            n_boot=n_boot,
            level=level,
            seed=seed,
        )
        return table.rename(columns={"group": column})

    @cached_property
    def table(self) -> pd.DataFrame:
        """Per-object table, one row per object.

        Columns: image, label, class, confidence, one probability column per class (both
        calibrated when :attr:`calibrated`; :attr:`raw_probabilities` are not in it), then the
        morphology and intensity measurements of :meth:`Objects.features`. A
        :meth:`corrected` prediction also has ``annotated`` (the class is the user's) and
        ``predicted_class`` (the model's) after ``class``.
        """
        features = self.objects.features()
        table = features[["image", "label"]].copy()
        table["class"] = pd.Categorical.from_codes(self.class_index, categories=pd.Index(self.class_names))
        if self.annotated.any():
            table["annotated"] = self.annotated
            table["predicted_class"] = pd.Categorical.from_codes(
                self.predicted_index, categories=pd.Index(self.class_names)
            )
        table["confidence"] = self.confidence
        for k, name in enumerate(self.class_names):
            table[f"p_{name}"] = self.probabilities[:, k]
        rest = features.drop(columns=["image", "label"])
        return pd.concat([table, rest], axis=1)

    def _per_pixel(self, values: np.ndarray, image: int | str, dtype) -> np.ndarray:
        i = self.objects.image_number(image)
        rows = self.objects.rows_of_image(i)
        entry = self.objects.lazy_entry(i)
        if entry is not None:  # ids kept as given (maybe huge): looked up, no table up to the largest
            return entry.painted(self.objects.labels[rows], np.asarray(values[rows], dtype=dtype))
        lut = np.zeros(int(self.objects.labels[rows].max()) + 1, dtype=dtype)
        lut[self.objects.labels[rows]] = values[rows]
        return lut[self.objects.masks[i]]

    def _refuse_lazy(self, image: int | str, what: str) -> None:
        """``ValueError`` for a whole-image TIFF export of a lazy image, naming what to use instead."""
        i = self.objects.image_number(image)
        if self.objects.lazy_entry(i) is not None:
            raise ValueError(
                f"image {self.objects.names[i]!r}: it is read lazily (zarr / OME-Zarr, tiled TIFF or dask), so "
                f"{what} would hold it whole in memory as a TIFF; use svetlana_nb.batch.predict_large(clf, image, "
                "mask, 'classes.zarr') to write its class image block by block, or class_image() (a dask array) "
                "and its .to_zarr()"
            )

    def class_image(self, image: int | str = 0) -> np.ndarray:
        """Image of class numbers, same shape as the mask: 0 background, ``k + 1`` for class k.

        Of a lazy image (zarr / OME-Zarr, tiled TIFF, dask): a lazy ``dask.array.Array``, computed
        block by block only when read (e.g. ``.to_zarr(path)``); so are :meth:`class_masks` and
        :meth:`confidence_image`.
        """
        dtype = np.uint8 if len(self.class_names) < 255 else np.uint16
        return self._per_pixel((self.class_index + 1).astype(dtype), image, dtype)

    def class_masks(self, image: int | str = 0) -> dict[str, np.ndarray]:
        """One boolean mask per class name, each the shape of the label image."""
        classes = self.class_image(image)
        return {name: classes == k + 1 for k, name in enumerate(self.class_names)}

    def confidence_image(self, image: int | str = 0) -> np.ndarray:
        """Winning probability painted on each object (0 on background), float32."""
        return self._per_pixel(self.confidence, image, np.float32)

    # -- exports -------------------------------------------------------------------------------
    def to_csv(self, path: str | os.PathLike) -> Path:
        """Write :attr:`table` as CSV (atomically); return the path."""
        atomic_write_text(path, self.table.to_csv(index=False))
        return Path(path)

    def save_class_image(self, path: str | os.PathLike, image: int | str = 0) -> Path:
        """Write :meth:`class_image` as a TIFF (atomically)."""
        import tifffile

        self._refuse_lazy(image, "save_class_image")
        with atomic_path(path) as tmp:
            tifffile.imwrite(tmp, self.class_image(image), compression="zlib")
        return Path(path)

    def save_class_masks(
        self, folder: str | os.PathLike, image: int | str = 0, *, prefix: str | None = None
    ) -> list[Path]:
        """Write one label TIFF per class (each object keeps its label id); return the paths.

        The files are ``<prefix>_<class>.tif``; ``prefix`` defaults to the image's name without
        its file extension (:func:`image_stem`).
        """
        import tifffile

        self._refuse_lazy(image, "save_class_masks")
        folder = Path(folder)
        folder.mkdir(parents=True, exist_ok=True)
        i = self.objects.image_number(image)
        prefix = image_stem(self.objects.names[i]) if prefix is None else prefix
        classes = self.class_image(i)
        paths = []
        for k, name in enumerate(self.class_names):
            path = folder / f"{prefix}_{safe_name(name)}.tif"
            with atomic_path(path) as tmp:
                tifffile.imwrite(tmp, np.where(classes == k + 1, self.objects.masks[i], 0), compression="zlib")
            paths.append(path)
        return paths


def safe_name(name: str) -> str:
    """``name`` with every character but letters, digits, ``-`` and ``_`` replaced by ``_`` (for file names)."""
    return "".join(ch if ch.isalnum() or ch in "-_" else "_" for ch in name)


#: File extensions :func:`image_stem` removes from image names (longest first).
_IMAGE_EXTENSIONS = (".ome.tiff", ".ome.tif", ".ome.zarr", ".tiff", ".tif", ".png", ".zarr", ".npy", ".jpg", ".jpeg")


def image_stem(name: str) -> str:
    """An image's name without its file extension: the prefix of the files written for it.

    Examples
    --------
    >>> image_stem("well_A1.ome.tif"), image_stem("image"), image_stem("cells.png")
    ('well_A1', 'image', 'cells')
    """
    lower = name.lower()
    for extension in _IMAGE_EXTENSIONS:
        if lower.endswith(extension) and len(name) > len(extension):
            return name[: -len(extension)]
    return name
