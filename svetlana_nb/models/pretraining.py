"""Self-supervised pretraining of a network's trunk on the patches of every object (issue 20).

SimCLR-style contrastive learning (Chen et al. 2020): each patch is augmented twice with the
training augmentations, both views go through the network's trunk (everything before its
last linear layer, ``network.classifier``) and a small projection head, and the NT-Xent loss
pulls the two views of one object together and pushes the other objects of the batch away.
No annotation is used, so every object of the images, annotated or not, teaches the trunk.
The head is dropped afterwards; the trunk's weights (:class:`PretrainedTrunk`) are kept,
cached per image set (:func:`patches_key`) and written into the model file.

Masked reconstruction was not implemented: contrastive learning reuses the augmentations the
project has and needs no decoder (see ``docs/decisions.md``).
"""

from __future__ import annotations

import hashlib
import json
import math
import time
from dataclasses import dataclass, field
from typing import TYPE_CHECKING

import numpy as np
import torch
import torch.nn.functional as F
from torch import nn

from ..objects.batches import network_inputs
from .augment import Augmentation, augment
from .callbacks import CallbackList
from .devices import fast_layout, fast_module

if TYPE_CHECKING:
    from ..objects.objects import Objects
    from ..objects.patch_spec import PatchSpec
    from .config import TrainingConfig

#: Prefix of the pretrained trunk's tensors in a model file.
PRETRAINED_PREFIX = "pretrained."
#: Name of the network's last linear layer, left out of the trunk.
HEAD_NAME = "classifier"


@dataclass
class PretrainedTrunk:
    """The trunk weights learned without annotations, for one image set.

    Attributes
    ----------
    key : str
        :func:`patches_key` of the patches it was learned on.
    state : dict of str to torch.Tensor
        The network's weights except its last linear layer (``classifier.*``), on the CPU.
    steps : int
        Optimisation steps done.
    seconds : float
    n_objects : int
        Objects it was learned on.
    stopped : bool
        Whether it was stopped (by the user) before its budget ran out.
    losses : list of float
        NT-Xent loss of each step.
    """

    key: str
    state: dict[str, torch.Tensor]
    steps: int
    seconds: float
    n_objects: int
    stopped: bool = False
    losses: list[float] = field(default_factory=list)

    def describe(self) -> str:
        """A status-line phrase: "first learned from all 40 objects without labels (3 steps, 2 s)"."""
        stopped = ", stopped" if self.stopped else ""
        return (
            f"first learned from all {self.n_objects} objects without labels "
            f"({self.steps} steps, {self.seconds:.0f} s{stopped})"
        )

    def metadata(self) -> dict:
        """JSON-ready description for a model file (the tensors go separately)."""
        return {
            "key": self.key,
            "steps": self.steps,
            "seconds": self.seconds,
            "n_objects": self.n_objects,
            "stopped": self.stopped,
        }

    def tensors(self) -> dict[str, torch.Tensor]:
        """The trunk's weights under :data:`PRETRAINED_PREFIX`, for a model file."""
        return {f"{PRETRAINED_PREFIX}{k}": v.detach().cpu().contiguous() for k, v in self.state.items()}

    @classmethod
    def from_file(cls, tensors: dict[str, torch.Tensor], metadata: object) -> PretrainedTrunk:
        """The trunk a model file holds; ``ValueError`` naming the field when it is malformed."""
        if not isinstance(metadata, dict) or not isinstance(metadata.get("key"), str):
            raise ValueError("pretrained: expected a mapping with a 'key' string")
        for name in ("steps", "n_objects"):
            value = metadata.get(name)
            if isinstance(value, bool) or not isinstance(value, int) or value < 0:
                raise ValueError(f"pretrained.{name}: expected a whole number >= 0, got {value!r}")
        seconds = metadata.get("seconds")
        if isinstance(seconds, bool) or not isinstance(seconds, (int, float)) or not math.isfinite(seconds):
            raise ValueError(f"pretrained.seconds: expected a finite number, got {seconds!r}")
        state = {k[len(PRETRAINED_PREFIX) :]: v for k, v in tensors.items() if k.startswith(PRETRAINED_PREFIX)}
        if not state:
            raise ValueError("pretrained: the file declares a pretrained trunk but holds none of its tensors")
        return cls(
            metadata["key"],
            state,
            int(metadata["steps"]),
            float(seconds),
            int(metadata["n_objects"]),
            bool(metadata.get("stopped", False)),
        )

    def load_into(self, network: nn.Module) -> None:
        """Copy the trunk's weights into ``network`` (its last linear layer left as it is).

        Raises
        ------
        ValueError
            When the weights do not fit the network (another architecture or channel count).
        """
        own = network.state_dict()
        for name, tensor in self.state.items():
            if name not in own or own[name].shape != tensor.shape:
                raise ValueError(f"pretrained: weight {name!r} does not fit this network")
        network.load_state_dict(self.state, strict=False)


def trunk_state(network: nn.Module) -> dict[str, torch.Tensor]:
    """The network's weights except its last linear layer, copied to the CPU."""
    return {k: v.detach().cpu().clone() for k, v in network.state_dict().items() if not k.startswith(f"{HEAD_NAME}.")}


def head_layer(network: nn.Module) -> nn.Linear:
    """The network's last linear layer (``network.classifier``); ``ValueError`` when it has none."""
    head = getattr(network, HEAD_NAME, None)
    if not isinstance(head, nn.Linear):
        raise ValueError(
            "pretrain: needs a network whose last layer is a torch.nn.Linear named 'classifier' "
            "(the built-in networks); this one has none"
        )
    return head


def patches_key(patches: np.ndarray, spec_dict: dict, network_name: str) -> str:
    """Cache key of a pretrained trunk: what the patches hold, how they were made, for which network.

    Parameters
    ----------
    patches : numpy.ndarray, float32, shape (n, C + 1, *input_shape)
        The network inputs of every object of the image set.
    spec_dict : dict
        :meth:`PatchSpec.to_dict` of the resolved spec.
    network_name : str
    """
    digest = hashlib.sha256()
    digest.update(json.dumps({"spec": spec_dict, "network": network_name, "shape": patches.shape}).encode())
    digest.update(np.ascontiguousarray(patches, dtype=np.float32).tobytes())
    return digest.hexdigest()


def nt_xent(z1: torch.Tensor, z2: torch.Tensor, temperature: float) -> torch.Tensor:
    """NT-Xent loss of two batches of projections, shape (B, D) each; view i of z1 pairs with i of z2."""
    z = F.normalize(torch.cat([z1, z2]).float(), dim=1)
    similarity = z @ z.T / temperature
    n = len(z1)
    similarity.fill_diagonal_(-math.inf)
    targets = torch.cat([torch.arange(n, 2 * n), torch.arange(n)]).to(z.device)
    return F.cross_entropy(similarity, targets)


class _Embedder:
    """The network's input to its last linear layer, with gradients: (N, C + 1, ...) -> (N, D)."""

    def __init__(self, network: nn.Module) -> None:
        self.network = network
        self.features: torch.Tensor | None = None
        self.hook = head_layer(network).register_forward_pre_hook(self._keep)

    def _keep(self, module: nn.Module, inputs: tuple[torch.Tensor, ...]) -> None:
        self.features = inputs[0]

    def __call__(self, x: torch.Tensor) -> torch.Tensor:
        self.network(x)
        assert self.features is not None
        out, self.features = self.features, None
        return out

    def close(self) -> None:
        self.hook.remove()


def pretrain_trunk(
    network: nn.Module,
    patches: torch.Tensor,
    *,
    key: str,
    seconds: float = 50.0,
    max_steps: int | None = None,
    batch_size: int = 128,
    lr: float = 3e-3,
    temperature: float = 0.2,
    augmentation: Augmentation | None = None,
    seed: int | None = 0,
    callbacks: CallbackList | None = None,
) -> PretrainedTrunk:
    """Train ``network``'s trunk, in place, by contrastive learning on ``patches``; its weights.

    Parameters
    ----------
    network : torch.nn.Module
        A network with a last linear layer ``classifier`` (:func:`head_layer`).
    patches : torch.Tensor, float32, shape (n, C + 1, *input_shape)
        The network inputs of every object (annotated or not), on the training device.
    key : str
        :func:`patches_key` of the patches.
    seconds : float
        Time budget: no step starts after it (one step may overrun it).
    max_steps : int, optional
        Step budget (None: the time budget alone).
    batch_size : int
        Objects per step (each seen in two views); at most ``n``.
    lr, temperature : float
        AdamW learning rate; NT-Xent temperature.
    augmentation : Augmentation, optional
        Transforms making the views (default ``Augmentation()``).
    seed : int, optional
    callbacks : CallbackList, optional
        Told of each step (:meth:`CallbackList.pretrain_step`); a stop request ends pretraining
        after the current step, keeping what was learned.

    Returns
    -------
    PretrainedTrunk
        The trunk's weights (the network keeps them too), its steps and time.
    """
    if len(patches) < 2:
        raise ValueError(f"pretrain: needs at least 2 objects, got {len(patches)}")
    start = time.perf_counter()
    callbacks = callbacks or CallbackList()
    augmentation = augmentation or Augmentation()
    device = patches.device
    generator = torch.Generator(device=device)
    if seed is not None:
        generator.manual_seed(seed)
        torch.manual_seed(seed)
    order = np.random.default_rng(seed)
    width = head_layer(network).in_features
    projection = nn.Sequential(nn.Linear(width, width), nn.ReLU(), nn.Linear(width, 32)).to(device)
    parameters = [p for n, p in network.named_parameters() if not n.startswith(f"{HEAD_NAME}.")]
    optimizer = torch.optim.AdamW([*parameters, *projection.parameters()], lr=lr, weight_decay=1e-4)
    fast_module(network, patches.dim() - 2)
    embed = _Embedder(network)
    batch = min(int(batch_size), len(patches))
    losses: list[float] = []
    stopped = False
    step = 0
    network.train()
    try:
        while (max_steps is None or step < max_steps) and time.perf_counter() - start < seconds:
            idx = torch.from_numpy(order.choice(len(patches), batch, replace=False)).to(device)
            x = patches[idx]
            views = torch.cat([augment(x, augmentation, generator), augment(x, augmentation, generator)])
            z = projection(embed(fast_layout(views)).float())
            loss = nt_xent(z[:batch], z[batch:], temperature)
            optimizer.zero_grad(set_to_none=True)
            loss.backward()
            optimizer.step()
            step += 1
            value = float(loss.detach())
            if not math.isfinite(value):
                raise ValueError(f"pretrain: the contrastive loss became {value} at step {step}; lower lr")
            losses.append(value)
            callbacks.pretrain_step(
                {
                    "step": step,
                    "max_steps": max_steps,
                    "seconds": time.perf_counter() - start,
                    "budget_seconds": seconds,
                    "loss": value,
                    "objects": len(patches),
                }
            )
            if callbacks.stop_requested():
                stopped = True
                break
    finally:
        embed.close()
    network.eval()
    return PretrainedTrunk(key, trunk_state(network), step, time.perf_counter() - start, len(patches), stopped, losses)


def pretrained_for(
    network: nn.Module,
    patches: np.ndarray,
    *,
    spec_dict: dict,
    network_name: str,
    cached: PretrainedTrunk | None,
    seconds: float,
    max_steps: int | None,
    seed: int | None,
    device: torch.device,
    callbacks: CallbackList | None = None,
) -> PretrainedTrunk:
    """The pretrained trunk of these patches, from the cache when it holds them, loaded into ``network``.

    Parameters
    ----------
    network : torch.nn.Module
        A freshly built network; it receives the trunk's weights.
    patches : numpy.ndarray, float32, shape (n, C + 1, *input_shape)
        The network inputs of every object of the image set.
    spec_dict, network_name
        What :func:`patches_key` hashes besides the patches.
    cached : PretrainedTrunk, optional
        A trunk learned before (reused when its key matches).
    seconds, max_steps, seed, callbacks
        As :func:`pretrain_trunk` takes them.
    device : torch.device

    Returns
    -------
    PretrainedTrunk
    """
    key = patches_key(patches, spec_dict, network_name)
    if cached is not None and cached.key == key:
        cached.load_into(network)
        return cached
    network.to(device)
    return pretrain_trunk(
        network,
        torch.from_numpy(patches).to(device),
        key=key,
        seconds=seconds,
        max_steps=max_steps,
        seed=seed,
        callbacks=callbacks,
    )


def pretrain_for_objects(
    network: nn.Module,
    objects: Objects,
    patch: PatchSpec,
    *,
    network_name: str,
    cached: PretrainedTrunk | None,
    config: TrainingConfig,
    device: torch.device,
    callbacks: CallbackList | None = None,
) -> PretrainedTrunk:
    """:func:`pretrained_for` on the patches of every object of ``objects`` (a classifier's ``fit``).

    ``config`` gives the budget (``pretrain_seconds``, ``pretrain_steps``) and the seed. A stop
    during pretraining ends it, keeping what it learned; the training then goes on.
    """
    return pretrained_for(
        network,
        network_inputs(objects, patch),
        spec_dict=patch.to_dict(),
        network_name=network_name,
        cached=cached,
        seconds=config.pretrain_seconds,
        max_steps=config.pretrain_steps,
        seed=config.seed,
        device=device,
        callbacks=callbacks,
    )
