"""clean: parse the raw dump, keep the movies worth modelling, report what was dropped and why.

Movies rated by fewer than `min_votes` people are not modelled (their ratings are too noisy to
score against), but those with at least `sparse_min_votes` are kept aside in
data/clean/sparse_movies.parquet: featurize learns from them what a director's or a title's
other films say, without ever testing on them.

Files are streamed in blocks (the full title.basics has about 12 million rows), so memory
follows the rows kept, not the file size. Every row read is either kept or counted under the
first reason it fails, in the order of DROP_REASONS, in metrics/data_quality.json.
"""

from __future__ import annotations

import gzip
import logging
from collections import Counter
from collections.abc import Callable, Iterator
from dataclasses import dataclass
from pathlib import Path
from typing import Any, NamedTuple

import pandas as pd
import pyarrow as pa
import pyarrow.compute as pc
import pyarrow.csv as pv
import pyarrow.parquet as pq

from stages.common import (
    METRICS_DIR,
    MOVIES_FILE,
    RAW_DIR,
    SPARSE_MOVIES_FILE,
    StageError,
    atomic_path,
    run_stage,
    stage_params,
    write_json,
)

log = logging.getLogger("stages.clean")

QUALITY_FILE = METRICS_DIR / "data_quality.json"

BASICS = "title.basics.tsv.gz"
RATINGS = "title.ratings.tsv.gz"
CREW = "title.crew.tsv.gz"
COLUMNS = {
    BASICS: (
        "tconst titleType primaryTitle originalTitle isAdult startYear runtimeMinutes genres"
    ).split(),
    RATINGS: ["tconst", "averageRating", "numVotes"],
    CREW: ["tconst", "directors", "writers"],
}
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
BLOCK_BYTES = 64 << 20
# Tolerated share of lines the parser cannot split into the header's columns.
MAX_MALFORMED_SHARE = 0.001


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


def read_header(path: Path) -> list[str]:
    try:
        with gzip.open(path, "rt", encoding="utf-8", newline="\n") as stream:
            return stream.readline().rstrip("\n").split("\t")
    except FileNotFoundError:
        raise StageError(f"{path}: file not found (run the download stage)") from None
    except (OSError, EOFError, UnicodeDecodeError) as error:
        raise StageError(f"{path}: unreadable ({error})") from None


def line_number_of(path: Path, text: str) -> int | None:
    """1-based line of `text` in the file (header is line 1); only used to word an error."""
    with gzip.open(path, "rt", encoding="utf-8", errors="replace", newline="\n") as stream:
        for number, line in enumerate(stream, start=1):
            if line.rstrip("\n") == text:
                return number
    return None


def stream_tsv(
    path: Path, malformed: list[str], batch_filter: Callable[[pa.RecordBatch], pa.RecordBatch]
) -> pa.Table:
    """Read the file's required columns as strings, block by block, keeping what the filter keeps.

    Lines with the wrong number of fields are skipped and collected in `malformed`.
    """
    header = read_header(path)
    wanted = COLUMNS[path.name]
    missing = [column for column in wanted if column not in header]
    if missing:
        raise StageError(f"{path.name}: missing column {', '.join(missing)} (header: {header})")

    def skip_malformed(row: Any) -> str:
        malformed.append(row.text)
        return "skip"

    try:
        reader = pv.open_csv(
            path,
            read_options=pv.ReadOptions(block_size=BLOCK_BYTES),
            parse_options=pv.ParseOptions(
                delimiter="\t", quote_char=False, invalid_row_handler=skip_malformed
            ),
            convert_options=pv.ConvertOptions(
                include_columns=wanted,
                column_types=dict.fromkeys(wanted, pa.string()),
                null_values=["\\N"],
                strings_can_be_null=True,
            ),
        )
        batches = [batch_filter(batch) for batch in reader]
    except (pa.ArrowInvalid, OSError, EOFError) as error:
        raise StageError(f"{path.name}: cannot parse ({error})") from None
    schema = pa.schema([(column, pa.string()) for column in wanted])
    return pa.Table.from_batches(batches, schema=schema)


def check_malformed(path: Path, malformed: list[str], rows_read: int) -> None:
    if malformed and len(malformed) > MAX_MALFORMED_SHARE * rows_read:
        line = line_number_of(path, malformed[0])
        raise StageError(
            f"{path.name}: {len(malformed)} of {rows_read} lines do not have "
            f"{len(COLUMNS[path.name])}+ tab-separated fields; first at line {line}: "
            f"{malformed[0][:80]!r}"
        )


def to_number(values: pd.Series) -> pd.Series:
    """Numbers as float; `\\N` (already null) and garbage both become NaN."""
    return pd.to_numeric(values, errors="coerce")


def split_list(values: pd.Series) -> pd.Series:
    """'a,b' -> ['a', 'b']; null -> []."""
    return values.map(lambda text: text.split(",") if isinstance(text, str) and text else [])


class DropCounter:
    """Applies filters in order, counting each dropped row under its first failing reason."""

    def __init__(self) -> None:
        self.counts: Counter[str] = Counter()

    def keep(self, frame: pd.DataFrame, mask: pd.Series, reason: str) -> pd.DataFrame:
        self.counts[reason] += int((~mask).sum())
        return frame[mask]


def read_basics(path: Path, params: CleanParams, drops: DropCounter) -> tuple[pd.DataFrame, int]:
    rows_read = 0
    title_types = pa.array(params.title_types)

    def movies_only(batch: pa.RecordBatch) -> pa.RecordBatch:
        nonlocal rows_read
        rows_read += batch.num_rows
        keep = pc.is_in(batch.column("titleType"), value_set=title_types)
        return batch.filter(pc.fill_null(keep, False))

    malformed: list[str] = []
    table = stream_tsv(path, malformed, movies_only)
    rows_read += len(malformed)
    check_malformed(path, malformed, rows_read)
    drops.counts["malformed_line"] += len(malformed)
    drops.counts["title_type"] += rows_read - len(malformed) - table.num_rows
    basics = table.to_pandas()
    basics = drops.keep(basics, ~basics["tconst"].duplicated(keep="first"), "duplicate_tconst")
    adult = basics["isAdult"].map({"0": False, "1": True})
    basics = drops.keep(basics.assign(is_adult=adult), adult.notna(), "invalid_is_adult")
    if not params.include_adult:
        basics = drops.keep(basics, ~basics["is_adult"].astype(bool), "adult")
    year = to_number(basics["startYear"])
    basics = drops.keep(basics.assign(year=year), year.notna(), "invalid_year")
    in_years = basics["year"].between(params.year_min, params.year_max)
    basics = drops.keep(basics, in_years, "year_out_of_range")
    # A missing or unreadable runtime is kept as unknown; only implausible values are dropped.
    runtime = to_number(basics["runtimeMinutes"])
    plausible = runtime.isna() | runtime.between(params.runtime_min, params.runtime_max)
    basics = drops.keep(basics.assign(runtime_minutes=runtime), plausible, "runtime_out_of_range")
    return basics, rows_read


def read_ratings(path: Path) -> pd.DataFrame:
    malformed: list[str] = []
    ratings = stream_tsv(path, malformed, lambda batch: batch).to_pandas()
    check_malformed(path, malformed, len(ratings) + len(malformed))
    return ratings.drop_duplicates("tconst", keep="first").set_index("tconst")


def read_crew(path: Path, tconsts: pa.Array) -> pd.DataFrame:
    """Crew rows of the kept titles only (title.crew lists every title in the dump)."""

    def kept_titles(batch: pa.RecordBatch) -> pa.RecordBatch:
        return batch.filter(pc.is_in(batch.column("tconst"), value_set=tconsts))

    malformed: list[str] = []
    crew = stream_tsv(path, malformed, kept_titles).to_pandas()
    # The share is checked against kept rows: stricter than the whole file, never looser.
    check_malformed(path, malformed, len(crew) + len(malformed))
    return crew.drop_duplicates("tconst", keep="first").set_index("tconst")


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
    basics, rows_read = read_basics(raw_dir / BASICS, params, drops)
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
        raise StageError("no movie passed the filters in params.yaml clean (check them)")
    for path, frame in ((MOVIES_FILE, movies), (SPARSE_MOVIES_FILE, sparse_movies)):
        with atomic_path(path) as tmp:
            pq.write_table(pa.Table.from_pandas(frame, preserve_index=False), tmp)
    write_json(QUALITY_FILE, quality)
    for line in iter_summary(quality):
        log.info(line)


if __name__ == "__main__":
    run_stage(main)
