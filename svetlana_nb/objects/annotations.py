"""``Annotations``: which class the user gave to which object, with undo/redo and safe files."""

from __future__ import annotations

import contextlib
import json
import os
import warnings
from collections.abc import Callable, Iterator, Sequence
from pathlib import Path
from typing import Literal

import numpy as np

from .._files import atomic_write_text, folder_lock
from .annotation_file import (
    FORMAT,
    VERSION,
    FileChangedError,
    SegmentationMismatchError,
    file_digest,
    fingerprint,
    mismatches,
    parse,
)
from .objects import Key, Objects
from .resegmentation import Resegmentation
from .transfer import TRANSFER_HINT, TransferReport

__all__ = ["Annotations", "FileChangedError", "FORMAT", "VERSION", "SegmentationMismatchError", "TransferReport"]


class Annotations(Resegmentation):
    """An editable mapping from objects to class names.

    Parameters
    ----------
    objects : Objects
        The objects being annotated.
    class_names : sequence of str
        Two or more distinct class names (any number).
    autosave : str or PathLike, optional
        When given, the annotations are written there (atomically) after every change.

    Examples
    --------
    >>> import numpy as np
    >>> mask = np.zeros((32, 32), np.int32); mask[2:6, 2:6] = 1; mask[20:26, 20:26] = 5
    >>> ann = Annotations(Objects(np.ones((32, 32)), mask), ["a", "b"])
    >>> ann.add(5, "b"); ann[5], len(ann)
    ('b', 1)
    >>> ann.undo(); len(ann)
    0
    """

    def __init__(
        self, objects: Objects, class_names: Sequence[str], *, autosave: str | os.PathLike | None = None
    ) -> None:
        if class_names is None or isinstance(class_names, (str, bytes)):
            raise TypeError(
                f"class_names: expected a list of class names, e.g. ['healthy', 'infected'], got {class_names!r}"
            )
        names = [str(c) for c in class_names]
        if len(names) < 2:
            raise ValueError(f"class_names: expected at least 2 classes, got {names}")
        if len(set(names)) != len(names) or any(not n.strip() for n in names):
            raise ValueError(f"class_names: expected distinct non-empty names, got {names}")
        self.objects = objects
        self.class_names: list[str] = names
        self._labels: dict[tuple[str, int], str] = {}
        self._undo: list[tuple[tuple[str, int], str | None, str | None]] = []
        self._redo: list[tuple[tuple[str, int], str | None, str | None]] = []
        self._callbacks: list[Callable[[Annotations], None]] = []
        self.autosave = None if autosave is None else Path(autosave)
        #: SHA-256 of the autosave file as this session last read or wrote it (None: no file then).
        self._autosave_digest: str | None = None if autosave is None else file_digest(autosave)

    # -- mapping -------------------------------------------------------------------------------
    def __len__(self) -> int:
        return len(self._labels)

    def __getitem__(self, key: Key) -> str:
        return self._labels[self.objects.normalize_key(key)]

    def __contains__(self, key: Key) -> bool:
        try:
            return self.objects.normalize_key(key) in self._labels
        except KeyError:
            return False

    def get(self, key: Key, default: str | None = None) -> str | None:
        """Class of ``key``, or ``default`` when it is not annotated."""
        return self._labels.get(self.objects.normalize_key(key), default)

    def items(self) -> Iterator[tuple[tuple[str, int], str]]:
        """``((image name, label id), class name)`` pairs in the order they were annotated."""
        return iter(list(self._labels.items()))

    def __repr__(self) -> str:
        counts = ", ".join(f"{k}: {v}" for k, v in self.counts().items())
        return f"Annotations({len(self)} of {len(self.objects)} objects; {counts})"

    def counts(self) -> dict[str, int]:
        """Number of annotated objects per class (every class listed, zeros included)."""
        counts = dict.fromkeys(self.class_names, 0)
        for name in self._labels.values():
            counts[name] += 1
        return counts

    def class_index(self, class_name: str) -> int:
        """Position of a class name; ``ValueError`` naming the classes when unknown."""
        try:
            return self.class_names.index(class_name)
        except ValueError:
            raise ValueError(f"class_name: unknown class {class_name!r}; classes are {self.class_names}") from None

    def rows_and_targets(self) -> tuple[np.ndarray, np.ndarray]:
        """Rows (in ``objects``) and class indices of the annotated objects, shape (n,) each."""
        keys = list(self._labels)
        rows = self.objects.rows(keys) if keys else np.zeros(0, dtype=np.int64)
        targets = np.array([self.class_names.index(self._labels[k]) for k in keys], dtype=np.int64)
        return rows, targets

    # -- editing -------------------------------------------------------------------------------
    def add(self, key: Key, class_name: str) -> None:
        """Give ``class_name`` to the object ``key`` (replacing any previous class)."""
        self.class_index(class_name)
        norm = self.objects.normalize_key(key)
        self._apply(norm, self._labels.get(norm), class_name)

    def remove(self, key: Key) -> None:
        """Forget the class of ``key``; ``KeyError`` if it was not annotated."""
        norm = self.objects.normalize_key(key)
        if norm not in self._labels:
            raise KeyError(f"key: object {norm} is not annotated")
        self._apply(norm, self._labels[norm], None)

    def assign(self, key: Key, class_name: str | None) -> None:
        """Give ``class_name`` to ``key``, or with None forget its class if it has one (a correction's two cases)."""
        if class_name is not None:
            self.add(key, class_name)
        elif key in self:
            self.remove(key)

    def clear(self) -> None:
        """Remove every annotation (each removal can be undone)."""
        for key in list(self._labels):
            self.remove(key)

    def add_class(self, name: str) -> None:
        """Append a new class name."""
        name = str(name)
        if not name.strip() or name in self.class_names:
            raise ValueError(f"name: expected a new non-empty class name, got {name!r}")
        with self._transaction():
            self.class_names = [*self.class_names, name]

    def _apply(self, key: tuple[str, int], before: str | None, after: str | None) -> None:
        if before == after:
            return
        with self._transaction():
            self._set(key, after)
            self._undo.append((key, before, after))
            self._redo.clear()

    @contextlib.contextmanager
    def _transaction(self) -> Iterator[None]:
        """Change memory and the autosave file together: if the save fails, memory is put back.

        Listeners hear of a change only once it is saved; the error propagates to the caller
        (the widgets show it), so memory, disk and display never disagree.
        """
        snapshot = (dict(self._labels), list(self._undo), list(self._redo), list(self.class_names))
        try:
            yield
            if self.autosave is not None:
                self._save_autosave()
        except BaseException:
            labels, undo, redo, names = snapshot
            self._labels, self._undo, self._redo, self.class_names = labels, undo, redo, names
            raise
        for callback in list(self._callbacks):
            callback(self)

    def _set(self, key: tuple[str, int], value: str | None) -> None:
        if value is None:
            self._labels.pop(key, None)
        else:
            self._labels.pop(key, None)
            self._labels[key] = value

    @property
    def can_undo(self) -> bool:
        """Whether :meth:`undo` has something to undo."""
        return bool(self._undo)

    @property
    def can_redo(self) -> bool:
        """Whether :meth:`redo` has something to redo."""
        return bool(self._redo)

    @property
    def last_key(self) -> tuple[str, int] | None:
        """Key of the most recent change that can be undone."""
        return self._undo[-1][0] if self._undo else None

    @property
    def next_redo_key(self) -> tuple[str, int] | None:
        """Key the next :meth:`redo` would touch (None when there is nothing to redo)."""
        return self._redo[-1][0] if self._redo else None

    def undo(self) -> tuple[str, int] | None:
        """Undo the last change; return the key it touched (None when nothing to undo)."""
        if not self._undo:
            return None
        with self._transaction():
            key, before, after = self._undo.pop()
            self._set(key, before)
            self._redo.append((key, before, after))
        return key

    def redo(self) -> tuple[str, int] | None:
        """Redo the last undone change; return the key it touched."""
        if not self._redo:
            return None
        with self._transaction():
            key, before, after = self._redo.pop()
            self._set(key, after)
            self._undo.append((key, before, after))
        return key

    # -- events --------------------------------------------------------------------------------
    def on_change(self, callback: Callable[["Annotations"], None], remove: bool = False) -> None:
        """Register (or remove) ``callback(annotations)``, called after every change."""
        if remove:
            if callback in self._callbacks:
                self._callbacks.remove(callback)
        elif callback not in self._callbacks:
            self._callbacks.append(callback)

    # -- files ---------------------------------------------------------------------------------
    def to_dict(self) -> dict:
        """JSON-ready content: class names, (image name, label, class) records, image fingerprints."""
        return {
            "format": FORMAT,
            "version": VERSION,
            "class_names": list(self.class_names),
            "images": list(self.objects.names),
            "fingerprints": {name: fingerprint(self.objects, i) for i, name in enumerate(self.objects.names)},
            "annotations": [{"image": img, "label": label, "class": cls} for (img, label), cls in self._labels.items()],
        }

    def _text(self) -> str:
        return json.dumps(self.to_dict(), indent=1)

    def save(self, path: str | os.PathLike) -> None:
        """Write the annotations as JSON, atomically (image names only, never absolute paths)."""
        if self.autosave is not None and Path(path).resolve() == self.autosave.resolve():
            self._save_autosave()
        else:
            atomic_write_text(path, self._text())

    def _save_autosave(self) -> None:
        """Save to the autosave file unless another writer changed it since this session last did.

        ``FileChangedError`` then: two Annotators or ``Annotations.open`` on one file would
        otherwise each overwrite the other's labels. An advisory lock on the folder makes the
        check and the write one step.
        """
        assert self.autosave is not None
        text = self._text()
        with folder_lock(self.autosave):
            on_disk = file_digest(self.autosave)
            if on_disk != self._autosave_digest:
                raise FileChangedError(
                    f"autosave: {str(self.autosave)!r} was changed by another program or Annotator since this "
                    "one last read or saved it; to keep both sets of labels, save these under another name "
                    "(annotations.save(other_path)) and merge by hand"
                )
            atomic_write_text(self.autosave, text)
            self._autosave_digest = file_digest(self.autosave)

    @classmethod
    def load(
        cls,
        path: str | os.PathLike,
        objects: Objects,
        *,
        autosave: str | os.PathLike | None = None,
        check: Literal["error", "warn"] = "error",
    ) -> "Annotations":
        """Read annotations written by :meth:`save` for these ``objects``.

        Parameters
        ----------
        path : path
        objects : Objects
            The objects the annotations name (by image name and label id).
        autosave : path, optional, keyword-only
        check : {"error", "warn"}, keyword-only
            When an image's segmentation differs from the one the file was saved on (shape,
            object count, label ids): refuse (default) or warn and load anyway.

        Raises
        ------
        SegmentationMismatchError
            When the file was saved on other segmentations (``check="error"``); its ``images``
            name them. :func:`~svetlana_nb.objects.transfer_file.transfer_file` moves the labels.
        ValueError
            When the file is not a svetlana_nb annotation file, is corrupt, or names objects,
            images or classes that do not exist (nothing is half-loaded).
        """
        if check not in ("error", "warn"):
            raise ValueError(f"check: expected 'error' or 'warn', got {check!r}")
        path = Path(path)
        where = f"path: {str(path)!r}"
        try:
            text = path.read_text(encoding="utf-8")
            content = json.loads(text)
        except FileNotFoundError:
            raise
        except (OSError, UnicodeDecodeError, json.JSONDecodeError, RecursionError) as error:
            raise ValueError(f"{where} is not a readable annotation file ({error})") from None
        parsed = parse(content, where)
        try:
            ann = cls(objects, parsed.class_names)
        except ValueError as error:
            raise ValueError(f"{where}: {error}") from None
        images = {image for image, _, _ in parsed.records}
        if parsed.fingerprints is None:
            warnings.warn(
                f"{where}: an annotation file of version 1 has no fingerprint of its images; "
                "it cannot be checked that its labels belong to these segmentations",
                UserWarning,
                stacklevel=2,
            )
        else:
            problems = mismatches(objects, parsed.fingerprints, images)
            if problems:
                message = (
                    f"{where} was saved on other segmentations than these objects' — "
                    + "; ".join(problems.values())
                    + ". Its labels would attach to other objects"
                )
                if check == "error":
                    raise SegmentationMismatchError(
                        message + f" (load(..., check='warn') loads it anyway). {TRANSFER_HINT}", sorted(problems)
                    )
                warnings.warn(message, UserWarning, stacklevel=2)
        for image, label, class_name in parsed.records:
            try:
                key = objects.normalize_key((image, label))
                ann.class_index(class_name)
            except (KeyError, ValueError) as error:
                raise ValueError(f"{where} does not match these objects: {error}") from None
            ann._labels[key] = class_name
        ann.autosave = None if autosave is None else Path(autosave)
        if ann.autosave is not None:
            ann._autosave_digest = file_digest(ann.autosave)
        return ann

    @classmethod
    def open(
        cls,
        path: str | os.PathLike,
        objects: Objects,
        class_names: Sequence[str],
        *,
        check: Literal["error", "warn"] = "error",
    ) -> "Annotations":
        """Resume from ``path`` if it exists (else start empty) and autosave there after each change.

        A second session on the same file (another notebook, another Annotator) cannot silently
        overwrite this one's labels: its save raises :class:`FileChangedError`.
        """
        if class_names is None or isinstance(class_names, (str, bytes)):
            raise TypeError(
                f"class_names: expected a list of class names, e.g. ['healthy', 'infected'], got {class_names!r}"
            )
        if Path(path).exists():
            ann = cls.load(path, objects, autosave=path, check=check)
            for name in class_names:
                if name not in ann.class_names:
                    ann.class_names.append(str(name))
            return ann
        return cls(objects, class_names, autosave=path)
