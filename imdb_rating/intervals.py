"""Prediction intervals as calibrated by the train stage (split conformal, per vote bucket)."""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any

import numpy as np

# The feature whose buckets the interval widths depend on (few votes: noisier ratings).
INTERVAL_FEATURE = "log_votes"


def half_widths(intervals: Mapping[str, Any], log_votes: np.ndarray) -> np.ndarray:
    """The calibrated half-width for each row's vote bucket (inf: too few to calibrate).

    Buckets are `imdb_rating.drift.numeric_bins`' (bisect right); votes are never missing.
    """
    buckets = np.searchsorted(intervals["edges"], log_votes, side="right")
    return np.asarray(intervals["half_widths"], dtype=np.float64)[buckets]
