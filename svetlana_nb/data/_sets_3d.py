"""The 3D demo sets: stacks of nuclei, one or two channels, and a large volume."""

from __future__ import annotations

import numpy as np

from ._demo import DemoData, _make
from ._layout import _checked, _classes, _half_extent, _in_ellipse, _label_ids, _layout, _sample_shapes
from ._sets_2d import _smooth_nuclei
from ._synth import _Blobs, _channel, _scene


def _nuclei_3d(rng, shape, n, radius, fraction, two_channels: bool = False):
    """Build a 3D interphase/mitotic scene; mitotic nuclei hold a bright metaphase plate."""
    radii, angle = _sample_shapes(rng, n, 3, radius, aspect=1.25)
    cell, offset, grid, cells, centre = _layout(rng, shape, _half_extent(radii))
    labels, cls = _label_ids(rng, n), _classes(rng, n, fraction)
    sc = _scene(shape, cell, offset, grid, cells, centre, radii, angle, labels)
    blobs = _Blobs(n, 5, 3)
    level, dome = np.ones(n), np.zeros(n)
    inter, mito = np.flatnonzero(cls == 0), np.flatnonzero(cls == 1)
    dome[inter] = _smooth_nuclei(rng, centre, radii, angle, blobs, inter)
    # metaphase plate: 5 blobs on a line through the centre (in YX), stretched along Z
    k = mito.size
    beta = rng.uniform(0, np.pi, k)
    direction = np.stack([np.zeros(k), np.cos(beta), np.sin(beta)], axis=1)
    t = np.linspace(-0.55, 0.55, 5)[None, :, None] * radii[mito, 1:].max(axis=1)[:, None, None]
    pos = centre[mito, None, :] + t * direction[:, None, :] + rng.normal(0, 0.4, (k, 5, 3))
    sig = np.empty((k, 5, 3))
    sig[..., 1:] = rng.uniform(1.2, 1.7, (k, 5, 1))
    sig[..., 0] = 0.6 * radii[mito, :1]
    blobs.put(mito, slice(0, 5), pos, sig, rng.uniform(1.0, 1.5, (k, 5)))
    level[mito] = rng.uniform(0.1, 0.2, k)
    sc.channels.append(_channel(sc, cells, level, dome, blobs, mean=rng.lognormal(np.log(900.0), 0.35, n)))
    if two_channels:  # centrosomes: one next to interphase nuclei, two spindle poles in mitosis
        cen = _Blobs(n, 2, 3)
        poles = np.stack([np.zeros(k), -np.sin(beta), np.cos(beta)], axis=1)
        reach = 0.75 * radii[mito, 1:].max(axis=1)[:, None, None]
        cen.put(
            mito,
            slice(0, 2),
            centre[mito, None, :] + reach * np.stack([poles, -poles], 1),
            1.3,
            rng.uniform(400.0, 900.0, (k, 2)),
        )
        rim = _in_ellipse(rng, centre[inter], radii[inter], angle[inter], 1, 0.9)
        cen.put(inter, slice(0, 1), rim, 1.3, rng.uniform(150.0, 400.0, (inter.size, 1)))
        sc.channels.append(_channel(sc, cells, 15.0, 0.0, cen, background=100.0))
    return sc, cls, labels


_NUCLEI_3D_DESCRIPTION = (
    "3D nuclei (Z, Y, X), flatter in Z. 'interphase' nuclei are smooth; 'mitotic' ones are dim "
    "with a bright condensed metaphase plate (a bar in YX, extended in Z). Size, elongation and "
    "mean brightness follow the same law for both classes."
)


def cells_3d(*, shape: tuple[int, int, int] = (40, 128, 128), n_objects: int = 40, seed: int = 0) -> DemoData:
    """Grey 3D nuclei, ``interphase`` (smooth) or ``mitotic`` (bright metaphase plate).

    About 65 % interphase. Nuclei are 11-18 px across in YX and about half that in Z.

    Parameters
    ----------
    shape : tuple of int
        Image shape (Z, Y, X).
    n_objects : int
        Number of nuclei.
    seed : int
        Random seed.

    Returns
    -------
    DemoData
        ``image`` (Z, Y, X) uint16, ``mask`` (Z, Y, X) int32,
        classes ``["interphase", "mitotic"]``.

    Examples
    --------
    >>> demo = cells_3d()
    >>> demo.image.shape, demo.n_objects
    ((40, 128, 128), 40)
    """
    dims, n_objects = _checked(shape, n_objects, 3)
    rng = np.random.default_rng(seed)
    sc, cls, labels = _nuclei_3d(rng, dims, n_objects, (5.5, 9.0), 0.35)
    return _make("cells_3d", _NUCLEI_3D_DESCRIPTION, ["interphase", "mitotic"], sc, cls, labels, rng)


def cells_3d_multichannel(
    *, shape: tuple[int, int, int] = (40, 128, 128), n_objects: int = 40, seed: int = 0
) -> DemoData:
    """Like :func:`cells_3d` with a second channel of centrosome spots, shape (Z, Y, X, 2).

    Channel 1 shows one centrosome spot at the rim of interphase nuclei and two brighter
    spindle-pole spots on either side of the plate of mitotic nuclei.

    Parameters
    ----------
    shape : tuple of int
        Spatial shape (Z, Y, X).
    n_objects : int
        Number of nuclei.
    seed : int
        Random seed.

    Returns
    -------
    DemoData
        ``image`` (Z, Y, X, 2) uint16, ``mask`` (Z, Y, X) int32.

    Examples
    --------
    >>> cells_3d_multichannel().image.shape
    (40, 128, 128, 2)
    """
    dims, n_objects = _checked(shape, n_objects, 3)
    rng = np.random.default_rng(seed)
    sc, cls, labels = _nuclei_3d(rng, dims, n_objects, (5.5, 9.0), 0.35, two_channels=True)
    description = _NUCLEI_3D_DESCRIPTION + (
        " Channel 1 (channel axis last): centrosomes, one beside interphase nuclei, two spindle "
        "poles flanking the plate of mitotic ones."
    )
    return _make("cells_3d_multichannel", description, ["interphase", "mitotic"], sc, cls, labels, rng)


def large_3d(
    *, shape: tuple[int, int, int] = (256, 512, 512), n_objects: int = 2000, seed: int = 0, dtype=np.uint16
) -> DemoData:
    """Generate a large 3D benchmark volume with the classes of :func:`cells_3d`.

    Nuclei are 15-28 px across in YX. Generated band by band into a preallocated volume.

    Parameters
    ----------
    shape : tuple of int
        Volume shape (Z, Y, X).
    n_objects : int
        Number of nuclei.
    seed : int
        Random seed.
    dtype : numpy dtype
        Image dtype (uint16 by default).

    Returns
    -------
    DemoData
        ``image`` (Z, Y, X), ``mask`` (Z, Y, X) int32, classes ``["interphase", "mitotic"]``.

    Examples
    --------
    >>> large_3d(shape=(48, 128, 128), n_objects=30).image.shape
    (48, 128, 128)
    """
    dims, n_objects = _checked(shape, n_objects, 3)
    rng = np.random.default_rng(seed)
    sc, cls, labels = _nuclei_3d(rng, dims, n_objects, (7.5, 12.5), 0.35)
    return _make("large_3d", _NUCLEI_3D_DESCRIPTION, ["interphase", "mitotic"], sc, cls, labels, rng, dtype)
