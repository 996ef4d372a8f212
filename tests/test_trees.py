"""Flattened ensembles predict exactly what scikit-learn predicts, or refuse to exist."""

from __future__ import annotations

import numpy as np
import pytest
from sklearn.ensemble import HistGradientBoostingRegressor, RandomForestRegressor
from sklearn.linear_model import LinearRegression

from imdb_rating.trees import UnsupportedModelError, flatten


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
