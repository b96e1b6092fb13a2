"""``Calibration``: the temperature a classifier applies to its probabilities, and where it came from.

At the end of :meth:`svetlana_nb.Classifier.fit` one temperature is fitted
(:func:`~.calibration.fit_temperature`) on probabilities of annotated objects the model did not
learn from, as the classifier outputs them (a network's after its second opinion):

* ``"validation"``: the validation split of a network, when it has one;
* ``"out-of-bag"``: a random forest's out-of-bag probabilities of every annotation (each
  scored by the trees that did not see it).

A network trained without validation (few annotations, or validation set to 0 %) has no
held-out probability short of training it again on folds, which would multiply the training
time: it keeps temperature 1 and says that it is not calibrated (``source`` ``"none"``). So do
model files saved before calibration existed. ``docs/decisions.md`` gives the measurements.
"""

from __future__ import annotations

import math
from dataclasses import dataclass
from typing import Any

import numpy as np

from .calibration import apply_temperature, fit_temperature

__all__ = ["Calibration", "SOURCES", "MIN_HELD_OUT", "PRIOR_SD"]

#: Where a temperature can come from; ``"none"``: not calibrated (temperature 1).
SOURCES = ("validation", "out-of-bag", "none")
#: Fewest held-out annotations a temperature is fitted on.
MIN_HELD_OUT = 8
#: Standard deviation of the normal prior on ``log T`` (:func:`~.calibration.fit_temperature`):
#: a temperature beyond ``e**±1`` (0.37 to 2.7) needs the evidence of many held-out objects.
PRIOR_SD = 0.5


@dataclass(frozen=True)
class Calibration:
    """The temperature applied to a classifier's probabilities.

    Attributes
    ----------
    temperature : float
        Finite, above 0; 1 when not calibrated.
    source : {"validation", "out-of-bag", "none"}
        The held-out probabilities it was fitted on; ``"none"``: not calibrated.
    n : int
        Held-out annotations it was fitted on (0 when not calibrated).
    note : str
        Why it is not calibrated (empty when it is).
    """

    temperature: float = 1.0
    source: str = "none"
    n: int = 0
    note: str = ""

    def __post_init__(self) -> None:
        t = self.temperature
        if isinstance(t, bool) or not isinstance(t, (int, float)) or not math.isfinite(t) or t <= 0:
            raise ValueError(f"calibration.temperature: expected a finite number above 0, got {t!r}")
        if self.source not in SOURCES:
            raise ValueError(f"calibration.source: expected one of {list(SOURCES)}, got {self.source!r}")
        if isinstance(self.n, bool) or not isinstance(self.n, int) or self.n < 0:
            raise ValueError(f"calibration.n: expected a whole number >= 0, got {self.n!r}")
        if not isinstance(self.note, str):
            raise ValueError(f"calibration.note: expected text, got {self.note!r}")
        if self.source == "none" and t != 1.0:
            raise ValueError(f"calibration.temperature: expected 1 without calibration (source 'none'), got {t!r}")
        object.__setattr__(self, "temperature", float(t))

    @property
    def calibrated(self) -> bool:
        """Whether a temperature was fitted on held-out probabilities."""
        return self.source != "none"

    @classmethod
    def from_held_out(cls, held_out: Any) -> Calibration:
        """Fitted on a backend's ``held_out`` (probabilities, annotated, source), or not calibrated without one."""
        if held_out is None:
            return cls.none("no held-out annotation: the network learnt every one (validation off)")
        return cls.fit(held_out.probabilities, held_out.annotated, source=held_out.source)

    @classmethod
    def none(cls, note: str) -> Calibration:
        """Not calibrated (temperature 1), and why."""
        return cls(1.0, "none", 0, note)

    @classmethod
    def fit(
        cls,
        probabilities: np.ndarray,
        annotated: np.ndarray,
        *,
        source: str,
        prior_sd: float = PRIOR_SD,
        min_held_out: int = MIN_HELD_OUT,
    ) -> Calibration:
        """The temperature of held-out probabilities (not calibrated when there are too few).

        Parameters
        ----------
        probabilities : numpy.ndarray, shape (m, k)
            The classifier's final probabilities of held-out annotated objects.
        annotated : numpy.ndarray of int, shape (m,)
            Their annotated class index.
        source : {"validation", "out-of-bag"}, keyword-only
        prior_sd : float, keyword-only
            Of the prior on ``log T`` (:data:`PRIOR_SD`).
        min_held_out : int, keyword-only
            Fewer held-out annotations: not calibrated.
        """
        if source == "none":
            raise ValueError("source: expected 'validation' or 'out-of-bag'")
        m = int(np.asarray(annotated).size)
        if m < min_held_out:
            return cls.none(f"only {m} held-out annotations ({min_held_out} needed to fit a temperature)")
        return cls(fit_temperature(probabilities, annotated, prior_sd=prior_sd), source, m, "")

    def apply(self, probabilities: np.ndarray) -> np.ndarray:
        """Calibrated probabilities, float32, shape (n, k); the same order in every row (same class)."""
        p = np.asarray(probabilities)
        if self.temperature == 1.0:
            return p.astype(np.float32, copy=True)
        return apply_temperature(p, self.temperature).astype(np.float32)

    def unapply(self, probabilities: np.ndarray) -> np.ndarray:
        """The raw probabilities back from calibrated ones, float64, shape (n, k) (the inverse of :meth:`apply`).

        Exact up to rounding, except for a raw probability below the floor of
        :func:`~.calibration.apply_temperature` (1e-7), which comes back as that floor: where
        they are used (:mod:`.expected_counts`) such values are floored anyway.
        """
        p = np.asarray(probabilities, dtype=np.float64)
        if self.temperature == 1.0:
            return p.copy()
        logits = np.log(np.maximum(p, np.finfo(np.float64).tiny)) * self.temperature
        logits -= logits.max(axis=1, keepdims=True)
        raw = np.exp(logits)
        return raw / raw.sum(axis=1, keepdims=True)

    def describe(self) -> str:
        """The calibration in words, e.g. ``"calibrated: temperature 1.62, fitted on 20 validation annotations"``."""
        if not self.calibrated:
            return f"not calibrated ({self.note})" if self.note else "not calibrated"
        held = "validation annotations" if self.source == "validation" else "annotations, out of bag"
        return f"calibrated: temperature {self.temperature:.3g}, fitted on {self.n} {held}"

    def to_dict(self) -> dict[str, Any]:
        """JSON-ready fields (for a model file)."""
        return {"temperature": self.temperature, "source": self.source, "n": self.n, "note": self.note}

    @classmethod
    def from_dict(cls, values: Any) -> Calibration:
        """The calibration :meth:`to_dict` wrote; ``ValueError`` naming a bad field."""
        if not isinstance(values, dict) or set(values) != {"temperature", "source", "n", "note"}:
            raise ValueError(f"calibration: expected a mapping of temperature, source, n and note, got {values!r}")
        return cls(values["temperature"], values["source"], values["n"], values["note"])
