"""The classical baseline: a random forest on per-object measurements.

Trained with scikit-learn, then kept as plain arrays (node features, thresholds, children,
class fractions) so it saves without pickles and predicts with vectorised numpy.
"""

from __future__ import annotations

import numpy as np


def preload() -> None:
    """Import scikit-learn's forest now (1-3 s the first time) rather than at the first fit."""
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

    def __init__(self, arrays: dict[str, np.ndarray], feature_names: list[str]) -> None:
        self.arrays = arrays
        self.feature_names = list(feature_names)

    @classmethod
    def fit(cls, x: np.ndarray, y: np.ndarray, n_classes: int, feature_names: list[str], *,
            n_estimators: int = 200, seed: int | None = 0, class_weight: bool = True) -> "ForestModel":
        """Train on features ``x`` (n, f) and classes ``y`` (n,)."""
        from sklearn.ensemble import RandomForestClassifier

        forest = RandomForestClassifier(n_estimators=n_estimators, random_state=seed, n_jobs=1,
                                        class_weight="balanced" if class_weight else None, min_samples_leaf=1)
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
        return cls(arrays, feature_names)

    def predict_proba(self, x: np.ndarray) -> np.ndarray:
        """Mean class fractions over trees, shape (n, n_classes); vectorised over objects."""
        a = self.arrays
        x = np.asarray(x, dtype=np.float64)
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

    def top_features(self, x_row: np.ndarray, k: int = 5) -> list[tuple[str, float, float]]:
        """The ``k`` most important features: (name, importance, value as a z-score)."""
        imp = self.arrays["importances"]
        order = np.argsort(imp)[::-1][:k]
        z = (np.asarray(x_row, dtype=float) - self.arrays["mean"]) / self.arrays["scale"]
        return [(self.feature_names[i], float(imp[i]), float(z[i])) for i in order]
