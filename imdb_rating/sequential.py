"""Which of two models rates live movies better, decided from errors that arrive over time,
so that looking again every day never inflates the chance of a false decision.

The rule is an asymptotic confidence sequence for a mean (Waudby-Smith, Arbour, Sinha, Kennedy
and Ramdas, "Time-uniform central limit theory and asymptotic confidence sequences", 2021:
the two-sided normal-mixture boundary). Unlike a confidence interval, which covers the truth
at one sample size fixed in advance, it covers the truth at every sample size at once with
probability 1 - alpha (asymptotically): a decision taken at the first look where the
sequence excludes zero errs at most at rate alpha, however often one looks.

The mean is that of one value per movie whose expectation is the difference in mean squared
error, challenger minus champion:

- paired (shadow mode: both models scored the movie): the challenger's squared error minus the
  champion's;
- split (the movie went to one model, the challenger with a known probability `share`): the
  inverse-probability-weighted difference, A·c/share - (1 - A)·c/(1 - share), where A = 1 when
  the challenger answered and c is the squared error minus the mean of the earlier ones (known
  before the movie, so the mean is unchanged: the augmented estimator the paper uses for A/B
  tests). Its mean is the same difference, over the whole population of movies.

The MSE difference has the sign of the RMSE difference; the interval on the RMSE difference is
the MSE one divided by the sum of the two RMSEs (the delta method).
"""

from __future__ import annotations

import math
from dataclasses import dataclass, field

import numpy as np

ALPHA = 0.05
# The boundary is tightest near this many movies; it stays valid at every other count.
PLANNED_ROWS = 5_000
# Below this many movies the variance estimate is too rough for an asymptotic rule.
MIN_ROWS = 100
# The power the "more movies needed" estimate aims for: the sequence is expected to exclude
# zero by then in 80% of runs with the observed difference (z of 0.8).
POWER_Z = 0.8416
MAX_ROWS_NEEDED = 100_000_000

BETTER, WORSE, UNDECIDED = "challenger better", "challenger worse", "not yet decided"


def mixture_rho2(planned_rows: int, alpha: float) -> float:
    """The mixture's tuning parameter that makes the boundary tightest at `planned_rows`
    (the paper's closed-form approximation)."""
    level = -2.0 * math.log(alpha)
    return (level + math.log(level + 1.0)) / planned_rows


def margin(rows: np.ndarray | int, std: np.ndarray | float, alpha: float, rho2: float):
    """Half-width of the confidence sequence after `rows` values of standard deviation `std`."""
    scaled = np.asarray(rows, dtype=float) * rho2 + 1.0
    rows_f = np.asarray(rows, dtype=float)
    return std * np.sqrt(2.0 * scaled / (rows_f**2 * rho2) * np.log(np.sqrt(scaled) / alpha))


def running_bounds(
    values: np.ndarray,
    alpha: float = ALPHA,
    planned_rows: int = PLANNED_ROWS,
    by_challenger: np.ndarray | None = None,
) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    """The running mean and the sequence's low and high after each value: what a look after
    the first n values sees, for every n. The bounds are infinite until MIN_ROWS movies (in
    split mode, until MIN_ROWS of each model: `by_challenger`)."""
    values = np.asarray(values, dtype=float)
    rows = np.arange(1, len(values) + 1, dtype=float)
    if by_challenger is None:
        ready = rows >= MIN_ROWS
    else:
        challenger_rows = np.cumsum(by_challenger)
        ready = np.minimum(challenger_rows, rows - challenger_rows) >= MIN_ROWS
    means = np.cumsum(values) / rows
    # Welford-free running variance is fine here: values are squared rating errors (< 100).
    squares = np.cumsum(values**2) / rows
    variances = np.maximum(squares - means**2, 0.0) * rows / np.maximum(rows - 1, 1)
    half = margin(rows, np.sqrt(variances), alpha, mixture_rho2(planned_rows, alpha))
    half[~ready] = np.inf
    return means, means - half, means + half


def answer(low: float, high: float) -> str:
    """The decision a look at the sequence (low, high) of challenger-minus-champion takes."""
    if high < 0:
        return BETTER
    if low > 0:
        return WORSE
    return UNDECIDED


def rows_needed(difference: float, std: float, alpha: float, planned_rows: int) -> int | None:
    """Movies at which the sequence is expected to exclude zero if the true difference is
    `difference` (80% of the time); None when no difference has been seen at all."""
    if difference == 0 or not math.isfinite(difference) or std == 0:
        return None if difference == 0 else MIN_ROWS
    rho2 = mixture_rho2(planned_rows, alpha)

    def enough(rows: int) -> bool:
        spread = margin(rows, std, alpha, rho2) + POWER_Z * std / math.sqrt(rows)
        return float(spread) <= abs(difference)

    high = MIN_ROWS
    while not enough(high):
        high *= 2
        if high > MAX_ROWS_NEEDED:
            return None
    low = high // 2
    while high - low > 1:  # the smallest count that is enough
        middle = (low + high) // 2
        low, high = (low, middle) if enough(middle) else (middle, high)
    return max(high, MIN_ROWS)


@dataclass(frozen=True)
class Comparison:
    """The decision after the movies seen so far, challenger against champion."""

    design: str  # "paired" (shadow) or "split"
    rows: int  # movies with a later rating
    champion_rmse: float
    challenger_rmse: float
    mse_difference: float  # challenger - champion
    mse_low: float
    mse_high: float
    rmse_difference: float
    rmse_low: float
    rmse_high: float
    answer: str
    rows_needed: int | None  # total movies the rule expects to need at the observed difference
    alpha: float
    planned_rows: int
    # The running mean, low and high after each movie: what every earlier look saw.
    running: tuple[np.ndarray, np.ndarray, np.ndarray] = field(repr=False, compare=False)

    @property
    def more_rows_needed(self) -> int | None:
        if self.answer != UNDECIDED or self.rows_needed is None:
            return None if self.answer == UNDECIDED else 0
        return max(self.rows_needed - self.rows, 1)

    def to_dict(self) -> dict[str, object]:
        return {
            "design": self.design,
            "answer": self.answer,
            "rows": self.rows,
            "champion_rmse": self.champion_rmse,
            "challenger_rmse": self.challenger_rmse,
            "rmse_difference": {
                "estimate": self.rmse_difference,
                "low": self.rmse_low,
                "high": self.rmse_high,
            },
            "mse_difference": {
                "estimate": self.mse_difference,
                "low": self.mse_low,
                "high": self.mse_high,
            },
            "more_rows_needed": self.more_rows_needed,
            "rule": {
                "method": "asymptotic confidence sequence (Waudby-Smith et al. 2021)",
                "alpha": self.alpha,
                "planned_rows": self.planned_rows,
                "min_rows": MIN_ROWS,
            },
        }


def _decide(
    design: str,
    values: np.ndarray,
    champion_mse: float,
    challenger_mse: float,
    alpha: float,
    planned_rows: int,
    by_challenger: np.ndarray | None = None,
) -> Comparison:
    if len(values) < 2:
        raise ValueError(f"{len(values)} movies with a later rating: nothing to compare yet")
    means, lows, highs = running_bounds(values, alpha, planned_rows, by_challenger)
    mean, low, high = float(means[-1]), float(lows[-1]), float(highs[-1])
    champion_rmse = math.sqrt(max(champion_mse, 0.0))
    challenger_rmse = math.sqrt(max(challenger_mse, 0.0))
    scale = champion_rmse + challenger_rmse or 1.0
    std = float(np.std(values, ddof=1))
    return Comparison(
        design=design,
        rows=len(values),
        champion_rmse=champion_rmse,
        challenger_rmse=challenger_rmse,
        mse_difference=mean,
        mse_low=low,
        mse_high=high,
        rmse_difference=challenger_rmse - champion_rmse,
        rmse_low=low / scale,
        rmse_high=high / scale,
        answer=answer(low, high),
        rows_needed=rows_needed(mean, std, alpha, planned_rows),
        alpha=alpha,
        planned_rows=planned_rows,
        running=(means, lows, highs),
    )


def paired_values(actual: np.ndarray, champion: np.ndarray, challenger: np.ndarray) -> np.ndarray:
    """Per movie scored by both: challenger's squared error - champion's."""
    return (challenger - actual) ** 2 - (champion - actual) ** 2


def split_values(
    actual: np.ndarray, predicted: np.ndarray, by_challenger: np.ndarray, share: np.ndarray
) -> np.ndarray:
    """Per movie answered by one model: the inverse-probability-weighted difference, each
    squared error centred on the mean of those before it (a control that keeps the mean,
    since it is known before the movie is, and cuts the variance several-fold)."""
    squared = (predicted - actual) ** 2
    earlier = np.concatenate(([0.0], np.cumsum(squared)[:-1]))
    centred = squared - earlier / np.maximum(np.arange(len(squared)), 1)
    return np.where(by_challenger, centred / share, -centred / (1.0 - share))


def compare_paired(
    actual: np.ndarray,
    champion: np.ndarray,
    challenger: np.ndarray,
    alpha: float = ALPHA,
    planned_rows: int = PLANNED_ROWS,
) -> Comparison:
    """Shadow mode: both models' predictions of the same movies, in the order logged."""
    values = paired_values(actual, champion, challenger)
    champion_mse = float(np.mean((champion - actual) ** 2))
    return _decide(
        "paired", values, champion_mse, champion_mse + float(np.mean(values)), alpha, planned_rows
    )


def compare_split(
    actual: np.ndarray,
    predicted: np.ndarray,
    by_challenger: np.ndarray,
    share: np.ndarray,
    alpha: float = ALPHA,
    planned_rows: int = PLANNED_ROWS,
) -> Comparison:
    """Split mode: each movie's one prediction, who gave it, and the challenger's share then."""
    squared = (predicted - actual) ** 2
    challenger_mse = float(np.mean(np.where(by_challenger, squared / share, 0.0)))
    champion_mse = float(np.mean(np.where(by_challenger, 0.0, squared / (1.0 - share))))
    values = split_values(actual, predicted, by_challenger, share)
    return _decide(
        "split", values, champion_mse, challenger_mse, alpha, planned_rows, by_challenger
    )
