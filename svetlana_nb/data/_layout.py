"""Where the demo objects go: their shapes, a grid of cells with one object each, labels, classes.

Used by the demo sets (:mod:`svetlana_nb.data`) before :mod:`._synth` renders the scene.
"""

from __future__ import annotations

import numpy as np

from ._synth import _MARGIN


def _checked(shape: object, n_objects: object, ndim: int) -> tuple[tuple[int, ...], int]:
    """Validate the common ``shape`` / ``n_objects`` arguments, naming them in errors."""
    try:
        dims = tuple(int(v) for v in shape)  # type: ignore[attr-defined]
    except TypeError:
        dims = ()
    if len(dims) != ndim or min(dims) < 8 or dims != tuple(shape):  # type: ignore[arg-type]
        raise ValueError(f"shape: expected {ndim} integers >= 8, got {shape!r}")
    if isinstance(n_objects, bool) or not isinstance(n_objects, (int, np.integer)) or n_objects < 1:
        raise ValueError(f"n_objects: expected a positive integer, got {n_objects!r}")
    return dims, int(n_objects)


def _sample_shapes(
    rng: np.random.Generator, n: int, ndim: int, radius: tuple[float, float], aspect: float = 1.4, z_ratio: float = 0.5
) -> tuple[np.ndarray, np.ndarray]:
    """Ellipse/ellipsoid semi-axes (n, ndim) and in-plane angles (n,), one law for all classes."""
    r = rng.uniform(*radius, n)
    stretch = np.sqrt(rng.uniform(1.0, aspect, n))
    radii = [r * stretch, r / stretch]
    if ndim == 3:
        radii.insert(0, r * z_ratio * rng.uniform(0.9, 1.1, n))
    return np.stack(radii, axis=1).astype(np.float32), rng.uniform(0, np.pi, n).astype(np.float32)


def _half_extent(radii: np.ndarray) -> np.ndarray:
    """Conservative half-extent (n, d) of each object including its soft edge and a margin."""
    ext = radii.copy()
    ext[:, -2:] = radii[:, -2:].max(axis=1, keepdims=True)
    return ext + _MARGIN


def _layout(
    rng: np.random.Generator, shape: tuple[int, ...], ext: np.ndarray, slack: float = 1.25
) -> tuple[np.ndarray, ...]:
    """Choose the cell grid and put each object in its own cell.

    Returns ``cell`` (d,), ``offset`` (d,), ``grid`` (d,), ``cells`` (n,) sorted flat cell
    indices, ``centre`` (n, d) cell-local object centres. Cells are as large as the density
    allows (``slack`` more cells than objects) and never smaller than the largest object.
    """
    n, d = ext.shape
    shape_a = np.asarray(shape)
    cell_min = np.ceil(2 * ext.max(axis=0)).astype(np.int64) + 1
    factor = max(1.0, (np.prod(shape_a / cell_min) / (n * slack)) ** (1.0 / d))
    cell = np.minimum(np.maximum(cell_min, np.floor(cell_min * factor)), np.maximum(cell_min, shape_a)).astype(np.int64)
    frac: np.ndarray = np.asarray(rng.random(d))
    while True:
        offset = -np.floor(frac * cell).astype(np.int64)
        grid = -(-(shape_a - offset) // cell)
        # a cell is a candidate when its centre lies inside the image
        inside = [offset[a] + cell[a] * (np.arange(grid[a]) + 0.5) < shape_a[a] for a in range(d)]
        inside = [v & (offset[a] + cell[a] * (np.arange(grid[a]) + 0.5) >= 0) for a, v in enumerate(inside)]
        if np.prod([v.sum() for v in inside]) >= n:
            break
        if np.any(frac != 0.5):  # first, put a cell centre on the image's first row
            frac = np.full(d, 0.5)  # and column: the most cells whose centre is inside
            continue
        if np.all(cell <= cell_min):
            most = int(np.prod([v.sum() for v in inside]))
            raise ValueError(
                f"n_objects: {n} objects of this size do not fit in shape {shape} "
                f"(at most about {most}); use a larger shape or fewer objects"
            )
        ratio = np.where(cell > cell_min, cell / cell_min, 0)
        cell[int(np.argmax(ratio))] -= 1
    full = np.ones(tuple(int(g) for g in grid), dtype=bool)
    for a, v in enumerate(inside):
        full &= v.reshape([-1 if j == a else 1 for j in range(d)])
    candidates = np.flatnonzero(full)
    cells = np.sort(rng.choice(candidates, n, replace=False))
    index = np.stack(np.unravel_index(cells, tuple(grid)), axis=1)
    origin = offset + index * cell  # image coordinate of each cell corner
    lo = np.maximum(ext, -origin)  # keep the ellipse in its cell and its
    hi = np.minimum(cell - ext, shape_a - 1 - origin)  # centre inside the image
    hi = np.maximum(hi, lo)
    centre = (lo + rng.random((n, d)) * (hi - lo)).astype(np.float32)
    return cell, offset, grid, cells, centre


def _label_ids(rng: np.random.Generator, n: int) -> np.ndarray:
    """``n`` distinct ids in random order from 1..~1.25n: shuffled, with gaps."""
    pool = np.arange(1, n + max(2, n // 4) + 1)
    return rng.choice(pool, n, replace=False).astype(np.int32)


def _classes(rng: np.random.Generator, n: int, fraction: float) -> np.ndarray:
    """0/1 class per object with exactly ``round(n * fraction)`` ones, shuffled."""
    cls = np.zeros(n, dtype=np.int64)
    cls[: int(round(n * fraction))] = 1
    rng.shuffle(cls)
    return cls


def _in_ellipse(
    rng: np.random.Generator, centre: np.ndarray, radii: np.ndarray, angle: np.ndarray, m: int, frac: float
) -> np.ndarray:
    """``m`` uniform random points (n, m, d) inside each object's ellipse shrunk by ``frac``."""
    n, d = centre.shape
    g = rng.standard_normal((n, m, d))
    g /= np.linalg.norm(g, axis=2, keepdims=True)
    p = g * (rng.random((n, m, 1)) ** (1.0 / d)) * frac * radii[:, None, :]
    return centre[:, None, :] + _rotate(p, angle)


def _rotate(p: np.ndarray, angle: np.ndarray) -> np.ndarray:
    """Map ellipse-frame offsets (n, m, d) (last two axes along ra, rb) to image offsets."""
    c, s = np.cos(angle)[:, None], np.sin(angle)[:, None]
    out = p.copy()
    out[..., -2] = p[..., -2] * c - p[..., -1] * s
    out[..., -1] = p[..., -2] * s + p[..., -1] * c
    return out
