"""The IMDb dump in its official layout: gzip TSV files with a header line, `\\N` for null and no
quoting, read with pyarrow block by block (the full title.basics has about 12 million rows), so
memory follows the rows kept, not the file size. The clean stage, batch scoring (tools.score)
and the accuracy report (tools.accuracy_report) all read the files here.

Rows are filtered as they stream: `read_basics` keeps the titles `TitleFilters` accept and
counts every other row under the first reason it fails (`DropCounter`).
"""

from __future__ import annotations

import gzip
from collections import Counter
from collections.abc import Callable, Mapping
from dataclasses import dataclass, fields
from pathlib import Path
from typing import Any

import pandas as pd
import pyarrow as pa
import pyarrow.compute as pc
import pyarrow.csv as pv

from workspace.commands import CommandError

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
BLOCK_BYTES = 64 << 20
# Tolerated share of lines the parser cannot split into the header's columns.
MAX_MALFORMED_SHARE = 0.001


@dataclass(frozen=True)
class TitleFilters:
    """Which titles are movies worth rating: params.yaml `clean` holds these keys (and more)."""

    title_types: list[str]
    year_min: int
    year_max: int
    runtime_min: float
    runtime_max: float
    include_adult: bool

    @classmethod
    def of(cls, params: Any) -> TitleFilters:
        """The filters of a params object or mapping with (at least) these names."""
        get = params.get if isinstance(params, Mapping) else params.__getattribute__
        return cls(**{item.name: get(item.name) for item in fields(cls)})


def read_header(path: Path) -> list[str]:
    try:
        with gzip.open(path, "rt", encoding="utf-8", newline="\n") as stream:
            return stream.readline().rstrip("\n").split("\t")
    except FileNotFoundError:
        raise CommandError(f"{path}: file not found (run the download stage)") from None
    except (OSError, EOFError, UnicodeDecodeError) as error:
        raise CommandError(f"{path}: unreadable ({error})") from None


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
        raise CommandError(f"{path.name}: missing column {', '.join(missing)} (header: {header})")

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
        raise CommandError(f"{path.name}: cannot parse ({error})") from None
    schema = pa.schema([(column, pa.string()) for column in wanted])
    return pa.Table.from_batches(batches, schema=schema)


def check_malformed(path: Path, malformed: list[str], rows_read: int) -> None:
    if malformed and len(malformed) > MAX_MALFORMED_SHARE * rows_read:
        line = line_number_of(path, malformed[0])
        raise CommandError(
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


def read_basics(path: Path, params: TitleFilters, drops: DropCounter) -> tuple[pd.DataFrame, int]:
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
