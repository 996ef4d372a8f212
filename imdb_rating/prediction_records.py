"""The prediction log's format: what the service scored, one JSON object per line, and how the
log's files are named and read back. The service writes it (service/prediction_log.py); the
accuracy report (tools.accuracy_report) joins it with the ratings IMDb publishes later.

A record holds the time (UTC, ISO 8601 to the millisecond), the model_id that answered, the
endpoint, the validated movie (the model's inputs and the optional tconst), the rating, the
interval's low and high and its nominal coverage. With two models on live traffic it also holds,
in shadow mode, the challenger's prediction (`shadow`: its model_id, rating, low, high: never
returned), and in split mode the assignment (`split`: `answered_by` champion or challenger,
the challenger's `share` of movies, and both models' ids). The log is `predictions.jsonl`,
rotated to `.1` (newest) ... `.N` (oldest) like logging's RotatingFileHandler.
"""

from __future__ import annotations

import json
import logging
from collections.abc import Iterable, Iterator, Mapping
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

log = logging.getLogger("imdb_rating.prediction_records")

LOG_NAME = "predictions.jsonl"


def timestamp(seconds: float) -> str:
    """A record's time: UTC, ISO 8601, milliseconds, `Z`."""
    at = datetime.fromtimestamp(seconds, UTC).isoformat(timespec="milliseconds")
    return at.replace("+00:00", "Z")


def record(
    time: str,
    model_id: str,
    endpoint: str,
    movie: Mapping[str, Any],
    prediction: tuple[float, float, float],
    coverage: float,
    shadow: tuple[str, tuple[float, float, float]] | None = None,
    split: Mapping[str, Any] | None = None,
) -> dict[str, Any]:
    """One scored movie as a log record; a prediction is (rating, low, high)."""
    rating, low, high = prediction
    entry = {
        "time": time,
        "model_id": model_id,
        "endpoint": endpoint,
        "movie": movie,
        "rating": rating,
        "low": low,
        "high": high,
        "coverage": coverage,
    }
    if shadow is not None:
        shadow_id, (rating, low, high) = shadow
        entry["shadow"] = {"model_id": shadow_id, "rating": rating, "low": low, "high": high}
    if split is not None:
        entry["split"] = split
    return entry


def split_assignment(
    answered_by: str, share: float, champion_id: str, challenger_id: str
) -> dict[str, Any]:
    """A split-mode record's `split`: which model answered, at which share, between which two."""
    return {
        "answered_by": answered_by,
        "share": share,
        "champion": champion_id,
        "challenger": challenger_id,
    }


def log_files(directory: Path) -> list[Path]:
    """The log and its backups, oldest first (the order their records were written)."""
    backups = {}
    for path in directory.glob(f"{LOG_NAME}.*"):
        number = path.name[len(LOG_NAME) + 1 :]
        if number.isdigit():
            backups[int(number)] = path
    current = directory / LOG_NAME
    return [backups[n] for n in sorted(backups, reverse=True)] + (
        [current] if current.is_file() else []
    )


def read_records(paths: Iterable[Path]) -> Iterator[dict[str, Any]]:
    """The records of log files. A torn line (a worker killed mid-write, or a write still in
    progress when reading a live log) is skipped with a warning naming it."""
    for path in paths:
        with path.open(encoding="utf-8", errors="replace") as stream:
            for number, line in enumerate(stream, start=1):
                try:
                    if not line.endswith("\n"):
                        raise ValueError("no end of line")
                    yield json.loads(line)
                except ValueError:
                    log.warning("%s:%d: torn line skipped: %.60s", path, number, line)
