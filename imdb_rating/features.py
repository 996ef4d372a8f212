"""The model's feature contract: raw movie fields -> feature matrix, driven by a JSON spec.

`featurize` learns the spec on the train split and calls `build_matrix`; the service calls the
same function on request bodies, so training and serving cannot drift apart. Only the standard
library and NumPy are used here: the service imports this module on its request path.
"""

from __future__ import annotations

import math
import re
from collections.abc import Mapping, Sequence
from statistics import fmean
from typing import Any

import numpy as np

SPEC_SCHEMA_VERSION = 1
CREW_ROLES = ("directors", "writers")

# The raw inputs of one movie, as the clean stage writes them and the service accepts them.
# A missing optional input takes the spec's default (None means "unknown", which the models
# handle natively as NaN, exactly as in training).
INPUT_DEFAULTS: dict[str, Any] = {
    "runtime_minutes": None,
    "genres": [],
    "title": "",
    "original_title": None,
    "is_adult": False,
    "directors": [],
    "writers": [],
}

# What a movie's inputs may hold: the service's request schema and the MLflow model's input
# check both enforce these.
YEAR_RANGE = (1870, 2100)
RUNTIME_RANGE = (1, 1000)  # the training data's plausible runtimes (clean stage)
MAX_VOTES = 100_000_000  # far above any film's count
MAX_TITLE = 500
MAX_GENRES = 10
MAX_PEOPLE = 50
PERSON_ID = r"^nm\d{7,10}$"

_WORD = re.compile(r"\w+")
_DIGIT = re.compile(r"\d")
_SEQUEL = re.compile(r"(?:\b(?:[2-9]|ii|iii|iv|v|vi|vii|viii|ix|x)\b\s*$)|\bpart\s+\w+|:", re.I)

# Per-person statistics that use inputs only (never the target), stored per crew role.
PEOPLE_STATS = ("mean_log_votes", "first_year", "n_movies")


def title_words(title: str | None) -> set[str]:
    return set(_WORD.findall(title.lower())) if title else set()


def log_votes(num_votes: float) -> float:
    return math.log1p(num_votes)


def smoothed_mean(total: float, count: float, prior: float, smoothing: float) -> float:
    """Mean pulled toward the prior: people seen in few training films get little weight."""
    return (total + smoothing * prior) / (count + smoothing)


def feature_names(spec: Mapping[str, Any]) -> list[str]:
    names = ["year", "runtime_minutes", "log_votes", "is_adult", "genre_count"]
    names += [f"genre_{genre}" for genre in spec["genres"]]
    names += [
        "title_length",
        "title_word_count",
        "title_has_digit",
        "title_sequel_marker",
        "title_non_ascii",
        "title_differs_from_original",
        "title_words_encoding",
    ]
    for role in spec["crew_roles"]:
        names += [
            f"{role}_count",
            f"{role}_encoding",
            f"{role}_rated_films",
            f"{role}_mean_log_votes",
            f"{role}_relative_votes",
            f"{role}_career_years",
            f"{role}_movies",
        ]
    return names


def _title_features(
    title: str, original_title: str | None, word_table: Mapping[str, Sequence[float]], spec
) -> list[float]:
    words = title_words(title)
    prior, smoothing = spec["target_mean"], spec["title_word_smoothing"]
    known = [smoothed_mean(*word_table[w], prior, smoothing) for w in words if w in word_table]
    encoding = fmean(known) if known else prior
    return [
        float(len(title)),
        float(len(words)),
        float(_DIGIT.search(title) is not None),
        float(bool(_SEQUEL.search(title))),
        float(not title.isascii()),
        float(bool(original_title) and original_title != title),
        encoding,
    ]


def _crew_features(
    people: Sequence[str],
    year: float,
    votes: float,
    target_table: Mapping[str, Sequence[float]],
    people_table: Mapping[str, Sequence[float]],
    prior: float,
    smoothing: float,
) -> list[float]:
    if len(people) == 0:
        return [0.0] + [math.nan] * 6
    sums_counts = [target_table.get(p, (0.0, 0.0)) for p in people]
    encoding = fmean(smoothed_mean(s, c, prior, smoothing) for s, c in sums_counts)
    rated = float(max(c for _, c in sums_counts))
    stats = [people_table[p] for p in people if p in people_table]
    if stats:
        mean_votes = fmean(s[0] for s in stats)
        first_year = min(s[1] for s in stats)
        movies = fmean(s[2] for s in stats)
        relative, career = votes - mean_votes, year - first_year
    else:
        mean_votes = relative = career = movies = math.nan
    return [float(len(people)), encoding, rated, mean_votes, relative, career, movies]


def build_matrix(
    movies: Mapping[str, Sequence[Any]],
    spec: Mapping[str, Any],
    target_tables: Mapping[str, Mapping[str, Sequence[float]]] | None = None,
) -> np.ndarray:
    """Encode movies given as columns (field -> values, all the same length) into a matrix.

    `target_tables` replaces the spec's target-encoding tables; featurize passes tables built
    without the rows being encoded to get out-of-fold encodings for the train split.
    """
    tables = target_tables if target_tables is not None else spec["target_tables"]
    genre_index = {genre: i for i, genre in enumerate(spec["genres"])}
    prior, smoothing = spec["target_mean"], spec["encoding_smoothing"]
    n_rows = len(movies["year"])
    column = {
        name: movies[name] if name in movies else [INPUT_DEFAULTS[name]] * n_rows
        for name in INPUT_DEFAULTS
    }
    rows: list[list[float]] = []
    for i in range(n_rows):
        year = float(movies["year"][i])
        votes = log_votes(float(movies["num_votes"][i]))
        runtime = column["runtime_minutes"][i]
        genres = column["genres"][i]
        multi_hot = [0.0] * len(genre_index)
        for genre in genres:
            if genre in genre_index:
                multi_hot[genre_index[genre]] = 1.0
        row = [
            year,
            math.nan if runtime is None else float(runtime),
            votes,
            float(bool(column["is_adult"][i])),
            float(len(genres)),
            *multi_hot,
            *_title_features(
                column["title"][i] or "",
                column["original_title"][i],
                tables["title_words"],
                spec,
            ),
        ]
        for role in spec["crew_roles"]:
            row += _crew_features(
                column[role][i],
                year,
                votes,
                tables[role],
                spec["people"][role],
                prior,
                smoothing,
            )
        rows.append(row)
    return np.asarray(rows, dtype=np.float64).reshape(n_rows, len(spec["feature_names"]))
