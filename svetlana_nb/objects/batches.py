"""Network inputs of many objects, batch after batch: the one way patches are made.

Training, prediction, the second opinion's measurements and the evidence maps all read their patches
here. Per batch, the raw pixels are gathered in NumPy (:mod:`.pixels`: a strided window view
for crops inside the image, clipped indices for crops crossing its border), then torch does
the rest on the device: the channels kept, normalisation, zeros outside the image, context
reduction, shrinking, the cast to the network's dtype, and a channel-first view that stays
channels-last in memory (what the convolutions want).
"""

from __future__ import annotations

import math
from collections.abc import Iterator
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass

import numpy as np
import torch
import torch.nn.functional as F

from .lazy_reads import WindowCache, read_cell, read_patches, spatial_order
from .objects import Objects
from .patch_spec import PatchSpec
from .pixels import gather, window_view

#: Image dtypes torch takes from NumPy without a copy (others are converted to float32).
_TORCH_DTYPES = {
    np.dtype(t)
    for t in (np.uint8, np.int8, np.uint16, np.int16, np.int32, np.int64, np.float16, np.float32, np.float64)
}
#: Elements per batch of :func:`network_inputs` (bounds its peak memory on huge requests).
_ELEMENTS_PER_BATCH = 8_000_000


@dataclass
class PatchBatch:
    """One batch of objects of one image, planned, then gathered.

    Attributes
    ----------
    positions : numpy.ndarray, shape (B,)
        Positions of the batch's objects in the requested rows.
    image : int
        Index of their image.
    inner : bool
        Every patch lies inside the image (read through the window view). False for a lazy
        image, whose batches are read per window of neighbouring objects.
    raw : numpy.ndarray, shape (B, *shape, C'), optional
        Raw pixels of the channels kept (set by gathering).
    inside : numpy.ndarray of bool, shape (B, *shape), optional
        The object's own pixels.
    valid : numpy.ndarray of bool, shape (B, *shape), optional
        Pixels inside the image (border batches only).
    """

    positions: np.ndarray
    image: int
    inner: bool
    raw: np.ndarray | None = None
    inside: np.ndarray | None = None
    valid: np.ndarray | None = None


class PatchBatches:
    """Network inputs for many objects, batch after batch, each as a torch tensor on ``device``.

    Parameters
    ----------
    objects : Objects
    rows : numpy.ndarray of int, shape (n,)
        Objects to go through, in this order of output positions.
    spec : PatchSpec
        A resolved spec (:meth:`PatchSpec.resolve`).
    batch_size : int
    device : torch.device
    dtype : torch.dtype
        Dtype of the tensors handed to the network.

    Examples
    --------
    >>> batches = PatchBatches(objects, rows, spec, batch_size=64, device=torch.device("cpu"))  # doctest: +SKIP
    >>> for positions, x in batches:  # x: (B, C + 1, *spec.input_shape)  # doctest: +SKIP
    ...     ...
    """

    def __init__(
        self,
        objects: Objects,
        rows: np.ndarray,
        spec: PatchSpec,
        *,
        batch_size: int,
        device: torch.device,
        dtype: torch.dtype = torch.float32,
    ) -> None:
        spec.check_objects(objects)
        self.objects, self.rows, self.spec = objects, np.asarray(rows, dtype=np.int64), spec
        self.shape = spec.resolved_shape
        self.batch_size, self.device, self.dtype = max(1, int(batch_size)), device, dtype
        self.channels = None if spec.channels is None else list(spec.channels)
        ranges = objects.channel_ranges(spec.normalization)  # (n_images, C, 2)
        if self.channels is not None:
            ranges = ranges[:, self.channels]
        self._low = torch.as_tensor(ranges[:, :, 0], dtype=torch.float32).to(device)
        self._scale = torch.as_tensor(1.0 / (ranges[:, :, 1] - ranges[:, :, 0]), dtype=torch.float32).to(device)
        self._views: dict[int, tuple[np.ndarray, np.ndarray]] = {}
        self._cache = WindowCache()  # the last cell read of a lazy image

    @property
    def n_channels(self) -> int:
        """Channels of the network input: the image channels kept, then the object."""
        return self.spec.n_image_channels(self.objects.n_channels) + 1

    def plan(self) -> list[PatchBatch]:
        """The batches, not yet gathered: objects of one image each, those inside the image first."""
        objects, rows, shape = self.objects, self.rows, np.array(self.shape)
        starts = objects.centres[rows] - shape // 2
        batches: list[PatchBatch] = []
        for i in np.unique(objects.image_index[rows]):
            if objects.lazy_entry(int(i)) is not None:
                batches += self._plan_lazy(int(i), starts)
                continue
            extent = np.array(objects.masks[i].shape)
            fits = bool(np.all(extent >= shape))
            of_image = objects.image_index[rows] == i
            inner = of_image & fits & np.all((starts >= 0) & (starts + shape <= extent), axis=1)
            for is_inner, selected in ((True, inner), (False, of_image & ~inner)):
                positions = np.flatnonzero(selected)
                batches += [
                    PatchBatch(positions[b : b + self.batch_size], int(i), is_inner)
                    for b in range(0, len(positions), self.batch_size)
                ]
            if fits and int(i) not in self._views:
                self._views[int(i)] = (
                    window_view(objects.images[i], self.shape),
                    window_view(objects.masks[i], self.shape),
                )
        return batches

    def _plan_lazy(self, image: int, starts: np.ndarray) -> list[PatchBatch]:
        """Batches of the objects of a lazy image, neighbours together (few window reads per batch)."""
        positions = np.flatnonzero(self.objects.image_index[self.rows] == image)
        entry = self.objects.lazy_entry(image)
        assert entry is not None
        positions = positions[spatial_order(starts[positions], read_cell(entry.pair, self.shape))]
        return [
            PatchBatch(positions[b : b + self.batch_size], image, False)
            for b in range(0, len(positions), self.batch_size)
        ]

    def gather(self, batch: PatchBatch) -> PatchBatch:
        """Fill a planned batch with its raw pixels (NumPy; thread-safe)."""
        objects, rows = self.objects, self.rows[batch.positions]
        corners = objects.centres[rows] - np.array(self.shape) // 2
        labels = objects.labels[rows].reshape((-1,) + (1,) * len(self.shape))
        entry = objects.lazy_entry(batch.image)
        if entry is not None:
            image, crop_mask, valid = read_patches(entry.pair, corners, self.shape, cache=self._cache)
            assert image is not None
            raw = image
            inside, batch.valid = (crop_mask == labels) & valid, valid
        elif batch.inner:
            image_windows, mask_windows = self._views[batch.image]
            where = tuple(corners.T)
            raw, inside = image_windows[where], mask_windows[where] == labels
        else:
            raw, valid = gather(objects.images[batch.image], corners, self.shape)
            crop_mask, _ = gather(objects.masks[batch.image], corners, self.shape)
            inside, batch.valid = (crop_mask == labels) & valid, valid.copy()
        if self.channels is not None:
            raw = raw[..., self.channels]
        batch.raw = raw if raw.dtype in _TORCH_DTYPES else raw.astype(np.float32)
        batch.inside = inside
        return batch

    def tensor(self, batch: PatchBatch) -> torch.Tensor:
        """The network input of a gathered batch: (B, C + 1, *input_shape), channels-last in memory."""
        assert batch.raw is not None and batch.inside is not None
        raw = torch.from_numpy(batch.raw).to(self.device, non_blocking=True)
        inside = torch.from_numpy(batch.inside).to(self.device, non_blocking=True)
        # the subtraction casts raw integers to float32 itself (one pass less than .float())
        image = torch.sub(raw, self._low[batch.image]).mul_(self._scale[batch.image])
        if batch.valid is not None:  # zero outside the image
            image.mul_(torch.from_numpy(batch.valid).to(self.device)[..., None])
        if self.spec.context is not None:
            image.mul_(_dilate(inside, self.spec.context)[..., None])
        factor = self.spec.factor
        if factor > 1:
            image, inside = _block_mean(image.float(), factor), _block_max(inside, factor)
        n_image = image.shape[-1]
        x = torch.empty(image.shape[:-1] + (n_image + 1,), dtype=self.dtype, device=self.device)
        x[..., :n_image] = image
        x[..., n_image] = inside
        return x.movedim(-1, 1)  # a view: channels-last memory order

    def load(self, batch: PatchBatch) -> torch.Tensor:
        """Gather a planned batch and return its network input (thread-safe)."""
        return self.tensor(self.gather(batch))

    def prefetched(self, batches: list[PatchBatch]) -> Iterator[tuple[np.ndarray, torch.Tensor]]:
        """Yield ``(positions, network input)`` of planned batches, gathering ahead in a thread."""
        with ThreadPoolExecutor(max_workers=1) as pool:
            pending = [pool.submit(self.gather, b) for b in batches[:2]]
            for k in range(len(batches)):
                batch = pending.pop(0).result()
                if k + 2 < len(batches):
                    pending.append(pool.submit(self.gather, batches[k + 2]))
                yield batch.positions, self.tensor(batch)

    def __iter__(self) -> Iterator[tuple[np.ndarray, torch.Tensor]]:
        """Every batch of :meth:`plan`, prefetched (see :meth:`prefetched`)."""
        return self.prefetched(self.plan())


def network_inputs(objects: Objects, spec: PatchSpec, rows: np.ndarray | None = None) -> np.ndarray:
    """Normalised patches of some objects, as the network sees them, in one array.

    Parameters
    ----------
    objects : Objects
    spec : PatchSpec
        Resolved for these objects (:meth:`PatchSpec.resolve`).
    rows : numpy.ndarray of int, optional
        Which objects (all when None), in this order.

    Returns
    -------
    numpy.ndarray, float32, shape (n, C + 1, *spec.input_shape)
        The kept image channels, normalised (zero outside the image), then the object mask.
    """
    rows = np.arange(len(objects)) if rows is None else np.asarray(rows, dtype=np.int64)
    per_object = math.prod(spec.resolved_shape) * (spec.n_image_channels(objects.n_channels) + 1)
    batches = PatchBatches(
        objects, rows, spec, batch_size=max(1, _ELEMENTS_PER_BATCH // per_object), device=torch.device("cpu")
    )
    out = np.empty((len(rows), batches.n_channels, *spec.input_shape), dtype=np.float32)
    with torch.inference_mode():
        for batch in batches.plan():
            out[batch.positions] = batches.load(batch).numpy()
    return out


def _dilate(inside: torch.Tensor, radius: int) -> torch.Tensor:
    """The object masks (B, *spatial) dilated by ``radius`` pixels along every axis, as 0/1 floats."""
    pool = F.max_pool3d if inside.dim() == 4 else F.max_pool2d
    size = 2 * int(radius) + 1
    grown = pool(inside[:, None].float(), kernel_size=size, stride=1, padding=int(radius))
    return grown[:, 0]


def _blocks(x: torch.Tensor, factor: int, spatial_end: int) -> tuple[torch.Tensor, tuple[int, int]]:
    """``x`` with its Y and X axes (ending at ``spatial_end``) split into (side / factor, factor)."""
    y_axis = spatial_end - 2
    shape = list(x.shape)
    y, x_side = shape[y_axis], shape[y_axis + 1]
    split = shape[:y_axis] + [y // factor, factor, x_side // factor, factor] + shape[y_axis + 2 :]
    return x.reshape(split), (y_axis + 1, y_axis + 3)


def _block_mean(values: torch.Tensor, factor: int) -> torch.Tensor:
    """Mean of ``factor × factor`` Y/X blocks of channel-last values (B, *spatial, C)."""
    blocks, axes = _blocks(values, factor, values.dim() - 1)
    return blocks.mean(dim=axes)


def _block_max(inside: torch.Tensor, factor: int) -> torch.Tensor:
    """Whether the object touches each ``factor × factor`` Y/X block of masks (B, *spatial)."""
    blocks, axes = _blocks(inside, factor, inside.dim())
    return blocks.amax(dim=axes)
