"""The clean stage's table of movies (data/clean/movies.parquet: one row per movie, lists for
genres and crew) as the columns `imdb_rating.features.build_matrix` and `Predictor.predict`
take: featurize encodes it, the registry's gate scores it."""

from __future__ import annotations

from typing import Any

import numpy as np
import pandas as pd

from imdb_rating.movie import CREW_ROLES

INPUT_COLUMNS = ("year", "runtime_minutes", "num_votes", "genres", "title", "original_title")


def as_columns(movies: pd.DataFrame) -> dict[str, list[Any]]:
    """The frame as plain columns (lists, NaN runtime -> None)."""
    columns = {name: movies[name].tolist() for name in (*INPUT_COLUMNS, "is_adult")}
    columns["runtime_minutes"] = [None if np.isnan(v) else v for v in columns["runtime_minutes"]]
    for name in ("genres", *CREW_ROLES):
        if name in movies:
            columns[name] = [list(values) for values in movies[name]]
    return columns
