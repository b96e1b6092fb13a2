"""``Annotator``: label objects in a notebook cell, one proposed crop at a time or by clicking.

The widget edits an :class:`~svetlana_nb.Annotations` (the controller that owns the data);
every action has a public method (``label``, ``skip``, ``undo``, ``redo``, ``select``,
``press_key``, ``click_image``) so scripts and tests drive it exactly like a user.
"""

from __future__ import annotations

import os
from collections.abc import Sequence
from pathlib import Path
from typing import Any, Literal

import numpy as np
from traitlets import Any as AnyTrait
from traitlets import Enum, Int, TraitError, observe, validate

from .. import display
from ..objects import Annotations, Key, Objects
from ..objects.annotation_file import SegmentationMismatchError
from ._annotator_view import AnnotatorView
from ._queue import next_position, shortcut_keys, uncertainty_order
from ._transfer_offer import TransferOffer

Mode = Literal["propose", "uncertainty", "click"]
MODES = ("propose", "uncertainty", "click")


class Annotator(AnnotatorView):
    """Label the objects of a segmentation, fast, from a notebook cell.

    Parameters
    ----------
    objects : Objects
        The objects to annotate (2D or 3D, grey, multichannel or RGB, one or several images).
    ann_or_class_names : Annotations or sequence of str
        Annotations to edit, or class names to start new ones.
    mode : {"propose", "uncertainty", "click"}
        ``"propose"``: one object at a time in a seeded random order; ``"uncertainty"``: the
        objects the attached classifier is least sure of first; ``"click"``: pick objects on
        the whole image.
    seed : int
        Seed of the random proposal order.
    autosave : str or PathLike, optional
        JSON file written (atomically) after every change; an existing file is resumed. A file
        saved on another segmentation is not refused: ``transfer_offer`` offers to move its
        labels by overlap with the old mask, or to start a new file (the old one is kept).
    classifier : Classifier, optional
        A trained classifier, for uncertainty mode and the model's guess.
    size : int
        Side of the crop display in pixels (the click-mode view is twice as large).

    Examples
    --------
    >>> import svetlana_nb as sv
    >>> demo = sv.data.cells_2d(shape=(128, 128), n_objects=12)
    >>> objects = sv.Objects(demo.image, demo.mask)
    >>> annotator = sv.Annotator(objects, demo.class_names)
    >>> annotator.label("healthy"); len(annotator.annotations)
    1
    """

    mode = Enum(MODES, default_value="propose", help="how objects are proposed: " + ", ".join(MODES))
    classifier = AnyTrait(
        None, allow_none=True, help="trained Classifier used for uncertainty mode and the model's guess"
    )
    image = Int(-1, help="image whose objects are proposed (-1: all images); shown in click mode")

    def __init__(
        self,
        objects: Objects,
        ann_or_class_names: Annotations | Sequence[str],
        *,
        mode: Mode = "propose",
        seed: int = 0,
        autosave: str | os.PathLike | None = None,
        classifier: Any = None,
        size: int = 320,
    ) -> None:
        if not isinstance(objects, Objects):
            raise TypeError(f"objects: expected svetlana_nb.Objects, got {type(objects).__name__}")
        self.objects = objects
        self.annotations, mismatch = _annotations(objects, ann_or_class_names, autosave)
        self.seed = int(seed)
        n = len(objects)
        self._orders = {"propose": np.random.default_rng(self.seed).permutation(n)}
        self._positions = {"propose": 0, "uncertainty": 0}
        self._skipped = np.zeros(n, dtype=bool)
        self._klass = np.full(n, -1, dtype=np.int64)
        self._class_list: list[str] = []
        self._proba: np.ndarray | None = None
        self._proba_names: list[str] = []
        self._row: int | None = None
        self._crop = None
        self._luts: dict[int, np.ndarray] = {}
        super().__init__(objects, size=size)
        #: Shown when the autosave file was saved on another segmentation (else None).
        self.transfer_offer: TransferOffer | None = None
        if mismatch is not None and autosave is not None:
            self.transfer_offer = TransferOffer(self.annotations, autosave, mismatch, errors=self.errors)
            shown = tuple(self.children)  # type: ignore[has-type]  # (ipywidgets' trait is untyped)
            self.children = (*shown[:2], self.transfer_offer, *shown[2:])  # after the style and focus keeper
        self.annotations.on_change(self._annotations_changed)
        self._annotations_changed(self.annotations)
        if classifier is not None:
            self.classifier = classifier
        self.mode = mode
        if self._row is None and self.mode != "click":
            self._advance()

    # -- public state --------------------------------------------------------------------------
    @property
    def current(self) -> tuple[str, int] | None:
        """Key ``(image name, label id)`` of the object shown or selected (None when none)."""
        return None if self._row is None else self.objects.key(self._row)

    @property
    def class_names(self) -> list[str]:
        """The classes, in button order."""
        return list(self.annotations.class_names)

    @property
    def shortcuts(self) -> dict[str, str]:
        """Key -> class name."""
        return {k: c for k, c in zip(shortcut_keys(len(self.class_names)), self.class_names) if k}

    # -- actions -------------------------------------------------------------------------------
    def label(self, class_name: str) -> None:
        """Give ``class_name`` to the object shown, then show the next one (not in click mode)."""
        self.annotations.class_index(class_name)
        if self._row is None:
            raise RuntimeError("label: no object is shown or selected")
        row, frame = self._row, self._frame
        key = self.objects.key(row)
        self.errors.dismiss()
        self.annotations.add(key, class_name)
        self._skipped[row] = False
        if self.mode != "click":
            self._advance()
        if frame is None or self.mode == "click":
            frame = self._crop_frame(row)
        self.thumbnails.add(key, class_name, self._color(class_name), frame)

    def skip(self) -> None:
        """Leave the object shown unlabelled and show the next one (click mode: deselect)."""
        if self._row is not None:
            self._skipped[self._row] = True
        if self.mode == "click":
            self._show(None)
        else:
            self._advance()

    def undo(self) -> tuple[str, int] | None:
        """Undo the last change and show that object again; return its key."""
        key = self.annotations.undo()
        if key is not None:
            self._relabelled(key)
            self._show(self.objects.row(key))
        return key

    def redo(self) -> tuple[str, int] | None:
        """Redo the last undone change and move on; return its key."""
        key = self.annotations.redo()
        if key is not None:
            self._relabelled(key)
            following = self.annotations.next_redo_key
            if self.mode == "click":
                self._show(self.objects.row(key))
            elif following is not None:  # the next object undone, which Redo would label again
                self._show(self.objects.row(following))
            else:
                self._advance()
        return key

    def select(self, key: Key) -> None:
        """Show (and select for labelling) the object ``key``."""
        self._show(self.objects.row(key))

    def next(self) -> None:
        """Show the next proposal (without marking the current object as skipped)."""
        self._advance()

    def click_image(self, y: float, x: float, z: int | None = None) -> tuple[str, int] | None:
        """Select the object under image position (y, x) (and z slice) of the click-mode image.

        Returns the key selected, or None for the background (which clears the selection).
        """
        i = self.shown_image
        position = (y, x) if self.objects.spatial_ndim == 2 else (self.display.z if z is None else int(z), y, x)
        row = self.objects.object_at(position, image=i)
        self._show(row, from_click=True)
        return None if row is None else self.objects.key(row)

    def press_key(self, key: str, *, shift: bool = False, ctrl: bool = False, meta: bool = False) -> bool:
        """Handle a key as the focused widget would; return whether it did something.

        Class shortcuts (``1``-``9`` then letters), Backspace / Ctrl+Z undo, Ctrl+Y /
        Ctrl+Shift+Z redo, Space / ArrowRight skip, ArrowUp / ArrowDown change z,
        ``+`` / ``-`` / ``0`` zoom in click mode.
        """
        command = ctrl or meta
        lower = key.lower() if len(key) == 1 else key
        if command and lower == "z":
            self.redo() if shift else self.undo()
        elif command and lower == "y":
            self.redo()
        elif command:
            return False
        elif lower in self.shortcuts:
            self.label(self.shortcuts[lower])
        elif key == "Backspace":
            self.undo()
        elif key in (" ", "ArrowRight"):
            self.skip()
        elif key in ("ArrowUp", "ArrowDown") and self.objects.spatial_ndim == 3:
            self.display.z = self.display.z + (1 if key == "ArrowUp" else -1)
        elif key in ("+", "=", "-", "0") and self.mode == "click":
            if key == "0":
                self.overview.fit()
            else:
                self.overview.zoom(1.5 if key != "-" else 1 / 1.5)
        else:
            return False
        return True

    def close(self) -> None:
        """Stop following the annotations and close the widget and its children."""
        annotations = getattr(self, "annotations", None)  # None if __init__ failed early
        if annotations is not None:
            annotations.on_change(self._annotations_changed, remove=True)
        for name in ("overview", "thumbnails", "display", "errors"):
            child = getattr(self, name, None)
            if child is not None:
                child.close()
        super().close()

    def refresh_uncertainty(self) -> None:
        """Recompute the classifier's probabilities (after retraining the same classifier)."""
        self._proba = None
        if self.mode == "uncertainty":
            self._compute_uncertainty()
            self._positions["uncertainty"] = 0
            self._advance()
        elif self.classifier is not None:
            self._update_info()
        self._sync_mode_view()  # a classifier trained since it was attached offers "Most uncertain first"

    # -- traits --------------------------------------------------------------------------------
    @validate("mode")
    def _check_mode(self, proposal: Any) -> str:
        if proposal["value"] == "uncertainty":
            clf = self.classifier
            if clf is None or not getattr(clf, "is_fitted", True):
                raise TraitError("mode: 'uncertainty' needs a trained classifier; set annotator.classifier = clf first")
        return proposal["value"]

    @observe("mode")
    def _mode_changed(self, change: Any) -> None:
        if change["new"] == "uncertainty":
            self._positions["uncertainty"] = 0
            if self._proba is None:
                self._compute_uncertainty()
        self._sync_mode_view()
        if change["new"] == "click":
            self._show(self._row)
        else:
            self._advance()

    @observe("classifier")
    def _classifier_changed(self, change: Any) -> None:
        self._proba = None
        if change["new"] is None and self.mode == "uncertainty":
            self.mode = "propose"
        elif self.mode == "uncertainty":
            self.refresh_uncertainty()
        self._sync_mode_view()

    @validate("image")
    def _check_image(self, proposal: Any) -> int:
        if not -1 <= proposal["value"] < self.objects.n_images:
            raise TraitError(f"image: expected -1..{self.objects.n_images - 1}, got {proposal['value']}")
        return proposal["value"]

    @observe("image")
    def _image_changed(self, change: Any) -> None:
        self._sync_mode_view()
        if self.mode == "click":
            row = self._row
            self._show(row if row is not None and self._row_image(row) == self.shown_image else None)
        else:
            self._advance()

    @property
    def shown_image(self) -> int:
        """Index of the image shown in click mode."""
        if self.image >= 0:
            return self.image
        return 0 if self._row is None else self._row_image(self._row)

    # -- internals -----------------------------------------------------------------------------
    def _row_image(self, row: int) -> int:
        return int(self.objects.image_index[row])

    def _compute_uncertainty(self) -> None:
        clf = self.classifier
        proba = np.asarray(clf.predict_proba(self.objects))
        self._orders["uncertainty"], _ = uncertainty_order(proba)
        self._proba = proba
        self._proba_names = list(getattr(clf, "class_names", None) or self.class_names)

    def _advance(self) -> None:
        mode = "propose" if self.mode == "click" else self.mode
        order = self._orders[mode]
        wanted = self._klass < 0
        if self.image >= 0:
            wanted &= self.objects.image_index == self.image
        position = next_position(order, self._positions[mode], wanted, self._skipped)
        if position is None:
            self._show(None)
            return
        row = int(order[position])
        if self._skipped[row]:
            self._skipped[:] = False  # only skipped objects were left: start a new pass
        self._positions[mode] = position
        self._show(row)

    def _annotations_changed(self, ann: Annotations) -> None:
        if ann.class_names != self._class_list:
            self._class_list = list(ann.class_names)
            self._build_class_buttons()
        klass = np.full(len(self.objects), -1, dtype=np.int64)
        items = list(ann.items())
        if items:
            index = {name: k for k, name in enumerate(ann.class_names)}
            names = np.array([key[0] for key, _ in items])
            labels = np.array([key[1] for key, _ in items], dtype=np.int64)
            classes = np.array([index[c] for _, c in items], dtype=np.int64)
            for i, name in enumerate(self.objects.names):
                sel = names == name
                if sel.any():
                    klass[self.objects.rows_of_labels(labels[sel], i)] = classes[sel]
        self._klass = klass
        self._luts.clear()
        self._update_progress()
        if self.mode == "click":
            self.overview.refresh(base=False)

    def _relabelled(self, key: tuple[str, int]) -> None:
        name = self.annotations.get(key)
        self.thumbnails.relabel(key, name, self._color(name) if name else "#000000")

    def _color(self, class_name: str) -> str:
        return display.class_color(self.class_names.index(class_name), self.objects.n_channels)


def _annotations(
    objects: Objects, given: Annotations | Sequence[str], autosave: str | os.PathLike | None
) -> tuple[Annotations, SegmentationMismatchError | None]:
    """The Annotations to edit, opened from or attached to ``autosave`` when given.

    When ``autosave`` was saved on another segmentation: new annotations in memory only, and
    the mismatch (the Annotator then offers to move the labels or start a new file).
    """
    if isinstance(given, Annotations):
        if given.objects is not objects:
            raise ValueError("ann_or_class_names: these Annotations belong to other Objects")
        if autosave is not None:
            path = Path(autosave)
            same = given.autosave is not None and Path(given.autosave).resolve() == path.resolve()
            if not same and path.exists():
                raise ValueError(
                    f"autosave: {str(path)!r} already exists; resume it with "
                    f"Annotator(objects, class_names, autosave=...) or sv.Annotations.open(...)"
                )
            given.autosave = path
            given.save(path)
        return given, None
    if isinstance(given, str):
        raise TypeError("ann_or_class_names: expected Annotations or a list of class names, got a str")
    names = [str(c) for c in given]
    if autosave is not None:
        try:
            return Annotations.open(autosave, objects, names), None
        except SegmentationMismatchError as mismatch:
            return Annotations(objects, names), mismatch
    return Annotations(objects, names), None
