"""The random forest kept as arrays: scikit-learn's compiled trees, the numpy walk, tensors."""

import numpy as np
import pytest

from svetlana_nb.models.forest import ForestModel


def test_forest_prediction_through_scikit_learn_trees_equals_the_numpy_walk():
    rng = np.random.default_rng(0)
    x = rng.normal(size=(80, 6))
    y = (x[:, 2] + 0.3 * rng.normal(size=80) > 0).astype(int) + (x[:, 4] > 1)
    forest = ForestModel.fit(x, y, 3, [f"f{i}" for i in range(6)], n_estimators=50)
    new = rng.normal(size=(500, 6))
    assert forest._sklearn_trees() is not None  # the fast path is the one in use here
    fast, walked = forest.predict_proba(new), forest.predict_proba_numpy(new)
    np.testing.assert_allclose(fast, walked, atol=1e-12)
    assert fast.shape == (500, 3) and len(np.unique(fast.argmax(1))) == 3


def test_forest_prediction_falls_back_to_numpy(monkeypatch):
    import svetlana_nb.models.forest as forest_module

    rng = np.random.default_rng(1)
    x, y = rng.normal(size=(40, 3)), np.arange(40) % 2
    forest = ForestModel.fit(x, y, 2, ["a", "b", "c"], n_estimators=10)
    expected = forest.predict_proba(x)

    def unsupported(*_args):
        raise TypeError("another scikit-learn")

    monkeypatch.setattr(forest_module, "_rebuild_trees", unsupported)
    rebuilt = ForestModel(forest.arrays, forest.feature_names)
    np.testing.assert_allclose(rebuilt.predict_proba(x), expected, atol=1e-12)
    assert rebuilt._sklearn_trees() is None


def test_forest_arrays_go_to_tensors_and_back():
    rng = np.random.default_rng(2)
    x, y = rng.normal(size=(30, 4)), np.arange(30) % 2
    forest = ForestModel.fit(x, y, 2, ["a", "b", "c", "d"], n_estimators=5)
    tensors = forest.tensors("forest.")
    assert sorted(tensors) == sorted(f"forest.{name}" for name in ForestModel.ARRAYS)
    back = ForestModel.from_tensors(tensors, "forest.", forest.feature_names)
    np.testing.assert_array_equal(back.predict_proba(x), forest.predict_proba(x))
    del tensors["forest.roots"]
    with pytest.raises(ValueError, match=r"lacks the arrays \['roots'\]"):
        ForestModel.from_tensors(tensors, "forest.", forest.feature_names)
