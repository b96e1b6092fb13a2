"""Read images and label masks, pair them up in folders, write TIFFs atomically.

Examples
--------
>>> import numpy as np, tempfile, pathlib
>>> folder = pathlib.Path(tempfile.mkdtemp())
>>> write_tiff(folder / "a.tif", np.zeros((8, 8), np.uint16))
>>> write_tiff(folder / "a_cp_masks.tif", np.ones((8, 8), np.uint16))
>>> [(i.name, m.name) for i, m in find_pairs(folder, folder)]
[('a.tif', 'a_cp_masks.tif')]
>>> read_mask(folder / "a_cp_masks.tif").max()
np.uint16(1)
"""

from __future__ import annotations

import os
import warnings
from pathlib import Path

import numpy as np

from ._files import atomic_path

__all__ = [
    "read_image",
    "read_mask",
    "find_pairs",
    "write_tiff",
    "IMAGE_SUFFIXES",
    "MASK_SUFFIXES",
    "MASK_NAME_SUFFIXES",
]

#: File extensions considered by :func:`find_pairs`.
IMAGE_SUFFIXES = (".tif", ".tiff", ".png")
MASK_SUFFIXES = (".tif", ".tiff", ".png")
#: Folders with this suffix are zarr stores (OME-Zarr too: ``.ome.zarr``), listed by ``find_pairs(..., stores=True)``.
ZARR_SUFFIX = ".zarr"
#: Name endings that segmenters add to mask files (longest tried first).
MASK_NAME_SUFFIXES = ("_cp_masks", "_masks", "_mask", "_labels", "_label", "_seg")

_TIFF = (".tif", ".tiff")
_PILLOW = (".png", ".jpg", ".jpeg", ".bmp", ".gif")


def _existing_file(path: str | os.PathLike, what: str) -> Path:
    path = Path(path)
    if not path.exists():
        raise FileNotFoundError(f"{what} file not found: {str(path)!r}")
    if not path.is_file():
        raise ValueError(f"{what} path is not a file: {str(path)!r}")
    return path


def read_image(path: str | os.PathLike) -> np.ndarray:
    """Read an image file into a numpy array.

    TIFF (``.tif``, ``.tiff``, including multi-page stacks and OME-TIFF) is read with
    tifffile, ``.npy`` with ``numpy.load`` (no pickles), PNG/JPEG/BMP/GIF with imageio.

    Parameters
    ----------
    path : str or PathLike
        The file to read.

    Returns
    -------
    numpy.ndarray
        The pixels as stored: (Y, X), (Y, X, C), (Z, Y, X), ... in the file's dtype.

    Raises
    ------
    FileNotFoundError
        If ``path`` does not exist (the message names it).
    ValueError
        If the file is not an image that can be read (corrupt, truncated, wrong format, empty).

    Examples
    --------
    >>> import numpy as np, tempfile, pathlib
    >>> path = pathlib.Path(tempfile.mkdtemp()) / "img.tif"
    >>> write_tiff(path, np.arange(12, dtype=np.uint16).reshape(3, 4))
    >>> read_image(path).shape
    (3, 4)
    """
    path = _existing_file(path, "image")
    suffix = path.suffix.lower()
    try:
        if suffix in _TIFF:
            import tifffile

            array = tifffile.imread(path)
        elif suffix == ".npy":
            array = np.load(path, allow_pickle=False)
        else:
            import imageio.v3 as iio

            array = iio.imread(path, plugin="pillow") if suffix in _PILLOW else iio.imread(path)
    except (MemoryError, KeyboardInterrupt):
        raise
    except Exception as exc:
        raise ValueError(
            f"could not read image {str(path)!r}: the file is corrupt or not a "
            f"supported image ({type(exc).__name__}: {exc})"
        ) from exc
    array = np.asarray(array)
    if array.size == 0 or array.ndim < 2:
        raise ValueError(f"could not read image {str(path)!r}: it holds no 2D image (shape {array.shape})")
    if array.dtype == object or not (np.issubdtype(array.dtype, np.number) or array.dtype == bool):
        raise ValueError(f"could not read image {str(path)!r}: non-numeric data ({array.dtype})")
    return array


def read_mask(path: str | os.PathLike, *, label_binary: bool = False) -> np.ndarray:
    """Read a label mask: one integer id per object, 0 for background.

    Parameters
    ----------
    path : str or PathLike
        A TIFF/PNG/NPY label image, (Y, X) or (Z, Y, X).
    label_binary : bool
        If True and the file holds a binary mask (a single foreground value), label its
        connected components so that each blob becomes one object. By default the ids are
        kept as stored (a binary mask is then a single object).

    Returns
    -------
    numpy.ndarray
        Integer array (the file's integer dtype; whole-valued float files become int32 or
        int64; boolean files become uint8).

    Raises
    ------
    FileNotFoundError
        If ``path`` does not exist.
    ValueError
        If the file is unreadable, holds non-integer or negative values, NaNs, or colours.

    Examples
    --------
    >>> import numpy as np, tempfile, pathlib
    >>> path = pathlib.Path(tempfile.mkdtemp()) / "mask.tif"
    >>> write_tiff(path, np.array([[0, 3], [3, 7]], dtype=np.float32))
    >>> read_mask(path)
    array([[0, 3],
           [3, 7]], dtype=int32)
    """
    mask = read_image(path)
    where = str(Path(path))
    if mask.dtype == bool:
        mask = mask.astype(np.uint8)
    if Path(path).suffix.lower() in _PILLOW and mask.ndim == 3 and mask.shape[-1] in (3, 4):
        if np.all(mask[..., :3] == mask[..., :1]):
            mask = np.ascontiguousarray(mask[..., 0])
        else:
            raise ValueError(
                f"mask {where!r} is a colour image (shape {mask.shape}); "
                "expected a label image with one integer id per object"
            )
    if np.issubdtype(mask.dtype, np.floating):
        if not np.isfinite(mask).all():
            raise ValueError(f"mask {where!r} contains NaN or infinite values")
        if not np.array_equal(mask, np.round(mask)):
            raise ValueError(
                f"mask {where!r} has non-integer values (dtype {mask.dtype}); "
                "expected a label image with one integer id per object"
            )
        top = float(np.abs(mask).max()) if mask.size else 0.0
        mask = mask.astype(np.int32 if top < 2**31 else np.int64)
    elif np.issubdtype(mask.dtype, np.complexfloating) or not np.issubdtype(mask.dtype, np.integer):
        raise ValueError(f"mask {where!r} has dtype {mask.dtype}; expected integer labels")
    if np.issubdtype(mask.dtype, np.signedinteger) and mask.size and mask.min() < 0:
        raise ValueError(
            f"mask {where!r} has negative values (min {mask.min()}); label ids must be >= 0 with 0 for background"
        )
    if label_binary:
        values = np.unique(mask)
        if values.size <= 2:
            from skimage.measure import label

            mask = label(mask > 0).astype(np.int32)
    return mask


def _key(path: Path, suffixes: tuple[str, ...]) -> str:
    """Stem of ``path`` without its extension(s) (``.ome.tif`` too) and any of ``suffixes``."""
    stem = path.name[: -len(path.suffix)] if path.suffix else path.name
    if stem.lower().endswith(".ome"):
        stem = stem[:-4]
    for suffix in suffixes:
        for sep_suffix in (suffix, "-" + suffix[1:]):
            if stem.lower().endswith(sep_suffix) and len(stem) > len(sep_suffix):
                return stem[: -len(sep_suffix)]
    return stem


def _listing(folder: Path, exts: tuple[str, ...], what: str, *, stores: bool = False) -> list[Path]:
    """Files of ``folder`` with one of ``exts`` (and, with ``stores``, its ``.zarr`` store folders)."""
    if not folder.exists():
        raise FileNotFoundError(f"{what} folder not found: {str(folder)!r}")
    if not folder.is_dir():
        raise ValueError(f"{what} path is not a folder: {str(folder)!r}")
    return sorted(
        p
        for p in folder.iterdir()
        if not p.name.startswith(".")
        and ((p.is_file() and p.suffix.lower() in exts) or (stores and p.is_dir() and p.suffix.lower() == ZARR_SUFFIX))
    )


def _short(paths: list[Path], limit: int = 10) -> str:
    names = [p.name for p in paths[:limit]]
    more = f" and {len(paths) - limit} more" if len(paths) > limit else ""
    return (", ".join(names) or "none") + more


def find_pairs(
    images_dir: str | os.PathLike, masks_dir: str | os.PathLike, *, strict: bool = False, stores: bool = False
) -> list[tuple[Path, Path]]:
    """Pair image files with their mask files by name.

    A mask matches an image when its stem equals the image's stem, or equals it plus one of
    the segmenter suffixes ``_cp_masks`` (Cellpose), ``_masks``, ``_mask``, ``_labels``,
    ``_label``, ``_seg`` (also with ``-``; case-insensitive). Extensions ``.tif``, ``.tiff``
    and ``.png`` are considered; hidden files are ignored. ``masks_dir`` may be the same
    folder as ``images_dir``: files named with a mask suffix are then the masks.

    Parameters
    ----------
    images_dir, masks_dir : str or PathLike
        Folders of images and of masks.
    strict : bool
        Raise if any image or mask is left without a partner (default: warn).
    stores : bool
        Also pair zarr stores (folders named ``*.zarr``, OME-Zarr ``*.ome.zarr`` too), as
        :func:`svetlana_nb.batch.predict_many` reads them lazily.

    Returns
    -------
    list of (Path, Path)
        ``(image, mask)`` pairs sorted by image file name.

    Raises
    ------
    FileNotFoundError
        If a folder does not exist.
    ValueError
        If nothing matches (the message lists the unmatched files), if a name matches
        several files, or with ``strict`` if any file is unmatched.

    Examples
    --------
    >>> import numpy as np, tempfile, pathlib
    >>> root = pathlib.Path(tempfile.mkdtemp())
    >>> (root / "img").mkdir(); (root / "seg").mkdir()
    >>> write_tiff(root / "img" / "well_A1.tif", np.zeros((4, 4), np.uint8))
    >>> write_tiff(root / "seg" / "well_A1_labels.tif", np.zeros((4, 4), np.uint8))
    >>> [(i.name, m.name) for i, m in find_pairs(root / "img", root / "seg")]
    [('well_A1.tif', 'well_A1_labels.tif')]
    """
    images_dir, masks_dir = Path(images_dir), Path(masks_dir)
    images = _listing(images_dir, IMAGE_SUFFIXES, "images", stores=stores)
    masks = _listing(masks_dir, MASK_SUFFIXES, "masks", stores=stores)
    if images_dir.resolve() == masks_dir.resolve():
        masks = [p for p in images if _key(p, MASK_NAME_SUFFIXES) != _key(p, ())]
        images = [p for p in images if p not in set(masks)]
    by_key: dict[str, list[Path]] = {}
    for image in images:
        by_key.setdefault(_key(image, ()).lower(), []).append(image)
    duplicated = [ps for ps in by_key.values() if len(ps) > 1]
    if duplicated:
        raise ValueError(
            f"images with the same name in {str(images_dir)!r}: {_short(duplicated[0])}; keep one file per image name"
        )
    exact: dict[str, list[Path]] = {}  # masks named exactly like an image
    suffixed: dict[str, list[Path]] = {}  # masks named like an image plus a suffix
    for mask in masks:
        name = _key(mask, ()).lower()
        if name in by_key:
            exact.setdefault(name, []).append(mask)
        else:
            suffixed.setdefault(_key(mask, MASK_NAME_SUFFIXES).lower(), []).append(mask)
    pairs, lonely_images = [], []
    for key, (image,) in sorted(by_key.items(), key=lambda kv: kv[1][0].name):
        found = exact.pop(key, None) or suffixed.pop(key, [])
        if len(found) > 1:
            raise ValueError(f"image {image.name!r} matches several masks: {_short(found)}; keep one mask per image")
        if found:
            pairs.append((image, found[0]))
        else:
            lonely_images.append(image)
    lonely_masks = sorted(p for d in (exact, suffixed) for ps in d.values() for p in ps)
    detail = f"images without a mask: {_short(lonely_images)}; masks without an image: {_short(lonely_masks)}"
    if not pairs:
        raise ValueError(
            f"no image/mask pairs found between {str(images_dir)!r} and {str(masks_dir)!r} "
            f"(a mask is named like its image, optionally ending in one of "
            f"{', '.join(MASK_NAME_SUFFIXES)}; extensions {', '.join(IMAGE_SUFFIXES)}): {detail}"
        )
    if lonely_images or lonely_masks:
        if strict:
            raise ValueError(f"unmatched files: {detail}")
        warnings.warn(f"find_pairs: {len(pairs)} pairs found; unmatched files: {detail}", UserWarning, stacklevel=2)
    return pairs


def write_tiff(path: str | os.PathLike, array: np.ndarray, *, compression: str | None = None) -> None:
    """Write ``array`` to a TIFF file atomically (temporary file in the same folder, then rename).

    If writing fails the previous file at ``path``, if any, is left untouched and no temporary
    file remains.

    Parameters
    ----------
    path : str or PathLike
        Destination (its folder must exist).
    array : numpy.ndarray
        Any shape; (Y, X, 3|4) uint8 is stored as RGB(A), everything else as greyscale planes
        so that :func:`read_image` returns the same shape.
    compression : str, optional
        A tifffile compression, e.g. ``"zlib"``.

    Examples
    --------
    >>> import numpy as np, tempfile, pathlib
    >>> path = pathlib.Path(tempfile.mkdtemp()) / "labels.tif"
    >>> write_tiff(path, np.eye(3, dtype=np.int32))
    >>> int(read_mask(path).sum())
    3
    """
    import tifffile

    array = np.asarray(array)
    if array.dtype == object:
        raise ValueError(f"array: cannot write dtype object to {str(path)!r}")
    rgb = array.ndim == 3 and array.shape[-1] in (3, 4) and array.dtype == np.uint8
    with atomic_path(path) as tmp:
        tifffile.imwrite(tmp, array, photometric="rgb" if rgb else "minisblack", compression=compression)
