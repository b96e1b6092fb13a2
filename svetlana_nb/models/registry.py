"""The models a classifier can use, by name: the only place that knows which is which.

Each :class:`ModelKind` says how to build its backend (and its network, for networks), how
the widgets name it, and what it can do. Everything else asks the kind, never the name.
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass

from torch import nn

from . import forest as forest_module
from .backend import Backend, BackendSetup
from .forest_backend import ForestBackend
from .network_backend import NetworkBackend
from .networks import LightCNN, SmallResNet

NetworkFactory = Callable[[int, int, int], nn.Module]


@dataclass(frozen=True)
class ModelKind:
    """One model a classifier can use.

    Attributes
    ----------
    name : str
        The name ``Classifier(model=...)`` takes.
    label : str
        Short name for buttons.
    description : str
        One line for tooltips and summaries.
    network : callable or None
        ``network(in_channels, n_classes, ndim) -> torch.nn.Module`` for the registered
        networks; None for the forest and for a user's own module.
    is_network : bool
        Trained by epochs on patches; has evidence maps and a second opinion.
    """

    name: str
    label: str
    description: str
    network: NetworkFactory | None
    is_network: bool

    def new_backend(self, setup: BackendSetup, *, network: nn.Module | None = None) -> Backend:
        """A fresh backend of this kind (a new network, unless ``network`` is given)."""
        if not self.is_network:
            return ForestBackend(setup)
        if network is None:
            if self.network is None:
                raise ValueError(f"model: {self.name!r} needs its torch module")
            network = self.network(setup.in_channels, setup.n_classes, setup.ndim)
        return NetworkBackend(setup, network)

    def preload(self) -> None:
        """Import what the first fit needs now, so that the fit itself is quick."""
        if not self.is_network:
            forest_module.preload()


_KINDS = (
    ModelKind(
        "light_cnn",
        "Light CNN",
        "Light CNN (paper): 2 conv layers of 16 filters, ~3k parameters; best with few annotations",
        lambda c, k, nd: LightCNN(c, k, ndim=nd, depth=2, width=16),
        True,
    ),
    ModelKind(
        "light_cnn_deep",
        "Deeper CNN",
        "Deeper light CNN: 4 conv layers (16-32 filters), for harder classes and more annotations",
        lambda c, k, nd: LightCNN(c, k, ndim=nd, depth=4, width=[16, 16, 32, 32], dropout=0.2),
        True,
    ),
    ModelKind(
        "resnet",
        "Small ResNet",
        "Small ResNet (16-32-64 filters, batch norm): for hundreds of annotations",
        lambda c, k, nd: SmallResNet(c, k, ndim=nd),
        True,
    ),
    ModelKind(
        "random_forest",
        "Random forest",
        "Random forest on per-object measurements (size, shape, intensity): trains in < 1 s",
        None,
        False,
    ),
)
#: Registered models by name.
REGISTRY: dict[str, ModelKind] = {kind.name: kind for kind in _KINDS}
#: Every model name accepted by :class:`~svetlana_nb.Classifier`.
MODELS: tuple[str, ...] = tuple(REGISTRY)
#: The kind of a user's own torch module (``Classifier(model=my_module)``).
CUSTOM = ModelKind("custom", "Custom", "your own torch module", None, True)


def model_kind(name: str) -> ModelKind:
    """The kind named ``name`` (registered, or ``"custom"``); ``ValueError`` naming the choices."""
    if name == CUSTOM.name:
        return CUSTOM
    if name not in REGISTRY:
        raise ValueError(f"model: expected one of {list(MODELS)} or a torch.nn.Module, got {name!r}")
    return REGISTRY[name]


def kind_of(model: str | nn.Module) -> tuple[ModelKind, nn.Module | None]:
    """The kind of ``Classifier(model=...)``, and the module when it is the user's own."""
    if isinstance(model, nn.Module):
        return CUSTOM, model
    if not isinstance(model, str):
        raise ValueError(f"model: expected a name from sv.MODELS or a torch.nn.Module, got {model!r}")
    if model == CUSTOM.name:
        raise ValueError("model: 'custom' means your own torch module: pass the module itself")
    return model_kind(model), None
