"""Crafted model files never crash or hang the process: load + predict in a child, with a timeout.

Each tensor and header field of saved models (a network with its second opinion, and a random
forest) is mutated by hypothesis; every case must give finite probabilities or a clear error
(``ValueError``/``TypeError``; at load, naming the file).
"""

from __future__ import annotations

import json
import select
import subprocess
import sys
from pathlib import Path

import numpy as np
import pytest
import torch
from helpers import annotate, grid_scene
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st
from safetensors import safe_open
from safetensors.torch import save_file

import svetlana_nb as sv

WORKER = Path(__file__).with_name("modelfile_worker.py")
TIMEOUT = 30.0
CLEAR_ERRORS = {"ValueError", "TypeError"}


class Worker:
    """One child process that loads and predicts model files; restarted after a crash or a hang."""

    def __init__(self) -> None:
        self.process: subprocess.Popen | None = None

    def start(self) -> None:
        self.process = subprocess.Popen(
            [sys.executable, str(WORKER)], stdin=subprocess.PIPE, stdout=subprocess.PIPE, text=True, bufsize=1
        )
        assert json.loads(self._line(120.0) or "{}").get("ready"), "the worker did not start"

    def _line(self, timeout: float) -> str | None:
        assert self.process is not None and self.process.stdout is not None
        ready, _, _ = select.select([self.process.stdout], [], [], timeout)
        return self.process.stdout.readline() if ready else None

    def run(self, path: Path) -> dict:
        if self.process is None or self.process.poll() is not None:
            self.start()
        assert self.process is not None and self.process.stdin is not None
        self.process.stdin.write(f"{path}\n")
        self.process.stdin.flush()
        line = self._line(TIMEOUT)
        if not line:
            hung = self.process.poll() is None
            self.stop()
            return {"stage": "hang" if hung else f"crash (exit {self.process.returncode})"}
        return json.loads(line)

    def stop(self) -> None:
        if self.process is not None and self.process.poll() is None:
            self.process.kill()
            self.process.wait()


@pytest.fixture(scope="module")
def worker():
    w = Worker()
    yield w
    w.stop()


@pytest.fixture(scope="module")
def saved_models(tmp_path_factory):
    """Two small trained models: the default network with its second opinion, and a random forest."""
    folder = tmp_path_factory.mktemp("models")
    image, mask, truth = grid_scene(size=120)
    objects = sv.Objects(image, mask)
    annotations = annotate(objects, truth, 12)
    paths = {}
    for model in ("light_cnn", "random_forest"):
        clf = sv.Classifier(objects, model=model, epochs=2, device="cpu")
        clf.fit(annotations)
        paths[model] = folder / f"{model}.svnb"
        clf.save(paths[model])
    return paths


def read_raw(path: Path) -> tuple[dict[str, torch.Tensor], dict]:
    with safe_open(str(path), framework="pt") as handle:
        header = json.loads(handle.metadata()["svetlana_nb"])
        return {k: handle.get_tensor(k) for k in handle.keys()}, header


def write_raw(path: Path, tensors: dict[str, torch.Tensor], header: dict) -> None:
    save_file({k: v.contiguous() for k, v in tensors.items()}, str(path), metadata={"svetlana_nb": json.dumps(header)})


def judge(result: dict, path: Path, case: str) -> None:
    stage = result["stage"]
    assert stage != "not finite", f"{case}: probabilities not finite"
    if stage == "ok":
        return
    assert stage in ("load", "predict"), f"{case}: {stage}"
    assert result["type"] in CLEAR_ERRORS, f"{case}: {result['type']}: {result['message']}"
    if stage == "load":
        assert path.name in result["message"], f"{case}: the error does not name the file: {result['message']}"


# -- mutations ---------------------------------------------------------------------------------
def mutate_tensor(tensor: torch.Tensor, kind: str, index: int, own_index: bool) -> torch.Tensor | None:
    flat = tensor.clone().reshape(-1)
    if kind == "drop":
        return None
    if kind == "truncate":
        return flat[: max(0, flat.numel() - 1 - index % 3)]
    if kind == "empty":
        return flat[:0]
    if kind == "reshape":
        return flat.reshape(1, -1)
    if kind == "as_float":
        return flat.reshape(tensor.shape).double()
    if kind == "as_int":
        return flat.reshape(tensor.shape).long()
    if flat.numel() == 0:
        return flat
    i = index % flat.numel()
    values = {
        "nan": float("nan"),
        "inf": float("inf"),
        "huge": 1e12,
        "negative": -5,
        "minus_one": -1,
        "zero": 0,
        "self": i if own_index else 0,
        "big_index": 10**12,
    }
    value = values[kind]
    if not flat.is_floating_point() and isinstance(value, float) and not np.isfinite(value):
        value = -(2**62)
    flat[i] = value if flat.is_floating_point() else int(value)
    return flat.reshape(tensor.shape)


TENSOR_KINDS = [
    "nan", "inf", "huge", "negative", "minus_one", "zero", "self", "big_index",
    "drop", "truncate", "empty", "reshape", "as_float", "as_int",
]  # fmt: skip

HEADER_VALUES = st.one_of(
    st.just("<delete>"),
    st.none(),
    st.booleans(),
    st.integers(-(2**40), 2**40),
    st.sampled_from([0, -1, 1, 2, 3, 10**6, 10**12]),
    st.floats(allow_nan=True, allow_infinity=True),
    st.text(max_size=4),
    st.lists(st.integers(-3, 10**6), max_size=4),
    st.lists(st.text(max_size=2), max_size=3),
    st.just({}),
)


def field_paths(header: dict, prefix: tuple = ()) -> list[tuple]:
    paths = []
    for key, value in header.items():
        paths.append((*prefix, key))
        if isinstance(value, dict):
            paths.extend(field_paths(value, (*prefix, key)))
    return paths


def set_field(header: dict, path: tuple, value) -> dict:
    new = json.loads(json.dumps(header))
    target = new
    for key in path[:-1]:
        target = target[key]
    if value == "<delete>":
        del target[path[-1]]
    else:
        target[path[-1]] = value
    return new


# -- the tests ---------------------------------------------------------------------------------
@pytest.mark.parametrize("model", ["light_cnn", "random_forest"])
def test_the_unmutated_files_predict(model, saved_models, worker):
    assert worker.run(saved_models[model]) == {"stage": "ok"}


def _forest_prefix(tensors):
    return "forest." if "forest.left" in tensors else "opinion."


def _first_internal(tensors, prefix):
    return int(np.flatnonzero(tensors[prefix + "left"].numpy() != -1)[0])


@pytest.mark.parametrize(
    "case",
    ["feature index 10**12", "child pointing to its own node", "NaN network weights", "missing key 'model'"],
)
def test_the_crafted_files_of_the_report_give_clear_errors(case, saved_models, worker, tmp_path):
    model = "light_cnn" if case == "NaN network weights" else "random_forest"
    tensors, header = read_raw(saved_models[model])
    prefix = _forest_prefix(tensors)
    node = _first_internal(tensors, prefix)
    if case == "feature index 10**12":
        tensors[prefix + "feature"][node] = 10**12
    elif case == "child pointing to its own node":
        tensors[prefix + "left"][node] = node
    elif case == "NaN network weights":
        name = next(k for k in tensors if k.startswith("network.") and tensors[k].is_floating_point())
        tensors[name].fill_(float("nan"))
    else:
        del header["model"]
    path = tmp_path / "crafted.svnb"
    write_raw(path, tensors, header)
    result = worker.run(path)
    assert result["stage"] == "load", result
    judge(result, path, case)


@settings(max_examples=250, deadline=None, derandomize=True, database=None, suppress_health_check=list(HealthCheck))
@given(data=st.data())
def test_mutated_tensors_never_crash_or_hang(data, saved_models, worker, tmp_path_factory):
    model = data.draw(st.sampled_from(["light_cnn", "random_forest"]))
    tensors, header = read_raw(saved_models[model])
    name = data.draw(st.sampled_from(sorted(tensors)))
    kind = data.draw(st.sampled_from(TENSOR_KINDS))
    index = data.draw(st.integers(0, 10**6))
    own = name.endswith(("left", "right"))
    mutated = mutate_tensor(tensors[name], kind, index, own)
    if mutated is None:
        del tensors[name]
    else:
        tensors[name] = mutated
    path = tmp_path_factory.mktemp("fuzz") / "mutated.svnb"
    write_raw(path, tensors, header)
    judge(worker.run(path), path, f"{model}: tensor {name} {kind} @{index}")


@settings(max_examples=250, deadline=None, derandomize=True, database=None, suppress_health_check=list(HealthCheck))
@given(data=st.data())
def test_mutated_header_fields_never_crash_or_hang(data, saved_models, worker, tmp_path_factory):
    model = data.draw(st.sampled_from(["light_cnn", "random_forest"]))
    tensors, header = read_raw(saved_models[model])
    path_in_header = data.draw(st.sampled_from(field_paths(header)))
    value = data.draw(HEADER_VALUES)
    mutated = set_field(header, path_in_header, value)
    path = tmp_path_factory.mktemp("fuzz") / "mutated.svnb"
    write_raw(path, tensors, mutated)
    judge(worker.run(path), path, f"{model}: field {'.'.join(path_in_header)} = {value!r}")
