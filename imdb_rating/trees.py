"""Tree ensembles flattened into arrays and walked by one compiled loop, for serving.

scikit-learn predicts through a Python-level call per tree (~15 µs each: 7 ms for one row
of a 500-iteration boosting model). Here one numba-compiled loop walks every tree for every
row (microseconds per row). `flatten` checks itself against the model's own predictions on
probe rows (thresholds, their neighbours and NaNs) and refuses on any mismatch.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

import numpy as np
from numba import njit
from sklearn.ensemble import HistGradientBoostingRegressor, RandomForestRegressor

PROBE_ROWS = 256
# Predictions must agree to float rounding (summation order differs).
TOLERANCE = 1e-9


class UnsupportedModelError(ValueError):
    """The model has parts this evaluator does not implement (e.g. categorical splits)."""


# One record per node, so a node visit touches one cache line: between requests the rest of
# the service evicts the ensemble from cache, and separate arrays cost several misses a node.
# A leaf (left == itself) keeps its scaled value in `threshold`.
NODE = np.dtype(
    [
        ("threshold", np.float64),
        ("feature", np.int32),
        ("left", np.int32),
        ("right", np.int32),
        ("missing_left", np.bool_),
    ],
    align=True,
)


@njit(nogil=True)
def _walk(x, nodes, roots, baseline, out):
    for i in range(x.shape[0]):
        total = baseline  # summed in scikit-learn's order: baseline, then tree by tree
        for root in roots:
            node = root
            while nodes[node].left != node:
                v = x[i, nodes[node].feature]
                if v != v:  # NaN
                    node = nodes[node].left if nodes[node].missing_left else nodes[node].right
                elif v <= nodes[node].threshold:
                    node = nodes[node].left
                else:
                    node = nodes[node].right
            total += nodes[node].threshold  # a leaf's value
        out[i] = total


@dataclass(frozen=True)
class FlatEnsemble:
    nodes: np.ndarray  # NODE records: go left when x <= threshold
    roots: np.ndarray
    baseline: float
    input_dtype: type  # forests compare in float32, as scikit-learn does

    def predict(self, rows: np.ndarray) -> np.ndarray:
        x = np.ascontiguousarray(np.asarray(rows, dtype=self.input_dtype), dtype=np.float64)
        out = np.empty(len(x))
        _walk(x, self.nodes, self.roots, self.baseline, out)
        return out


def _from_gradient_boosting(model: HistGradientBoostingRegressor) -> dict[str, Any]:
    if type(model._loss).__name__ != "HalfSquaredError":
        raise UnsupportedModelError(f"loss {model.loss!r}: only squared_error is supported")
    parts = []
    for iteration in model._predictors:
        for predictor in iteration:
            nodes = predictor.nodes
            if nodes["is_categorical"].any():
                raise UnsupportedModelError("categorical splits are not supported")
            leaf = nodes["is_leaf"].astype(bool)
            own = np.arange(len(nodes))
            parts.append(
                {
                    "feature": np.where(leaf, 0, nodes["feature_idx"]),
                    "threshold": nodes["num_threshold"],
                    "left": np.where(leaf, own, nodes["left"]),
                    "right": np.where(leaf, own, nodes["right"]),
                    "missing_left": nodes["missing_go_to_left"].astype(bool),
                    "value": np.where(leaf, nodes["value"], 0.0),
                }
            )
    return {"parts": parts, "baseline": float(model._baseline_prediction.ravel()[0])}


def _from_forest(model: RandomForestRegressor) -> dict[str, Any]:
    parts = []
    scale = 1.0 / len(model.estimators_)
    for estimator in model.estimators_:
        tree = estimator.tree_
        leaf = tree.children_left < 0
        own = np.arange(tree.node_count)
        missing = getattr(tree, "missing_go_to_left", np.zeros(tree.node_count, dtype=np.uint8))
        parts.append(
            {
                "feature": np.where(leaf, 0, tree.feature),
                "threshold": tree.threshold,
                "left": np.where(leaf, own, tree.children_left),
                "right": np.where(leaf, own, tree.children_right),
                "missing_left": missing.astype(bool),
                "value": np.where(leaf, tree.value[:, 0, 0] * scale, 0.0),
            }
        )
    return {"parts": parts, "baseline": 0.0}


def _probe_rows(flat: FlatEnsemble, n_features: int, seed: int = 0) -> np.ndarray:
    """Rows that sit on, just beside, and away from the model's own split points."""
    rng = np.random.default_rng(seed)
    rows = np.empty((PROBE_ROWS, n_features))
    for column in range(n_features):
        splits = flat.nodes["left"] != np.arange(len(flat.nodes))
        points = np.unique(flat.nodes["threshold"][splits & (flat.nodes["feature"] == column)])
        points = points[np.isfinite(points)]
        if points.size == 0:
            points = np.array([0.0])
        picked = rng.choice(points, PROBE_ROWS) + rng.choice([-1e-6, 0.0, 1e-6], PROBE_ROWS)
        rows[:, column] = picked
    rows[rng.random(rows.shape) < 0.1] = np.nan
    return rows


def flatten(model: Any) -> FlatEnsemble:
    if isinstance(model, HistGradientBoostingRegressor):
        extracted, dtype = _from_gradient_boosting(model), np.float64
    elif isinstance(model, RandomForestRegressor):
        extracted, dtype = _from_forest(model), np.float32
    else:
        raise UnsupportedModelError(f"{type(model).__name__} cannot be flattened")
    parts = extracted["parts"]
    offsets = np.cumsum([0] + [len(part["feature"]) for part in parts[:-1]])

    def stacked(key: str, shift: bool = False) -> np.ndarray:
        pieces = [p[key] + o if shift else p[key] for p, o in zip(parts, offsets, strict=True)]
        return np.concatenate(pieces)

    left = stacked("left", shift=True)
    nodes = np.empty(len(left), dtype=NODE)
    is_leaf = left == np.arange(len(left))
    nodes["threshold"] = np.where(is_leaf, stacked("value"), stacked("threshold"))
    nodes["feature"] = stacked("feature")
    nodes["left"] = left
    nodes["right"] = stacked("right", shift=True)
    nodes["missing_left"] = stacked("missing_left")
    flat = FlatEnsemble(
        nodes=nodes,
        roots=offsets.astype(np.int32),
        baseline=extracted["baseline"],
        input_dtype=dtype,
    )
    probe = _probe_rows(flat, model.n_features_in_)
    gap = float(np.max(np.abs(flat.predict(probe) - model.predict(probe))))
    if gap > TOLERANCE:
        raise UnsupportedModelError(f"flattened model disagrees with the original by {gap:g}")
    return flat
