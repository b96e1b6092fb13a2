"""Batched inference over many objects, as fast as the device allows.

On the CPU, one worker per core takes batches from gathering to probabilities, with one torch
thread per operation (numpy and torch release the GIL): small networks on small batches scale
better so than with every operation split over all cores. On a GPU, a worker thread gathers
the next batches while the device runs this one.
"""

from __future__ import annotations

import threading
from collections.abc import Callable, Iterator
from concurrent.futures import ThreadPoolExecutor
from contextlib import contextmanager

import numpy as np
import torch
from torch import nn

from ..objects.batches import PatchBatch, PatchBatches
from .fused import FusedLightCNN

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


#: Called on each batch after the network: ``refine(positions, x, probabilities)`` gets the
#: batch's positions in the requested rows (B,), its network inputs (B, C + 1, *shape) and softmax
#: probabilities (B, n_outputs), float32, and returns the probabilities to keep (it may change
#: them in place, or note what it needs and finish after the pass).
Refine = Callable[[np.ndarray, torch.Tensor, np.ndarray], np.ndarray]


def predict_batches(
    network: Callable[[torch.Tensor], torch.Tensor],
    batches: PatchBatches,
    n_outputs: int,
    *,
    refine: Refine | None = None,
) -> np.ndarray:
    """Softmax probabilities, shape (n, n_outputs), of every object of ``batches`` (in its row order).

    On the CPU, as many workers as torch has threads each take every k-th batch from gathering
    to probabilities, with one thread per torch operation: small networks on small batches
    scale better so than with every operation split over all cores (and numpy's gathering no
    longer competes with torch's threads). On a GPU, one worker thread gathers the next batches
    while the device runs this one. ``refine`` (e.g. the second opinion) runs on each batch in
    the same pass, on the inputs the network just read: no patch is gathered twice.
    """
    out = np.empty((len(batches.rows), n_outputs), dtype=np.float32)

    def run(positions: np.ndarray, x: torch.Tensor) -> None:
        probabilities = torch.softmax(network(x).float(), dim=1).cpu().numpy()
        out[positions] = probabilities if refine is None else refine(positions, x, probabilities)

    workers = torch.get_num_threads() if batches.device.type == "cpu" else 1
    plan = batches.plan()
    if workers < 2 or len(plan) < 2:
        with torch.inference_mode():
            for positions, x in batches.prefetched(plan):
                run(positions, x)
        return out

    def work(part: list[PatchBatch]) -> None:
        with torch.inference_mode():  # thread-local, like autocast
            for batch in part:
                run(batch.positions, batches.load(batch))

    workers = min(workers, len(plan))
    with _one_thread_per_op(), ThreadPoolExecutor(max_workers=workers) as pool:
        for done in [pool.submit(work, plan[k::workers]) for k in range(workers)]:
            done.result()
    return out


def measure_batches(
    measure: Callable[[torch.Tensor], torch.Tensor], batches: PatchBatches, n_values: int
) -> np.ndarray:
    """``measure`` of every object's network input, shape (n, n_values), in ``batches``' row order.

    The inputs are those :func:`predict_batches` hands the network (same gathering, normalisation
    and dtype); ``measure`` maps a batch ``(B, C + 1, *shape)`` to ``(B, n_values)``.
    """
    out = np.empty((len(batches.rows), n_values), dtype=np.float64)
    with torch.inference_mode():
        for positions, x in batches:
            out[positions] = measure(x).cpu().numpy()
    return out


def inference_network(
    network: nn.Module, device: torch.device, dtype: torch.dtype
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
