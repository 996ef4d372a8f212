"""evaluate: segment reports that say where the model helps and where it does not."""

from __future__ import annotations

import pandas as pd
import pytest

from stages.evaluate import plot_sample, segment_metrics, vote_bucket


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
