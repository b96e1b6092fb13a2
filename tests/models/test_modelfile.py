"""Model files: version 2 as written today, and every kind of version-1 file written before."""

from __future__ import annotations

import json
from pathlib import Path

import numpy as np
import pytest
from safetensors import safe_open
from safetensors.torch import save_file

import svetlana_nb as sv
from svetlana_nb.models import modelfile

GOLDEN = Path(__file__).resolve().parents[1] / "fixtures" / "golden"
PROBABILITIES = np.load(GOLDEN / "probabilities.npz")
NETWORK_FILE, FOREST_FILE = "infected_cells_2d-epochs=8", "infected_cells_2d-channels=1-epochs=8-model=random_forest"


def contents(path: Path) -> tuple[dict, dict]:
    with safe_open(str(path), framework="pt") as handle:
        return json.loads(handle.metadata()["svetlana_nb"]), {k: handle.get_tensor(k) for k in handle.keys()}


def rewrite(path: Path, header: dict, tensors: dict) -> Path:
    save_file(tensors, str(path), metadata={"svetlana_nb": json.dumps(header)})
    return path


@pytest.fixture(scope="module")
def infected():
    demo = sv.data.infected_cells_2d()
    return sv.Objects(demo.image, demo.mask)


def test_version_2_keeps_the_patch_spec_and_the_second_opinion_as_values(infected, tmp_path):
    clf = sv.Classifier.load(GOLDEN / f"{NETWORK_FILE}.svnb")
    clf.save(tmp_path / "v2.svnb")
    header, tensors = contents(tmp_path / "v2.svnb")
    assert header["version"] == 2 and header["patch"] == clf.patch.to_dict()
    assert header["second_opinion"] == {"weight": 0.5, "below": 0.8}
    assert header["backend"]["opinion"]["feature_names"][0] == "patch_area"
    assert {k.split(".")[0] for k in tensors} == {"network", "opinion"}
    again = sv.Classifier.load(tmp_path / "v2.svnb")
    assert again.patch == clf.patch and again.second_opinion == clf.second_opinion
    np.testing.assert_array_equal(again.predict_proba(infected), clf.predict_proba(infected))


def test_version_1_without_channels_downscale_or_second_opinion_loads_as_then(infected, tmp_path):
    header, tensors = contents(GOLDEN / f"{NETWORK_FILE}.svnb")
    assert header["version"] == 1
    oldest = {
        k: v
        for k, v in header.items()
        if k
        not in (
            "channels",
            "image_channels",
            "downscale",
            "forest_weight",
            "second_opinion_below",
            "patch_feature_names",
        )
    }
    network_only = {k: v for k, v in tensors.items() if not k.startswith("patch_forest.")}
    clf = sv.Classifier.load(rewrite(tmp_path / "oldest.svnb", oldest, network_only))
    assert clf.channels is None and clf.image_channels == 2 and clf.downscale == 1  # from in_channels
    assert clf.second_opinion is None and clf.backend.opinion is None  # the network alone, as then
    with_opinion = sv.Classifier.load(GOLDEN / f"{NETWORK_FILE}.svnb")
    np.testing.assert_allclose(clf.predict_proba(infected), with_opinion.network_proba(infected), atol=1e-6)


def test_version_1_saved_with_the_second_opinion_off_loads(infected, tmp_path):
    """Then, a network saved after its second opinion was turned off could not be read back."""
    header, tensors = contents(GOLDEN / f"{NETWORK_FILE}.svnb")
    off = rewrite(tmp_path / "off.svnb", {**header, "forest_weight": 0.0}, tensors)
    clf = sv.Classifier.load(off)
    assert clf.second_opinion is None and clf.backend.opinion is not None
    clf.second_opinion = sv.SecondOpinion()
    np.testing.assert_allclose(clf.predict_proba(infected), PROBABILITIES[NETWORK_FILE], atol=1e-5)


def test_version_1_forest_keeps_its_measurements(infected):
    clf = sv.Classifier.load(GOLDEN / f"{FOREST_FILE}.svnb")
    assert clf.model_name == "random_forest" and clf.network is None and clf.channels == (1,)
    assert "max_intensity_1" in clf.backend.forest.feature_names


@pytest.mark.parametrize(
    "change, message",
    [
        (lambda h, t: ({**h, "version": 7}, t), "version 7"),
        (
            lambda h, t: ({k: v for k, v in h.items() if k != "patch"}, t),
            r"incomplete model file \(missing \['patch'\]\)",
        ),
        (lambda h, t: ({**h, "format": "other"}, t), "not a svetlana_nb model file"),
        (lambda h, t: (h, {k: v for k, v in t.items() if not k.startswith("opinion.")}), "forest lacks"),
        (lambda h, t: (h, {k: v for k, v in t.items() if "classifier" not in k}), "is not a usable model file"),
    ],
)
def test_broken_files_are_refused_naming_the_file(change, message, tmp_path):
    source = tmp_path / "good.svnb"
    sv.Classifier.load(GOLDEN / f"{NETWORK_FILE}.svnb").save(source)
    header, tensors = contents(source)
    broken = rewrite(tmp_path / "broken.svnb", *change(header, tensors))
    with pytest.raises(ValueError, match=message):
        sv.Classifier.load(broken)


def test_write_refuses_a_header_missing_a_field(tmp_path):
    with pytest.raises(ValueError, match=r"header: missing field\(s\) \['backend'\]"):
        modelfile.write(tmp_path / "x.svnb", {}, {name: None for name in modelfile.HEADER_FIELDS[:-1]})
    assert not (tmp_path / "x.svnb").exists()
