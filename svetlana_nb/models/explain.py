"""Explanations of one object's class.

Grad-CAM (networks), top measurements (random forest), and both opinions where the second
opinion was consulted (:func:`opinions`).
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np
import torch
import torch.nn.functional as F

from ..objects.objects import Key, Objects
from .classifier import Classifier
from .forest_backend import ForestBackend
from .network_backend import NetworkBackend


@dataclass
class GradCam:
    """Grad-CAM of one object.

    Attributes
    ----------
    patch : numpy.ndarray, shape (C + 1, *input_shape)
        The network's input (normalised channels, then the object mask), at the classifier's
        :attr:`~svetlana_nb.Classifier.input_shape` (the patch shape, shrunk for large objects).
    heatmap : numpy.ndarray, shape (*input_shape)
        Where the evidence for ``class_name`` lies, scaled to [0, 1].
    probabilities : numpy.ndarray, shape (n_classes,)
        The classifier's (with its second opinion where it was consulted).
    class_name : str
        The explained class (the predicted one unless asked otherwise). The heat map shows the
        network's evidence for it.
    """

    patch: np.ndarray
    heatmap: np.ndarray
    probabilities: np.ndarray
    class_name: str
    evidence: bool = True
    method: str = "grad_cam"

    @property
    def note(self) -> str | None:
        """A plain sentence when the map shows nothing (None when it carries evidence)."""
        if self.evidence:
            return None
        return (
            f"No evidence: no part of this patch raises the network's score for {self.class_name!r} "
            "(the map is empty, so nothing is highlighted)"
        )


def attribution(clf: Classifier, objects: Objects, key: Key, *, class_name: str | None = None) -> GradCam:
    """Where the evidence for a class lies in one object's patch: integrated gradients (captum).

    Chosen over Grad-CAM by measurement on the infected-cells demo (docs/decisions.md): Grad-CAM
    at the last convolution of these small networks was all zero for most infected cells, while
    integrated gradients put most of the positive attribution on the infection spot. The map is
    the positive part of the attribution summed over the image channels (not the mask channel),
    scaled to [0, 1]; :attr:`GradCam.evidence` is False when nothing is positive.

    Parameters
    ----------
    clf : Classifier
        A trained network classifier (not the random forest: see :func:`top_features`).
    objects : Objects
    key : int or (image name, label)
    class_name : str, optional
        Class to explain (default: the predicted class).

    Returns
    -------
    GradCam
        With ``method="integrated_gradients"``.
    """
    from captum.attr import IntegratedGradients

    network = clf.network
    if network is None or not clf.is_fitted:
        raise ValueError("clf: an attribution map needs a trained network; for the random forest use top_features()")
    names = list(clf.class_names or ())
    row = objects.row(key)
    patch = clf.patches(objects, np.array([row]))
    probs = clf.predict_proba(objects, np.array([row]))[0]
    target = int(probs.argmax()) if class_name is None else names.index(class_name)
    x = torch.from_numpy(patch).to(clf.device).float()
    was_training = network.training
    network.eval()
    try:
        with torch.enable_grad():
            attributions = IntegratedGradients(lambda batch: network(batch).float()).attribute(
                x, baselines=torch.zeros_like(x), target=target, n_steps=32
            )
    finally:
        network.train(was_training)
    signed = attributions[0, :-1].sum(0).detach().cpu().double().numpy()  # image channels, not the mask
    positive = np.clip(signed, 0.0, None)
    scale = float(np.abs(signed).max())
    evidence = bool(np.isfinite(positive).all() and positive.max() > 1e-6 * max(scale, 1e-12) and positive.max() > 0)
    heatmap = (positive / positive.max()).astype(np.float32) if evidence else np.zeros_like(positive, np.float32)
    return GradCam(
        patch=patch[0],
        heatmap=heatmap,
        probabilities=np.asarray(probs),
        class_name=names[target],
        evidence=evidence,
        method="integrated_gradients",
    )


def grad_cam(clf: Classifier, objects: Objects, key: Key, *, class_name: str | None = None) -> GradCam:
    """Grad-CAM (Selvaraju et al. 2017) of the classifier's last convolution for one object.

    Parameters
    ----------
    clf : Classifier
        A trained network classifier (not the random forest: see :func:`top_features`).
    objects : Objects
    key : int or (image name, label)
    class_name : str, optional
        Class to explain (default: the predicted class).

    Returns
    -------
    GradCam
    """
    network = clf.network
    if network is None or not clf.is_fitted:
        raise ValueError("clf: Grad-CAM needs a trained network; for the random forest use top_features()")
    layer = getattr(network, "target_layer", None)
    if layer is None:
        convs = [m for m in network.modules() if isinstance(m, (torch.nn.Conv2d, torch.nn.Conv3d))]
        if not convs:
            raise ValueError("clf: the network has no convolution layer to explain")
        layer = convs[-1]
    names = list(clf.class_names or ())
    row = objects.row(key)
    patch = clf.patches(objects, np.array([row]))
    x = torch.from_numpy(patch).to(clf.device)
    probs = clf.predict_proba(objects, np.array([row]))[0]  # the classifier's own decision
    saved: dict[str, torch.Tensor] = {}

    def keep(_module, _inputs, output):
        output.retain_grad()
        saved["act"] = output

    handle = layer.register_forward_hook(keep)
    was_training = network.training
    network.eval()
    try:
        with torch.enable_grad():
            logits = network(x)
            target = int(probs.argmax()) if class_name is None else names.index(class_name)
            network.zero_grad(set_to_none=True)
            logits[0, target].backward()
    finally:
        handle.remove()
        network.train(was_training)
    gradient = saved["act"].grad
    assert gradient is not None
    act, grad = saved["act"].detach(), gradient.detach()
    spatial = tuple(range(2, act.dim()))
    weights = grad.mean(dim=spatial, keepdim=True)
    cam = F.relu((weights * act).sum(1, keepdim=True))
    mode = "trilinear" if act.dim() == 5 else "bilinear"
    cam = F.interpolate(cam, size=patch.shape[2:], mode=mode, align_corners=False)[0, 0]
    cam = cam - cam.min()
    cam = cam / cam.max() if float(cam.max()) > 0 else cam
    return GradCam(
        patch=patch[0], heatmap=cam.detach().cpu().numpy(), probabilities=np.asarray(probs), class_name=names[target]
    )


def top_features(clf: Classifier, objects: Objects, key: Key, k: int = 5) -> list[tuple[str, float, float]]:
    """For the random forest: its ``k`` most important measurements with this object's values.

    Returns
    -------
    list of (measurement name, importance, the object's value as a z-score over the training objects)
    """
    if not isinstance(clf.backend, ForestBackend) or not clf.is_fitted:
        raise ValueError("clf: top_features needs a trained random-forest classifier; for networks use grad_cam()")
    return clf.backend.top_features(objects, objects.row(key), k)


@dataclass
class Opinions:
    """The two opinions of an object the second opinion was consulted on.

    Attributes
    ----------
    network, forest : numpy.ndarray, shape (n_classes,)
        The network's probabilities and the forest's (on the object's measurements).
    weight : float
        The forest's share in the object's probabilities.
    """

    network: np.ndarray
    forest: np.ndarray
    weight: float


def opinions(clf: Classifier, objects: Objects, key: Key) -> Opinions | None:
    """The network's and the forest's opinions of one object, if the forest was consulted.

    None for a model without a second opinion (the random forest, ``second_opinion=None``, or
    one not trained yet) and for an object whose top network probability reaches the threshold.
    """
    backend, settings = clf.backend, clf.second_opinion
    if not isinstance(backend, NetworkBackend) or backend.opinion is None or settings is None:
        return None
    rows = np.array([objects.row(key)])
    network = clf.network_proba(objects, rows)  # as prediction computes it: the same decision
    if len(settings.consulted(network)) == 0:
        return None
    return Opinions(network=network[0], forest=backend.opinion_proba(objects, rows)[0], weight=settings.weight)
