"""The 2D demo sets: nuclei healthy or fragmented, cells infected or not, and a large image."""

from __future__ import annotations

import numpy as np

from ._demo import DemoData, _make
from ._layout import _checked, _classes, _half_extent, _in_ellipse, _label_ids, _layout, _sample_shapes
from ._synth import _Blobs, _channel, _scene


def _smooth_nuclei(
    rng,
    centre,
    radii,
    angle,
    blobs: _Blobs,
    rows: np.ndarray,
    *,
    spots: int = 2,
    spot_amp: tuple[float, float] = (0.15, 0.4),
):
    """Smooth nuclei: a gentle dome, broad low-contrast undulations, 0-``spots`` small spots."""
    k, d = len(rows), centre.shape[1]
    rbar = radii[rows, -2:].mean(axis=1)
    zf = (radii[rows, :1] / radii[rows, -2:].mean(axis=1, keepdims=True)) if d == 3 else None
    pos = _in_ellipse(rng, centre[rows], radii[rows], angle[rows], 3, 0.5)
    sig = np.repeat((0.35 * rbar)[:, None, None], d, axis=2).repeat(3, axis=1)
    if zf is not None:
        sig[..., 0] *= zf
    blobs.put(rows, slice(0, 3), pos, sig, rng.uniform(-0.12, 0.18, (k, 3)))
    pos = _in_ellipse(rng, centre[rows], radii[rows], angle[rows], spots, 0.6)
    blobs.put(
        rows,
        slice(3, 3 + spots),
        pos,
        rng.uniform(0.9, 1.6, (k, spots, 1)),
        rng.uniform(*spot_amp, (k, spots)),
        count=rng.integers(0, spots + 1, k),
    )
    return rng.uniform(0.15, 0.35, k)  # dome


def _fragmented_nuclei(
    rng, centre, radii, angle, blobs: _Blobs, rows: np.ndarray, *, amp: tuple[float, float] = (1.0, 2.0)
):
    """Fragmented (apoptotic-like) nuclei: 3-7 compact bright fragments on a dim body."""
    k, d = len(rows), centre.shape[1]
    rbar = radii[rows, -2:].mean(axis=1)
    pos = _in_ellipse(rng, centre[rows], radii[rows], angle[rows], 7, 0.6)
    sig = (rng.uniform(0.17, 0.26, (k, 7)) * rbar[:, None])[..., None].repeat(d, axis=2)
    if d == 3:
        sig[..., 0] = np.minimum(sig[..., 0], 0.6 * radii[rows, :1])
    blobs.put(rows, slice(0, 7), pos, sig, rng.uniform(*amp, (k, 7)), count=rng.integers(3, 8, k))


def _nuclei_2d(rng, shape, n, radius, fraction):
    """Geometry, layout, ids and classes of a 2D texture-classes nuclei scene."""
    radii, angle = _sample_shapes(rng, n, 2, radius)
    cell, offset, grid, cells, centre = _layout(rng, shape, _half_extent(radii))
    labels, cls = _label_ids(rng, n), _classes(rng, n, fraction)
    sc = _scene(shape, cell, offset, grid, cells, centre, radii, angle, labels)
    blobs = _Blobs(n, 7, 2)
    level, dome = np.ones(n), np.zeros(n)
    smooth, frag = np.flatnonzero(cls == 0), np.flatnonzero(cls == 1)
    dome[smooth] = _smooth_nuclei(rng, centre, radii, angle, blobs, smooth)
    _fragmented_nuclei(rng, centre, radii, angle, blobs, frag)
    level[frag] = rng.uniform(0.12, 0.3, frag.size)
    brightness = rng.lognormal(np.log(900.0), 0.35, n)  # same law for both classes
    sc.channels.append(_channel(sc, cells, level, dome, blobs, mean=brightness))
    return sc, cls, labels


_NUCLEI_2D_DESCRIPTION = (
    "Fluorescent nuclei (one grey channel). 'healthy' nuclei are smooth with at most two faint "
    "nucleoli; 'fragmented' nuclei break into 3-7 compact bright fragments on a dim body. "
    "Area, elongation and mean brightness follow the same law for both classes: the class is "
    "carried by the texture inside the object."
)


def cells_2d(*, shape: tuple[int, int] = (512, 512), n_objects: int = 160, seed: int = 0) -> DemoData:
    """Grey 2D nuclei, ``healthy`` (smooth) or ``fragmented`` (several bright fragments).

    About 60 % healthy, 40 % fragmented; nuclei are 14-28 px across; some are cut by the border.

    Parameters
    ----------
    shape : tuple of int
        Image shape (Y, X).
    n_objects : int
        Number of nuclei.
    seed : int
        Random seed; the same seed gives the same data.

    Returns
    -------
    DemoData
        ``image`` (Y, X) uint16, ``mask`` (Y, X) int32, classes ``["healthy", "fragmented"]``.

    Examples
    --------
    >>> demo = cells_2d(shape=(256, 256), n_objects=40)
    >>> demo.image.shape, demo.n_objects
    ((256, 256), 40)
    """
    dims, n_objects = _checked(shape, n_objects, 2)
    rng = np.random.default_rng(seed)
    sc, cls, labels = _nuclei_2d(rng, dims, n_objects, (7.0, 12.0), 0.4)
    return _make("cells_2d", _NUCLEI_2D_DESCRIPTION, ["healthy", "fragmented"], sc, cls, labels, rng)


def large_2d(
    *, shape: tuple[int, int] = (8000, 8000), n_objects: int = 16000, seed: int = 0, dtype=np.uint16
) -> DemoData:
    """Generate a large 2D benchmark image (like the paper's 8000 x 8000 osteoclast image).

    The same two texture classes as :func:`cells_2d`, nuclei 20-40 px across. Generated band
    by band into a preallocated image, so that besides the image and the int32 mask it needs
    only the working memory of one band.

    Parameters
    ----------
    shape : tuple of int
        Image shape (Y, X).
    n_objects : int
        Number of nuclei.
    seed : int
        Random seed.
    dtype : numpy dtype
        Image dtype (uint16 by default; uint8 is scaled down; float32 ok).

    Returns
    -------
    DemoData
        ``image`` (Y, X), ``mask`` (Y, X) int32, classes ``["healthy", "fragmented"]``.

    Examples
    --------
    >>> demo = large_2d(shape=(600, 600), n_objects=100)
    >>> demo.image.shape, demo.n_objects
    ((600, 600), 100)
    """
    dims, n_objects = _checked(shape, n_objects, 2)
    rng = np.random.default_rng(seed)
    sc, cls, labels = _nuclei_2d(rng, dims, n_objects, (11.0, 18.0), 0.4)
    return _make("large_2d", _NUCLEI_2D_DESCRIPTION, ["healthy", "fragmented"], sc, cls, labels, rng, dtype)


def infected_cells_2d(*, shape: tuple[int, int] = (512, 512), n_objects: int = 160, seed: int = 0) -> DemoData:
    """Two-channel cells like the paper's HEK cells: nuclei and viral replication spots.

    Channel 0 (Hoechst-like) shows every nucleus the same way. Channel 1 (ANCHOR-like) shows
    bright small spots: ``infected`` cells (about 30 %) have 1-6 bright spots inside their
    nucleus; ``healthy`` cells have none, but some have one dim spot, and dimmer background
    spots are scattered everywhere (inside and outside nuclei), so a threshold on the mean
    of channel 1 is not enough.

    Parameters
    ----------
    shape : tuple of int
        Image shape (Y, X).
    n_objects : int
        Number of cells (nuclei).
    seed : int
        Random seed.

    Returns
    -------
    DemoData
        ``image`` (Y, X, 2) uint16 (channel axis last), ``mask`` (Y, X) int32,
        classes ``["healthy", "infected"]``.

    Examples
    --------
    >>> demo = infected_cells_2d(shape=(256, 256), n_objects=40)
    >>> demo.image.shape, demo.channel_axis
    ((256, 256, 2), -1)
    """
    dims, n_objects = _checked(shape, n_objects, 2)
    rng = np.random.default_rng(seed)
    n = n_objects
    radii, angle = _sample_shapes(rng, n, 2, (7.0, 12.0))
    cell, offset, grid, cells, centre = _layout(rng, dims, _half_extent(radii))
    labels, cls = _label_ids(rng, n), _classes(rng, n, 0.3)
    sc = _scene(dims, cell, offset, grid, cells, centre, radii, angle, labels)
    nuc = _Blobs(n, 5, 2)
    dome = _smooth_nuclei(rng, centre, radii, angle, nuc, np.arange(n))
    sc.channels.append(_channel(sc, cells, 1.0, dome, nuc, mean=rng.lognormal(np.log(900.0), 0.35, n)))
    spots = _Blobs(n, 6, 2)
    inf, healthy = np.flatnonzero(cls == 1), np.flatnonzero(cls == 0)
    spots.put(
        inf,
        slice(0, 6),
        _in_ellipse(rng, centre[inf], radii[inf], angle[inf], 6, 0.75),
        rng.uniform(0.9, 1.5, (inf.size, 6, 1)),
        rng.lognormal(np.log(450.0), 0.5, (inf.size, 6)),
        count=rng.integers(1, 7, inf.size),
    )
    dim = healthy[rng.random(healthy.size) < 0.2]
    spots.put(
        dim,
        slice(0, 1),
        _in_ellipse(rng, centre[dim], radii[dim], angle[dim], 1, 0.75),
        rng.uniform(0.9, 1.5, (dim.size, 1, 1)),
        rng.uniform(80.0, 350.0, (dim.size, 1)),
    )
    # background spots anywhere in every cell (a uniform spatial Poisson process)
    n_cells, edge = sc.n_cells, 4.0
    back = _Blobs(n_cells, 3, 2)
    back.put(
        np.arange(n_cells),
        slice(0, 3),
        edge + rng.random((n_cells, 3, 2)) * (cell - 2 * edge),
        rng.uniform(0.9, 1.5, (n_cells, 3, 1)),
        rng.lognormal(np.log(150.0), 0.5, (n_cells, 3)),
        count=rng.poisson(0.7, n_cells),
    )
    sc.channels.append(
        _channel(
            sc, cells, rng.lognormal(np.log(40.0), 0.6, n), 0.0, spots, background=120.0, background_var=0.1, extra=back
        )
    )
    description = (
        "Two channels, channel axis last: 0 = nuclei (Hoechst-like), 1 = viral replication "
        "spots (ANCHOR-like). 'infected' nuclei hold 1-6 bright spots in channel 1; 'healthy' "
        "ones no bright spot (20 % hold one dim spot); dim background spots lie everywhere."
    )
    return _make("infected_cells_2d", description, ["healthy", "infected"], sc, cls, labels, rng)


#: The classes of :func:`textures_2d`: spot count x spot size, in this order.
_TEXTURE_COUNTS = (1, 2, 3, 4, 5)
_TEXTURE_SIZES = ("fine", "coarse")


def textures_2d(*, shape: tuple[int, int] = (1024, 1024), n_objects: int = 512, seed: int = 0) -> DemoData:
    """Grey 2D nuclei of ten texture classes: 1-5 bright spots, each fine or coarse.

    A hard many-class task: the class is the number of spots inside the nucleus (1 to 5) and
    their size (``fine``: about 2 px across, ``coarse``: about 4 px), e.g. ``"3 coarse"``.
    Spot brightness varies widely and spots may touch, so neighbouring counts are confused;
    area, elongation and mean brightness follow one law for all classes. Nuclei are 18-30 px
    across; the ten classes are equally frequent.

    Parameters
    ----------
    shape : tuple of int
        Image shape (Y, X); ``(8000, 8000)`` with 16000 objects is the large benchmark case.
    n_objects : int
        Number of nuclei.
    seed : int
        Random seed; the same seed gives the same data.

    Returns
    -------
    DemoData
        ``image`` (Y, X) uint16, ``mask`` (Y, X) int32, classes ``["1 fine", "1 coarse", ...,
        "5 coarse"]``.

    Examples
    --------
    >>> demo = textures_2d(shape=(256, 256), n_objects=40)
    >>> len(demo.class_names), demo.image.shape
    (10, (256, 256))
    """
    dims, n = _checked(shape, n_objects, 2)
    rng = np.random.default_rng(seed)
    radii, angle = _sample_shapes(rng, n, 2, (9.0, 15.0))
    cell, offset, grid, cells, centre = _layout(rng, dims, _half_extent(radii))
    labels = _label_ids(rng, n)
    names = [f"{k} {size}" for k in _TEXTURE_COUNTS for size in _TEXTURE_SIZES]
    cls = rng.permutation(np.arange(n) % len(names))
    sc = _scene(dims, cell, offset, grid, cells, centre, radii, angle, labels)
    top = max(_TEXTURE_COUNTS)
    blobs = _Blobs(n, top, 2)
    count = np.asarray(_TEXTURE_COUNTS)[cls // len(_TEXTURE_SIZES)]
    coarse = (cls % len(_TEXTURE_SIZES)).astype(bool)
    width = np.where(coarse, rng.uniform(1.6, 2.2, n), rng.uniform(0.8, 1.1, n))
    # a coarse spot spreads its light: lower peaks keep the total light of both sizes alike
    peak = rng.lognormal(np.log(1.2), 0.35, (n, top)) / np.where(coarse, 2.5, 1.0)[:, None]
    blobs.put(
        np.arange(n),
        slice(0, top),
        _in_ellipse(rng, centre, radii, angle, top, 0.65),
        np.repeat(width[:, None, None], top, axis=1).repeat(2, axis=2),
        peak,
        count=count,
    )
    brightness = rng.lognormal(np.log(900.0), 0.35, n)  # same law for every class
    sc.channels.append(_channel(sc, cells, 1.0, rng.uniform(0.1, 0.3, n), blobs, mean=brightness))
    description = (
        "Grey nuclei of ten classes: 1-5 bright spots inside the nucleus, fine (about 2 px) or "
        "coarse (about 4 px). Size, elongation and mean brightness follow one law for all classes."
    )
    return _make("textures_2d", description, names, sc, cls, labels, rng)
