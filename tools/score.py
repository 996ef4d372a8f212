"""Score a file of movies with the pinned model: CSV, TSV, JSON lines, Parquet, or a folder in
the official IMDb layout.

    python -m tools.score INPUT -o OUTPUT [--errors FILE] [--model models/model.json]
                          [--format csv|tsv|jsonl|parquet|imdb] [--id-column tconst]
                          [--chunk-rows 50000] [--max-error-rate 1.0]

Rows are read and scored in chunks with pyarrow's streaming readers, so memory follows the
chunk, not the file. A folder in the official layout is read by the clean stage's own parsing
and filters: rows those filters drop (other title types, adult titles, ...) are skipped and
counted per reason; title.ratings.tsv.gz gives num_votes, title.crew.tsv.gz (optional) the crew.
Every other row is checked against the movie contract (imdb_rating/movie.py, from which the
service's request schema is derived too), vectorised per rule; a row that breaks one goes to the
error file with its row number, id and reasons, never silently dropped. The rest are scored by
the service's own Predictor, so a movie gets the rating, interval and ignored genres
POST /predict/batch gives it.

Text formats (CSV, TSV, the official layout) hold text: numbers are parsed, `0`/`1`/`true`/
`false` is a boolean, genres and crew are comma-separated, an empty cell or `\\N` is null. TSV
has no quoting (as IMDb's files). Typed formats (JSON lines, Parquet) follow the service's JSON
strictly: integers must be integers, lists lists. `.gz` text files are read compressed.

The output (Parquet, or CSV for a .csv name) has the id column when the input has one (else
the row number), rating, interval_low, interval_high, coverage and model_id. Exit status: 0
when the run completes, rejected rows included; 1 on an unusable input (no such file, no
required column, an unreadable model); 3 when the share of rejected rows is above
--max-error-rate (the outputs are written all the same).
"""

from __future__ import annotations

import argparse
import gzip
import itertools
import json
import os
import sys
import time
from collections import Counter, deque
from collections.abc import Callable, Iterator, Mapping, Sequence
from concurrent.futures import Future, ThreadPoolExecutor
from contextlib import ExitStack
from dataclasses import dataclass, field
from functools import partial
from pathlib import Path
from typing import Any, TypeVar

import numpy as np
import pandas as pd
import pyarrow as pa
import pyarrow.csv as pv
import pyarrow.parquet as pq
from tqdm import tqdm

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
)
from imdb_rating.card import ArtifactError, read_crew_roles
from imdb_rating.movie import (
    EMPTY,
    MISSING,
    NOT_BOOLEAN,
    NOT_INTEGER,
    NOT_LIST,
    NOT_NUMBER,
    NOT_STRING,
    NOT_STRING_ITEMS,
    REPEATED_ITEMS,
    MovieField,
    default_of,
    longer_than,
    more_items_than,
    movie_fields,
    not_an_item,
    not_in,
)
from imdb_rating.predictor import Predictions, Predictor
from workspace.commands import CommandError, run_command
from workspace.files import atomic_path
from workspace.layout import MODEL_CARD
from workspace.params import load_params

FORMATS = {
    ".csv": "csv",
    ".tsv": "tsv",
    ".jsonl": "jsonl",
    ".ndjson": "jsonl",
    ".parquet": "parquet",
    ".pq": "parquet",
}
NULL_TEXT = ["", "\\N"]
BOOLEAN_TEXT = {"0": False, "1": True, "false": False, "true": True}
INTEGER_TEXT = r"[+-]?\d+"
BLOCK_BYTES = 16 << 20
EXIT_TOO_MANY_ERRORS = 3


# --- reading: every format as chunks of raw cells -----------------------------------------------

Rejection = tuple[int, str | None, str]  # row (0: unknown), id, reason
Part = TypeVar("Part")


@dataclass
class Chunk:
    """Consecutive records as raw cells: an object column per field present (and the id)."""

    rows: np.ndarray  # 1-based record numbers in the file; 0 where unknown (official layout)
    frame: pd.DataFrame


@dataclass
class Source:
    """An opened input. While `chunks` runs, `rejected` collects the records no row could be
    made of (the caller drains it); `skipped` counts the rows that are not movies, per reason."""

    columns: list[str]
    text: bool  # cells are text to parse (CSV, TSV, the official layout), else typed values
    chunks: Iterator[Chunk]
    total: int | None = None  # records, when known before reading (the progress bar's end)
    rejected: list[Rejection] = field(default_factory=list)
    skipped: Counter[str] = field(default_factory=Counter)


def _python_values(batch: pa.RecordBatch) -> pd.DataFrame:
    """One object column of Python values per column (lists stay lists, nulls are None)."""
    return pd.DataFrame(
        {
            name: pd.Series(column.to_pylist(), dtype=object)
            for name, column in zip(batch.schema.names, batch.columns, strict=True)
        }
    )


def _chunks(
    path: Path, batches: Iterator[pa.RecordBatch], chunk_rows: int, skipped_rows: list[int]
) -> Iterator[Chunk]:
    """Batches cut to at most `chunk_rows` records, numbered 1, 2, ... in file order, leaving
    out the numbers in `skipped_rows` (ascending; the reader fills it before it yields the
    batch holding the next records)."""
    good = 0
    for batch in _readable(path, batches):
        for offset in range(0, batch.num_rows, chunk_rows):
            piece = batch.slice(offset, chunk_rows)
            wanted = np.arange(good + 1, good + 1 + piece.num_rows)
            # Good records before each skipped one: the k-th good record is k plus the number
            # of skipped records it comes after.
            before = np.asarray(skipped_rows, dtype=np.int64) - np.arange(1, len(skipped_rows) + 1)
            rows = wanted + np.searchsorted(before, wanted, side="left")
            good += piece.num_rows
            yield Chunk(rows, _python_values(piece))


def _readable(path: Path, parts: Iterator[Part]) -> Iterator[Part]:
    """`parts`, read from `path`: a file that turns unreadable midway is an unusable input."""
    try:
        yield from parts
    except (pa.ArrowInvalid, OSError, UnicodeDecodeError) as error:
        raise CommandError(f"{path}: cannot read ({error})") from None


def open_delimited(path: Path, delimiter: str, wanted: set[str], chunk_rows: int) -> Source:
    """CSV (quoted as usual) or TSV (no quoting, as IMDb's files), the wanted columns as text.
    A line without the header's number of fields is a rejected record; reading goes on."""
    source = Source([], text=True, chunks=iter(()))
    malformed: list[int] = []

    def reject_line(row: Any) -> str:
        number = row.number - 1 if row.number else 0  # pyarrow counts the header line
        malformed.append(number)
        reason = f"{row.actual_columns} fields, expected {row.expected_columns}"
        source.rejected.append((number, None, reason))
        return "skip"

    quote: str | bool = False if delimiter == "\t" else '"'
    parse = pv.ParseOptions(delimiter=delimiter, quote_char=quote, invalid_row_handler=reject_line)
    try:
        header = pv.open_csv(path, parse_options=parse).schema.names
        source.rejected.clear()  # the header probe parsed a first block: it is read again
        malformed.clear()
        source.columns = [name for name in header if name in wanted]
        reader = pv.open_csv(
            path,
            read_options=pv.ReadOptions(block_size=BLOCK_BYTES, use_threads=False),
            parse_options=parse,
            convert_options=pv.ConvertOptions(
                include_columns=source.columns,
                column_types=dict.fromkeys(source.columns, pa.string()),
                null_values=NULL_TEXT,
                strings_can_be_null=True,
            ),
        )
    except (pa.ArrowInvalid, OSError) as error:
        raise CommandError(f"{path}: cannot read ({error})") from None
    source.chunks = _chunks(path, reader, chunk_rows, malformed)
    return source


def open_parquet(path: Path, wanted: set[str], chunk_rows: int) -> Source:
    try:
        parquet = pq.ParquetFile(path)
    except (pa.ArrowInvalid, OSError) as error:
        raise CommandError(f"{path}: cannot read ({error})") from None
    present = [name for name in parquet.schema_arrow.names if name in wanted]
    batches = parquet.iter_batches(batch_size=chunk_rows, columns=present)
    return Source(present, False, _chunks(path, batches, chunk_rows, []), parquet.metadata.num_rows)


def open_jsonl(path: Path, defaults: Mapping[str, Any], chunk_rows: int) -> Source:
    """One JSON object per line (blank lines are not records); a line that is not an object is
    a rejected record. The first object's keys are the file's columns (of those `defaults`
    names); a key absent from a record takes its default, as in a request."""
    opener: Callable[..., Any] = gzip.open if path.suffix == ".gz" else open
    try:
        stream = opener(path, "rt", encoding="utf-8")
        first = stream.readline()
        keys = json.loads(first)
        if type(keys) is not dict:
            raise ValueError("not an object")
    except (OSError, UnicodeDecodeError) as error:
        raise CommandError(f"{path}: cannot read ({error})") from None
    except ValueError:
        raise CommandError(f"{path}: the first line is not a JSON object") from None
    source = Source([name for name in keys if name in defaults], text=False, chunks=iter(()))

    def chunk(records: list[dict[str, Any]], rows: list[int]) -> Chunk:
        columns = {
            name: pd.Series([record.get(name, default) for record in records], dtype=object)
            for name, default in defaults.items()
        }
        return Chunk(np.asarray(rows), pd.DataFrame(columns))

    def chunks() -> Iterator[Chunk]:
        records: list[dict[str, Any]] = []
        rows: list[int] = []
        number = 0
        with stream:
            for line in _readable(path, itertools.chain([first], stream)):
                if not line.strip():
                    continue
                number += 1
                try:
                    record = json.loads(line)
                except ValueError:
                    source.rejected.append((number, None, "not JSON"))
                    continue
                if type(record) is not dict:
                    source.rejected.append((number, None, "not a JSON object"))
                    continue
                records.append(record)
                rows.append(number)
                if len(records) == chunk_rows:
                    yield chunk(records, rows)
                    records, rows = [], []
        if records:
            yield chunk(records, rows)

    source.chunks = chunks()
    return source


def open_official(folder: Path, chunk_rows: int, crew_roles: list[str]) -> Source:
    """The official layout, through the clean stage's parsing. Its movie filters (params.yaml
    `clean`: those the model was trained under) decide which rows are skipped; its rating
    filters do not apply, as they choose what to train on, not what can be scored."""
    filters = TitleFilters.of(load_params("clean"))
    if not (folder / RATINGS).is_file():
        raise CommandError(f"{folder / RATINGS}: not found (it holds num_votes, a required field)")
    drops = DropCounter()
    basics, _ = read_basics(folder / BASICS, filters, drops)
    tconst = basics["tconst"]
    frame = pd.DataFrame(
        {
            "tconst": tconst,
            "year": basics["startYear"],
            "num_votes": read_ratings(folder / RATINGS)["numVotes"].reindex(tconst).to_numpy(),
            # Unreadable runtimes are unknown to the clean stage; implausible ones were skipped.
            "runtime_minutes": basics["runtimeMinutes"].where(basics["runtime_minutes"].notna()),
            "genres": basics["genres"],
            "title": basics["primaryTitle"],
            "original_title": basics["originalTitle"],
            "is_adult": basics["isAdult"],
        }
    )
    del basics
    if crew_roles and (folder / CREW).is_file():
        crew = read_crew(folder / CREW, pa.array(tconst, pa.string())).reindex(tconst)
        for role in crew_roles:
            frame[role] = crew[role].to_numpy()
    frame = frame.astype(object).reset_index(drop=True)
    frame = frame.where(frame.notna(), None)

    def chunks() -> Iterator[Chunk]:
        for start in range(0, len(frame), chunk_rows):
            piece = frame.iloc[start : start + chunk_rows].reset_index(drop=True)
            yield Chunk(np.zeros(len(piece), dtype=np.int64), piece)

    source = Source(list(frame.columns), True, chunks(), len(frame))
    source.skipped.update({reason: count for reason, count in drops.counts.items() if count})
    return source


def detect_format(path: Path) -> str:
    if path.is_dir():
        return "imdb"
    suffixes = [suffix.lower() for suffix in path.suffixes]
    if suffixes[-1:] == [".gz"] and len(suffixes) > 1 and FORMATS.get(suffixes[-2]) != "parquet":
        suffixes.pop()
    if suffixes and suffixes[-1] in FORMATS:
        return FORMATS[suffixes[-1]]
    raise CommandError(
        f"{path}: unknown format; name it .csv, .tsv, .jsonl (these three may end in .gz) or"
        " .parquet, or pass --format"
    )


def open_source(
    path: Path, file_format: str, crew_roles: list[str], id_column: str, chunk_rows: int
) -> Source:
    fields = movie_fields(crew_roles)
    defaults = {field.name: default_of(field) for field in fields} | {id_column: None}
    if file_format == "imdb":
        return open_official(path, chunk_rows, crew_roles)
    if file_format == "parquet":
        source = open_parquet(path, set(defaults), chunk_rows)
    elif file_format == "jsonl":
        source = open_jsonl(path, defaults, chunk_rows)
    else:
        source = open_delimited(
            path, "\t" if file_format == "tsv" else ",", set(defaults), chunk_rows
        )
    missing = [f.name for f in fields if f.required and f.name not in source.columns]
    if missing:
        raise CommandError(
            f"{path}: no column {', '.join(missing)} (required; found the model's inputs:"
            f" {', '.join(source.columns) or 'none'})"
        )
    return source


# --- checking: the request schema's rules, one vectorised mask per rule ------------------------


class Failures:
    """The rows of a chunk that break a rule, and why; a row's reasons are joined by '; '."""

    def __init__(self) -> None:
        self._parts: list[pd.Series] = []

    def add(self, mask: pd.Series, reason: str) -> None:
        rows = np.flatnonzero(mask.to_numpy(dtype=bool))
        if len(rows):
            self._parts.append(pd.Series(reason, index=rows, dtype=object))

    def add_each(self, reasons: pd.Series) -> None:
        """Reasons indexed by row (each row's own words: the value that is wrong)."""
        if len(reasons):
            self._parts.append(reasons.astype(object))

    def reasons(self) -> pd.Series:
        """One string per failing row, by row. Joining only where a row has several reasons: a
        groupby-join costs ~70 µs a row, and at full size most of half a million rows have one."""
        if not self._parts:
            return pd.Series(dtype=object)
        combined = pd.concat(self._parts)
        order = np.argsort(combined.index.to_numpy(), kind="stable")  # rules stay in order
        rows, words = combined.index.to_numpy()[order], combined.to_numpy()[order]
        starts = np.flatnonzero(np.r_[True, rows[1:] != rows[:-1]])
        ends = np.r_[starts[1:], len(rows)]
        joined = words[starts]
        for at in np.flatnonzero(ends - starts > 1):
            joined[at] = "; ".join(words[starts[at] : ends[at]])
        return pd.Series(joined, index=rows[starts], dtype=object)


def _is(values: pd.Series, *kinds: type) -> pd.Series:
    """Exact types, as the service's JSON checks: True is not an int, 1 is not a bool."""
    return values.map(type).isin(kinds)


def check_integer(raw: pd.Series, field: MovieField, text: bool, failures: Failures) -> pd.Series:
    name, missing = field.name, raw.isna()
    if field.required:
        failures.add(missing, f"{name}: {MISSING}")
    integral = raw.str.fullmatch(INTEGER_TEXT, na=False) if text else _is(raw, int)
    failures.add(~missing & ~integral, f"{name}: {NOT_INTEGER}")
    values = pd.to_numeric(raw.where(integral), errors="coerce")
    if field.bounds:
        failures.add(integral & ~values.between(*field.bounds), f"{name}: {not_in(field.bounds)}")
    return values


def check_number(raw: pd.Series, field: MovieField, text: bool, failures: Failures) -> pd.Series:
    """A finite number; null (or NaN) is unknown."""
    name, missing = field.name, raw.isna()
    if field.required:
        failures.add(missing, f"{name}: {MISSING}")
    values = pd.to_numeric(raw if text else raw.where(_is(raw, int, float)), errors="coerce")
    finite = pd.Series(np.isfinite(values.to_numpy(dtype=np.float64)))
    failures.add(~missing & ~finite, f"{name}: {NOT_NUMBER}")
    if field.bounds:
        failures.add(finite & ~values.between(*field.bounds), f"{name}: {not_in(field.bounds)}")
    return values


def check_string(raw: pd.Series, field: MovieField, text: bool, failures: Failures) -> pd.Series:
    """A string within the field's lengths and pattern (text formats read "" as null)."""
    name, missing = field.name, raw.isna()
    if field.required:
        failures.add(missing, f"{name}: {MISSING}")
    is_text = _is(raw, str)
    if not text:
        failures.add(~missing & ~is_text, f"{name}: {NOT_STRING}")
    lengths = raw.where(is_text, "-").str.len()
    if field.minimum is not None:
        failures.add(lengths < field.minimum, f"{name}: {EMPTY}")
    if field.maximum is not None:
        failures.add(lengths > field.maximum, f"{name}: {longer_than(field.maximum)}")
    if field.pattern is not None:
        strings = raw[is_text]
        wrong = strings[~strings.str.match(field.pattern)]
        failures.add_each(f"{name}: " + wrong.map(partial(not_an_item, field)))
    return raw


def check_boolean(raw: pd.Series, field: MovieField, text: bool, failures: Failures) -> pd.Series:
    name = field.name
    if not text:
        failures.add(~_is(raw, bool), f"{name}: {NOT_BOOLEAN}")
        return raw
    missing = raw.isna()
    values = raw.str.lower().map(BOOLEAN_TEXT)
    failures.add(~missing & values.isna(), f"{name}: not a boolean (0, 1, true or false)")
    return values.where(~missing, field.default)


def check_strings(raw: pd.Series, field: MovieField, text: bool, failures: Failures) -> pd.Series:
    """Distinct strings, at most max_items, each one of the field's choices or matching its
    pattern."""
    name = field.name
    if text:
        lists = split_list(raw)
    else:
        is_list = _is(raw, list)
        failures.add(~is_list, f"{name}: {NOT_LIST}")
        lists = raw.where(is_list, None).map(lambda value: value or [])
    lengths = lists.map(len)
    if field.max_items is not None:
        failures.add(lengths > field.max_items, f"{name}: {more_items_than(field.max_items)}")
    items = lists[lengths > 0].explode().astype(object)
    is_text = _is(items, str)
    failures.add_each(
        pd.Series(f"{name}: {NOT_STRING_ITEMS}", index=items.index[~is_text])
        .groupby(level=0)
        .first()
    )
    items = items[is_text]
    if field.choices is not None:
        valid = items.isin(field.choices)
    else:
        valid = items.str.match(field.pattern, na=False) if field.pattern else items.notna()
    wrong = items[~valid].groupby(level=0).first()
    failures.add_each(f"{name}: " + wrong.map(partial(not_an_item, field)))
    pairs = pd.DataFrame({"row": items.index, "item": items.to_numpy()})
    repeated = pairs.loc[pairs.duplicated(), "row"].unique()
    failures.add_each(pd.Series(f"{name}: {REPEATED_ITEMS}", index=repeated))
    return lists


CHECKS = {
    "integer": check_integer,
    "number": check_number,
    "string": check_string,
    "boolean": check_boolean,
    "strings": check_strings,
}


def check_rows(
    frame: pd.DataFrame, text: bool, fields: Sequence[MovieField]
) -> tuple[np.ndarray, dict[str, list[Any]], pd.Series]:
    """The rows the service would accept (the movie contract's `fields`), as the model's input
    columns, and why the others fail.

    Returns the valid mask, the columns of the valid rows, and reasons indexed by row.
    """
    n_rows = len(frame)
    failures = Failures()

    def column(movie_field: MovieField) -> pd.Series:
        if movie_field.name in frame:
            return frame[movie_field.name]
        return pd.Series([None if text else default_of(movie_field)] * n_rows, dtype=object)

    checked = {f.name: CHECKS[f.kind](column(f), f, text, failures) for f in fields}
    reasons = failures.reasons()
    valid = np.ones(n_rows, dtype=bool)
    valid[reasons.index.to_numpy(dtype=np.int64)] = False
    columns = {}
    for movie_field in fields:
        if not movie_field.model_input:
            continue
        values = checked[movie_field.name][valid]
        if movie_field.kind == "integer":
            columns[movie_field.name] = values.astype(np.int64).tolist()
        elif movie_field.kind == "boolean":
            columns[movie_field.name] = [bool(value) for value in values]
        else:
            columns[movie_field.name] = values.tolist()
    return valid, columns, reasons


# --- scoring ------------------------------------------------------------------------------------


@dataclass
class Summary:
    scored: int = 0
    rejected: int = 0
    skipped: Counter[str] = field(default_factory=Counter)
    ignored_genres: Counter[str] = field(default_factory=Counter)  # scored movies per genre
    seconds: float = 0.0

    @property
    def read(self) -> int:
        return self.scored + self.rejected + self.skipped.total()

    @property
    def error_rate(self) -> float:
        return self.rejected / max(self.scored + self.rejected, 1)

    def line(self) -> str:
        detail = ", ".join(f"{reason} {count:,}" for reason, count in self.skipped.items())
        rate = self.read / self.seconds if self.seconds else 0.0
        line = (
            f"read {self.read:,} rows: scored {self.scored:,}, rejected {self.rejected:,},"
            f" skipped {self.skipped.total():,}{f' ({detail})' if detail else ''}"
            f" in {self.seconds:.1f} s ({rate:,.0f} rows/s)"
        )
        if self.ignored_genres:
            genres = ", ".join(f"{g} {n:,}" for g, n in self.ignored_genres.most_common())
            line += f"; genres the model never learned, ignored: {genres}"
        return line


ERRORS_SCHEMA = pa.schema([("row", pa.int64()), ("id", pa.string()), ("reason", pa.string())])
# Rows per walk of the trees: the walk is tree-major, so a block whose features stay in cache
# is read from memory once rather than once per tree (141k rows through the pinned model: 2.0 s
# in blocks of 50,000, 1.3 s in blocks of 2,048).
PREDICT_ROWS = 2048


def output_writer(path: Path, suffix: str, schema: pa.Schema) -> Any:
    if suffix == ".csv":
        return pv.CSVWriter(path, schema)
    return pq.ParquetWriter(path, schema)


def predict(predictor: Predictor, columns: dict[str, list[Any]], n_rows: int) -> Predictions:
    parts = [
        predictor.predict(
            {name: values[start : start + PREDICT_ROWS] for name, values in columns.items()}
        )
        for start in range(0, n_rows, PREDICT_ROWS)
    ]
    return Predictions(
        *(
            np.concatenate([getattr(part, name) for part in parts])
            for name in ("ratings", "lows", "highs")
        )
    )


@dataclass
class ScoredChunk:
    rows: int
    predictions: pa.Table | None  # None when no row of the chunk could be scored
    rejected: tuple[list[int], list[str | None], list[str]]  # rows, ids, reasons
    ignored_genres: Counter[str] = field(default_factory=Counter)  # scored movies per genre


def score_chunk(
    chunk: Chunk, text: bool, predictor: Predictor, id_column: str | None, schema: pa.Schema
) -> ScoredChunk:
    """Check a chunk's rows and predict the valid ones (`id_column`: None if the input has
    none; the row numbers are the key then)."""
    valid, columns, reasons = check_rows(chunk.frame, text, predictor.movie_fields)
    ids = None
    if id_column is not None:
        ids = chunk.frame[id_column]  # text sources hold str or None already
        if not text:
            ids = ids.map(lambda v: None if v is None else str(v))
    positions = reasons.index.to_numpy(dtype=np.int64)
    rejected_ids = ids.iloc[positions].tolist() if ids is not None else [None] * len(positions)
    rejected = (chunk.rows[positions].tolist(), rejected_ids, reasons.tolist())
    n_valid = int(valid.sum())
    if not n_valid:
        return ScoredChunk(len(chunk.frame), None, rejected)
    result = predict(predictor, columns, n_valid)
    keys = ids[valid].tolist() if ids is not None else chunk.rows[valid]
    ignored = predictor.ignored_genres(columns["genres"])
    table = pa.table(
        [
            pa.array(keys, schema.field(0).type),
            result.ratings,
            result.lows,
            result.highs,
            pa.array(np.full(n_valid, predictor.coverage, dtype=np.float64)),
            pa.array([predictor.model_id] * n_valid, pa.string()),
            pa.array([",".join(genres) or None for genres in ignored], pa.string()),
        ],
        schema=schema,
    )
    ignored_counts = Counter(genre for genres in ignored for genre in genres)
    return ScoredChunk(len(chunk.frame), table, rejected, ignored_counts)


def write_rejections(
    writer: pv.CSVWriter, rows: list[int], ids: list[str | None], reasons: list[str]
) -> None:
    """Row 0 (unknown: the official layout) is written as an empty cell."""
    writer.write_table(
        pa.table(
            [
                pa.array([row or None for row in rows], pa.int64()),
                pa.array(ids, pa.string()),
                pa.array(reasons, pa.string()),
            ],
            schema=ERRORS_SCHEMA,
        )
    )


def score(
    source: Source, predictor: Predictor, output: Path, errors: Path, id_column: str
) -> Summary:
    """Score every chunk into `output`, every rejected row into `errors` (both written whole or
    not at all)."""
    id_key = id_column if id_column in source.columns else None
    key = pa.field(id_column, pa.string()) if id_key else pa.field("row", pa.int64())
    schema = pa.schema(
        [key]
        + [pa.field(name, pa.float64()) for name in ("rating", "interval_low", "interval_high")]
        + [pa.field("coverage", pa.float64()), pa.field("model_id", pa.string())]
        + [pa.field("ignored_genres", pa.string())]
    )
    summary = Summary(skipped=source.skipped)
    with ExitStack() as stack:
        out_path = stack.enter_context(atomic_path(output))
        err_path = stack.enter_context(atomic_path(errors))
        writer = stack.enter_context(output_writer(out_path, output.suffix.lower(), schema))
        rejections = stack.enter_context(pv.CSVWriter(err_path, ERRORS_SCHEMA))
        bar = stack.enter_context(
            tqdm(total=source.total, unit=" rows", unit_scale=True, file=sys.stderr, disable=None)
        )

        def drain() -> int:
            """Records the reader could not make a row of."""
            count = len(source.rejected)
            if count:
                write_rejections(rejections, *map(list, zip(*source.rejected, strict=True)))
                source.rejected.clear()
            return count

        def write(done: ScoredChunk) -> None:
            if done.rejected[0]:
                write_rejections(rejections, *done.rejected)
            if done.predictions is not None:
                writer.write_table(done.predictions)
            dropped = drain()
            summary.scored += 0 if done.predictions is None else done.predictions.num_rows
            summary.ignored_genres.update(done.ignored_genres)
            summary.rejected += len(done.rejected[0]) + dropped
            bar.update(done.rows + dropped)

        # Chunks are scored a thread per core, written in order as they finish. Most of the
        # work holds the GIL, but not the tree walk nor parts of pandas' and pyarrow's: those
        # run beside another chunk's checks. At most `threads` + 1 chunks are held at once.
        threads = len(os.sched_getaffinity(0))
        pool = stack.enter_context(ThreadPoolExecutor(threads))
        scoring: deque[Future[ScoredChunk]] = deque()
        for chunk in source.chunks:
            scoring.append(pool.submit(score_chunk, chunk, source.text, predictor, id_key, schema))
            if len(scoring) > threads:
                write(scoring.popleft().result())
        while scoring:
            write(scoring.popleft().result())
        summary.rejected += drain()
    return summary


def load_predictor(card: Path) -> Predictor:
    """The service's Predictor; an unusable model is a one-line error."""
    try:
        return Predictor(card)
    except ArtifactError as error:
        raise CommandError(str(error)) from None


def main(argv: list[str] | None = None) -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("input", type=Path, help="a file, or a folder in the official layout")
    parser.add_argument("-o", "--output", type=Path, required=True, help=".parquet or .csv")
    parser.add_argument("--errors", type=Path, help="default: OUTPUT's name + .errors.csv")
    parser.add_argument("--model", type=Path, default=MODEL_CARD, help="the model card")
    parser.add_argument("--format", choices=sorted({*FORMATS.values(), "imdb"}))
    parser.add_argument("--id-column", default="tconst", help="copied to the output if present")
    parser.add_argument("--chunk-rows", type=int, default=50_000)
    parser.add_argument(
        "--max-error-rate",
        type=float,
        default=1.0,
        help="exit 3 when a larger share of the rows checked is rejected",
    )
    args = parser.parse_args(argv)
    if args.output.suffix.lower() not in (".parquet", ".csv"):
        raise CommandError(f"{args.output}: the output must end in .parquet or .csv")
    if not args.input.exists():
        raise CommandError(f"{args.input}: no such file or folder")
    errors = args.errors or args.output.with_name(args.output.stem + ".errors.csv")
    file_format = args.format or detect_format(args.input)
    started = time.perf_counter()  # the official layout is read as it opens
    with ThreadPoolExecutor(1) as background:
        # Verifying the artifact and compiling the tree walk (~1 s) run while the input opens,
        # which needs only the model's crew inputs: its card names them.
        loading = background.submit(load_predictor, args.model)
        try:
            crew_roles = read_crew_roles(args.model)
        except ArtifactError:
            crew_roles = loading.result().crew_roles  # or load_predictor's one-line error
        source = open_source(args.input, file_format, crew_roles, args.id_column, args.chunk_rows)
        predictor = loading.result()
    summary = score(source, predictor, args.output, errors, args.id_column)
    summary.seconds = time.perf_counter() - started
    print(f"{summary.line()}; predictions in {args.output}, rejected rows in {errors}")
    if summary.error_rate > args.max_error_rate:
        print(
            f"error: {summary.error_rate:.1%} of the rows were rejected, more than"
            f" --max-error-rate {args.max_error_rate:.1%}",
            file=sys.stderr,
        )
        sys.exit(EXIT_TOO_MANY_ERRORS)


if __name__ == "__main__":
    run_command(main)
