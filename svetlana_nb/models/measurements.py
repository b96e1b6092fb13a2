"""Measurements of each object from its network input patch, computed in torch on the device.

The second opinion's random forest (:mod:`.second_opinion`) reads these: size, shape and
intensity measurements like those of the object table (:meth:`Objects.features`), but taken
from the batch of patches the network already has, so prediction gathers no pixel twice and
runs no per-object loop. Intensities are the patch's normalised ones; an object larger than
its patch is measured on the part the patch shows (the part the network sees). Their names
start with ``patch_`` so that they never collide with the object table's columns.
"""

from __future__ import annotations

import functools

import torch

#: Shape measurements, in column order (``eccentricity`` in 2D only, as in the object table).
_SHAPE_2D = ("area", "major_axis_length", "minor_axis_length", "eccentricity", "extent")
_SHAPE_3D = ("area", "major_axis_length", "minor_axis_length", "extent")
#: Pushes the pixels outside the object out of the maxima and minima (exact for those inside).
_BIG = 1e30
#: Intensity measurements inside the object, per image channel.
_INTENSITY = ("mean_intensity", "std_intensity", "max_intensity", "min_intensity")


def measurement_names(n_image_channels: int, ndim: int) -> list[str]:
    """Column names of :func:`patch_measurements` for patches with these channels and dimensions.

    Examples
    --------
    >>> measurement_names(1, 2)[:2], measurement_names(1, 2)[-1]
    (['patch_area', 'patch_major_axis_length'], 'patch_min_intensity_0')
    """
    shape = _SHAPE_3D if ndim == 3 else _SHAPE_2D
    names = [*shape] + [f"{name}_{c}" for c in range(n_image_channels) for name in _INTENSITY]
    return [f"patch_{name}" for name in names]


@functools.lru_cache(maxsize=16)
def _moment_basis(spatial: tuple[int, ...], device: torch.device) -> torch.Tensor:
    """Columns 1, each coordinate, each product of two coordinates: (P, 1 + d + d(d+1)/2)."""
    axes = [torch.arange(s, dtype=torch.float32, device=device) for s in spatial]
    coords = torch.stack(torch.meshgrid(*axes, indexing="ij")).flatten(1)  # (d, P)
    ndim = len(spatial)
    products = [coords[a] * coords[b] for a in range(ndim) for b in range(a, ndim)]
    return torch.stack([torch.ones_like(coords[0]), *coords, *products], dim=1)


def patch_measurements(patches: torch.Tensor) -> torch.Tensor:
    """Size, shape and intensity of the object in each patch.

    Parameters
    ----------
    patches : torch.Tensor, shape (N, C + 1, *spatial)
        Network inputs: C image channels, then the object mask (the object where it is > 0.5),
        2 or 3 spatial axes, any float dtype and memory layout.

    Returns
    -------
    torch.Tensor, shape (N, F), float32, on the patches' device
        Columns :func:`measurement_names` ``(C, ndim)``: area in pixels, major and minor axis
        lengths (4 × the square root of the extreme eigenvalues of the pixel-coordinate
        covariance, with a one-pixel prior as in the object table), eccentricity (2D), extent
        (area over bounding-box size), then per channel the mean, standard deviation, maximum
        and minimum inside the object. An object absent from its patch gets zeros.
    """
    if patches.dim() not in (4, 5) or patches.shape[1] < 2:
        raise ValueError(
            f"patches: expected (N, C + 1, *spatial) with 2 or 3 spatial axes, got shape {tuple(patches.shape)}"
        )
    n, ndim, spatial = patches.shape[0], patches.dim() - 2, tuple(patches.shape[2:])
    # every channel as contiguous float32 rows (N, C + 1, P), in one conversion pass whatever the
    # memory layout (prediction hands channels-last bfloat16); the object channel as 0/1 weights
    rows = patches.to(torch.float32, memory_format=torch.contiguous_format).flatten(2)
    weights = (rows[:, -1:] > 0.5).to(torch.float32)  # (N, 1, P)
    image = rows[:, :-1]  # (N, C, P)
    # one product gives, per channel row, the sums over the object of 1, each coordinate and each
    # product of two (the mask's row: its moments; an image row: its intensity sum, column 0)
    weighted = rows * weights
    sums = (weighted.flatten(0, 1) @ _moment_basis(spatial, patches.device)).view(n, -1, _n_basis(ndim))
    moments, intensity_sum = sums[:, -1], sums[:, :-1, 0]
    square_sum = (weighted[:, :-1] * image).sum(-1)
    count = moments[:, 0]
    safe = count.clamp_min(1.0)[:, None]
    eig = _covariance_eigenvalues(moments[:, 1:] / safe, ndim)  # ascending
    columns = [count, 4 * eig[:, -1].sqrt(), 4 * eig[:, 0].sqrt()]
    if ndim == 2:
        columns.append(torch.sqrt((1 - eig[:, 0] / eig[:, -1].clamp_min(1e-12)).clamp(0.0, 1.0)))
    columns.append(count / _bounding_box_sizes(weights.view(n, *spatial)))
    mean_i = intensity_sum / safe
    std_i = (square_sum / safe - mean_i * mean_i).clamp_min(0.0).sqrt()
    # exact inside the object (+ 0 x BIG), far below or above every value outside it
    outside = 1.0 - weights
    max_i = torch.add(image, outside, alpha=-_BIG).amax(-1)
    min_i = torch.add(image, outside, alpha=_BIG).amin(-1)
    intensity = torch.stack([mean_i, std_i, max_i, min_i], dim=-1).flatten(1)
    out = torch.cat([torch.stack(columns, dim=1), intensity], dim=1)
    return out * (count > 0)[:, None]  # an object absent from its patch: zeros


def _n_basis(ndim: int) -> int:
    return 1 + ndim + ndim * (ndim + 1) // 2


def _covariance_eigenvalues(raw: torch.Tensor, ndim: int) -> torch.Tensor:
    """Ascending eigenvalues of the pixel-coordinate covariance, from the normalised moments.

    ``raw`` (N, d + d(d+1)/2): the mean coordinates, then the mean products of two (in
    :func:`_moment_basis` order). A single pixel's own spread (1/12) is added, as in the object table.
    """
    mean, second = raw[:, :ndim], raw[:, ndim:]
    pairs = [(a, b) for a in range(ndim) for b in range(a, ndim)]
    entries = [second[:, k] - mean[:, a] * mean[:, b] + (1 / 12 if a == b else 0) for k, (a, b) in enumerate(pairs)]
    if ndim == 2:
        yy, yx, xx = entries
        centre, radius = (yy + xx) / 2, torch.sqrt(((yy - xx) / 2) ** 2 + yx * yx)
        return torch.stack([centre - radius, centre + radius], dim=1).clamp_min(0.0)
    cov = torch.empty(len(raw), ndim, ndim, device=raw.device)
    for (a, b), entry in zip(pairs, entries):
        cov[:, a, b] = cov[:, b, a] = entry
    return torch.linalg.eigvalsh(cov.cpu()).to(raw.device).clamp_min(0.0)  # small; not every device has it


def _bounding_box_sizes(inside: torch.Tensor) -> torch.Tensor:
    """Pixels in the bounding box of the object in each patch, (N,), from 0/1 maps (N, *spatial)."""
    n, spatial = inside.shape[0], inside.shape[1:]
    box = torch.ones(n, device=inside.device)
    for axis, size in enumerate(spatial):
        others = tuple(d + 1 for d in range(len(spatial)) if d != axis)
        along = inside.sum(dim=others) > 0  # (N, size)
        index = torch.arange(size, device=inside.device)
        first = torch.where(along, index, size).amin(1)
        last = torch.where(along, index, -1).amax(1)
        box = box * (last - first + 1).clamp_min(1)
    return box
