"""Tree ensembles flattened into one node array and walked by a compiled loop, for serving.

scikit-learn predicts through a Python-level call per tree (~15 µs each: 4 ms for one row of
a 250-round boosting model). Here one numba-compiled loop walks every tree (microseconds per
row). `flatten` checks itself against the model's own predictions on probe rows (thresholds,
their neighbours, NaNs) and refuses on any mismatch.

The boosting libraries (XGBoost, LightGBM, CatBoost) arrive as a `TreeEnsemble`: their trees
read from the library's own dump at training (stages/families.py), with the library's
predictions on probe rows recorded beside them, so that every load checks the walk against the
library without importing it.

Layout: each tree in depth-first preorder, so a split's left child is the next node; a node
is 16 bytes (four to a cache line). Between requests the rest of the service evicts the
ensemble from cache, so the walk's cost is mostly cache misses: fewer, smaller nodes help.
"""

from __future__ import annotations

import itertools
from collections.abc import Callable
from dataclasses import dataclass
from typing import Any

import numpy as np
from numba import njit
from sklearn.ensemble import HistGradientBoostingRegressor, RandomForestRegressor
from threadpoolctl import threadpool_limits

PROBE_ROWS = 256
# Predictions must agree to float rounding (summation order differs for forests).
TOLERANCE = 1e-9
LEAF, MISSING_LEFT = 1, 2  # bits of NODE.flags

# `value` is the split threshold (go left when x <= value) or, for a leaf, its scaled output.
NODE = np.dtype(
    [("value", np.float64), ("right", np.int32), ("feature", np.int16), ("flags", np.uint8)],
    align=True,
)


class UnsupportedModelError(ValueError):
    """The model has parts this evaluator does not implement (e.g. categorical splits)."""


@njit(nogil=True)
def _walk(x, nodes, roots, baseline, out):
    # Tree by tree over all rows: a tree's nodes stay in cache while the rows stream past.
    # Each row still sums in the library's order: baseline, then tree by tree, in out's
    # precision (XGBoost sums in float32: a float64 sum rounded to float32 each step is the
    # same, as 53 bits hold twice float32's 24 plus two).
    out[:] = baseline
    for root in roots:
        for i in range(x.shape[0]):
            node = root
            while not nodes[node].flags & LEAF:
                v = x[i, nodes[node].feature]
                # NaN (v != v) follows the split's missing-value direction.
                left = nodes[node].flags & MISSING_LEFT if v != v else v <= nodes[node].value
                node = node + 1 if left else nodes[node].right
            out[i] += nodes[node].value


@njit(nogil=True)
def _walk_oblivious(x, feature, threshold, missing_right, leaves, baseline, out):
    # An oblivious tree's leaf is numbered by its levels' outcomes (bit l: level l went right),
    # found without a data-dependent branch: distinct rows cost what a repeated row costs.
    out[:] = baseline
    for tree in range(feature.shape[0]):
        for i in range(x.shape[0]):
            leaf = 0
            for level in range(feature.shape[1]):
                v = x[i, feature[tree, level]]
                right = missing_right[tree, level] if v != v else v > threshold[tree, level]
                leaf |= right << level
            out[i] += leaves[tree, leaf]


def compile_walk() -> None:
    """Compile the walk for the argument types `FlatEnsemble.predict` passes. Gunicorn's master
    calls this before it forks the workers, which then inherit the machine code instead of
    each compiling it again at start (the slowest part of a worker's start)."""
    leaf = np.zeros(1, dtype=NODE)
    leaf["flags"] = LEAF
    level = np.zeros((1, 1), dtype=np.int64), np.zeros((1, 1)), np.zeros((1, 1), dtype=bool)
    for precision in SUM_PRECISIONS:
        _walk(np.zeros((1, 1)), leaf, np.zeros(1, dtype=np.int32), 0.0, np.empty(1, precision))
        _walk_oblivious(np.zeros((1, 1)), *level, np.zeros((1, 2)), 0.0, np.empty(1, precision))


SUM_PRECISIONS = ("float64", "float32")


@dataclass(frozen=True)
class ObliviousLevels:
    """Trees whose every level tests one feature against one threshold (CatBoost's), as
    [tree, level] arrays; shallower trees are padded with levels that always go left."""

    feature: np.ndarray
    threshold: np.ndarray
    missing_right: np.ndarray
    leaves: np.ndarray  # [tree, leaf number]


@dataclass(frozen=True)
class FlatEnsemble:
    nodes: np.ndarray  # NODE records, every tree in preorder
    roots: np.ndarray
    baseline: float
    input_dtype: str  # forests, XGBoost and CatBoost compare in float32
    sum_dtype: str = "float64"  # XGBoost sums in float32
    oblivious: ObliviousLevels | None = None  # the same trees, when every one is oblivious

    def predict(self, rows: np.ndarray) -> np.ndarray:
        x = np.ascontiguousarray(np.asarray(rows, dtype=self.input_dtype), dtype=np.float64)
        out = np.empty(len(x), dtype=self.sum_dtype)
        if self.oblivious is None:
            _walk(x, self.nodes, self.roots, self.baseline, out)
        else:
            levels = self.oblivious
            _walk_oblivious(
                x,
                levels.feature,
                levels.threshold,
                levels.missing_right,
                levels.leaves,
                self.baseline,
                out,
            )
        return out.astype(np.float64, copy=False)


@dataclass(frozen=True)
class Tree:
    """One tree as scikit-learn stores it; leaves are nodes with left < 0."""

    feature: np.ndarray
    threshold: np.ndarray
    left: np.ndarray
    right: np.ndarray
    missing_left: np.ndarray
    value: np.ndarray  # scaled leaf output (0 for splits)


def _gradient_boosting_trees(model: HistGradientBoostingRegressor) -> list[Tree]:
    if type(model._loss).__name__ != "HalfSquaredError":
        raise UnsupportedModelError(f"loss {model.loss!r}: only squared_error is supported")
    trees = []
    for iteration in model._predictors:
        for predictor in iteration:
            nodes = predictor.nodes
            if nodes["is_categorical"].any():
                raise UnsupportedModelError("categorical splits are not supported")
            leaf = nodes["is_leaf"].astype(bool)
            trees.append(
                Tree(
                    feature=nodes["feature_idx"],
                    threshold=nodes["num_threshold"],
                    left=np.where(leaf, -1, nodes["left"].astype(np.int64)),
                    right=np.where(leaf, -1, nodes["right"].astype(np.int64)),
                    missing_left=nodes["missing_go_to_left"].astype(bool),
                    value=np.where(leaf, nodes["value"], 0.0),
                )
            )
    return trees


@dataclass(frozen=True)
class TreeEnsemble:
    """A boosting library's trees (every `Tree`'s arrays end to end, `sizes` nodes each) and
    the library's own predictions on `probe_rows`: the walk must reproduce them at every load.
    A trusted type of the skops artifact: arrays, numbers and strings only."""

    family: str
    feature: np.ndarray
    threshold: np.ndarray
    left: np.ndarray
    right: np.ndarray
    missing_left: np.ndarray
    value: np.ndarray
    sizes: np.ndarray
    baseline: float
    input_dtype: str
    sum_dtype: str
    n_features_in_: int
    probe_rows: np.ndarray
    probe_predictions: np.ndarray

    def trees(self) -> list[Tree]:
        bounds = np.concatenate([[0], np.cumsum(self.sizes)])
        return [
            Tree(
                feature=self.feature[start:end],
                threshold=self.threshold[start:end],
                left=self.left[start:end],
                right=self.right[start:end],
                missing_left=self.missing_left[start:end],
                value=self.value[start:end],
            )
            for start, end in itertools.pairwise(bounds)
        ]


def record_library_trees(
    family: str,
    trees: list[Tree],
    baseline: float,
    input_dtype: str,
    sum_dtype: str,
    n_features: int,
    library_predict: Callable[[np.ndarray], np.ndarray],
) -> TreeEnsemble:
    """The trees read from a library's dump, with the library's predictions on probe rows."""
    nodes, roots = _pack(trees)
    probe = _probe_rows(FlatEnsemble(nodes, roots, baseline, input_dtype, sum_dtype), n_features)
    return TreeEnsemble(
        family=family,
        **{
            part: np.concatenate([getattr(tree, part) for tree in trees])
            for part in ("feature", "threshold", "left", "right", "missing_left", "value")
        },
        sizes=np.array([len(tree.feature) for tree in trees], dtype=np.int64),
        baseline=float(baseline),
        input_dtype=input_dtype,
        sum_dtype=sum_dtype,
        n_features_in_=n_features,
        probe_rows=probe,
        probe_predictions=np.asarray(library_predict(probe), dtype=np.float64),
    )


def _forest_trees(model: RandomForestRegressor) -> list[Tree]:
    scale = 1.0 / len(model.estimators_)
    trees = []
    for estimator in model.estimators_:
        tree = estimator.tree_
        leaf = tree.children_left < 0
        missing = getattr(tree, "missing_go_to_left", np.zeros(tree.node_count, dtype=np.uint8))
        trees.append(
            Tree(
                feature=tree.feature,
                threshold=tree.threshold,
                left=tree.children_left,
                right=tree.children_right,
                missing_left=missing.astype(bool),
                value=np.where(leaf, tree.value[:, 0, 0] * scale, 0.0),
            )
        )
    return trees


def _preorder(tree: Tree) -> list[int]:
    order, stack = [], [0]
    while stack:
        node = stack.pop()
        order.append(node)
        if tree.left[node] >= 0:
            stack += [int(tree.right[node]), int(tree.left[node])]
    return order


def _pack(trees: list[Tree]) -> tuple[np.ndarray, np.ndarray]:
    # Only the nodes reachable from each root (XGBoost's dumps keep pruned ones).
    orders = [np.asarray(_preorder(tree)) for tree in trees]
    nodes = np.zeros(sum(len(order) for order in orders), dtype=NODE)
    roots = np.empty(len(trees), dtype=np.int32)
    start = 0
    for index, (tree, order) in enumerate(zip(trees, orders, strict=True)):
        position = np.empty(len(order), dtype=np.int64)
        position[order] = np.arange(len(order)) + start
        leaf = tree.left[order] < 0
        block = nodes[start : start + len(order)]
        block["value"] = np.where(leaf, tree.value[order], tree.threshold[order])
        block["right"] = np.where(leaf, -1, position[np.where(leaf, 0, tree.right[order])])
        block["feature"] = np.where(leaf, 0, tree.feature[order])
        block["flags"] = leaf * LEAF + tree.missing_left[order] * MISSING_LEFT
        roots[index] = start
        start += len(order)
    return nodes, roots


def _oblivious_tree(tree: Tree) -> tuple[list[tuple[int, float, bool]], list[float]] | None:
    """The tree's levels (feature, threshold, missing goes right) and its leaves by number, if
    every level splits all its nodes alike; None otherwise."""
    levels, nodes = [], [0]
    while tree.left[nodes[0]] >= 0:
        test = {(tree.feature[n], tree.threshold[n], not tree.missing_left[n]) for n in nodes}
        if len(test) != 1 or any(tree.left[n] < 0 for n in nodes):
            return None
        levels.append(next(iter(test)))
        # A child's number is its parent's, plus 2**level if it is the right child: listing
        # every left child, then every right one, keeps the nodes in number order.
        nodes = [int(tree.left[n]) for n in nodes] + [int(tree.right[n]) for n in nodes]
    if any(tree.left[n] >= 0 for n in nodes):
        return None
    return levels, [float(tree.value[n]) for n in nodes]


def _oblivious_levels(trees: list[Tree]) -> ObliviousLevels | None:
    found = []
    for tree in trees:
        oblivious = _oblivious_tree(tree)
        if oblivious is None:
            return None
        found.append(oblivious)
    depth = max(len(levels) for levels, _ in found)
    feature = np.zeros((len(found), depth), dtype=np.int64)
    threshold = np.full((len(found), depth), np.inf)  # padding: always left
    missing_right = np.zeros((len(found), depth), dtype=bool)
    leaves = np.zeros((len(found), 2**depth))
    for index, (levels, values) in enumerate(found):
        for level, (column, value, right) in enumerate(levels):
            feature[index, level], threshold[index, level] = column, value
            missing_right[index, level] = right
        leaves[index, : len(values)] = values
    return ObliviousLevels(feature, threshold, missing_right, leaves)


def _probe_rows(flat: FlatEnsemble, n_features: int, seed: int = 0) -> np.ndarray:
    """Rows that sit on, just beside, and away from the model's own split points."""
    rng = np.random.default_rng(seed)
    splits = flat.nodes[(flat.nodes["flags"] & LEAF) == 0]
    rows = np.empty((PROBE_ROWS, n_features))
    for column in range(n_features):
        points = np.unique(splits["value"][splits["feature"] == column])
        points = points[np.isfinite(points)]  # a missing-vs-present split has threshold inf
        if points.size == 0:
            points = np.array([0.0])
        picked = rng.choice(points, PROBE_ROWS) + rng.choice([-1e-6, 0.0, 1e-6], PROBE_ROWS)
        rows[:, column] = picked
    rows[rng.random(rows.shape) < 0.1] = np.nan
    return rows


def flatten(model: Any) -> FlatEnsemble:
    sum_dtype = "float64"
    if isinstance(model, HistGradientBoostingRegressor):
        trees, baseline = _gradient_boosting_trees(model), float(model._baseline_prediction[0, 0])
        dtype = "float64"
    elif isinstance(model, RandomForestRegressor):
        trees, baseline, dtype = _forest_trees(model), 0.0, "float32"
    elif isinstance(model, TreeEnsemble):
        trees, baseline, dtype, sum_dtype = (
            model.trees(),
            model.baseline,
            model.input_dtype,
            model.sum_dtype,
        )
    else:
        raise UnsupportedModelError(f"{type(model).__name__} cannot be flattened")
    if model.n_features_in_ > np.iinfo(np.int16).max:
        raise UnsupportedModelError(f"{model.n_features_in_} features exceed the node layout")
    if dtype not in ("float64", "float32") or sum_dtype not in SUM_PRECISIONS:
        raise UnsupportedModelError(f"precision {dtype}/{sum_dtype} is not walked")
    nodes, roots = _pack(trees)
    flat = FlatEnsemble(nodes, roots, baseline, dtype, sum_dtype, _oblivious_levels(trees))
    if isinstance(model, TreeEnsemble):
        probe, expected = model.probe_rows, model.probe_predictions
    else:
        probe = _probe_rows(flat, model.n_features_in_)
        # One OpenMP thread for the check's few hundred rows: ~30 ms, where threads on a busy
        # machine wait for each other in each tree's parallel region (~3 s seen on 2 cores).
        with threadpool_limits(1):
            expected = model.predict(probe)
    gap = float(np.max(np.abs(flat.predict(probe) - expected)))
    if gap > TOLERANCE:
        raise UnsupportedModelError(f"flattened model disagrees with the original by {gap:g}")
    return flat
