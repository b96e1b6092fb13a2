"""A random forest kept as arrays: trained with scikit-learn, saved without pickles.

Both the random-forest model and the second opinion use it. After training, the trees are
kept as plain arrays (node features, thresholds, children, class fractions), which a model
file stores as tensors; prediction rebuilds scikit-learn's compiled trees from them.
"""

from __future__ import annotations

import numpy as np
import torch


def preload() -> None:
    """Import scikit-learn's forest now (slow the first time) rather than at the first fit."""
    import sklearn.ensemble  # noqa: F401


class ForestModel:
    """A fitted forest as arrays.

    Attributes
    ----------
    feature, threshold, left, right : numpy.ndarray, shape (total_nodes,)
        All trees' nodes concatenated; ``left == -1`` marks a leaf; children indices are global.
    value : numpy.ndarray, shape (total_nodes, n_classes)
        Class fractions at each node.
    roots : numpy.ndarray, shape (n_trees,)
        Global index of each tree's root.
    feature_names : list of str
    importances : numpy.ndarray, shape (n_features,)
    mean, scale : numpy.ndarray, shape (n_features,)
        Feature standardisation (kept for explanations).
    """

    #: The arrays a fitted forest holds (saved in model files).
    ARRAYS = ("feature", "threshold", "left", "right", "value", "roots", "importances", "mean", "scale")

    def __init__(self, arrays: dict[str, np.ndarray], feature_names: list[str]) -> None:
        self.arrays = arrays
        self.feature_names = list(feature_names)
        self.oob_proba: np.ndarray | None = None  # set by fit()
        self._trees: list | None = None  # scikit-learn trees rebuilt from the arrays, at the first use
        self._trees_built = False

    @classmethod
    def fit(
        cls,
        x: np.ndarray,
        y: np.ndarray,
        n_classes: int,
        feature_names: list[str],
        *,
        n_estimators: int = 200,
        seed: int | None = 0,
        class_weight: bool = True,
    ) -> "ForestModel":
        """Train on features ``x`` (n, f) and classes ``y`` (n,).

        The fitted model's :attr:`oob_proba` (n, n_classes) holds each training object's class
        fractions over the trees that did not see it (out of bag): a validation estimate that
        costs no held-out annotation (rows no tree left out, rare beyond a few trees, are NaN).
        """
        import warnings

        from sklearn.ensemble import RandomForestClassifier

        forest = RandomForestClassifier(
            n_estimators=n_estimators,
            random_state=seed,
            n_jobs=1,
            class_weight="balanced" if class_weight else None,
            min_samples_leaf=1,
            oob_score=True,
        )
        with warnings.catch_warnings():  # "some inputs do not have OOB scores": NaN rows, documented
            warnings.simplefilter("ignore", UserWarning)
            forest.fit(x, y)
        feature, threshold, left, right, value, roots = [], [], [], [], [], []
        offset = 0
        for estimator in forest.estimators_:
            tree = estimator.tree_
            fractions = np.zeros((tree.node_count, n_classes))
            raw = tree.value[:, 0, :]
            fractions[:, estimator.classes_.astype(int)] = raw / np.maximum(raw.sum(1, keepdims=True), 1e-12)
            is_leaf = tree.children_left == -1
            feature.append(np.where(is_leaf, 0, tree.feature))
            threshold.append(tree.threshold)
            left.append(np.where(is_leaf, -1, tree.children_left + offset))
            right.append(np.where(is_leaf, -1, tree.children_right + offset))
            value.append(fractions)
            roots.append(offset)
            offset += tree.node_count
        arrays = {
            "feature": np.concatenate(feature).astype(np.int64),
            "threshold": np.concatenate(threshold).astype(np.float64),
            "left": np.concatenate(left).astype(np.int64),
            "right": np.concatenate(right).astype(np.int64),
            "value": np.concatenate(value).astype(np.float64),
            "roots": np.asarray(roots, dtype=np.int64),
            "importances": forest.feature_importances_.astype(np.float64),
            "mean": x.mean(0).astype(np.float64),
            "scale": (x.std(0) + 1e-12).astype(np.float64),
        }
        model = cls(arrays, feature_names)
        oob = np.full((len(x), n_classes), np.nan)
        oob[:, forest.classes_.astype(int)] = forest.oob_decision_function_
        oob[~(oob > 0).any(axis=1)] = np.nan  # no tree left this row out
        model.oob_proba = oob
        return model

    def tensors(self, prefix: str) -> dict[str, torch.Tensor]:
        """The arrays as tensors named ``prefix + array`` (for a model file)."""
        return {f"{prefix}{k}": torch.from_numpy(np.ascontiguousarray(v)) for k, v in self.arrays.items()}

    @classmethod
    def from_tensors(cls, tensors: dict[str, torch.Tensor], prefix: str, feature_names: list[str]) -> ForestModel:
        """The forest whose arrays are the tensors named ``prefix + array``; ``ValueError`` if one is missing."""
        arrays = {k[len(prefix) :]: v.numpy() for k, v in tensors.items() if k.startswith(prefix)}
        missing = sorted(set(cls.ARRAYS) - set(arrays))
        if missing:
            raise ValueError(f"its forest lacks the arrays {missing}")
        names = list(feature_names)
        check_arrays(arrays, n_features=len(names))
        return cls(arrays, names)

    def predict_proba(self, x: np.ndarray) -> np.ndarray:
        """Mean class fractions over trees, shape (n, n_classes).

        Runs scikit-learn's compiled tree traversal on trees rebuilt from the arrays (much faster
        than a numpy walk); falls back to the vectorised numpy walk (:meth:`predict_proba_numpy`)
        if this scikit-learn cannot rebuild them.
        """
        if x.ndim != 2 or x.shape[1] != len(self.feature_names):
            # the compiled trees index columns unchecked: fewer columns than features reads outside memory
            raise ValueError(
                f"the forest reads {len(self.feature_names)} measurements, got an array of shape {x.shape}"
            )
        trees = self._sklearn_trees()
        if trees is None:
            return self.predict_proba_numpy(x)
        x32 = np.ascontiguousarray(x, dtype=np.float32)
        total = np.zeros((len(x32), self.arrays["value"].shape[1]))
        for tree in trees:
            total += tree.predict(x32).reshape(len(x32), -1)
        return total / len(trees)

    def predict_proba_numpy(self, x: np.ndarray) -> np.ndarray:
        """:meth:`predict_proba` in numpy only, vectorised over objects and trees."""
        a = self.arrays
        x = np.asarray(x, dtype=np.float32).astype(np.float64)  # what scikit-learn compares
        n = len(x)
        node = np.repeat(a["roots"][None, :], n, axis=0)  # (n, n_trees)
        rows = np.arange(n)[:, None]
        while True:
            internal = a["left"][node] != -1
            if not internal.any():
                break
            go_left = x[rows, a["feature"][node]] <= a["threshold"][node]
            child = np.where(go_left, a["left"][node], a["right"][node])
            node = np.where(internal, child, node)
        return a["value"][node].mean(axis=1)

    def prepare(self) -> None:
        """Rebuild the compiled trees now (else at the first prediction): before threads share them."""
        self._sklearn_trees()

    def _sklearn_trees(self) -> list | None:
        """scikit-learn ``Tree`` objects rebuilt from the arrays (cached), or None if unsupported."""
        if not self._trees_built:
            try:
                self._trees = _rebuild_trees(self.arrays, len(self.feature_names))
            except Exception:  # another scikit-learn layout: the numpy walk still works
                self._trees = None
            self._trees_built = True
        return self._trees

    def top_features(self, x_row: np.ndarray, k: int = 5) -> list[tuple[str, float, float]]:
        """The ``k`` most important features: (name, importance, value as a z-score)."""
        imp = self.arrays["importances"]
        order = np.argsort(imp)[::-1][:k]
        z = (np.asarray(x_row, dtype=float) - self.arrays["mean"]) / self.arrays["scale"]
        return [(self.feature_names[i], float(imp[i]), float(z[i])) for i in order]


def _rebuild_trees(arrays: dict[str, np.ndarray], n_features: int) -> list:
    """One scikit-learn ``Tree`` per tree of ``arrays``, for its compiled ``predict``."""
    from sklearn.tree._tree import Tree

    value = np.asarray(arrays["value"], dtype=np.float64)
    n_classes = np.array([value.shape[1]], dtype=np.intp)
    node_dtype = Tree(n_features, n_classes, 1).__getstate__()["nodes"].dtype
    ends = [*arrays["roots"][1:], len(arrays["left"])]
    trees = []
    for begin, end in zip(arrays["roots"], ends):
        left, right = arrays["left"][begin:end], arrays["right"][begin:end]
        leaf = left == -1
        nodes = np.zeros(end - begin, dtype=node_dtype)
        nodes["left_child"] = np.where(leaf, -1, left - begin)
        nodes["right_child"] = np.where(leaf, -1, right - begin)
        nodes["feature"] = np.where(leaf, -2, arrays["feature"][begin:end])
        nodes["threshold"] = np.where(leaf, -2.0, arrays["threshold"][begin:end])
        nodes["n_node_samples"] = 1
        nodes["weighted_n_node_samples"] = 1.0
        tree = Tree(n_features, n_classes, 1)
        tree.__setstate__(
            {
                "max_depth": int(end - begin),
                "node_count": int(end - begin),
                "nodes": nodes,
                "values": np.ascontiguousarray(value[begin:end, None, :]),
            }
        )
        trees.append(tree)
    return trees


#: More nodes than any forest of this project holds (200 trees of a few thousand annotations).
MAX_NODES = 50_000_000


def check_arrays(arrays: dict[str, np.ndarray], *, n_features: int) -> None:
    """``ValueError`` naming the array unless ``arrays`` form a forest that prediction can walk safely.

    scikit-learn's compiled trees trust their node arrays: a feature index out of range reads
    outside memory, and a child pointing back makes the walk endless. So, vectorised over all
    nodes: shapes agree, numbers are finite, every internal node has two children inside its own
    tree and after itself (which rules out cycles), and features are in range.

    Parameters
    ----------
    arrays : dict of str to numpy.ndarray
        The arrays of :attr:`ForestModel.ARRAYS`, as read from a file.
    n_features : int
        Length of the forest's feature names.
    """
    if n_features < 1:
        raise ValueError("its forest has no feature names")
    kinds = {"feature": "i", "left": "i", "right": "i", "roots": "i"}
    for name in ForestModel.ARRAYS:
        array = arrays[name]
        expected_kind = kinds.get(name, "f")
        if array.dtype.kind != expected_kind:
            raise ValueError(
                f"forest array {name!r}: expected {'integers' if expected_kind == 'i' else 'floats'}, got {array.dtype}"
            )
        if expected_kind == "f" and not np.isfinite(array).all():
            raise ValueError(f"forest array {name!r}: holds NaN or infinite values")
    left, right, feature, threshold = arrays["left"], arrays["right"], arrays["feature"], arrays["threshold"]
    value, roots = arrays["value"], arrays["roots"]
    n = len(left)
    if not 0 < n <= MAX_NODES or any(a.shape != (n,) for a in (left, right, feature, threshold)):
        raise ValueError(
            f"forest arrays 'left', 'right', 'feature', 'threshold': expected one value per node (1 to {MAX_NODES}), "
            f"got shapes {[a.shape for a in (left, right, feature, threshold)]}"
        )
    if value.ndim != 2 or value.shape[0] != n or value.shape[1] < 2:
        raise ValueError(f"forest array 'value': expected shape ({n}, n_classes >= 2), got {value.shape}")
    leaf_sums = value[left == -1].sum(axis=1) if len(left) == n else np.zeros(0)
    if (value < 0).any() or (value > 1).any() or (np.abs(leaf_sums - 1.0) > 1e-6).any():
        raise ValueError("forest array 'value': expected class fractions from 0 to 1, summing to 1 at each leaf")
    if roots.ndim != 1 or len(roots) == 0 or roots[0] != 0 or (np.diff(roots) <= 0).any() or roots[-1] >= n:
        raise ValueError("forest array 'roots': expected increasing node indices starting at 0, each inside the forest")
    for name in ("importances", "mean", "scale"):
        if arrays[name].shape != (n_features,):
            raise ValueError(f"forest array {name!r}: expected shape ({n_features},), got {arrays[name].shape}")
    nodes = np.arange(n)
    tree_end = np.append(roots[1:], n)[np.searchsorted(roots, nodes, side="right") - 1]
    leaf = left == -1
    if ((right == -1) != leaf).any():
        raise ValueError("forest arrays 'left' and 'right': a node has one child only")
    internal = ~leaf
    for name, child in (("left", left), ("right", right)):
        bad = internal & ((child <= nodes) | (child >= tree_end))
        if bad.any():
            node = int(np.flatnonzero(bad)[0])
            raise ValueError(
                f"forest array {name!r}: node {node} points to {int(child[node])}, outside its tree or backwards"
            )
    if (internal & ((feature < 0) | (feature >= n_features))).any():
        raise ValueError(f"forest array 'feature': indices must lie in [0, {n_features - 1}]")
