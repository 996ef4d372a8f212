"""The live decision rule's error rates, measured on the pinned model's real errors.

    python -m bench.live_decision [--runs 1000]

Simulates a prediction log growing by 200 rated movies a day for 60 days (harness/live_traffic
.py) from the pinned model's predictions of its own test movies (`make repro` first), and looks
every day, as the scheduled guard does:
- A/A (two models of equal quality; in split mode the same model on both sides): the share of
  runs where the rule ever says "better" or "worse" (the bar: at most alpha), beside a
  fixed-sample 95% interval looked at daily on the same runs;
- A/B (the challenger 0.3 worse in RMSE), looking every 10 movies: the movies the rule predicts
  it needs, and the median and 90th percentile of the movies it took, per design.
"""

from __future__ import annotations

import argparse

import numpy as np
import pandas as pd

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
from workspace.layout import FEATURES_DIR, MODEL_CARD, MOVIES_FILE

DAYS, MOVIES_A_DAY = 60, 200
WORSE_BY = 0.3
COLUMNS = (
    "design", "A/A runs deciding (rule)", "A/A runs deciding (daily 95% CI)",
    "A/B predicted movies", "A/B median", "A/B p90", "A/B within predicted", "A/B found worse",
)  # fmt: skip


def test_movies() -> tuple[np.ndarray, np.ndarray]:
    """The pinned model's test movies: actual ratings and its predictions."""
    held_out = pd.read_parquet(FEATURES_DIR / "test.parquet", columns=["tconst"])
    movies = pd.read_parquet(MOVIES_FILE).merge(held_out, on="tconst")
    predicted = Predictor(MODEL_CARD).predict(as_columns(movies)).ratings
    return movies["rating"].to_numpy(dtype=float), predicted


def main(argv: list[str] | None = None) -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--runs", type=int, default=1000)
    args = parser.parse_args(argv)
    actual, predicted = test_movies()
    rng = np.random.default_rng(0)
    print(
        f"{len(actual)} test movies, model RMSE {np.sqrt(np.mean((predicted - actual) ** 2)):.3f}"
    )
    print("| " + " | ".join(COLUMNS) + " |")
    print("|---" * len(COLUMNS) + "|")
    for design in ("paired", "split"):
        rule = naive = 0
        for _ in range(args.runs):
            a, champion, challenger = traffic(actual, predicted, rng, DAYS * MOVIES_A_DAY)
            if design == "split":
                challenger = champion
            values, by_challenger = rule_values(design, a, champion, challenger, rng)
            rule += first_decision(values, by_challenger, MOVIES_A_DAY)[0] != sequential.UNDECIDED
            naive += naive_daily_decision(values, MOVIES_A_DAY)
        needed = predicted_rows(design, actual, predicted, rng, WORSE_BY)
        taken, worse = [], 0
        for _ in range(args.runs // 5):
            a, champion, challenger = traffic(actual, predicted, rng, 4 * needed, WORSE_BY)
            values, by_challenger = rule_values(design, a, champion, challenger, rng)
            answer, seen = first_decision(values, by_challenger, 10)
            taken.append(seen)
            worse += answer == sequential.WORSE
        print(
            f"| {design} | {rule / args.runs:.1%} | {naive / args.runs:.1%} | {needed} |"
            f" {np.median(taken):.0f} | {np.percentile(taken, 90):.0f} |"
            f" {np.mean(np.array(taken) <= needed):.0%} | {worse}/{len(taken)} |"
        )


if __name__ == "__main__":
    main()
