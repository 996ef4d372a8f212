"""train: honest prediction intervals and serving-ready models (the registry: test_registry)."""

from __future__ import annotations

import numpy as np
import pandas as pd
import pytest
from sklearn.ensemble import RandomForestRegressor

from imdb_rating.intervals import half_widths
from stages.families import FAMILIES, servable
from stages.train import TrainParams, calibrate_intervals, conformal_quantile, fit, fit_model
from workspace.commands import CommandError

NAMES = ["log_votes", "signal"]


def make_params(model: str = "hist_gradient_boosting") -> TrainParams:
    return TrainParams(
        model=model,
        seed=1,
        calibration_size=0.2,
        interval_coverage=0.8,
        interval_buckets=4,
        registered_model="imdb-rating-test",
        gate_min_rows=200,
        hist_gradient_boosting={"max_iter": 50},
        random_forest={"n_estimators": 10},
        xgboost={"n_estimators": 50, "max_depth": 3},
        lightgbm={"n_estimators": 50, "num_leaves": 7},
        catboost={"iterations": 50, "depth": 3},
    )


def make_split(n: int, seed: int) -> pd.DataFrame:
    """Noise shrinks with votes, as ratings do: intervals should be wider for few votes."""
    rng = np.random.default_rng(seed)
    log_votes = rng.uniform(4, 12, n)
    signal = rng.normal(size=n)
    rating = 6 + signal + rng.normal(size=n) * (3 / log_votes)
    return pd.DataFrame(
        {"tconst": [f"s{seed}-{i}" for i in range(n)], "rating": rating, "log_votes": log_votes}
    ).assign(signal=signal)


def test_conformal_quantile_is_the_finite_sample_corrected_rank() -> None:
    residuals = np.arange(1, 10, dtype=float)  # n = 9
    assert conformal_quantile(residuals, 0.8) == 8.0  # ceil(10 * 0.8) = 8th smallest
    assert conformal_quantile(-residuals, 0.5) == 5.0  # absolute values
    assert conformal_quantile(residuals[:3], 0.8) == float("inf")  # too few to promise 80%


def test_intervals_are_wider_where_votes_are_few() -> None:
    rng = np.random.default_rng(0)
    log_votes = rng.uniform(4, 12, 4000)
    residuals = rng.normal(size=4000) * (3 / log_votes)
    intervals = calibrate_intervals(residuals, log_votes, coverage=0.8, buckets=4)
    widths = intervals.half_widths
    assert len(widths) == len(intervals.edges) + 1 == 4
    assert widths == sorted(widths, reverse=True)
    few, many = half_widths(intervals.edges, widths, np.array([4.5, 11.5]))
    assert few > many


@pytest.mark.parametrize("model", FAMILIES)
def test_fit_reports_test_metrics_and_near_nominal_coverage(model: str) -> None:
    _, intervals, metrics = fit(make_split(3000, 1), make_split(2000, 2), NAMES, make_params(model))
    assert metrics.rmse < 0.5 and metrics.r2 > 0.7
    assert 0.75 <= metrics.interval_coverage <= 0.86
    assert metrics.n_test == 2000 and 2300 < metrics.n_train < 2500
    assert intervals.calibration_rows == 3000 - metrics.n_train


def test_forests_predict_on_one_thread_when_served() -> None:
    forest = RandomForestRegressor(n_estimators=3, n_jobs=-1).fit([[0], [1]], [0, 1])
    assert servable(forest).n_jobs == 1


@pytest.mark.parametrize("model", FAMILIES)
def test_a_misspelled_hyper_parameter_is_a_stage_error(model: str) -> None:
    params = make_params(model)
    typo = TrainParams(**vars(params) | {model: {"learning_rat": 0.1}})
    with pytest.raises(CommandError, match=rf"train\.{model}: .*'learning_rat'"):
        fit_model(typo, np.zeros((4, 1)), np.arange(4.0))


def test_unknown_model_name_is_refused() -> None:
    with pytest.raises(CommandError, match=r"train\.model 'svm'"):
        make_params("svm").hyperparameters()
