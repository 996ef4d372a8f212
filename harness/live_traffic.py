"""Simulated live traffic for the decision rule (imdb_rating/sequential.py): a log growing day
by day with two models' predictions of movies whose ratings arrive later, and the daily looks
a scheduled job takes at it. Used by the tests (their bars) and bench.live_decision (the
figures in docs/benchmarks.md).

The movies are a real model's predictions of movies with known ratings, drawn with
replacement. The two models are that model plus independent noise of the same size (paired:
two models of equal quality scoring the same movies), the challenger optionally made worse by
a planted RMSE difference; in split mode a share of the movies goes to the challenger.
"""

from __future__ import annotations

import math

import numpy as np

from imdb_rating import sequential

NOISE = 0.3  # each simulated model's own error around the real model's prediction


def traffic(
    actual: np.ndarray,
    predicted: np.ndarray,
    rng: np.random.Generator,
    movies: int,
    worse_by: float = 0.0,
) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    """`movies` rated movies: the actual ratings, the champion's and the challenger's
    predictions; the challenger's RMSE is `worse_by` above the champion's."""
    drawn = rng.integers(0, len(actual), movies)
    actual, base = actual[drawn], predicted[drawn]
    champion = np.clip(base + rng.normal(0, NOISE, movies), 1, 10)
    challenger = np.clip(base + rng.normal(0, NOISE, movies), 1, 10)
    if worse_by:
        rmse = math.sqrt(np.mean((challenger - actual) ** 2))
        extra = math.sqrt((rmse + worse_by) ** 2 - rmse**2)
        challenger = challenger + rng.normal(0, extra, movies)
    return actual, champion, challenger


def rule_values(
    design: str,
    actual: np.ndarray,
    champion: np.ndarray,
    challenger: np.ndarray,
    rng: np.random.Generator,
    share: float = 0.2,
) -> tuple[np.ndarray, np.ndarray | None]:
    """The values the rule averages, and (split) which model answered each movie."""
    if design == "paired":
        return sequential.paired_values(actual, champion, challenger), None
    by_challenger = rng.random(len(actual)) < share
    predicted = np.where(by_challenger, challenger, champion)
    shares = np.full(len(actual), share)
    return sequential.split_values(actual, predicted, by_challenger, shares), by_challenger


def first_decision(
    values: np.ndarray, by_challenger: np.ndarray | None, look_every: int
) -> tuple[str, int]:
    """The answer at the first look (every `look_every` movies) that decides, and the movies
    seen then; `not yet decided` and all of them if none does."""
    _, lows, highs = sequential.running_bounds(values, by_challenger=by_challenger)
    for seen in range(look_every, len(values) + 1, look_every):
        answer = sequential.answer(lows[seen - 1], highs[seen - 1])
        if answer != sequential.UNDECIDED:
            return answer, seen
    return sequential.UNDECIDED, len(values)


def naive_daily_decision(values: np.ndarray, look_every: int) -> bool:
    """A fixed-sample 95% interval recomputed at every look: does any exclude zero?"""
    for seen in range(look_every, len(values) + 1, look_every):
        head = values[:seen]
        if abs(head.mean()) > 1.96 * head.std(ddof=1) / math.sqrt(seen):
            return True
    return False


def predicted_rows(
    design: str,
    actual: np.ndarray,
    predicted: np.ndarray,
    rng: np.random.Generator,
    worse_by: float,
) -> int | None:
    """The movies the rule predicts it needs at the true difference (a long run's values)."""
    values, _ = rule_values(design, *traffic(actual, predicted, rng, 200_000, worse_by), rng)
    return sequential.rows_needed(
        float(values.mean()), float(values.std()), sequential.ALPHA, sequential.PLANNED_ROWS
    )
