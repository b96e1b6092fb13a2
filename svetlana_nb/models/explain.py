"""Explanations of one object's class.

Pixel evidence (networks: integrated gradients, see :mod:`.integrated_gradients`), top measurements
(random forest), and both opinions where the second opinion was consulted (:func:`opinions`).
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np
import torch

from ..objects.objects import Key, Objects
from .classifier import Classifier
from .forest_backend import ForestBackend
from .integrated_gradients import MIN_EVIDENCE, STEPS, integrated_gradients, positive_map
from .network_backend import NetworkBackend


@dataclass
class Explanation:
    """Where a network found the evidence for one object's class.

    Attributes
    ----------
    patch : numpy.ndarray, shape (C + 1, *input_shape)
        The network's input (normalised channels, then the object mask), at the classifier's
        :attr:`~svetlana_nb.Classifier.input_shape` (the patch shape, shrunk for large objects).
    heatmap : numpy.ndarray, shape (*input_shape)
        Where the evidence for ``class_name`` lies, scaled to [0, 1]; all zero without evidence.
    probabilities : numpy.ndarray, shape (n_classes,)
        The classifier's (with its second opinion where it was consulted).
    class_name : str
        The explained class (the predicted one unless asked otherwise).
    attributions : numpy.ndarray, shape (C, *input_shape)
        Signed integrated gradients per image channel, in nats of the class's log-probability.
    evidence : bool
        Whether the map shows evidence: its positive mass reaches ``min_evidence`` nats. False for
        a network that has not learned anything about this object (constant or untrained), and
        for a class chosen for lack of evidence for the others.
    evidence_nats : float
        The map's positive mass: how much the marked pixels raise the class's log-probability
        over a blank patch.
    note : str
        One plain sentence saying what the map shows, or that it shows nothing.
    method : str
        How the map was made: ``"integrated_gradients"``.
    """

    patch: np.ndarray
    heatmap: np.ndarray
    probabilities: np.ndarray
    class_name: str
    attributions: np.ndarray
    evidence: bool
    evidence_nats: float
    note: str
    method: str = "integrated_gradients"


#: The former name of :class:`Explanation`.
GradCam = Explanation


def explain_network(
    clf: Classifier,
    objects: Objects,
    key: Key,
    *,
    class_name: str | None = None,
    steps: int = STEPS,
    min_evidence: float = MIN_EVIDENCE,
) -> Explanation:
    """Pixel evidence of a trained network for one object's class (integrated gradients).

    Parameters
    ----------
    clf : Classifier
        A trained network classifier (not the random forest: see :func:`top_features`).
    objects : Objects
    key : int or (image name, label)
    class_name : str, optional
        Class to explain (default: the predicted class).
    steps : int
        Steps of the path integral from a blank patch.
    min_evidence : float
        Least positive mass, in nats, for the map to count as evidence.

    Returns
    -------
    Explanation
        With ``evidence`` False and a ``note`` saying so when the map is empty or too weak.
    """
    network = clf.network
    if network is None or not clf.is_fitted:
        raise ValueError("clf: explanations need a trained network; for the random forest use top_features()")
    names = list(clf.class_names or ())
    if class_name is not None and class_name not in names:
        raise ValueError(f"class_name: {class_name!r} is not one of the classifier's classes {names}")
    row = np.array([objects.row(key)])
    patch = clf.patches(objects, row)
    probs = np.asarray(clf.predict_proba(objects, row)[0])  # the classifier's own decision
    target = int(probs.argmax()) if class_name is None else names.index(class_name)
    x = torch.from_numpy(patch).to(clf.device)
    attributions = integrated_gradients(network, x, target, steps=steps)
    heatmap, mass = positive_map(attributions)
    evidence = bool(mass >= min_evidence)
    return Explanation(
        patch=patch[0],
        heatmap=heatmap,
        probabilities=probs,
        class_name=names[target],
        attributions=attributions,
        evidence=evidence,
        evidence_nats=mass,
        note=evidence_note(names[target], evidence),
    )


#: Other names of :func:`explain_network`: ``attribution`` (as documented) and ``grad_cam`` (the
#: former name; the map is no longer Grad-CAM's).
attribution = explain_network
grad_cam = explain_network


def evidence_note(class_name: str, evidence: bool) -> str:
    """One plain sentence on what an object's map shows."""
    if evidence:
        return f"Coloured: the parts of the patch that make the network say “{class_name}”."
    return (
        f"No evidence for “{class_name}” in this patch: nothing in it raises that class "
        "over a blank patch, so there is no map to show. The network may pick it for lack of "
        "evidence for another class, or may not have learned it."
    )


def top_features(clf: Classifier, objects: Objects, key: Key, k: int = 5) -> list[tuple[str, float, float]]:
    """For the random forest: its ``k`` most important measurements with this object's values.

    Returns
    -------
    list of (measurement name, importance, the object's value as a z-score over the training objects)
    """
    if not isinstance(clf.backend, ForestBackend) or not clf.is_fitted:
        raise ValueError(
            "clf: top_features needs a trained random-forest classifier; for networks use explain_network()"
        )
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
    temperature : float
        The classifier's calibration temperature, applied after the average (1: none).
    """

    network: np.ndarray
    forest: np.ndarray
    weight: float
    temperature: float = 1.0


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
    return Opinions(
        network=network[0],
        forest=backend.opinion_proba(objects, rows)[0],
        weight=settings.weight,
        temperature=clf.calibration.temperature,
    )
