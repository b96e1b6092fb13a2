"""``predict_large``: classify every object of an image larger than memory, block by block.

Three passes over the blocks of the mask (zarr chunks grown to about 4096 px), each holding one
block (or one window) in memory at a time:

1. scan (:func:`svetlana_nb.objects.blockwise.scan`): every object's box, merged per label over
   the blocks, and the image's intensity ranges, equal to those of the whole image in memory;
2. predict: each object is *owned* by the block holding its centre; per block, the window of the
   block grown by one patch (and by its objects' whole boxes) is read, and its owned objects are
   classified as a :class:`~svetlana_nb.objects.window.WindowObjects`: the same patches, the
   same normalisation, the same network as :meth:`svetlana_nb.Classifier.predict` in memory, each
   object exactly once;
3. write: per block, the mask's ids are mapped to their classes and written into a zarr array,
   built beside ``out`` and moved onto it at the end.
"""

from __future__ import annotations

import contextlib
import os
import shutil
import uuid
from collections.abc import Iterator
from pathlib import Path
from typing import TYPE_CHECKING, Any

import numpy as np

from .._files import TEMPORARY_TAG

if TYPE_CHECKING:
    import pandas as pd

    from ..models import Classifier
    from ..objects.lazy import LazyPair

#: Largest label id mapped to classes through a dense lookup table (else by binary search).
DENSE_LOOKUP_LIMIT = 1 << 26


def _classifier(model: Any, device: str, network_alone: bool) -> Classifier:
    """The classifier to predict with: a model file loaded, or the user's (a copy without its forest)."""
    import tempfile

    from ..models import Classifier

    if isinstance(model, Classifier):
        if not network_alone:
            return model
        with tempfile.TemporaryDirectory() as folder:  # the user's classifier is not changed
            model.save(Path(folder) / "model.svnb")
            clf = Classifier.load(Path(folder) / "model.svnb", device=device)
    else:
        path = Path(model)
        if not path.is_file():
            raise FileNotFoundError(f"model: no model file at {str(path)!r}")
        clf = Classifier.load(path, device=device)
    if network_alone:
        clf.second_opinion = None
    return clf


@contextlib.contextmanager
def _folder_replaced(path: Path) -> Iterator[Path]:
    """Yield a fresh folder beside ``path``, moved onto ``path`` on success (removed on failure)."""
    if not path.parent.is_dir():
        raise FileNotFoundError(f"out: folder {str(path.parent)!r} does not exist")
    tmp = path.parent / f".{path.name}{TEMPORARY_TAG}{os.getpid()}-{uuid.uuid4().hex[:8]}"
    try:
        yield tmp
        if path.exists():
            old = path.parent / f".{path.name}{TEMPORARY_TAG}old-{uuid.uuid4().hex[:8]}"
            os.replace(path, old)
            os.replace(tmp, path)
            shutil.rmtree(old, ignore_errors=True)
        else:
            os.replace(tmp, path)
    except BaseException:
        shutil.rmtree(tmp, ignore_errors=True)
        raise


def write_class_zarr(
    pair: LazyPair,
    labels: np.ndarray,
    classes: np.ndarray,
    out: str | os.PathLike,
    *,
    block: tuple[int, ...],
    class_names: list[str],
    progress: Any = None,
) -> Path:
    """Write the class image of a lazy mask as a zarr array, block by block, atomically.

    Parameters
    ----------
    pair : LazyPair
        The mask read block by block.
    labels : numpy.ndarray, shape (n,)
        Sorted ids of every object.
    classes : numpy.ndarray of int, shape (n,)
        Class number of each (0-based); written as ``k + 1`` (0 is background).
    out : path
        The zarr store to write (replaced if it exists).
    block : tuple of int
        Block shape, also the zarr chunk shape.
    class_names : list of str
        Kept in the array's attributes (``class_names``).

    Returns
    -------
    pathlib.Path
        ``out``.
    """
    import zarr

    from ..objects.lazy import block_grid

    dtype = np.uint8 if len(class_names) < 255 else np.uint16
    values = (np.asarray(classes) + 1).astype(dtype)
    top = int(labels.max())
    lookup = None
    if top <= DENSE_LOOKUP_LIMIT:
        lookup = np.zeros(top + 1, dtype=dtype)
        lookup[labels] = values
    out = Path(out)
    with _folder_replaced(out) as tmp:
        array = zarr.create_array(store=str(tmp), shape=pair.shape, chunks=block, dtype=dtype, fill_value=0)
        array.attrs.update(
            {"svetlana_nb": "class image: 0 background, k + 1 for class k", "class_names": list(class_names)}
        )
        for lo, hi in zip(*block_grid(pair.shape, block)):
            mask = pair.read_mask(lo, hi)
            if lookup is not None:
                painted = lookup[mask]
            else:
                where = np.clip(np.searchsorted(labels, mask), 0, len(labels) - 1)
                painted = np.where(mask > 0, values[where], 0).astype(dtype)
            array[tuple(slice(int(a), int(b)) for a, b in zip(lo, hi))] = painted
            if progress is not None:
                progress(1)
    return out


def _owners(
    centres: np.ndarray, block: tuple[int, ...], counts: list[int]
) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    """Rows grouped by the block holding their centre: owner block ids, start of each group, rows in order."""
    cell = centres // np.asarray(block, dtype=np.int64)
    owner = np.ravel_multi_index(tuple(cell.T), counts)
    order = np.argsort(owner, kind="stable")  # rows of one block stay in label order
    blocks, first = np.unique(owner[order], return_index=True)
    return blocks, np.append(first, len(order)), order


def predict_large(
    model: str | os.PathLike | Classifier,
    image: Any,
    mask: Any,
    out: str | os.PathLike,
    *,
    channel_axis: int | None = None,
    name: str | None = None,
    block: int | tuple[int, ...] | None = None,
    batch_size: int | None = None,
    device: str = "auto",
    network_alone: bool = False,
    progress: bool = False,
) -> pd.DataFrame:
    """Classify every object of an image too large for memory; write its class image as zarr.

    Parameters
    ----------
    model : path or Classifier
        A trained classifier, or a model file written by :meth:`~svetlana_nb.Classifier.save`.
    image : path, zarr.Array, dask.array.Array or array_like
        A zarr store, an OME-Zarr image (its full resolution), a (tiled) TIFF file, or a lazy
        or in-memory array: (Y, X) or (Z, Y, X), optionally with one channel axis.
    mask : path, zarr.Array, dask.array.Array or array_like
        Integer label image of the same spatial shape (0 background).
    out : path
        The class image's zarr store (e.g. ``"big_classes.zarr"``): 0 background, ``k + 1``
        for class k, chunked as the blocks, class names in its attributes. Written beside
        ``out`` and moved onto it when complete (an existing store there is replaced).
    channel_axis : int, optional
        Axis of ``image`` holding the channels (detected when None).
    name : str, optional
        The image's name in the table (default: the image file's name, else ``"image"``).
    block : int or tuple of int, optional
        Block shape in pixels (default: the stored chunks grown to about 4096 per Y/X axis).
        Peak memory grows with it: about a block of mask and a window of image and mask at a time.
    batch_size, device, network_alone
        As in :func:`svetlana_nb.batch.predict_many`.
    progress : bool
        Show a progress bar over the blocks of the three passes.

    Returns
    -------
    pandas.DataFrame
        One row per object, sorted by label: the columns of :attr:`svetlana_nb.Prediction.table`
        (image, label, class, confidence, probabilities, measurements in image coordinates).

    Raises
    ------
    ValueError, TypeError
        Naming ``image`` or ``mask`` when they do not fit (shapes, dtypes, negative ids) or the
        classifier (dimensions, channels).

    Notes
    -----
    Each object is classified once, by the block holding its box's centre, from a window that
    holds its whole patch: its class equals the one :meth:`~svetlana_nb.Classifier.predict`
    gives on the whole image in memory. The percentile normalisation reads the same pixel
    sample as in memory, picked out block by block. Label ids are kept as given (the in-memory
    :class:`~svetlana_nb.Objects` renumbers huge sparse ids).

    Examples
    --------
    >>> table = predict_large("model.svnb", "big.zarr", "big_masks.zarr", "big_classes.zarr")  # doctest: +SKIP
    """
    import pandas as pd
    from tqdm.auto import tqdm

    from ..objects.blockwise import scan
    from ..objects.lazy import LazyPair, block_grid, choose_block
    from ..objects.patch_spec import estimate_patch_shape
    from ..objects.window import WindowObjects, owned_window
    from ..prediction import Prediction

    if batch_size is not None and (isinstance(batch_size, bool) or not isinstance(batch_size, int) or batch_size < 1):
        raise ValueError(f"batch_size: expected a whole number >= 1, got {batch_size!r}")
    clf = _classifier(model, device, network_alone)
    if not clf.is_fitted:
        raise RuntimeError("predict_large: the classifier is not trained yet; call fit() first")
    pair = LazyPair(image, mask, channel_axis=channel_axis)
    clf.check_objects(pair)  # type: ignore[arg-type]  # reads spatial_ndim and n_channels only
    if name is None:
        name = Path(image).name if isinstance(image, (str, os.PathLike)) else "image"
    spec = clf.patch
    shape = spec.resolved_shape
    blk = choose_block(pair, block)
    lows, highs = block_grid(pair.shape, blk)
    counts = [-(-s // b) for s, b in zip(pair.shape, blk)]
    with tqdm(total=3 * len(lows), desc="blocks", unit="block", disable=not progress) as bar:
        found = scan(pair, blk, spec.normalization, progress=bar.update)
        nd = pair.spatial_ndim
        patch_shape = estimate_patch_shape(found.bbox[:, nd:] - found.bbox[:, :nd])
        class_index = np.zeros(len(found.labels), dtype=np.int64)
        tables, placed = [], []
        owners, bounds, order = _owners(found.centres, blk, counts)
        bar.update(len(lows) - len(owners))  # blocks without objects of their own
        for k, owner in enumerate(owners):
            rows = order[bounds[k] : bounds[k + 1]]
            lo, hi = owned_window(lows[owner], highs[owner], found.bbox[rows], shape, pair.shape)
            pixels, labels = pair.read(lo, hi)
            objects = WindowObjects(
                pixels,
                labels,
                origin=lo,
                labels=found.labels[rows],
                bbox=found.bbox[rows],
                ranges={spec.normalization: found.ranges},
                patch_shape=patch_shape,
                name=name,
            )
            prediction: Prediction = clf.predict(objects, batch_size=batch_size)
            class_index[rows] = prediction.class_index
            tables.append(prediction.table)
            placed.append(rows)
            bar.update(1)
        class_names = list(clf.class_names or [])
        write_class_zarr(pair, found.labels, class_index, out, block=blk, class_names=class_names, progress=bar.update)
    table = pd.concat(tables, ignore_index=True)
    table.index = np.concatenate(placed)
    return table.sort_index().reset_index(drop=True)
