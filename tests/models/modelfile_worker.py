"""Child process of the model-file fuzz test: load + predict each model file named on stdin.

One JSON line per file: ``{"stage": "ok"}`` with finite probabilities summing to one, or the
stage that failed ("load" or "predict"), the exception's type and message. A crash or a hang
shows up in the parent as a dead or silent child.
"""

from __future__ import annotations

import json
import sys
import warnings
from pathlib import Path

import numpy as np

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))
from helpers import grid_scene  # noqa: E402

import svetlana_nb as sv  # noqa: E402

warnings.simplefilter("ignore")
image, mask, _ = grid_scene(size=120)
objects = sv.Objects(image, mask)
print(json.dumps({"ready": True}), flush=True)
for line in sys.stdin:
    path = line.strip()
    stage = "load"
    try:
        clf = sv.Classifier.load(path, device="cpu")
        stage = "predict"
        probabilities = clf.predict_proba(objects)
        finite = bool(np.isfinite(probabilities).all() and np.allclose(probabilities.sum(axis=1), 1.0, atol=1e-3))
        result = {"stage": "ok" if finite else "not finite"}
    except Exception as error:  # reported to the parent, which judges it
        result = {"stage": stage, "type": type(error).__name__, "message": str(error)[:400]}
    print(json.dumps(result), flush=True)
