"""Challengers for the two-model tests: planted bad ones made from a model, a model that learned
nothing, and the movies and later ratings live traffic brings.

Each is a verified pair (model.skops and a model.json whose id is its content's), as the service
loads any model; what makes the bad ones bad is in the card, as a damaged card would be:
- `raising`: intervals without half-widths, so every prediction raises IndexError;
- `slow`: a director credited with hundreds of thousands of rated films, so the similar-films
  encoding of a movie crediting them weighs every one (50 to 115 ms a movie on this project's
  machines, against the champion's 0.2 ms);
- `uninformed`: the pipeline's recipe on ratings shuffled across movies, so it learned nothing
  of them (the planted worse model of the live comparison and the rollback drill).
"""

from __future__ import annotations

import dataclasses
import math
from pathlib import Path

import numpy as np
import pandas as pd

from harness.model_variants import write_card
from imdb_rating.card import read_model_card
from imdb_rating.features import FilmTable
from tests.conftest import RATINGS_HEADER, synthetic_movies, train_serving_artifact, write_tsv_gz

SLOW_DIRECTOR = "nm0000007"
SLOW_FILMS = 1_300_000


def raising(source: Path, folder: Path) -> Path:
    card = read_model_card(source)
    broken = card.replace(intervals=dataclasses.replace(card.intervals, half_widths=[]))
    return write_card(broken, source, folder)


def slow(source: Path, folder: Path, films: int = SLOW_FILMS) -> Path:
    card = read_model_card(source)
    spec = card.feature_spec
    prolific = FilmTable(
        [SLOW_DIRECTOR], [0, films], *([value] * films for value in (1950, 7.0, 1, 6.5))
    )
    tables = {**spec.film_tables, "directors": prolific}
    slowed = card.replace(feature_spec=dataclasses.replace(spec, film_tables=tables))
    return write_card(slowed, source, folder)


def uninformed(folder: Path) -> Path:
    shuffled = synthetic_movies(seed=3)
    shuffled["rating"] = np.random.default_rng(0).permutation(shuffled["rating"].to_numpy())
    return train_serving_artifact(folder, shuffled)


def write_later_ratings(folder: Path, movies: pd.DataFrame) -> Path:
    """The movies' ratings as IMDb publishes them later: title.ratings in the official layout."""
    rows = [f"{t}\t{r}\t{v}" for t, r, v in movies[["tconst", "rating", "num_votes"]].to_numpy()]
    write_tsv_gz(folder / "title.ratings.tsv.gz", RATINGS_HEADER, rows)
    return folder


def as_requests(movies: pd.DataFrame) -> list[dict]:
    """The movies as the service's clients send them (with tconst, without the rating)."""
    records = movies.drop(columns="rating").to_dict("records")
    for movie in records:
        if isinstance(movie["runtime_minutes"], float) and math.isnan(movie["runtime_minutes"]):
            movie["runtime_minutes"] = None
    return records
