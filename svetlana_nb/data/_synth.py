"""Rendering of the synthetic demo scenes (used by :mod:`svetlana_nb.data`).

The image is tiled into a grid of equal cells, ``n_objects`` cells receive one object each at
a random position inside the cell, and every cell is rendered as a small stamp of its own
(vectorised over cells). The objects therefore never overlap, some are cut by the image border,
and a whole 8000 x 8000 image is rendered band by band into a preallocated array (float32 only
for one band at a time).
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np

_EDGE = 1.0  # width (px) of the soft object edge (stands in for the optical blur)
_MARGIN = 3.0  # free pixels kept between an object's ellipse and its cell's side
_BAND_PIXELS = 2_000_000  # pixels rendered at once (bounds the float32 working memory)


# --------------------------------------------------------------------------------------------
# The scene: a grid of cells, at most one object per cell, each cell rendered as a stamp.


@dataclass
class _Channel:
    """What one image channel shows in every cell (arrays have one row per grid cell)."""

    level: np.ndarray  # (N,) level of the soft object body
    dome: np.ndarray  # (N,) how much darker the body's rim is than its centre (0..1)
    pos: np.ndarray  # (N, M, d) gaussian blob centres, cell-local pixel coordinates
    sigma: np.ndarray  # (N, M, d) blob widths per axis
    amp: np.ndarray  # (N, M) blob peak heights (0: unused slot)
    mean: np.ndarray | None  # (N,) if given, scale the object so its mean inside the mask is this
    background: float  # background level (counts)
    background_var: float  # relative amplitude of the smooth background variation


@dataclass
class _Scene:
    shape: tuple[int, ...]  # spatial shape of the image
    cell: np.ndarray  # (d,) cell side lengths
    offset: np.ndarray  # (d,) image coordinate of the grid's first corner (<= 0)
    grid: np.ndarray  # (d,) number of cells per axis
    occupied: np.ndarray  # (N,) bool
    label: np.ndarray  # (N,) int32 label id (0 for empty cells)
    centre: np.ndarray  # (N, d) object centre, cell-local coordinates
    radii: np.ndarray  # (N, d) semi-axes: (rz,) ra, rb -- ra, rb are rotated in the YX plane
    angle: np.ndarray  # (N,) in-plane rotation of the ellipse
    channels: list[_Channel]

    @property
    def n_cells(self) -> int:
        return int(np.prod(self.grid))

    def per_cell(self, values: np.ndarray, cells: np.ndarray, fill: float = 0.0) -> np.ndarray:
        """Scatter per-object ``values`` (n, ...) to a per-cell array (N, ...)."""
        out = np.full((self.n_cells, *values.shape[1:]), fill, dtype=np.float32)
        out[cells] = values
        return out


class _Blobs:
    """Per-object gaussian blob slots: positions (n, M, d), widths (n, M, d), heights (n, M)."""

    def __init__(self, n: int, m: int, d: int):
        self.pos = np.zeros((n, m, d), np.float32)
        self.sigma = np.ones((n, m, d), np.float32)
        self.amp = np.zeros((n, m), np.float32)

    def put(
        self,
        rows: np.ndarray,
        slots: slice,
        pos: np.ndarray,
        sigma: np.ndarray | float,
        amp: np.ndarray,
        count: np.ndarray | None = None,
    ) -> None:
        """Fill ``slots`` of ``rows``; with ``count`` (len(rows),) only the first ``count`` ones."""
        self.pos[rows, slots] = pos
        self.sigma[rows, slots] = sigma
        if count is not None:
            amp = np.where(np.arange(amp.shape[1]) < count[:, None], amp, 0)
        self.amp[rows, slots] = amp


def _scene(shape, cell, offset, grid, cells, centre, radii, angle, labels) -> _Scene:
    n_cells = int(np.prod(grid))
    sc = _Scene(
        tuple(int(s) for s in shape),
        cell,
        offset,
        grid,
        np.zeros(n_cells, bool),
        np.zeros(n_cells, np.int32),
        np.empty(0),
        np.empty(0),
        np.empty(0),
        [],
    )
    sc.occupied[cells] = True
    sc.label[cells] = labels
    sc.centre = sc.per_cell(centre, cells)
    sc.radii = sc.per_cell(radii, cells, fill=1.0)
    sc.angle = sc.per_cell(angle, cells)
    return sc


def _channel(
    sc: _Scene,
    cells: np.ndarray,
    level,
    dome,
    blobs: _Blobs,
    *,
    mean=None,
    background: float = 200.0,
    background_var: float = 0.15,
    extra: _Blobs | None = None,
) -> _Channel:
    """Build a per-cell channel from per-object values; ``extra`` blobs are already per cell."""
    pos, sigma, amp = (
        sc.per_cell(a, cells, fill=f) for a, f in ((blobs.pos, 0.0), (blobs.sigma, 1.0), (blobs.amp, 0.0))
    )
    if extra is not None:
        pos, sigma, amp = (
            np.concatenate([a, b], axis=1) for a, b in ((pos, extra.pos), (sigma, extra.sigma), (amp, extra.amp))
        )
    return _Channel(
        sc.per_cell(np.broadcast_to(level, len(cells)), cells),
        sc.per_cell(np.broadcast_to(dome, len(cells)), cells),
        pos,
        sigma,
        amp,
        None if mean is None else sc.per_cell(mean, cells),
        background,
        background_var,
    )


# --------------------------------------------------------------------------------------------
# Rendering


def _render_cells(sc: _Scene, sl: slice, coords: list[np.ndarray]):
    """Render cells ``sl``: object masks (k, *cell) and one float32 signal per channel."""
    d = len(sc.shape)
    k = sl.stop - sl.start
    axes = tuple(range(1, d + 1))

    def along(i: int, v: np.ndarray) -> np.ndarray:  # (k, c_i) -> broadcastable (k, 1.., c_i, ..1)
        shape = [v.shape[0]] + [1] * d
        shape[1 + i] = v.shape[1]
        return v.reshape(shape)

    rel = [along(i, coords[i][None, :] - sc.centre[sl, i : i + 1]) for i in range(d)]
    radii = sc.radii[sl]
    c = np.cos(sc.angle[sl]).reshape((k,) + (1,) * d)
    s = np.sin(sc.angle[sl]).reshape((k,) + (1,) * d)
    u = (rel[-2] * c + rel[-1] * s) / radii[:, -2].reshape(c.shape)
    v = (rel[-1] * c - rel[-2] * s) / radii[:, -1].reshape(c.shape)
    rho2 = u * u
    rho2 += v * v
    del u, v
    if d == 3:
        rho2 = rho2 + (rel[0] / radii[:, 0].reshape(c.shape)) ** 2
    inside = (rho2 <= 1.0) & sc.occupied[sl].reshape(c.shape)
    # soft edge: a logistic step of width _EDGE px at the ellipse boundary
    rbar = radii[:, -2:].mean(axis=1).reshape(c.shape)
    edge = np.sqrt(rho2)
    edge -= 1.0
    edge *= rbar / _EDGE
    np.minimum(edge, 30.0, out=edge)
    np.exp(edge, out=edge)
    edge += 1.0
    np.reciprocal(edge, out=edge)
    np.minimum(rho2, 1.0, out=rho2)
    signals = []
    for ch in sc.channels:
        sig = rho2 * (-ch.dome[sl].reshape(c.shape))
        sig += 1.0
        sig *= edge
        sig *= ch.level[sl].reshape(c.shape)
        _add_blobs(sig, ch, sl, coords, along)
        if ch.mean is not None:
            count = np.maximum(inside.sum(axis=axes), 1)
            got = np.sum(sig, axis=axes, where=inside) / count
            scale = np.divide(ch.mean[sl], got, out=np.zeros_like(got), where=got > 0)
            sig *= scale.astype(np.float32).reshape(c.shape)
        signals.append(sig)
    return inside, signals


def _add_blobs(sig: np.ndarray, ch: _Channel, sl: slice, coords, along) -> None:
    """Add separable gaussian blobs to ``sig`` (k, *cell), only in the cells that use each slot."""
    d = len(coords)
    for m in range(ch.amp.shape[1]):
        amp = ch.amp[sl, m]
        rows = np.flatnonzero(amp)
        if rows.size == 0:
            continue
        pos, sigma = ch.pos[sl, m][rows], ch.sigma[sl, m][rows]
        blob = None
        for i in range(d):
            g = np.exp(-0.5 * ((coords[i][None, :] - pos[:, i : i + 1]) / sigma[:, i : i + 1]) ** 2)
            if i == 0:
                g *= amp[rows, None]
            g = along(i, g)
            blob = g if blob is None else blob * g
        if rows.size == sig.shape[0]:
            sig += blob
        else:
            sig[rows] += blob


def _to_band(stamps: np.ndarray, grid: tuple[int, ...], cell: tuple[int, ...]) -> np.ndarray:
    """Arrange per-cell stamps (k, *cell) of a block of ``grid`` cells into one image block."""
    d = len(cell)
    a = stamps.reshape(tuple(grid) + tuple(cell))
    order = [j for i in range(d) for j in (i, d + i)]
    return a.transpose(order).reshape([g * c for g, c in zip(grid, cell)])


def _blocks(sc: _Scene):
    """Yield blocks of cells ``(r0, r1, q0, q1)`` along the first two grid axes.

    Whole rows of cells are grouped up to ``_BAND_PIXELS`` pixels; a row that alone is larger
    is split along the second axis. Each block's cells are contiguous in the flat cell order.
    """
    cell = [int(c) for c in sc.cell]
    grid = [int(g) for g in sc.grid]
    row_pixels = int(np.prod(cell)) * int(np.prod(grid[1:]))
    if row_pixels <= _BAND_PIXELS or len(grid) < 2:
        step = max(1, _BAND_PIXELS // max(row_pixels, 1))
        for r0 in range(0, grid[0], step):
            yield r0, min(grid[0], r0 + step), 0, grid[1] if len(grid) > 1 else 1
        return
    step = max(1, _BAND_PIXELS // max(row_pixels // grid[1], 1))
    for r0 in range(grid[0]):
        for q0 in range(0, grid[1], step):
            yield r0, r0 + 1, q0, min(grid[1], q0 + step)


def _background(ch: _Channel, ranges: list[np.ndarray], shape: tuple[int, ...], phases: np.ndarray) -> np.ndarray:
    """Smooth uneven background: a sum of two separable low-frequency cosine products."""
    field: np.ndarray | None = None
    for term in range(phases.shape[0]):
        prod: np.ndarray | None = None
        for i, r in enumerate(ranges):
            f = np.cos(2 * np.pi * (phases[term, i, 0] * r / shape[i] + phases[term, i, 1]))
            f = f.astype(np.float32).reshape([-1 if j == i else 1 for j in range(len(ranges))])
            prod = f if prod is None else prod * f
        field = prod if field is None else field + prod
    assert field is not None
    return ch.background * (1.0 + ch.background_var * 0.5 * field)


def _render(
    sc: _Scene, rng: np.random.Generator, dtype=np.uint16, read_noise: float = 4.0
) -> tuple[np.ndarray, np.ndarray]:
    """Render the scene band by band into a preallocated image (Y, X[, C]) and mask.

    Noise is shot noise in its gaussian approximation (variance = signal in counts, far faster
    than ``Generator.poisson`` on large images) plus gaussian read noise.
    """
    d = len(sc.shape)
    n_ch = len(sc.channels)
    dtype = np.dtype(dtype)
    image = np.empty(sc.shape + ((n_ch,) if n_ch > 1 else ()), dtype=dtype)
    mask = np.empty(sc.shape, dtype=np.int32)
    scale, top = 1.0, None
    if dtype.kind in "ui":
        top = float(np.iinfo(dtype).max)
        scale = min(1.0, top / 6000.0)  # 8-bit: only the brightest 0.1 % saturate
    coords = [np.arange(int(c), dtype=np.float32) for c in sc.cell]
    cell = tuple(int(c) for c in sc.cell)
    grid = tuple(int(g) for g in sc.grid)
    per_cell = [int(np.prod(grid[i + 1 :])) for i in range(d)]  # flat-index strides
    phases = rng.uniform(0.2, 1.0, (n_ch, 2, d, 2)).astype(np.float32)
    for r0, r1, q0, q1 in _blocks(sc):
        first = (r0, q0)[:d]
        last = (r1, q1)[:d]
        block_grid = tuple(b - a for a, b in zip(first, last)) + grid[len(first) :]
        starts = [int(sc.offset[i]) + first[i] * cell[i] if i < len(first) else int(sc.offset[i]) for i in range(d)]
        ends = [a + g * c for a, g, c in zip(starts, block_grid, cell)]
        lo = [max(a, 0) for a in starts]
        hi = [min(b, s) for b, s in zip(ends, sc.shape)]
        if any(h <= lo_ for lo_, h in zip(lo, hi)):
            continue
        crop = tuple(slice(a - st, b - st) for a, b, st in zip(lo, hi, starts))
        where = tuple(slice(a, b) for a, b in zip(lo, hi))
        flat = slice(
            r0 * per_cell[0] + (q0 * per_cell[1] if d > 1 else 0),
            (r1 - 1) * per_cell[0] + (q1 * per_cell[1] if d > 1 else per_cell[0]),
        )
        inside, signals = _render_cells(sc, flat, coords)
        labels = np.where(inside, sc.label[flat].reshape((-1,) + (1,) * d), 0).astype(np.int32)
        mask[where] = _to_band(labels, block_grid, cell)[crop]
        del inside, labels
        ranges = [np.arange(a, b, dtype=np.float32) for a, b in zip(lo, hi)]
        for c, (ch, sig) in enumerate(zip(sc.channels, signals)):
            x = _to_band(sig, block_grid, cell)[crop]
            x = x + _background(ch, ranges, sc.shape, phases[c])
            noise = rng.standard_normal(x.shape, dtype=np.float32)
            noise *= np.sqrt(np.maximum(x, 0) + read_noise**2)
            x += noise
            del noise
            if top is not None:
                x *= scale
                np.clip(x, 0, top, out=x)
                np.rint(x, out=x)
            if n_ch == 1:
                image[where] = x
            else:
                image[where + (c,)] = x
            signals[c] = None
    return image, mask
