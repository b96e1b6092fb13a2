"""Input checks at the public boundary: every error names the parameter and what was expected."""

from __future__ import annotations

import numpy as np


def as_label_mask(mask: object, *, name: str = "mask", check_ids: bool = True) -> np.ndarray:
    """Return ``mask`` as an integer label array, or raise a clear error.

    Parameters
    ----------
    mask : array_like, shape (Y, X) or (Z, Y, X)
        One integer per object, 0 for background.
    name : str
        The parameter name used in error messages.
    check_ids : bool
        Check that no id is negative (a pass over the mask; callers that scan it anyway, like
        :class:`~svetlana_nb.Objects`, check there instead).

    Returns
    -------
    numpy.ndarray
        The same data with an integer dtype that ``scipy.ndimage`` accepts (no copy when possible).
    """
    array = np.asarray(mask)
    if array.dtype == bool:
        raise TypeError(
            f"{name}: expected a label image (one integer id per object), got a boolean mask; "
            "label its connected components first, e.g. skimage.measure.label(mask)"
        )
    if not np.issubdtype(array.dtype, np.integer):
        raise TypeError(
            f"{name}: expected an integer label image (one integer id per object), "
            f"got dtype {array.dtype}; if the values are whole numbers use mask.astype(np.int32)"
        )
    if array.ndim not in (2, 3):
        raise ValueError(f"{name}: expected a 2D (Y, X) or 3D (Z, Y, X) label image, got shape {array.shape}")
    if array.size == 0:
        raise ValueError(f"{name}: the label image is empty (shape {array.shape})")
    if check_ids and np.issubdtype(array.dtype, np.signedinteger) and array.min() < 0:
        raise ValueError(f"{name}: label ids must be >= 0 (0 is background), found {array.min()}")
    if array.dtype == np.uint64:
        top = int(array.max())
        if top > np.iinfo(np.int64).max:
            raise ValueError(f"{name}: label ids must be below 2**63, found {top}")
        array = array.astype(np.int64)
    return array


def as_image(image: object, *, name: str = "image") -> np.ndarray:
    """Return ``image`` as a numeric numpy array, rejecting NaN/inf and non-numeric data."""
    array = np.asarray(image)
    if array.dtype == bool:
        array = array.astype(np.uint8)
    if not (np.issubdtype(array.dtype, np.integer) or np.issubdtype(array.dtype, np.floating)):
        raise TypeError(f"{name}: expected a numeric array, got dtype {array.dtype}")
    if array.ndim not in (2, 3, 4):
        raise ValueError(f"{name}: expected (Y, X), (Y, X, C), (Z, Y, X) or (Z, Y, X, C), got shape {array.shape}")
    if np.issubdtype(array.dtype, np.floating):
        step = max(1, array.size // 4_000_000)
        if not np.isfinite(array.reshape(-1)[::step]).all() or not np.isfinite(array.max()):
            raise ValueError(f"{name}: the image contains NaN or infinite values")
    return array


def channel_last(
    image: np.ndarray,
    mask_shape: tuple[int, ...],
    *,
    channel_axis: int | None,
    image_name: str = "image",
    mask_name: str = "mask",
) -> np.ndarray:
    """Move the channel axis of ``image`` last so that ``image.shape[:-1] == mask_shape``.

    Parameters
    ----------
    image : numpy.ndarray
        Shape ``mask_shape`` (one channel) or ``mask_shape`` plus one channel axis anywhere.
    mask_shape : tuple of int
        Shape of the label image, (Y, X) or (Z, Y, X).
    channel_axis : int or None
        Axis of ``image`` holding channels; None to detect it (last axis first, then first).

    Returns
    -------
    numpy.ndarray
        A view of shape ``(*mask_shape, C)``.
    """
    mask_shape = tuple(mask_shape)
    if channel_axis is None:
        if image.shape == mask_shape:
            return image[..., np.newaxis]
        if image.ndim == len(mask_shape) + 1:
            if image.shape[:-1] == mask_shape:
                return image
            if image.shape[1:] == mask_shape:
                return np.moveaxis(image, 0, -1)
        raise ValueError(
            f"{image_name} and {mask_name} do not match: {image_name} has shape {image.shape}, "
            f"{mask_name} has shape {mask_shape}; the image must have the mask's shape, "
            "optionally with one extra channel axis (pass channel_axis= to say which)"
        )
    if image.ndim != len(mask_shape) + 1:
        raise ValueError(
            f"channel_axis={channel_axis} given, but {image_name} has shape {image.shape} and "
            f"{mask_name} has shape {mask_shape}: expected exactly one more axis in the image"
        )
    moved = np.moveaxis(image, channel_axis, -1)
    if moved.shape[:-1] != mask_shape:
        raise ValueError(
            f"{image_name} and {mask_name} do not match: {image_name} has shape {image.shape} "
            f"(channel_axis={channel_axis}), {mask_name} has shape {mask_shape}"
        )
    return moved


def check_choice(value: object, choices: tuple | list, *, name: str) -> None:
    """Raise ``ValueError`` naming ``name`` when ``value`` is not one of ``choices``."""
    if value not in choices:
        raise ValueError(f"{name}: expected one of {list(choices)}, got {value!r}")


def check_number(
    value: object, *, name: str, low: float = 0.0, high: float | None = None, open_low: bool = False
) -> float:
    """``value`` as a float when it is a real number in ``[low, high]`` (``high=None``: no bound above).

    ``open_low`` excludes ``low`` itself (``lr > 0``). Booleans, strings, NaN and infinities are
    refused with a ``ValueError`` naming ``name`` and the range.
    """
    if (
        isinstance(value, bool)
        or not isinstance(value, (int, float, np.integer, np.floating))
        or not np.isfinite(value)
        or not (value > low if open_low else value >= low)
        or (high is not None and not value <= high)
    ):
        bound = f"above {low:g}" if open_low else f"from {low:g}"
        expected = f"{bound} to {high:g}" if high is not None else (f"> {low:g}" if open_low else f">= {low:g}")
        raise ValueError(f"{name}: expected a finite number {expected}, got {value!r}")
    return float(value)


def check_count(value: object, *, name: str, low: int = 0, optional: bool = False) -> int | None:
    """``value`` as an int when it is a whole number >= ``low`` (None too when ``optional``).

    ``2.5``, ``"3"``, ``True`` and NaN are refused with a ``ValueError`` naming ``name``.
    """
    if value is None and optional:
        return None
    if isinstance(value, bool) or not isinstance(value, (int, np.integer)) or value < low:
        none = " or None" if optional else ""
        raise ValueError(f"{name}: expected a whole number >= {low}{none}, got {value!r}")
    return int(value)


def check_flag(value: object, *, name: str) -> bool:
    """``value`` when it is True or False; ``ValueError`` naming ``name`` otherwise (``"yes"``, 1)."""
    if not isinstance(value, (bool, np.bool_)):
        raise ValueError(f"{name}: expected True or False, got {value!r}")
    return bool(value)


def check_channels(channels: object, *, n_channels: int | None = None) -> tuple[int, ...] | None:
    """``channels`` as a tuple of distinct channel indices (None: all); ``ValueError`` naming it.

    Parameters
    ----------
    channels : int, sequence of int or None
    n_channels : int, optional
        The images' number of channels: every index must be below it.
    """
    if channels is None:
        return None
    if isinstance(channels, (int, np.integer)):
        channels = [channels]
    values = list(channels)  # type: ignore[call-overload]
    if (
        not values
        or any(isinstance(c, bool) or not isinstance(c, (int, np.integer)) or c < 0 for c in values)
        or len(set(values)) != len(values)
    ):
        raise ValueError(f"channels: expected distinct channel indices >= 0 (or None for all), got {channels!r}")
    if n_channels is not None and max(values) >= n_channels:
        raise ValueError(f"channels: expected indices below {n_channels} (the objects' channels), got {values}")
    return tuple(int(c) for c in values)
