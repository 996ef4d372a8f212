"""The registered model: an MLflow pyfunc that takes movies and answers as the service does.

It wraps the service's own `Predictor` around the same two files (`model.skops`, `model.json`,
logged as the model's artifacts), so `mlflow models serve -m models:/imdb-rating@champion`
gives the same rating and interval as `POST /predict`. Its signature is over the raw movie
fields. Inputs are checked by the movie contract (imdb_rating/movie.py), as the service's
schema is derived from it; a movie outside it raises ValueError, which MLflow's scoring server
answers with 400.

Logged as code (MLflow's models-from-code, the `set_model` call at the end), not pickled: like
the skops artifact, loading the model runs only this reviewed file (and imdb_rating, logged as
its code). Imported by the registry when it logs the model, and by MLflow when it loads it,
never by the service.
"""

from __future__ import annotations

from collections.abc import Sequence
from pathlib import Path
from typing import Any

import mlflow.pyfunc
import numpy as np
import pandas as pd
from mlflow.models import ModelSignature, set_model
from mlflow.types.schema import Array, ColSpec, Schema

from imdb_rating.movie import MovieField, default_of, is_missing, movie_problems
from imdb_rating.predictor import Predictor

CARD_ARTIFACT = "model_card"  # keys of the logged artifacts: MLflow copies both files into
SKOPS_ARTIFACT = "model_skops"  # one folder, so the card finds its skops file next to it
OUTPUT_COLUMNS = (
    "rating", "interval_low", "interval_high", "interval_coverage", "model_id", "ignored_genres",
)  # fmt: skip
MAX_REPORTED_ERRORS = 10
# The signature's type of each kind of movie field.
COLUMN_TYPES = {
    "integer": "long",
    "number": "double",
    "string": "string",
    "boolean": "boolean",
    "strings": Array("string"),
}


def signature(movie_fields: Sequence[MovieField]) -> ModelSignature:
    """The movie contract's fields in (as `POST /predict` takes them), rating and interval
    out."""
    inputs = [
        ColSpec(COLUMN_TYPES[field.kind], field.name, required=field.required)
        for field in movie_fields
    ]
    outputs = [ColSpec("double", name) for name in OUTPUT_COLUMNS[:4]]
    outputs += [ColSpec("string", "model_id"), ColSpec(Array("string"), "ignored_genres")]
    return ModelSignature(inputs=Schema(inputs), outputs=Schema(outputs))


def movie_columns(frame: pd.DataFrame, predictor: Predictor) -> dict[str, list[Any]]:
    """The frame's movies as `Predictor.predict` columns; ValueError names the bad rows. In a
    table an empty cell (None, NaN) is an absent field: its default, as in a request."""
    movies = []
    for record in frame.to_dict("records"):
        movie = {}
        for field in predictor.movie_fields:
            value = record.get(field.name)
            if isinstance(value, np.ndarray):  # arrays come as lists or arrays, by input format
                value = value.tolist()
            movie[field.name] = default_of(field) if is_missing(value) else value
        movies.append(movie)
    errors = [
        f"movie {index}: {problem}"
        for index, movie in enumerate(movies)
        for problem in movie_problems(movie, predictor.movie_fields)
    ]
    if errors:
        more = len(errors) - MAX_REPORTED_ERRORS
        suffix = f"; and {more} more" if more > 0 else ""
        raise ValueError("; ".join(errors[:MAX_REPORTED_ERRORS]) + suffix)
    for movie in movies:  # NumPy's integers (a frame's) as Python's
        movie["year"], movie["num_votes"] = int(movie["year"]), int(movie["num_votes"])
    return predictor.columns(movies)


class MovieRatingModel(mlflow.pyfunc.PythonModel):
    """Movies in (a DataFrame of raw fields), rating and 80% interval out, one row each."""

    def load_context(self, context) -> None:
        self.predictor = Predictor(Path(context.artifacts[CARD_ARTIFACT]))

    def predict(self, context, model_input: pd.DataFrame, params=None) -> pd.DataFrame:
        columns = movie_columns(model_input, self.predictor)
        result = self.predictor.predict(columns)
        return pd.DataFrame(
            {
                "rating": result.ratings,
                "interval_low": result.lows,
                "interval_high": result.highs,
                "interval_coverage": self.predictor.coverage,
                "model_id": self.predictor.model_id,
                "ignored_genres": self.predictor.ignored_genres(columns["genres"]),
            }
        )


set_model(MovieRatingModel())
