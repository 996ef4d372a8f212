"""clean: parse the raw dump, keep the movies worth modelling, report what was dropped and why.

Movies rated by fewer than `min_votes` people are not modelled (their ratings are too noisy to
score against), but those with at least `sparse_min_votes` are kept aside in
data/clean/sparse_movies.parquet: featurize learns from them what a director's or a title's
other films say, without ever testing on them.

The files are read by imdb_data.official, block by block. Every row read is either kept or
counted under the first reason it fails, in the order of DROP_REASONS, in
metrics/data_quality.json.
"""

from __future__ import annotations

import logging
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path
from typing import Any, NamedTuple

import pandas as pd
import pyarrow as pa
import pyarrow.parquet as pq

from imdb_data.official import (
    BASICS,
    CREW,
    RATINGS,
    DropCounter,
    TitleFilters,
    read_basics,
    read_crew,
    read_ratings,
    split_list,
    to_number,
)
from workspace.commands import CommandError, run_command
from workspace.files import atomic_path, write_json
from workspace.layout import METRICS_DIR, MOVIES_FILE, RAW_DIR, SPARSE_MOVIES_FILE
from workspace.params import stage_params

log = logging.getLogger("stages.clean")

QUALITY_FILE = METRICS_DIR / "data_quality.json"

DROP_REASONS = (
    "malformed_line",
    "title_type",
    "duplicate_tconst",
    "invalid_is_adult",
    "adult",
    "invalid_year",
    "year_out_of_range",
    "runtime_out_of_range",
    "no_rating",
    "invalid_rating",
    "below_min_votes",
)


@dataclass(frozen=True)
class CleanParams:
    title_types: list[str]
    min_votes: int
    year_min: int
    year_max: int
    runtime_min: float
    runtime_max: float
    include_adult: bool
    sparse_min_votes: int


def attach_ratings(
    basics: pd.DataFrame, ratings: pd.DataFrame, params: CleanParams, drops: DropCounter
) -> tuple[pd.DataFrame, pd.DataFrame]:
    """The rated movies to model, and the sparsely rated ones kept aside (module docstring)."""
    movies = basics.join(ratings, on="tconst", how="left")
    movies = drops.keep(movies, movies["averageRating"].notna(), "no_rating")
    rating, votes = to_number(movies["averageRating"]), to_number(movies["numVotes"])
    valid = rating.between(1, 10) & (votes >= 0) & (votes == votes.round())
    movies = drops.keep(movies.assign(rating=rating, num_votes=votes), valid, "invalid_rating")
    enough_votes = movies["num_votes"] >= params.min_votes
    sparse = movies[~enough_votes & (movies["num_votes"] >= params.sparse_min_votes)]
    return drops.keep(movies, enough_votes, "below_min_votes"), sparse


def tidy(movies: pd.DataFrame, crew: pd.DataFrame | None) -> pd.DataFrame:
    """The clean schema the featurize stage and the service's inputs share."""
    tidy_frame = pd.DataFrame(
        {
            "tconst": movies["tconst"].astype(str),
            "title": movies["primaryTitle"].fillna("").astype(str),
            "original_title": movies["originalTitle"].fillna("").astype(str),
            "is_adult": movies["is_adult"].astype(bool),
            "year": movies["year"].astype("int32"),
            "runtime_minutes": movies["runtime_minutes"].astype("float64"),
            "genres": split_list(movies["genres"]),
            "num_votes": movies["num_votes"].astype("int64"),
            "rating": movies["rating"].astype("float64"),
        }
    )
    if crew is not None:
        credits = crew.reindex(tidy_frame["tconst"])
        for role in ("directors", "writers"):
            tidy_frame[role] = split_list(credits[role]).to_numpy()
    return tidy_frame.sort_values("tconst", ignore_index=True)


class Cleaned(NamedTuple):
    movies: pd.DataFrame
    sparse_movies: pd.DataFrame
    quality: dict[str, Any]


def clean(raw_dir: Path, params: CleanParams) -> Cleaned:
    drops = DropCounter()
    basics, rows_read = read_basics(raw_dir / BASICS, TitleFilters.of(params), drops)
    movies, sparse = attach_ratings(basics, read_ratings(raw_dir / RATINGS), params, drops)
    crew = None
    if (raw_dir / CREW).exists():
        kept = pd.concat([movies["tconst"], sparse["tconst"]]).astype(str)
        crew = read_crew(raw_dir / CREW, pa.array(kept))
    result = tidy(movies, crew)
    quality = {
        "files": sorted(p.name for p in raw_dir.glob("*.tsv.gz")),
        "rows_read": rows_read,
        "rows_kept": len(result),
        "rows_dropped": {reason: drops.counts[reason] for reason in DROP_REASONS},
        # Of those below min_votes, kept aside for featurize (never modelled).
        "sparse_movies_kept": len(sparse),
        "has_crew": crew is not None,
        "runtime_missing": int(result["runtime_minutes"].isna().sum()),
    }
    assert rows_read == len(result) + sum(drops.counts.values()), "every row is accounted for"
    return Cleaned(result, tidy(sparse, crew), quality)


def iter_summary(quality: dict[str, Any]) -> Iterator[str]:
    yield (
        f"read {quality['rows_read']} title rows, kept {quality['rows_kept']} movies "
        f"and {quality['sparse_movies_kept']} sparsely rated ones"
    )
    for reason, count in quality["rows_dropped"].items():
        if count:
            yield f"dropped {count}: {reason}"


def main() -> None:
    params = stage_params(CleanParams, "clean")
    movies, sparse_movies, quality = clean(RAW_DIR, params)
    if movies.empty:
        raise CommandError("no movie passed the filters in params.yaml clean (check them)")
    for path, frame in ((MOVIES_FILE, movies), (SPARSE_MOVIES_FILE, sparse_movies)):
        with atomic_path(path) as tmp:
            pq.write_table(pa.Table.from_pandas(frame, preserve_index=False), tmp)
    write_json(QUALITY_FILE, quality)
    for line in iter_summary(quality):
        log.info(line)


if __name__ == "__main__":
    run_command(main)
