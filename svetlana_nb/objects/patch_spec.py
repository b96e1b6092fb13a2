"""``PatchSpec``: what the classifier sees of an object, as one value.

A patch is a crop centred on an object: its image channels, normalised, plus one channel
marking the object. Five settings say what it holds (shape, normalisation, context, channels,
shrink factor); they always travel together, from the objects to the network batches, the
model file and the widgets, so they are one frozen value that checks and serialises itself.
"""

from __future__ import annotations

import dataclasses
from collections.abc import Sequence
from typing import Any, Literal, Protocol, get_args

import numpy as np

from .._validation import check_channels, check_choice

Normalization = Literal["percentile", "minmax", "none"]
#: The normalisations a :class:`PatchSpec` accepts.
NORMALIZATIONS: tuple[str, ...] = get_args(Normalization)
#: The spec's settings as :class:`~svetlana_nb.Classifier` takes them one by one (``patch_size`` is ``shape``).
KEYWORDS = {
    "patch_size": "shape",
    "normalization": "normalization",
    "context": "context",
    "channels": "channels",
    "downscale": "downscale",
}
#: Largest Y/X side of the network's input that :func:`choose_downscale` lets through unshrunk.
MAX_NETWORK_SIDE = 64


class ObjectGeometry(Protocol):
    """What a :class:`PatchSpec` reads of the objects it is made concrete for."""

    @property
    def spatial_ndim(self) -> int: ...  # noqa: D102

    @property
    def n_channels(self) -> int: ...  # noqa: D102

    @property
    def patch_shape(self) -> tuple[int, ...]: ...  # noqa: D102


def as_patch_shape(size: int | Sequence[int], ndim: int, *, name: str = "patch_size") -> tuple[int, ...]:
    """``size`` as one positive side per spatial axis; ``ValueError`` naming ``name`` otherwise.

    Parameters
    ----------
    size : int or sequence of int
        One side for every axis, or one side per axis.
    ndim : int
        Number of spatial axes (2 or 3).
    """
    if isinstance(size, (int, np.integer)) and not isinstance(size, bool):
        shape: tuple[int, ...] = (int(size),) * ndim
    elif isinstance(size, (list, tuple, np.ndarray)) and all(
        isinstance(s, (int, np.integer)) and not isinstance(s, bool) for s in size
    ):
        shape = tuple(int(s) for s in size)
    else:
        raise ValueError(f"{name}: expected a positive int or {ndim} positive ints, got {size!r}")
    if len(shape) != ndim or any(s < 1 for s in shape):
        raise ValueError(f"{name}: expected a positive int or {ndim} positive ints, got {size!r}")
    return shape


def estimate_patch_shape(
    extents: np.ndarray, *, percentile: float = 95.0, margin: float = 1.25, multiple: int = 4, minimum: int = 16
) -> tuple[int, ...]:
    """Estimate a patch shape that holds nearly every object with some context.

    A high percentile of the object extents (not the maximum, as the original plugin did)
    keeps one huge outlier object from blowing the patch up.

    Parameters
    ----------
    extents : numpy.ndarray, shape (n, ndim)
        Bounding-box side lengths of the objects.
    percentile : float
        Percentile of the extents to cover.
    margin : float
        Multiplicative context margin.
    multiple : int
        Each side is rounded up to a multiple of this (friendly to pooling layers).
    minimum : int
        Smallest side length (in Y and X; Z may be smaller, down to ``multiple``).

    Returns
    -------
    tuple of int
        One side length per spatial axis; Y and X are equal so 90° rotations keep the shape.
    """
    extents = np.asarray(extents, dtype=float)
    cover = np.percentile(extents, percentile, axis=0) * margin
    sides = np.ceil(cover / multiple).astype(int) * multiple
    yx = max(minimum, int(sides[-2:].max()))
    if extents.shape[1] == 3:
        return (max(multiple, int(sides[0])), yx, yx)
    return (yx, yx)


def choose_downscale(patch_shape: Sequence[int], *, max_side: int = MAX_NETWORK_SIDE) -> int:
    """The smallest integer factor that brings the patch's Y and X sides to ``max_side`` or less.

    Large objects (cells of 100 px and more) then reach the network at a resolution where its
    two small convolutions see their shape, and cost what a small patch costs.

    Parameters
    ----------
    patch_shape : tuple of int
        Spatial patch shape in image pixels; Y and X are its last two sides.
    max_side : int

    Returns
    -------
    int
        1 when the patch is already small enough.

    Examples
    --------
    >>> choose_downscale((48, 48)), choose_downscale((96, 96)), choose_downscale((12, 200, 200))
    (1, 2, 4)
    """
    side = max(int(s) for s in patch_shape[-2:])
    return max(1, -(-side // int(max_side)))


def check_downscale(downscale: object, patch_shape: Sequence[int] | None = None) -> int:
    """``downscale`` as an int, or ``ValueError`` naming it.

    It must be an int >= 1 that divides the patch's Y and X sides (when ``patch_shape`` is given).
    """
    if isinstance(downscale, bool) or not isinstance(downscale, (int, np.integer)) or downscale < 1:
        raise ValueError(f"downscale: expected an int >= 1, got {downscale!r}")
    if patch_shape is not None and any(int(s) % int(downscale) for s in patch_shape[-2:]):
        raise ValueError(
            f"downscale: {downscale} does not divide the patch's Y and X sides "
            f"{tuple(int(s) for s in patch_shape[-2:])}"
        )
    return int(downscale)


#: The widest context: a dilation wider than this would cost minutes (and more than any patch holds).
MAX_CONTEXT = 4096


def _check_context(context: object) -> int | None:
    if context is None:
        return None
    if isinstance(context, bool) or not isinstance(context, (int, np.integer)) or not 0 <= context <= MAX_CONTEXT:
        raise ValueError(
            f"context: expected None or an int from 0 to {MAX_CONTEXT} (pixels around the object), got {context!r}"
        )
    return int(context)


@dataclasses.dataclass(frozen=True)
class PatchSpec:
    """What the classifier sees of each object: one frozen, self-checking value.

    Parameters
    ----------
    shape : int or tuple of int, optional
        Patch side(s) in image pixels around each object: one int for every axis, or one per
        spatial axis. None: the objects' estimate (:attr:`Objects.patch_shape`).
    normalization : {"percentile", "minmax", "none"}
        Per image and channel intensity normalisation: 1st–99.8th percentile, min–max, or raw.
    context : int, optional
        Hide what lies farther than this many pixels from the object (the image channels are
        multiplied by the object's mask dilated by ``context``).
    channels : sequence of int, optional
        The image channels the classifier looks at, in this order (default all). A channel that
        carries no class information is noise to a network trained on few examples.
    downscale : int, optional
        Shrink Y and X by this factor before the network sees them (image channels
        block-averaged, the object channel where the object touches the block). None: the
        smallest factor bringing Y and X to 64 px or less (:func:`choose_downscale`).

    Notes
    -----
    A spec is *resolved* (:attr:`is_resolved`) once :meth:`resolve` has fixed its shape and
    downscale for some objects: Y and X are then rounded up to a multiple of the downscale.

    Examples
    --------
    >>> spec = PatchSpec(shape=96, channels=[1])
    >>> spec.channels, spec.is_resolved
    ((1,), False)
    >>> PatchSpec(shape=(96, 96), downscale=2).input_shape
    (48, 48)
    """

    shape: tuple[int, ...] | int | None = None
    normalization: Normalization = "percentile"
    context: int | None = None
    channels: tuple[int, ...] | None = None
    downscale: int | None = None

    def __post_init__(self) -> None:
        shape = self.shape
        if shape is not None:
            if isinstance(shape, (int, np.integer)) and not isinstance(shape, bool):
                shape = as_patch_shape(shape, 1)[0]
            else:
                ndim = len(shape) if isinstance(shape, (list, tuple, np.ndarray)) else 0
                if ndim not in (2, 3):
                    raise ValueError(f"patch_size: expected a positive int or 2 or 3 positive ints, got {shape!r}")
                shape = as_patch_shape(shape, ndim)
        check_choice(self.normalization, NORMALIZATIONS, name="normalization")
        object.__setattr__(self, "shape", shape)
        object.__setattr__(self, "context", _check_context(self.context))
        object.__setattr__(self, "channels", check_channels(self.channels))
        if self.downscale is not None:
            object.__setattr__(
                self, "downscale", check_downscale(self.downscale, shape if isinstance(shape, tuple) else None)
            )

    def replace(self, **changes: Any) -> PatchSpec:
        """A copy with some settings changed (checked again)."""
        return dataclasses.replace(self, **changes)

    # -- made concrete for some objects --------------------------------------------------------
    @property
    def is_resolved(self) -> bool:
        """Whether the shape (one side per axis) and the downscale are fixed."""
        return isinstance(self.shape, tuple) and self.downscale is not None

    def resolve(self, objects: ObjectGeometry) -> PatchSpec:
        """The spec made concrete for ``objects``.

        The shape comes from the objects where not given (an int is one side for every axis);
        the downscale is chosen where not given; Y and X are rounded up to a multiple of it;
        the channels are checked against the objects' channels.

        Raises
        ------
        ValueError
            Naming the setting that does not fit these objects.
        """
        check_channels(self.channels, n_channels=objects.n_channels)
        ndim = objects.spatial_ndim
        if self.shape is None:
            shape = tuple(int(s) for s in objects.patch_shape)
        elif isinstance(self.shape, tuple):
            if len(self.shape) != ndim:
                raise ValueError(f"patch_size: {self.shape} has {len(self.shape)} sides but the objects are {ndim}D")
            shape = self.shape
        else:
            shape = (int(self.shape),) * ndim
        factor = self.downscale or choose_downscale(shape)
        shape = tuple(shape[:-2]) + tuple(-(-int(s) // factor) * factor for s in shape[-2:])
        return dataclasses.replace(self, shape=shape, downscale=check_downscale(factor, shape))

    def check_objects(self, objects: ObjectGeometry) -> None:
        """``ValueError`` when a resolved spec cannot be cut from ``objects`` (dimensions, channels)."""
        shape = self.resolved_shape
        if len(shape) != objects.spatial_ndim:
            raise ValueError(f"objects: the patches are {len(shape)}D; these objects are {objects.spatial_ndim}D")
        check_channels(self.channels, n_channels=objects.n_channels)

    @property
    def resolved_shape(self) -> tuple[int, ...]:
        """The spatial patch shape; ``ValueError`` before :meth:`resolve`."""
        if not isinstance(self.shape, tuple):
            raise ValueError("patch: the patch shape is not set yet (the spec is not resolved for objects)")
        return self.shape

    @property
    def factor(self) -> int:
        """The Y/X shrink factor (1 before it is chosen)."""
        return self.downscale or 1

    @property
    def input_shape(self) -> tuple[int, ...]:
        """Spatial shape of the network's input: the patch shape, Y and X divided by the downscale."""
        shape = self.resolved_shape
        return tuple(shape[:-2]) + tuple(int(s) // self.factor for s in shape[-2:])

    def n_image_channels(self, image_channels: int) -> int:
        """Image channels in a patch of images with ``image_channels`` channels."""
        return len(self.channels) if self.channels else int(image_channels)

    def describe(self) -> str:
        """The patch in words, e.g. ``"96×96 px, shrunk 2× to 48×48"``."""
        if not isinstance(self.shape, tuple):
            return "patch size not set yet"
        text = "×".join(str(s) for s in self.shape) + " px"
        if self.factor > 1:
            text += f", shrunk {self.factor}× to " + "×".join(str(s) for s in self.input_shape)
        return text

    # -- files -----------------------------------------------------------------------------------
    def to_dict(self) -> dict[str, Any]:
        """JSON-ready settings (what a model file keeps)."""
        shape = list(self.shape) if isinstance(self.shape, tuple) else self.shape
        channels = None if self.channels is None else list(self.channels)
        return {
            "shape": shape,
            "normalization": self.normalization,
            "context": self.context,
            "channels": channels,
            "downscale": self.downscale,
        }

    @classmethod
    def from_dict(cls, values: dict[str, Any]) -> PatchSpec:
        """The spec :meth:`to_dict` wrote; ``ValueError`` naming a bad or unknown setting."""
        if not isinstance(values, dict):
            raise ValueError(f"patch: expected a mapping of patch settings, got {type(values).__name__}")
        known = {f.name for f in dataclasses.fields(cls)}
        unknown = sorted(set(values) - known)
        if unknown:
            raise ValueError(f"patch: unknown setting(s) {unknown}; settings are {sorted(known)}")
        shape = values.get("shape")
        return cls(**{**values, "shape": tuple(shape) if isinstance(shape, list) else shape})


def spec_from(patch: PatchSpec | None, **keywords: Any) -> PatchSpec:
    """The spec given whole (``patch``), or built from its settings given as :data:`KEYWORDS` (not both).

    Keywords left at None are not given.
    """
    given = {name: value for name, value in keywords.items() if value is not None}
    if patch is None:
        return PatchSpec(**{KEYWORDS[name]: value for name, value in given.items()})
    if not isinstance(patch, PatchSpec):
        raise TypeError(f"patch: expected svetlana_nb.PatchSpec, got {type(patch).__name__}")
    if given:
        raise ValueError(
            f"patch: give the patch settings either as patch= or one by one, not both (got {sorted(given)})"
        )
    return patch
