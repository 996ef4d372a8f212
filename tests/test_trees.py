"""Flattened ensembles predict exactly what scikit-learn predicts, or refuse to exist."""

from __future__ import annotations

import numpy as np
import pytest
from sklearn.ensemble import HistGradientBoostingRegressor, RandomForestRegressor
from sklearn.linear_model import LinearRegression

from imdb_rating.trees import (
    FlatEnsemble,
    Tree,
    UnsupportedModelError,
    _oblivious_levels,
    _pack,
    flatten,
)


@pytest.fixture(scope="module")
def data() -> tuple[np.ndarray, np.ndarray]:
    rng = np.random.default_rng(0)
    x = rng.normal(size=(800, 6))
    y = x[:, 0] * 2 + np.sin(x[:, 1]) + rng.normal(size=800) * 0.1
    x[rng.random(x.shape) < 0.08] = np.nan  # missing values take learned directions
    return x, y


@pytest.mark.parametrize(
    "model",
    [
        HistGradientBoostingRegressor(max_iter=40, random_state=0),
        HistGradientBoostingRegressor(max_iter=40, max_leaf_nodes=63, random_state=0),
        RandomForestRegressor(n_estimators=15, random_state=0),
        RandomForestRegressor(n_estimators=15, max_leaf_nodes=30, random_state=0),
    ],
    ids=["hgb", "hgb-63-leaves", "forest", "forest-best-first"],
)
def test_flattened_predictions_equal_scikit_learns(model, data) -> None:
    x, y = data
    model.fit(x, y)
    fresh = np.random.default_rng(1).normal(size=(300, 6))
    fresh[::7, 2] = np.nan
    flat = flatten(model)
    for rows in (x, fresh, fresh[:1]):
        np.testing.assert_allclose(flat.predict(rows), model.predict(rows), rtol=0, atol=1e-12)


def test_unsupported_models_are_refused(data) -> None:
    x, y = data
    with pytest.raises(UnsupportedModelError, match="LinearRegression"):
        flatten(LinearRegression().fit(np.nan_to_num(x), y))
    with pytest.raises(UnsupportedModelError, match="loss"):
        flatten(HistGradientBoostingRegressor(loss="absolute_error", max_iter=5).fit(x, y))
    categorical = np.column_stack([np.arange(800) % 4, np.nan_to_num(x[:, 0])])
    model = HistGradientBoostingRegressor(max_iter=5, categorical_features=[0]).fit(categorical, y)
    with pytest.raises(UnsupportedModelError, match="categorical"):
        flatten(model)


def test_oblivious_trees_of_unequal_depth_are_walked_without_branches_and_agree() -> None:
    def node(feature, threshold, left, right, missing_left, value=0.0):
        return feature, threshold, left, right, missing_left, value

    # Depth 2: level 0 tests x0 <= 0 (missing right), level 1 tests x1 <= 1 (missing left).
    deep = [
        node(0, 0.0, 1, 4, False),
        node(1, 1.0, 2, 3, True),
        node(0, 0.0, -1, -1, False, 1.0),
        node(0, 0.0, -1, -1, False, 2.0),
        node(1, 1.0, 5, 6, True),
        node(0, 0.0, -1, -1, False, 3.0),
        node(0, 0.0, -1, -1, False, 4.0),
    ]
    stump = [
        node(1, -0.5, 1, 2, True),
        node(0, 0, -1, -1, False, 10.0),
        node(0, 0, -1, -1, 0, 20.0),
    ]
    trees = [
        Tree(*(np.asarray(column) for column in zip(*nodes, strict=True)))
        for nodes in (deep, stump)
    ]
    nodes, roots = _pack(trees)
    branching = FlatEnsemble(nodes, roots, 0.5, "float64")
    levels = _oblivious_levels(trees)
    assert levels is not None and levels.feature.shape == (2, 2)
    oblivious = FlatEnsemble(nodes, roots, 0.5, "float64", oblivious=levels)
    rows = np.random.default_rng(0).normal(size=(500, 2)) * 2
    rows[::5, 0] = np.nan
    rows[::7, 1] = np.nan
    rows[::11] = [0.0, 1.0]  # on the thresholds
    np.testing.assert_array_equal(oblivious.predict(rows), branching.predict(rows))


def test_trees_that_split_a_level_two_ways_are_not_oblivious() -> None:
    model = HistGradientBoostingRegressor(max_iter=3, max_depth=3, random_state=0)
    x = np.random.default_rng(0).normal(size=(400, 3))
    flat = flatten(model.fit(x, x[:, 0] * x[:, 1]))
    assert flat.oblivious is None
