"""evaluate: segment reports that say where the model helps and where it does not, and how it
does on movies newer than all it was trained on."""

from __future__ import annotations

import numpy as np
import pandas as pd
import pytest

from imdb_rating.splits import temporal_cutoff
from stages.evaluate import (
    EvaluateParams,
    plot_sample,
    segment_metrics,
    temporal_holdout,
    vote_bucket,
)
from stages.featurize import FeaturizeParams
from stages.train import TrainParams
from tests.conftest import synthetic_movies
from workspace.params import load_params


@pytest.mark.parametrize(
    ("votes", "bucket"),
    [(50, "50-99"), (99, "50-99"), (100, "100-999"), (10_000, "10000-99999"), (10**6, "100000+")],
)
def test_vote_buckets(votes: int, bucket: str) -> None:
    assert vote_bucket(votes) == bucket


def test_segments_compare_model_and_baseline_per_decade_and_vote_bucket() -> None:
    scored = pd.DataFrame(
        {
            "tconst": ["a", "b", "c"],
            "rating": [6.0, 7.0, 8.0],
            "predicted": [6.5, 7.0, 8.0],
            "baseline": [7.0, 7.0, 7.0],
            "year": [1931, 1939, 1950],
            "num_votes": [60, 70, 5000],
        }
    )
    segments = segment_metrics(scored)
    thirties = segments["by_decade"]["1930s"]
    assert (thirties["n"], thirties["mae"]) == (2, 0.25)
    assert thirties["rmse"] == pytest.approx(0.353553)
    assert thirties["baseline_rmse"] == pytest.approx(0.707107)
    assert segments["by_votes"]["1000-9999"]["rmse"] == 0.0
    assert set(segments["by_votes"]) == {"50-99", "1000-9999"}


def test_plot_sample_is_a_fixed_small_subset() -> None:
    scored = pd.DataFrame(
        {"tconst": [f"t{i:03d}" for i in range(100)], "rating": 5.0, "predicted": 5.5}
    )
    points = plot_sample(scored.sample(frac=1, random_state=1), 10)
    assert len(points) == 10 and points["tconst"].is_monotonic_increasing
    assert (points["residual"] == -0.5).all()
    assert points.equals(plot_sample(scored, 10))


def test_the_temporal_cutoff_leaves_the_newest_share_for_testing() -> None:
    years = pd.Series(range(1900, 2000))  # one movie a year
    cutoff = temporal_cutoff(years, 0.15)
    assert cutoff == 1984 and (years > cutoff).mean() == pytest.approx(0.15)


def test_the_temporal_holdout_tests_only_movies_newer_than_all_it_trained_on() -> None:
    movies = synthetic_movies(1200)
    params = EvaluateParams(
        baseline_n_estimators=10,
        baseline_seed=1,
        plot_points=10,
        importance_repeats=1,
        temporal_test_share=0.2,
    )
    train = load_params("train")
    train_params = TrainParams(**train | {"hist_gradient_boosting": {"max_iter": 30}})
    featurize_params = FeaturizeParams(**load_params("featurize"))
    sparse = synthetic_movies(400, seed=1).assign(num_votes=20)
    sparse["tconst"] = [f"tt9{i:06d}" for i in range(400)]
    metrics, by_year = temporal_holdout(movies, sparse, params, featurize_params, train_params)

    assert metrics["n_test"] == (movies["year"] > metrics["cutoff_year"]).sum()
    assert metrics["n_train"] + metrics["n_test"] == len(movies)
    assert (
        by_year["year"].min() > metrics["cutoff_year"] and by_year["n"].sum() == metrics["n_test"]
    )
    assert metrics["rmse"] < metrics["baseline"]["rmse"]  # the recipe's lift holds on newer movies
    # Sparsely rated movies teach it only up to the cutoff: later ones, whatever their ratings,
    # change nothing; earlier ones do.
    newer = sparse["year"] > metrics["cutoff_year"]
    scrambled = sparse.assign(rating=np.where(newer, 1.0, sparse["rating"]))
    assert temporal_holdout(movies, scrambled, params, featurize_params, train_params)[0] == metrics
    scrambled = sparse.assign(rating=np.where(newer, sparse["rating"], 1.0))
    assert temporal_holdout(movies, scrambled, params, featurize_params, train_params)[0] != metrics
