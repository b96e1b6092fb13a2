"""Pixel attributions of a network's decision (integrated gradients, with captum).

Why integrated gradients: on the small networks of this package, Grad-CAM of the last
convolution was empty (all negative before its ReLU) for half of the infected cells of the
``infected_cells_2d`` demo, with or without the ReLU. Integrated gradients (Sundararajan et al.
2017) put most of the positive mass on the viral spots of every infected cell measured, at a few
tens of milliseconds per 2D patch on one CPU core. The measurement is in the report of issue 17
(``tests/models/test_explain.py`` checks it on every run).

The object mask (the network's last input channel) is held fixed: it says *which* object to
classify and is not evidence. The image channels go from a blank patch (zero, the normalised
value outside the image) to the object's patch, and the attributed output is the class's
log-probability, so the map is in nats: its sum is how much the patch raises the class's
log-probability over a blank patch (the completeness of integrated gradients).
"""

from __future__ import annotations

import numpy as np
import torch
from torch import nn

#: Default number of steps of the path integral (captum's Gauss-Legendre rule).
STEPS = 32
#: Least positive attribution (nats) that counts as evidence: the parts of the patch marked raise
#: the class's probability by at least a fifth (log 1.2 ≈ 0.18) over a blank patch. Untrained
#: networks stay below 0.14 on the demo sets, trained ones on infected cells lie above 0.3.
MIN_EVIDENCE = 0.2


def integrated_gradients(
    network: nn.Module, inputs: torch.Tensor, target: int, *, steps: int = STEPS, batch_size: int = 64
) -> np.ndarray:
    """Attribution of the class's log-probability to each pixel of each image channel.

    Parameters
    ----------
    network : torch.nn.Module
        Takes (N, C + 1, *spatial) inputs (image channels, then the object mask), returns logits.
    inputs : torch.Tensor, shape (1, C + 1, *spatial)
        One object's patch, on the network's device.
    target : int
        Index of the class explained.
    steps : int
        Steps of the path integral from the blank patch.
    batch_size : int
        Path points evaluated per forward pass.

    Returns
    -------
    numpy.ndarray, float32, shape (C, *spatial)
        Signed attributions in nats; their sum approximates log p(target | patch) - log p(target | blank).
    """
    from captum.attr import IntegratedGradients  # imported on first use: it costs start-up time

    mask = inputs[:, -1:].detach()

    def log_probability(images: torch.Tensor) -> torch.Tensor:
        full = torch.cat([images, mask.expand(images.shape[0], *mask.shape[1:])], dim=1)
        return torch.log_softmax(network(full).float(), dim=1)

    was_training = network.training
    network.eval()
    try:
        with torch.enable_grad():
            attributions = IntegratedGradients(log_probability).attribute(
                inputs[:, :-1].detach(), target=target, n_steps=steps, internal_batch_size=batch_size
            )
    finally:
        network.train(was_training)
    return attributions[0].detach().float().cpu().numpy()


def positive_map(attributions: np.ndarray) -> tuple[np.ndarray, float]:
    """Heat map and evidence of signed per-channel attributions.

    Parameters
    ----------
    attributions : numpy.ndarray, shape (C, *spatial)

    Returns
    -------
    heatmap : numpy.ndarray, float32, shape (*spatial)
        The positive part of the channel sum, scaled to [0, 1] (all zero when nothing is positive).
    evidence : float
        The positive mass in nats (the sum of the positive part).
    """
    summed = np.asarray(attributions, dtype=np.float32).sum(0)
    positive = np.clip(summed, 0.0, None)
    top = float(positive.max(initial=0.0))
    heatmap = positive / top if top > 0 else positive
    return heatmap.astype(np.float32), float(positive.sum())
