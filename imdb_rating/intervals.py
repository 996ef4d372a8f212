"""Prediction intervals as calibrated by the train stage (split conformal, per vote bucket)."""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any

import numpy as np

from imdb_rating.drift import numeric_bin

# The feature whose buckets the interval widths depend on (few votes: noisier ratings).
INTERVAL_FEATURE = "log_votes"


def half_widths(intervals: Mapping[str, Any], log_votes: np.ndarray) -> np.ndarray:
    """The calibrated half-width for each row's vote bucket (inf: too few to calibrate)."""
    widths = intervals["half_widths"]
    last = len(widths) - 1  # a missing value cannot occur (votes are required); stay in range
    return np.array([widths[min(numeric_bin(v, intervals["edges"]), last)] for v in log_votes])
