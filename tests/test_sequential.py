"""The live decision rule stays honest when it looks every day at a growing log: on A/A data it
says "better" or "worse" at most at its stated error rate (a fixed-sample test looked at daily
does not), and a challenger 0.3 worse in RMSE is found "worse" within the number of movies the
rule itself predicts.

The simulated traffic (harness/live_traffic.py) is the test model's own predictions of movies
with known ratings; the two models of an A/A run are that model plus independent noise of the
same size (paired: two models of equal quality scoring the same movies), or literally the same
model (split: the assignment alone differs)."""

from __future__ import annotations

import math
from pathlib import Path

import numpy as np
import pytest

from harness.live_traffic import (
    first_decision,
    naive_daily_decision,
    predicted_rows,
    rule_values,
    traffic,
)
from imdb_data.movies import as_columns
from imdb_rating import sequential
from imdb_rating.predictor import Predictor
from tests.conftest import synthetic_movies

RUNS = 200
DAYS, MOVIES_A_DAY = 60, 200  # two months of a log growing by 200 rated movies a day


@pytest.fixture(scope="module")
def scored(model_card_path: Path) -> tuple[np.ndarray, np.ndarray]:
    """Actual ratings and the test model's predictions of 3,000 movies."""
    movies = synthetic_movies(3000, seed=11)
    predicted = Predictor(model_card_path).predict(as_columns(movies)).ratings
    return movies["rating"].to_numpy(dtype=float), predicted


@pytest.mark.parametrize("design", ["paired", "split"])
def test_on_a_a_data_daily_looks_decide_at_most_at_the_stated_rate(design, scored) -> None:
    rng = np.random.default_rng(2026)
    false_decisions = naive_false_decisions = 0
    for _ in range(RUNS):
        actual, champion, challenger = traffic(*scored, rng, DAYS * MOVIES_A_DAY)
        if design == "split":
            challenger = champion  # the same model on both sides of the split
        values, by_challenger = rule_values(design, actual, champion, challenger, rng)
        answer, _ = first_decision(values, by_challenger, MOVIES_A_DAY)
        false_decisions += answer != sequential.UNDECIDED
        naive_false_decisions += naive_daily_decision(values, MOVIES_A_DAY)
    assert false_decisions <= sequential.ALPHA * RUNS
    # What the rule protects against: the same data, a fixed-sample test looked at daily.
    assert naive_false_decisions > 2 * sequential.ALPHA * RUNS


@pytest.mark.parametrize("design", ["paired", "split"])
def test_a_challenger_worse_by_0_3_is_found_worse_within_the_predicted_sample(
    design, scored
) -> None:
    rng = np.random.default_rng(7)
    predicted = predicted_rows(design, *scored, rng, worse_by=0.3)
    assert predicted is not None

    decisions = []
    for _ in range(RUNS):
        actual, champion, challenger = traffic(*scored, rng, 4 * predicted, worse_by=0.3)
        values, by_challenger = rule_values(design, actual, champion, challenger, rng)
        decisions.append(first_decision(values, by_challenger, look_every=10))
    answers = {answer for answer, _ in decisions}
    assert answers == {sequential.WORSE}
    within = sum(seen <= predicted for _, seen in decisions) / RUNS
    assert within >= 0.5, f"{within:.0%} decided within the predicted {predicted} movies"


def test_the_bounds_open_only_after_enough_movies_of_each_model() -> None:
    values = np.random.default_rng(0).normal(0, 1, 1000)
    _, lows, _ = sequential.running_bounds(values)
    assert np.isinf(lows[: sequential.MIN_ROWS - 1]).all() and np.isfinite(lows[-1])
    by_challenger = np.zeros(1000, dtype=bool)
    by_challenger[::20] = True  # 50 challenger movies: too few to decide anything
    _, lows, _ = sequential.running_bounds(values, by_challenger=by_challenger)
    assert np.isinf(lows).all()


def test_the_sequence_is_wider_than_a_fixed_sample_interval_and_narrows() -> None:
    rho2 = sequential.mixture_rho2(sequential.PLANNED_ROWS, sequential.ALPHA)
    widths = [float(sequential.margin(n, 1.0, sequential.ALPHA, rho2)) for n in (100, 1000, 10_000)]
    assert widths[0] > widths[1] > widths[2]
    assert widths[1] > 1.96 / math.sqrt(1000)  # the price of looking at every count


def test_the_answer_and_the_movies_still_needed() -> None:
    assert sequential.answer(-0.3, -0.1) == sequential.BETTER
    assert sequential.answer(0.1, 0.3) == sequential.WORSE
    assert sequential.answer(-0.1, 0.1) == sequential.UNDECIDED
    small, large = (sequential.rows_needed(d, 1.0, 0.05, 5000) for d in (0.2, 0.05))
    assert sequential.MIN_ROWS <= small < large
    assert sequential.rows_needed(0.0, 1.0, 0.05, 5000) is None


def test_the_comparison_reports_rmses_and_an_interval_on_their_difference() -> None:
    rng = np.random.default_rng(3)
    actual = rng.uniform(2, 9, 5000)
    champion = actual + rng.normal(0, 0.6, 5000)
    challenger = actual + rng.normal(0, 0.9, 5000)
    result = sequential.compare_paired(actual, champion, challenger)
    assert result.answer == sequential.WORSE and result.more_rows_needed == 0
    assert result.champion_rmse == pytest.approx(0.6, abs=0.02)
    assert result.challenger_rmse == pytest.approx(0.9, abs=0.03)
    assert result.rmse_low < result.rmse_difference < result.rmse_high
    assert result.rmse_low > 0
    by_challenger = rng.random(5000) < 0.5
    predicted = np.where(by_challenger, challenger, champion)
    split = sequential.compare_split(actual, predicted, by_challenger, np.full(5000, 0.5))
    assert split.answer == sequential.WORSE and split.design == "split"
    assert split.challenger_rmse == pytest.approx(0.9, abs=0.05)
    with pytest.raises(ValueError, match="nothing to compare"):
        sequential.compare_paired(actual[:1], champion[:1], challenger[:1])
