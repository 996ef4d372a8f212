"""validate: what a search ranks by comes from the train split alone, newest years included."""

from __future__ import annotations

import numpy as np
import pandas as pd
import pytest

from stages.train import TrainParams
from stages.validate import ValidateParams, cross_validate, temporal_validation, validate
from workspace.params import load_params


def train_split(n: int = 1200) -> pd.DataFrame:
    rng = np.random.default_rng(0)
    year = rng.integers(1950, 2020, n)
    signal = rng.normal(size=n)
    return pd.DataFrame(
        {
            "tconst": [f"tt{i:07d}" for i in range(n)],
            "rating": 6 + signal + rng.normal(size=n) * 0.3,
            "year": year,
            "signal": signal,
        }
    )


PARAMS = TrainParams(**load_params("train") | {"model": "hist_gradient_boosting"})
SMALL = TrainParams(**vars(PARAMS) | {"hist_gradient_boosting": {"max_iter": 30}})


def test_the_temporal_fold_tests_only_the_newest_share_fit_on_the_older() -> None:
    train = train_split()
    fold = temporal_validation(train, ["year", "signal"], SMALL, share=0.15)
    newer = train["year"] > fold["temporal_cutoff_year"]
    assert fold["temporal_n_test"] == newer.sum()
    assert 0.12 <= newer.mean() <= 0.18
    assert fold["temporal_rmse"] < 0.5 and fold["temporal_r2"] > 0.8  # it learned the signal


def test_the_selection_rmse_is_the_mean_of_the_random_and_the_temporal_folds() -> None:
    train = train_split()
    folds = ValidateParams(folds=3, temporal_share=0.15)
    metrics = validate(train, ["year", "signal"], folds, SMALL)
    assert metrics["cv_rmse"] == cross_validate(train, ["year", "signal"], SMALL, 3)["cv_rmse"]
    assert metrics["selection_rmse"] == pytest.approx(
        (metrics["cv_rmse"] + metrics["temporal_rmse"]) / 2, abs=1e-6
    )
