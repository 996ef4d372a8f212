"""Prediction intervals as calibrated by the train stage (split conformal, per vote bucket)."""

from __future__ import annotations

from collections.abc import Sequence

import numpy as np

# The feature whose buckets the interval widths depend on (few votes: noisier ratings).
INTERVAL_FEATURE = "log_votes"


def half_widths(
    edges: Sequence[float], widths: Sequence[float], log_votes: np.ndarray
) -> np.ndarray:
    """The calibrated half-width (`widths`, one per bucket of `edges`) for each row's vote
    bucket (inf: too few to calibrate).

    Buckets are `imdb_rating.drift.numeric_bins`' (bisect right); votes are never missing.
    """
    buckets = np.searchsorted(edges, log_votes, side="right")
    return np.asarray(widths, dtype=np.float64)[buckets]
