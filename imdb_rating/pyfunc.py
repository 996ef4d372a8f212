"""The registered model: an MLflow pyfunc that takes movies and answers as the service does.

It wraps the service's own `Predictor` around the same two files (`model.skops`, `model.json`,
logged as the model's artifacts), so `mlflow models serve -m models:/imdb-rating@champion`
gives the same rating and interval as `POST /predict`. Its signature is over the raw movie
fields. Inputs are checked against the same limits as the service's schema; a movie outside
them raises ValueError, which MLflow's scoring server answers with 400.

Logged as code (MLflow's models-from-code, the `set_model` call at the end), not pickled: like
the skops artifact, loading the model runs only this reviewed file. Imported by the train stage
and by MLflow when it loads the model, never by the service.
"""

from __future__ import annotations

import math
import re
from collections.abc import Sequence
from pathlib import Path
from typing import Any

import mlflow.pyfunc
import numpy as np
import pandas as pd
from mlflow.models import ModelSignature, set_model
from mlflow.types.schema import Array, ColSpec, Schema

from imdb_rating.features import (
    CREW_ROLES,
    MAX_GENRES,
    MAX_PEOPLE,
    MAX_TITLE,
    MAX_VOTES,
    PERSON_ID,
    RUNTIME_RANGE,
    YEAR_RANGE,
)
from imdb_rating.predictor import Predictor

CARD_ARTIFACT = "model_card"  # keys of the logged artifacts: MLflow copies both files into
SKOPS_ARTIFACT = "model_skops"  # one folder, so the card finds its skops file next to it
OUTPUT_COLUMNS = ("rating", "interval_low", "interval_high", "interval_coverage", "model_id")
MAX_REPORTED_ERRORS = 10
LIST_FIELDS = ("genres", *CREW_ROLES)
_PERSON_ID = re.compile(PERSON_ID)


def signature(crew_roles: Sequence[str]) -> ModelSignature:
    """Raw movie fields in (as `POST /predict` takes them), rating and interval out."""
    inputs = [
        ColSpec("long", "year"),
        ColSpec("long", "num_votes"),
        ColSpec("double", "runtime_minutes", required=False),
        ColSpec(Array("string"), "genres", required=False),
        ColSpec("string", "title", required=False),
        ColSpec("string", "original_title", required=False),
        ColSpec("boolean", "is_adult", required=False),
        *(ColSpec(Array("string"), role, required=False) for role in crew_roles),
    ]
    outputs = [ColSpec("double", name) for name in OUTPUT_COLUMNS[:-1]]
    outputs.append(ColSpec("string", "model_id"))
    return ModelSignature(inputs=Schema(inputs), outputs=Schema(outputs))


def _is_missing(value: Any) -> bool:
    """Absent from a record, or a null cell: pandas fills both with None or NaN."""
    return value is None or (isinstance(value, float) and math.isnan(value))


def _check(movie: dict[str, Any], genres: frozenset[str], crew_roles: Sequence[str]) -> list[str]:
    """What is wrong with one movie, against the service's limits (empty: nothing)."""
    errors = []
    for name, (low, high) in (("year", YEAR_RANGE), ("num_votes", (0, MAX_VOTES))):
        value = movie[name]
        if _is_missing(value) or value != int(value) or not low <= value <= high:
            errors.append(f"{name} must be a whole number from {low} to {high}")
    runtime = movie["runtime_minutes"]
    if runtime is not None and not RUNTIME_RANGE[0] <= runtime <= RUNTIME_RANGE[1]:
        errors.append(f"runtime_minutes must be from {RUNTIME_RANGE[0]} to {RUNTIME_RANGE[1]}")
    unknown = sorted(set(movie["genres"]) - genres)
    if unknown or len(movie["genres"]) > MAX_GENRES:
        errors.append(f"genres must be at most {MAX_GENRES} of: {', '.join(sorted(genres))}")
    for name in ("title", "original_title"):
        if movie[name] is not None and not 1 <= len(movie[name]) <= MAX_TITLE:
            errors.append(f"{name} must have 1 to {MAX_TITLE} characters")
    for role in crew_roles:
        people = movie[role]
        if len(people) > MAX_PEOPLE or not all(_PERSON_ID.match(p) for p in people):
            errors.append(f"{role} must be at most {MAX_PEOPLE} IMDb name ids (nm…)")
    return errors


def movie_columns(frame: pd.DataFrame, predictor: Predictor) -> dict[str, list[Any]]:
    """The frame's movies as `Predictor.predict` columns; ValueError names the bad rows."""
    records = frame.to_dict("records")
    movies = []
    for record in records:
        movie = {}
        for name in predictor.input_fields:
            value = record.get(name)
            if isinstance(value, list | np.ndarray):  # arrays come as either, by input format
                movie[name] = list(value)
            elif _is_missing(value):  # as the service's schema fills an absent field
                movie[name] = [] if name in LIST_FIELDS else False if name == "is_adult" else None
            else:
                movie[name] = value
        movies.append(movie)
    genres = frozenset(predictor.genres)
    errors = [
        f"movie {index}: {message}"
        for index, movie in enumerate(movies)
        for message in _check(movie, genres, predictor.crew_roles)
    ]
    if errors:
        more = len(errors) - MAX_REPORTED_ERRORS
        suffix = f"; and {more} more" if more > 0 else ""
        raise ValueError("; ".join(errors[:MAX_REPORTED_ERRORS]) + suffix)
    for movie in movies:
        movie["year"], movie["num_votes"] = int(movie["year"]), int(movie["num_votes"])
    return predictor.columns(movies)


class MovieRatingModel(mlflow.pyfunc.PythonModel):
    """Movies in (a DataFrame of raw fields), rating and 80% interval out, one row each."""

    def load_context(self, context) -> None:
        self.predictor = Predictor(Path(context.artifacts[CARD_ARTIFACT]))

    def predict(self, context, model_input: pd.DataFrame, params=None) -> pd.DataFrame:
        result = self.predictor.predict(movie_columns(model_input, self.predictor))
        return pd.DataFrame(
            {
                "rating": result.ratings,
                "interval_low": result.lows,
                "interval_high": result.highs,
                "interval_coverage": self.predictor.coverage,
                "model_id": self.predictor.model_id,
            }
        )


set_model(MovieRatingModel())
