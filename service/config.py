"""Service configuration, read from the environment once at start."""

from __future__ import annotations

import os
from dataclasses import dataclass
from pathlib import Path

from workspace.layout import MODEL_CARD


class ConfigError(ValueError):
    """An environment variable holds a value the service cannot use."""


def _positive_int(name: str, default: int) -> int:
    raw = os.environ.get(name)
    if raw is None:
        return default
    try:
        value = int(raw)
    except ValueError:
        raise ConfigError(f"{name}={raw!r} is not an integer") from None
    if value < 1:
        raise ConfigError(f"{name}={raw!r} must be at least 1")
    return value


def _non_negative_float(name: str, default: float) -> float:
    raw = os.environ.get(name)
    if raw is None:
        return default
    try:
        value = float(raw)
    except ValueError:
        raise ConfigError(f"{name}={raw!r} is not a number") from None
    if not value >= 0:  # also refuses NaN
        raise ConfigError(f"{name}={raw!r} must be 0 or more")
    return value


@dataclass(frozen=True)
class ServiceConfig:
    model_card: Path = MODEL_CARD
    max_batch: int = 1000
    # A batch of 1,000 movies with crew lists is ~0.4 MB of JSON.
    max_body_bytes: int = 2 * 1024 * 1024
    log_level: str = "INFO"
    drift_window: int = 2000
    # Shared memory for the drift window across Gunicorn workers (None: this process only).
    multiprocess_dir: Path | None = None
    # How often each worker looks for a new model.json (0: never; rollouts need a restart).
    model_poll_seconds: float = 5.0
    # Where to log scored movies for accuracy monitoring (None: off). The log is bounded:
    # (backups + 1) files of max_bytes each, shared by all workers (service/prediction_log.py).
    prediction_log_dir: Path | None = None
    prediction_log_max_bytes: int = 50 * 1024 * 1024
    prediction_log_backups: int = 5
    # A second model beside the champion (None: none), and the traffic policy between them (a
    # JSON file; None or absent: off). Both watched like the champion's card.
    challenger_card: Path | None = None
    traffic_policy: Path | None = None
    # A challenger slower than this per movie three scorings in a row is taken out of traffic.
    challenger_budget_seconds: float = 0.010

    @classmethod
    def from_env(cls) -> ServiceConfig:
        multiprocess_dir = os.environ.get("PROMETHEUS_MULTIPROC_DIR")
        prediction_log_dir = os.environ.get("IMDB_PREDICTION_LOG_DIR")
        challenger_card = os.environ.get("IMDB_CHALLENGER_CARD")
        traffic_policy = os.environ.get("IMDB_TRAFFIC_POLICY")
        return cls(
            model_card=Path(os.environ.get("IMDB_MODEL_CARD", str(MODEL_CARD))),
            max_batch=_positive_int("IMDB_MAX_BATCH", cls.max_batch),
            max_body_bytes=_positive_int("IMDB_MAX_BODY_BYTES", cls.max_body_bytes),
            log_level=os.environ.get("IMDB_LOG_LEVEL", cls.log_level).upper(),
            drift_window=_positive_int("IMDB_DRIFT_WINDOW", cls.drift_window),
            multiprocess_dir=Path(multiprocess_dir) if multiprocess_dir else None,
            model_poll_seconds=_non_negative_float(
                "IMDB_MODEL_POLL_SECONDS", cls.model_poll_seconds
            ),
            prediction_log_dir=Path(prediction_log_dir) if prediction_log_dir else None,
            prediction_log_max_bytes=_positive_int(
                "IMDB_PREDICTION_LOG_MAX_BYTES", cls.prediction_log_max_bytes
            ),
            prediction_log_backups=_positive_int(
                "IMDB_PREDICTION_LOG_BACKUPS", cls.prediction_log_backups
            ),
            challenger_card=Path(challenger_card) if challenger_card else None,
            traffic_policy=Path(traffic_policy) if traffic_policy else None,
            challenger_budget_seconds=_non_negative_float(
                "IMDB_CHALLENGER_BUDGET_MS", cls.challenger_budget_seconds * 1000
            )
            / 1000,
        )
