"""Batched inference over many objects: raw crops gathered on the CPU, normalised on the device.

For the objects whose patch lies inside the image, each batch is one fancy-indexing copy of
raw pixels from a strided window view of the image (channel-last, so every patch row is one
contiguous run) and one comparison of the mask crops with the labels; normalisation, the cast
to the network's input dtype and the channel-first view are done by torch on the device, in
cache-sized batches. On the CPU, one worker per core takes batches from gathering to
probabilities (numpy and torch release the GIL); on a GPU a worker thread gathers the next
batches while the device runs this one. Objects whose patch crosses the image border (zero-filled
outside the image) and classifiers with context reduction go through :meth:`Objects.patches`:
the network sees the same values either way.
"""

from __future__ import annotations

import threading
from collections.abc import Callable, Iterator
from concurrent.futures import ThreadPoolExecutor
from contextlib import contextmanager
from dataclasses import dataclass

import numpy as np
import torch
import torch.nn.functional as F
from numpy.lib.stride_tricks import as_strided
from torch import nn

from .models import Downsample, LightCNN, downsample_nonnegative
from .objects import Normalization, Objects
from .patches import check_downscale

#: Image dtypes torch converts from numpy without a copy (others take the generic path).
_TORCH_DTYPES = {np.dtype(t) for t in (np.uint8, np.int8, np.uint16, np.int16, np.int32, np.int64,
                                       np.float16, np.float32, np.float64)}


def window_view(array: np.ndarray, shape: tuple[int, ...]) -> np.ndarray:
    """Read-only view of every ``shape`` window of ``array``.

    Parameters
    ----------
    array : numpy.ndarray, shape (*spatial[, C])
        Spatial axes first; trailing axes (channels) are kept inside each window.
    shape : tuple of int
        Window shape, one side per spatial axis (each at most the array's side).

    Returns
    -------
    numpy.ndarray, shape (*positions, *shape[, C])
        ``view[corner]`` is ``array[corner : corner + shape]`` without a copy.
    """
    nd = len(shape)
    positions = tuple(a - s + 1 for a, s in zip(array.shape[:nd], shape))
    return as_strided(array, positions + tuple(shape) + array.shape[nd:],
                      array.strides[:nd] + array.strides, writeable=False)


@dataclass
class _Batch:
    """Patches of one batch of objects, before normalisation."""

    positions: np.ndarray          # (B,) positions in the requested rows
    image: int                     # image index
    fast: bool                     # every patch lies inside the image: gathered raw
    raw: np.ndarray | None = None  # (B, *shape, C) raw pixels (fast path)
    inside: np.ndarray | None = None  # (B, *shape) bool, the object's own pixels
    ready: np.ndarray | None = None   # (B, C + 1, *shape) float32 patches (generic path)


class PatchBatches:
    """Network inputs for many objects, batch after batch, each as a torch tensor on ``device``.

    Parameters
    ----------
    objects : Objects
    rows : numpy.ndarray of int, shape (n,)
        Objects to go through, in this order of output positions.
    patch_shape : tuple of int
    normalization : {"percentile", "minmax", "none"}
    context : int, optional
        Context reduction radius (:meth:`Objects.patches`); forces the generic path.
    channels : tuple of int, optional
        The image channels handed to the network (default all).
    batch_size : int
    device : torch.device
    dtype : torch.dtype
        Dtype of the tensors handed to the network (float32, or bfloat16 on CPUs that have it).
    downscale : int
        Y/X shrink factor of the patches (:meth:`Objects.patches`); the network gets
        ``patch_shape`` with Y and X divided by it.
    """

    def __init__(self, objects: Objects, rows: np.ndarray, *, patch_shape: tuple[int, ...],
                 normalization: Normalization, context: int | None, batch_size: int,
                 device: torch.device, dtype: torch.dtype = torch.float32,
                 channels: tuple[int, ...] | None = None, downscale: int = 1) -> None:
        self.objects, self.rows = objects, np.asarray(rows, dtype=np.int64)
        self.shape = tuple(int(s) for s in patch_shape)
        self.downscale = check_downscale(downscale, self.shape)
        self.normalization, self.context, self.channels = normalization, context, channels
        self.batch_size, self.device, self.dtype = max(1, int(batch_size)), device, dtype
        ranges = objects.channel_ranges(normalization)  # (n_images, C, 2)
        if channels is not None:
            ranges = ranges[:, list(channels)]
        self._low = torch.as_tensor(ranges[:, :, 0], dtype=torch.float32).to(device)
        self._scale = torch.as_tensor(1.0 / (ranges[:, :, 1] - ranges[:, :, 0]), dtype=torch.float32).to(device)
        self._views: dict[int, tuple[np.ndarray, np.ndarray]] = {}

    def plan(self) -> list[_Batch]:
        """The batches, not yet gathered: objects of one image each, inside the image first."""
        objects, rows, shape = self.objects, self.rows, self.shape
        starts = objects.centres[rows] - np.array(shape) // 2
        batches: list[_Batch] = []
        for i in np.unique(objects.image_index[rows]):
            image = objects.images[i]
            extent = np.array(objects.masks[i].shape)
            fast = (self.context is None and image.dtype in _TORCH_DTYPES and bool(np.all(extent >= shape)))
            of_image = objects.image_index[rows] == i
            inner = of_image & fast & np.all((starts >= 0) & (starts + np.array(shape) <= extent), axis=1)
            for raw_path, selected in ((True, inner), (False, of_image & ~inner)):
                positions = np.flatnonzero(selected)
                batches += [_Batch(positions[b:b + self.batch_size], int(i), raw_path)
                            for b in range(0, len(positions), self.batch_size)]
            if fast and int(i) not in self._views:
                self._views[int(i)] = (window_view(image, shape), window_view(objects.masks[i], shape))
        return batches

    def _gather(self, batch: _Batch) -> _Batch:
        """Fill a batch with its pixels (numpy; runs in the worker thread)."""
        rows = self.rows[batch.positions]
        if not batch.fast:
            batch.ready = self.objects.patches(rows, patch_shape=self.shape, normalization=self.normalization,
                                               context=self.context, channels=self.channels,
                                               downscale=self.downscale)
            return batch
        image_windows, mask_windows = self._views[batch.image]
        corner = tuple((self.objects.centres[rows] - np.array(self.shape) // 2).T)
        batch.raw = image_windows[corner]  # (B, *shape, C)
        if self.channels is not None:
            batch.raw = batch.raw[..., list(self.channels)]
        labels = self.objects.labels[rows].reshape((-1,) + (1,) * len(self.shape))
        batch.inside = mask_windows[corner] == labels
        return batch

    def _tensor(self, batch: _Batch) -> torch.Tensor:
        """The network input of a gathered batch: (B, C + 1, *shape), channels-last in memory."""
        if batch.ready is not None:
            return torch.from_numpy(batch.ready).to(self.device, self.dtype)
        raw = torch.from_numpy(batch.raw).to(self.device, non_blocking=True)
        inside = torch.from_numpy(batch.inside).to(self.device, non_blocking=True)
        if self.downscale > 1:  # block means of the raw pixels: normalising commutes with them
            raw, inside = _block_mean(raw.float(), self.downscale), _block_max(inside, self.downscale)
        n_channels = raw.shape[-1]
        x = torch.empty(raw.shape[:-1] + (n_channels + 1,), dtype=self.dtype, device=self.device)
        # the subtraction casts the raw integers to float32 itself (one pass less than .float())
        x[..., :n_channels] = torch.sub(raw, self._low[batch.image]).mul_(self._scale[batch.image])
        x[..., n_channels] = inside
        return x.movedim(-1, 1)  # a view: channels-last memory order, what the convolutions want

    def load(self, batch: _Batch) -> torch.Tensor:
        """Gather a planned batch and return its network input (thread-safe)."""
        return self._tensor(self._gather(batch))

    def prefetched(self, batches: list[_Batch]) -> Iterator[tuple[np.ndarray, torch.Tensor]]:
        """Yield ``(positions, tensor)`` for planned batches: positions in ``rows``, network input.

        The next batches are gathered in a worker thread while the caller uses this one.
        """
        with ThreadPoolExecutor(max_workers=1) as pool:
            pending = [pool.submit(self._gather, b) for b in batches[:2]]
            for k in range(len(batches)):
                batch = pending.pop(0).result()
                if k + 2 < len(batches):
                    pending.append(pool.submit(self._gather, batches[k + 2]))
                yield batch.positions, self._tensor(batch)

    def __iter__(self) -> Iterator[tuple[np.ndarray, torch.Tensor]]:
        """Every batch of :meth:`plan`, prefetched (see :meth:`prefetched`)."""
        return self.prefetched(self.plan())


def _blocks(x: torch.Tensor, factor: int, spatial_end: int) -> tuple[torch.Tensor, tuple[int, int]]:
    """``x`` with its Y and X axes (ending at ``spatial_end``) split into (side / factor, factor)."""
    y_axis = spatial_end - 2
    shape = list(x.shape)
    y, x_side = shape[y_axis], shape[y_axis + 1]
    split = shape[:y_axis] + [y // factor, factor, x_side // factor, factor] + shape[y_axis + 2:]
    return x.reshape(split), (y_axis + 1, y_axis + 3)


def _block_mean(raw: torch.Tensor, factor: int) -> torch.Tensor:
    """Mean of ``factor × factor`` Y/X blocks of channel-last crops (B, *spatial, C)."""
    blocks, axes = _blocks(raw, factor, raw.dim() - 1)
    return blocks.mean(dim=axes)


def _block_max(inside: torch.Tensor, factor: int) -> torch.Tensor:
    """Whether the object touches each ``factor × factor`` Y/X block of masks (B, *spatial)."""
    blocks, axes = _blocks(inside, factor, inside.dim())
    return blocks.amax(dim=axes)


_threads_lock = threading.Lock()
_threads_users = 0
_threads_saved = 1


@contextmanager
def _one_thread_per_op() -> Iterator[None]:
    """Run torch's CPU ops on one thread each while inside (restored after, re-entrant)."""
    global _threads_users, _threads_saved
    with _threads_lock:
        if _threads_users == 0:
            _threads_saved = torch.get_num_threads()
            torch.set_num_threads(1)
        _threads_users += 1
    try:
        yield
    finally:
        with _threads_lock:
            _threads_users -= 1
            if _threads_users == 0:
                torch.set_num_threads(_threads_saved)


def predict_batches(network: Callable[[torch.Tensor], torch.Tensor], batches: PatchBatches,
                    n_outputs: int) -> np.ndarray:
    """Softmax probabilities, shape (n, n_outputs), of every object of ``batches`` (in its row order).

    On the CPU, as many workers as torch has threads each take every k-th batch from gathering
    to probabilities, with one thread per torch operation: small networks on small batches
    scale better so than with every operation split over all cores (and numpy's gathering no
    longer competes with torch's threads). On a GPU, one worker thread gathers the next batches
    while the device runs this one.
    """
    out = np.empty((len(batches.rows), n_outputs), dtype=np.float32)

    def run(positions: np.ndarray, x: torch.Tensor) -> None:
        out[positions] = torch.softmax(network(x).float(), dim=1).cpu().numpy()

    workers = torch.get_num_threads() if batches.device.type == "cpu" else 1
    plan = batches.plan()
    if workers < 2 or len(plan) < 2:
        with torch.inference_mode():
            for positions, x in batches.prefetched(plan):
                run(positions, x)
        return out

    def work(part: list[_Batch]) -> None:
        with torch.inference_mode():  # thread-local, like autocast
            for batch in part:
                run(batch.positions, batches.load(batch))

    workers = min(workers, len(plan))
    with _one_thread_per_op(), ThreadPoolExecutor(max_workers=workers) as pool:
        for done in [pool.submit(work, plan[k::workers]) for k in range(workers)]:
            done.result()
    return out


def measure_batches(measure: Callable[[torch.Tensor], torch.Tensor], batches: PatchBatches,
                    n_values: int) -> np.ndarray:
    """``measure`` of every object's network input, shape (n, n_values), in ``batches``' row order.

    The inputs are those :func:`predict_batches` hands the network (same gathering, normalisation
    and dtype); ``measure`` maps a batch ``(B, C + 1, *shape)`` to ``(B, n_values)``.
    """
    out = np.empty((len(batches.rows), n_values), dtype=np.float64)
    with torch.inference_mode():
        for positions, x in batches:
            out[positions] = measure(x).cpu().numpy()
    return out


# -- the network, ready for inference --------------------------------------------------------------
class FusedLightCNN:
    """A trained :class:`~svetlana_nb.models.LightCNN` for fast CPU inference (same outputs).

    Each convolution runs with its ReLU fused in (oneDNN's convolution with a ReLU post-op),
    on weights converted once to ``dtype`` (bfloat16 on CPUs that have it); the 2x max-pooling
    that follows a convolution is applied after the ReLU, which gives the same values (the two
    commute). The module's own poolings and its linear classifier then run in float32.

    Parameters
    ----------
    network : LightCNN
        In eval mode; its weights are copied (later training does not change this object).
    dtype : torch.dtype
    """

    def __init__(self, network: LightCNN, dtype: torch.dtype) -> None:
        self.dtype = dtype
        layers = list(network.features)
        self.convs: list[tuple[torch.Tensor, torch.Tensor | None, list[int], bool]] = []
        for k, layer in enumerate(layers):
            if isinstance(layer, (nn.Conv2d, nn.Conv3d)):
                fmt = torch.channels_last_3d if isinstance(layer, nn.Conv3d) else torch.channels_last
                weight = layer.weight.detach().to(dtype).contiguous(memory_format=fmt)
                bias = None if layer.bias is None else layer.bias.detach().to(dtype)
                pads = [s // 2 for s in layer.kernel_size]
                downsample = k + 1 < len(layers) and isinstance(layers[k + 1], Downsample)
                self.convs.append((weight, bias, pads, downsample))
        self.pool, self.object_pool = network.pool, network.object_pool
        self.weight = network.classifier.weight.detach().float()
        self.bias = network.classifier.bias.detach().float()

    @staticmethod
    def supports(network: nn.Module) -> bool:
        """Whether ``network`` can be fused: a LightCNN with odd kernels, stride 1, on oneDNN.

        A subclass that changes ``forward`` (a user's variant) is not fused: the fused path
        reproduces :meth:`LightCNN.forward` only, and would silently ignore the change.
        """
        if not isinstance(network, LightCNN) or not torch.backends.mkldnn.is_available():
            return False
        if type(network).forward is not LightCNN.forward:
            return False
        if not hasattr(torch.ops.mkldnn, "_convolution_pointwise"):
            return False
        convs = [m for m in network.features if isinstance(m, (nn.Conv2d, nn.Conv3d))]
        expected = sum(isinstance(m, (nn.Conv2d, nn.Conv3d, Downsample, nn.ReLU)) for m in network.features)
        return (expected == len(network.features)
                and all(k % 2 == 1 for m in convs for k in m.kernel_size)
                and all(set(m.stride) == {1} and set(m.dilation) == {1} and m.groups == 1 for m in convs))

    def __call__(self, x: torch.Tensor) -> torch.Tensor:
        """Logits (N, n_classes) of patches (N, C + 1, *patch)."""
        features = x.to(self.dtype)
        ones = [1] * (x.dim() - 2)
        for weight, bias, pads, downsample in self.convs:
            features = torch.ops.mkldnn._convolution_pointwise(
                features, weight, bias, pads, ones, ones, 1, "relu", [None], "")
            if downsample:  # after the ReLU: no negative values
                features = downsample_nonnegative(features)
        features = features.to(torch.float32, memory_format=torch.contiguous_format)  # once, for both
        pooled = self.pool(features)
        if self.object_pool is not None:
            pooled = torch.cat([pooled, self.object_pool(features, x)], dim=1)
        return F.linear(pooled, self.weight, self.bias)


def inference_network(network: nn.Module, device: torch.device, dtype: torch.dtype
                      ) -> Callable[[torch.Tensor], torch.Tensor]:
    """``network`` ready to call on patches in inference mode, as fast as the device allows.

    A :class:`~svetlana_nb.models.LightCNN` on the CPU runs as a :class:`FusedLightCNN`; other
    networks run under autocast to ``dtype`` (unless float32).
    """
    network = network.eval()
    if device.type == "cpu" and FusedLightCNN.supports(network):
        return FusedLightCNN(network, dtype)
    if dtype == torch.float32:
        return network

    def run(x: torch.Tensor) -> torch.Tensor:
        with torch.autocast(device.type, dtype=dtype):
            return network(x)
    return run
