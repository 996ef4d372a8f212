"""The model as it serves: loaded once from a verified artifact, then only predicting.

Used by the Flask service and by the MLflow pyfunc (registry.pyfunc), so both answer a
movie with the same rating and interval. Imports nothing of the training stack (no MLflow, no
DVC): the skops artifact is checked against the sha256 pinned in model.json, flattened for fast
prediction, and described by the feature spec that training wrote.
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from dataclasses import asdict, dataclass
from pathlib import Path
from typing import Any

import numpy as np

from imdb_rating.artifact import load_verified_model
from imdb_rating.features import build_matrix
from imdb_rating.intervals import INTERVAL_FEATURE, half_widths
from imdb_rating.movie import MovieField, movie_fields
from imdb_rating.trees import flatten

RATING_RANGE = (1.0, 10.0)
# Ratings are published to a tenth; three decimals keep the model's ranking without noise.
DECIMALS = 3


@dataclass(frozen=True)
class Predictions:
    """Ratings and their interval bounds, rounded to DECIMALS, one per movie."""

    ratings: np.ndarray
    lows: np.ndarray
    highs: np.ndarray

    def slice(self, start: int, end: int) -> Predictions:
        return Predictions(self.ratings[start:end], self.lows[start:end], self.highs[start:end])


class Predictor:
    def __init__(self, card_path: Path) -> None:
        model, card = load_verified_model(card_path)
        self.card = card
        self.spec = card.feature_spec
        self.model_id = card.model_id
        self.coverage = card.intervals.coverage
        self._flat = flatten(model)
        self._votes_column = self.spec.feature_names.index(INTERVAL_FEATURE)
        # As arrays once, not per request.
        self._edges = np.asarray(card.intervals.edges, dtype=np.float64)
        self._half_widths = np.asarray(card.intervals.half_widths, dtype=np.float64)
        # The movie contract for this model (its crew inputs, its genres), and its inputs.
        self.movie_fields: list[MovieField] = movie_fields(self.crew_roles, self.genres)
        self.input_fields = [field.name for field in self.movie_fields if field.model_input]
        self._known_genres = frozenset(self.genres)

    @property
    def genres(self) -> list[str]:
        return self.spec.genres

    @property
    def crew_roles(self) -> list[str]:
        return self.spec.crew_roles

    def columns(self, movies: Sequence[Mapping[str, Any]]) -> dict[str, list[Any]]:
        """Validated movies (schema output: every field present) as `build_matrix` columns."""
        return {name: [movie[name] for movie in movies] for name in self.input_fields}

    def ignored_genres(self, genres: Sequence[Sequence[str]]) -> list[list[str]]:
        """Per movie, its genres this model never learned: valid, but without effect."""
        known = self._known_genres
        return [[genre for genre in movie if genre not in known] for movie in genres]

    def predict(self, columns: Mapping[str, Sequence[Any]]) -> Predictions:
        features = build_matrix(columns, self.spec)
        # Rows: rating, low, high. Clipped and rounded as one array: on a single movie the
        # cost is numpy's per-call overhead, not the arithmetic.
        bounds = np.empty((3, len(features)))
        ratings = self._flat.predict(features)
        np.minimum(np.maximum(ratings, RATING_RANGE[0]), RATING_RANGE[1], out=bounds[0])
        half = half_widths(self._edges, self._half_widths, features[:, self._votes_column])
        np.subtract(bounds[0], half, out=bounds[1])
        np.add(bounds[0], half, out=bounds[2])
        np.minimum(np.maximum(bounds, RATING_RANGE[0]), RATING_RANGE[1], out=bounds)
        ratings, lows, highs = bounds.round(DECIMALS)
        return Predictions(ratings=ratings, lows=lows, highs=highs)

    def describe(self) -> dict[str, Any]:
        """What is being served, for GET /model."""
        card = self.card
        return {
            "name": card.name,
            "model_id": self.model_id,
            "model_type": card.model_type,
            "metrics": asdict(card.metrics),
            "features": self.spec.feature_names,
            "genres": self.genres,
            "crew_inputs": self.crew_roles,
            "interval": {"coverage": self.coverage, "method": card.intervals.method},
            "training_data_sha256": card.training_data.sha256,
            "artifact_sha256": card.artifact.sha256,
        }
