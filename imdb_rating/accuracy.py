"""How close predicted ratings are to the actual ones: the figures every comparison reports."""

from __future__ import annotations

import numpy as np


def regression_metrics(actual: np.ndarray, predicted: np.ndarray) -> dict[str, float]:
    errors = predicted - actual
    total = float(((actual - actual.mean()) ** 2).sum())
    return {
        "rmse": round(float(np.sqrt(np.mean(errors**2))), 6),
        "mae": round(float(np.mean(np.abs(errors))), 6),
        "r2": round(1 - float((errors**2).sum()) / total, 6) if total else float("nan"),
    }
