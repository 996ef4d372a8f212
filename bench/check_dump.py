"""Compare a generated dump (bench/make_dump.py) with the official sample.

    python -m bench.check_dump OUTPUT_DIR [--official ../shared/imdb/official-sample]

Both folders are parsed the way the pipeline parses them (tab, no quoting, `\\N` for null).
Prints a Markdown table and exits 1 when a check fails, 2 when a folder or file is missing.

Null rates must be of the same order of magnitude: both under 1%, or the larger at most 10x
the smaller. The official sample is the head of the files in tconst order, so early cinema
with almost no episodes; where that makes its rate say nothing of the full dump, the generated
rate is checked against a band for the full dump instead (FULL_DUMP_NULL_BANDS, with reasons).
"""

from __future__ import annotations

import argparse
import gzip
import sys
from collections import Counter
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import numpy as np
import pyarrow as pa
import pyarrow.compute as pc
import pyarrow.csv as pv

from bench.make_dump import BASICS, CREW, HEADERS, RATINGS
from workspace.layout import OFFICIAL_SAMPLE

REQUIRED = {BASICS: HEADERS[BASICS][:5], RATINGS: HEADERS[RATINGS], CREW: ["tconst"]}
NULLABLE = {BASICS: HEADERS[BASICS][5:], CREW: ["directors", "writers"]}
# Today's full dump has these; the sample, cut in tconst order, holds only some of the types.
TITLE_TYPES = set(
    "movie short tvEpisode tvSeries tvMovie tvMiniSeries tvSpecial video videoGame tvShort "
    "tvPilot".split()
)
GENRES = set(
    "Action Adult Adventure Animation Biography Comedy Crime Documentary Drama Family Fantasy "
    "Film-Noir Game-Show History Horror Music Musical Mystery News Reality-TV Romance Sci-Fi "
    "Short Sport Talk-Show Thriller War Western".split()
)
SCOPES = ("all titles", "movies")
WHOLE_NUMBER, RATING = r"^\d+$", r"^(?:[1-9]|10)\.\d$"
MAX_RATIO, RARE = 10.0, 0.01
# (scope, column) -> (low, high, why the sample's rate does not carry over to the full dump)
FULL_DUMP_NULL_BANDS = {
    ("all titles", "startYear"): (
        0.05,
        0.25,
        "sample: early films, all dated; full dump: ~1 tvEpisode in 6 has no year",
    ),
    ("movies", "startYear"): (
        0.01,
        0.10,
        "sample: catalogued classics; full dump: recent and announced movies lack a year",
    ),
    ("all titles", "directors"): (
        0.2,
        0.6,
        "sample: few episodes or series, which often credit no director at title level",
    ),
}


class MissingInputError(Exception):
    """A folder, file or column to compare is absent: reported in one line, no traceback."""


@dataclass
class Parsed:
    header: list[str]
    table: pa.Table  # every column as text, `\N` as null
    malformed: int  # lines that do not split into the header's fields


def read_tsv(path: Path) -> Parsed:
    """One file parsed with the pipeline's options (stages/clean.py)."""
    if not path.is_file():
        raise MissingInputError(f"{path}: file not found")
    with gzip.open(path, "rt", encoding="utf-8", newline="\n") as stream:
        header = stream.readline().rstrip("\n").split("\t")
    missing = [column for column in HEADERS[path.name] if column not in header]
    if missing:
        raise MissingInputError(f"{path}: no column {', '.join(missing)} in the header {header}")
    malformed = 0

    def count_malformed(_row: Any) -> str:
        nonlocal malformed
        malformed += 1
        return "skip"

    table = pv.read_csv(
        path,
        parse_options=pv.ParseOptions(
            delimiter="\t", quote_char=False, invalid_row_handler=count_malformed
        ),
        convert_options=pv.ConvertOptions(
            column_types=dict.fromkeys(header, pa.string()),
            null_values=["\\N"],
            strings_can_be_null=True,
        ),
    )
    return Parsed(header, table, malformed)


def count(mask: pa.ChunkedArray | pa.Array) -> int:
    """True values of a boolean mask (null counts as false)."""
    return int(pc.sum(pc.fill_null(mask, False).cast(pa.int64())).as_py() or 0)


def not_matching(values: pa.ChunkedArray, pattern: str) -> int:
    """Non-null values that do not match a regular expression."""
    return count(pc.invert(pc.match_substring_regex(values, pattern)))


def as_numbers(values: pa.ChunkedArray, pattern: str, kind: pa.DataType) -> pa.ChunkedArray:
    """Values matching the pattern as numbers; the others (counted by their own check) null."""
    valid = pc.fill_null(pc.match_substring_regex(values, pattern), False)
    return pc.cast(pc.if_else(valid, values, None), kind)


def value_counts(values: pa.ChunkedArray) -> Counter[str]:
    return Counter({v["values"]: v["counts"] for v in pc.value_counts(values).to_pylist()})


def unsorted_rows(tconsts: pa.ChunkedArray) -> int:
    """Rows whose tconst does not sort (as text) after the previous row's."""
    values = tconsts.combine_chunks()
    return count(pc.less_equal(values[1:], values[:-1]))


def skewness(values: np.ndarray) -> float:
    centred = values - values.mean()
    return float((centred**3).mean() / (centred**2).mean() ** 1.5)


@dataclass
class Measures:
    """Everything the checks compare, measured on one folder."""

    headers: dict[str, list[str]]
    rows: dict[str, int]
    malformed: dict[str, int]
    required_nulls: int
    bad_tconsts: int
    unsorted: int
    title_types: Counter[str]
    genres: Counter[str]
    is_adult: Counter[str]
    not_whole_numbers: int
    year_range: tuple[int, int]
    ends_before_start: int
    nulls: dict[tuple[str, str], float]
    titles_differ: float
    titles_quoted: int
    titles_non_ascii: float
    bad_ratings: int  # averageRating or numVotes text
    ratings: np.ndarray
    votes: np.ndarray
    ratings_in_basics: float
    crew_matches_basics: bool
    rated_share: dict[str, float]  # per title type, among its titles in basics
    director_credits: np.ndarray  # credits per person


def measure(folder: Path) -> Measures:
    parsed = {name: read_tsv(folder / name) for name in HEADERS}
    basics, ratings, crew = (parsed[name].table for name in HEADERS)
    movie = pc.equal(basics["titleType"], "movie")
    movie_tconsts = basics["tconst"].filter(movie).combine_chunks()
    crew_movie = pc.is_in(crew["tconst"], value_set=movie_tconsts)
    nulls = {}
    for name, columns in NULLABLE.items():
        table, is_movie = (basics, movie) if name == BASICS else (crew, crew_movie)
        for column in columns:
            missing = pc.is_null(table[column])
            nulls["all titles", column] = count(missing) / max(len(table), 1)
            nulls["movies", column] = count(pc.and_(missing, is_movie)) / max(count(is_movie), 1)
    start = as_numbers(basics["startYear"], WHOLE_NUMBER, pa.int64())
    year_range = pc.min_max(start).as_py()
    primary = basics["primaryTitle"]
    rated = pc.is_in(basics["tconst"], value_set=ratings["tconst"].combine_chunks())
    rated_by_type = value_counts(basics["titleType"].filter(rated))
    types = value_counts(basics["titleType"])
    credits = pc.list_flatten(pc.split_pattern(crew["directors"].drop_null(), ","))
    rating_text = ratings["averageRating"]
    return Measures(
        headers={name: p.header for name, p in parsed.items()},
        rows={name: len(p.table) for name, p in parsed.items()},
        malformed={name: p.malformed for name, p in parsed.items()},
        required_nulls=sum(
            parsed[name].table[column].null_count
            for name, cols in REQUIRED.items()
            for column in cols
        ),
        bad_tconsts=sum(not_matching(p.table["tconst"], r"^tt\d{7,8}$") for p in parsed.values()),
        unsorted=sum(unsorted_rows(p.table["tconst"]) for p in parsed.values()),
        title_types=types,
        genres=value_counts(basics["genres"].drop_null()),
        is_adult=value_counts(basics["isAdult"]),
        not_whole_numbers=sum(
            not_matching(basics[column], WHOLE_NUMBER) for column in HEADERS[BASICS][5:8]
        ),
        year_range=(year_range["min"], year_range["max"]),
        ends_before_start=count(
            pc.less(as_numbers(basics["endYear"], WHOLE_NUMBER, pa.int64()), start)
        ),
        nulls=nulls,
        titles_differ=count(pc.not_equal(primary, basics["originalTitle"])) / len(basics),
        titles_quoted=count(pc.match_substring(primary, '"')),
        titles_non_ascii=count(pc.invert(pc.string_is_ascii(primary))) / len(basics),
        bad_ratings=not_matching(rating_text, RATING)
        + not_matching(ratings["numVotes"], WHOLE_NUMBER),
        ratings=as_numbers(rating_text, RATING, pa.float64()).drop_null().to_numpy(),
        votes=as_numbers(ratings["numVotes"], WHOLE_NUMBER, pa.int64()).drop_null().to_numpy(),
        ratings_in_basics=count(
            pc.is_in(ratings["tconst"], value_set=basics["tconst"].combine_chunks())
        )
        / max(len(ratings), 1),
        crew_matches_basics=crew["tconst"].equals(basics["tconst"]),
        rated_share={kind: rated_by_type[kind] / total for kind, total in types.items()},
        director_credits=pc.value_counts(credits).field("counts").to_numpy(),
    )


@dataclass(frozen=True)
class Check:
    name: str
    generated: str
    official: str
    rule: str
    passed: bool


def percent(share: float) -> str:
    return f"{100 * share:.3g}%"


def same_order(generated: float, official: float) -> bool:
    low, high = sorted((generated, official))
    return high < RARE or (low > 0 and high / low <= MAX_RATIO)


def layout_checks(gen: Measures, off: Measures) -> list[Check]:
    checks = [
        Check(
            f"header of {name}",
            " ".join(gen.headers[name]),
            " ".join(off.headers[name]),
            "identical, official column set",
            gen.headers[name] == off.headers[name] == HEADERS[name],
        )
        for name in HEADERS
    ]
    checks += [
        Check(
            f"malformed lines in {name}",
            f"{gen.malformed[name]:,} of {gen.rows[name]:,}",
            f"{off.malformed[name]:,} of {off.rows[name]:,}",
            "none (pipeline's parser)",
            gen.malformed[name] == 0,
        )
        for name in HEADERS
    ]
    return [
        *checks,
        Check(
            "tconst format",
            f"{gen.bad_tconsts:,} bad",
            f"{off.bad_tconsts:,} bad",
            "tt + 7 or 8 digits",
            gen.bad_tconsts == off.bad_tconsts == 0,
        ),
        Check(
            "tconst order",
            f"{gen.unsorted:,} out of order",
            f"{off.unsorted:,} out of order",
            "strictly ascending as text",
            gen.unsorted == off.unsorted == 0,
        ),
        Check(
            "required fields",
            f"{gen.required_nulls:,} null",
            f"{off.required_nulls:,} null",
            "ids, type, titles, isAdult, ratings never null",
            gen.required_nulls == off.required_nulls == 0,
        ),
        Check(
            "ratings ⊂ basics",
            percent(gen.ratings_in_basics),
            "n/a (files cut separately)",
            "every rated tconst is a title",
            gen.ratings_in_basics == 1,
        ),
        Check(
            "crew rows = basics rows",
            str(gen.crew_matches_basics),
            str(off.crew_matches_basics),
            "same tconsts, same order",
            gen.crew_matches_basics and off.crew_matches_basics,
        ),
    ]


def vocabulary_checks(gen: Measures, off: Measures) -> list[Check]:
    def genre_problems(measures: Measures) -> int:
        bad = 0
        for value, rows in measures.genres.items():
            names = value.split(",")
            valid = set(names) <= GENRES and names == sorted(set(names)) and len(names) <= 3
            bad += 0 if valid else rows
        return bad

    adult_share = gen.is_adult["1"] / max(sum(gen.is_adult.values()), 1)
    return [
        Check(
            "title types",
            ", ".join(sorted(gen.title_types)),
            ", ".join(sorted(off.title_types)),
            "sample's ⊆ generated ⊆ full dump's 11",
            set(off.title_types) <= set(gen.title_types) <= TITLE_TYPES,
        ),
        Check(
            "genres",
            f"{len({g for v in gen.genres for g in v.split(',')})} used, "
            f"{genre_problems(gen):,} bad rows",
            f"{len({g for v in off.genres for g in v.split(',')})} used, "
            f"{genre_problems(off):,} bad rows",
            "real vocabulary, ≤ 3, alphabetical, distinct",
            genre_problems(gen) == genre_problems(off) == 0,
        ),
        Check(
            "isAdult",
            f"{sorted(gen.is_adult)}, {percent(adult_share)} adult",
            f"{sorted(off.is_adult)}",
            "0 or 1, mostly 0 (< 5%)",
            set(gen.is_adult) <= {"0", "1"} and adult_share < 0.05,
        ),
        Check(
            "years and runtimes",
            f"{gen.not_whole_numbers:,} bad, years {gen.year_range[0]}-{gen.year_range[1]}, "
            f"{gen.ends_before_start:,} end < start",
            f"{off.not_whole_numbers:,} bad, years {off.year_range[0]}-{off.year_range[1]}",
            "whole numbers, years 1874-2035, end ≥ start",
            gen.not_whole_numbers == 0
            and gen.ends_before_start == 0
            and 1874 <= gen.year_range[0] <= gen.year_range[1] <= 2035,
        ),
    ]


def null_checks(gen: Measures, off: Measures) -> list[Check]:
    checks = []
    for scope in SCOPES:
        for columns in NULLABLE.values():
            for column in columns:
                generated, official = gen.nulls[scope, column], off.nulls[scope, column]
                band = FULL_DUMP_NULL_BANDS.get((scope, column))
                if band:
                    low, high, reason = band
                    rule = f"full dump {percent(low)}-{percent(high)} ({reason})"
                    passed = low <= generated <= high
                else:
                    rule = f"same order: both < {percent(RARE)} or ratio ≤ {MAX_RATIO:g}"
                    passed = same_order(generated, official)
                checks.append(
                    Check(
                        f"\\N in {column}, {scope}",
                        percent(generated),
                        percent(official),
                        rule,
                        passed,
                    )
                )
    return checks


def title_checks(gen: Measures, off: Measures) -> list[Check]:
    return [
        Check(
            "originalTitle ≠ primaryTitle",
            percent(gen.titles_differ),
            percent(off.titles_differ),
            f"same order (ratio ≤ {MAX_RATIO:g})",
            same_order(gen.titles_differ, off.titles_differ) and gen.titles_differ > 0,
        ),
        Check(
            "non-ASCII primaryTitle",
            percent(gen.titles_non_ascii),
            percent(off.titles_non_ascii),
            f"same order (ratio ≤ {MAX_RATIO:g})",
            same_order(gen.titles_non_ascii, off.titles_non_ascii) and gen.titles_non_ascii > 0,
        ),
        Check(
            'raw " in primaryTitle',
            f"{gen.titles_quoted:,} titles",
            f"{off.titles_quoted:,} titles",
            "present (the full dump has them; no quoting)",
            gen.titles_quoted > 0,
        ),
    ]


def rating_checks(gen: Measures, off: Measures) -> list[Check]:
    def votes_summary(votes: np.ndarray) -> str:
        median, p99 = np.percentile(votes, [50, 99])
        return f"min {votes.min():,}, median {median:,.0f}, p99 {p99:,.0f}, max {votes.max():,}"

    def heavy_tailed(votes: np.ndarray) -> bool:
        median, p99 = np.percentile(votes, [50, 99])
        return votes.min() >= 5 and p99 >= 50 * median and votes.max() >= 1000 * median

    def shape(ratings: np.ndarray) -> str:
        return f"mean {ratings.mean():.2f}, sd {ratings.std():.2f}, skew {skewness(ratings):.2f}"

    movie, episode = gen.rated_share.get("movie", 0), gen.rated_share.get("tvEpisode", 0)
    return [
        Check(
            "averageRating and numVotes text",
            f"{gen.bad_ratings:,} bad, ratings {gen.ratings.min()}-{gen.ratings.max()}",
            f"{off.bad_ratings:,} bad, ratings {off.ratings.min()}-{off.ratings.max()}",
            "one decimal, 1.0-10.0; whole votes",
            gen.bad_ratings == off.bad_ratings == 0,
        ),
        Check(
            "averageRating shape",
            shape(gen.ratings),
            shape(off.ratings),
            "means within 1.0, both skewed left",
            abs(gen.ratings.mean() - off.ratings.mean()) <= 1.0
            and skewness(gen.ratings) < 0
            and skewness(off.ratings) < 0,
        ),
        Check(
            "numVotes",
            votes_summary(gen.votes),
            votes_summary(off.votes),
            "≥ 5; heavy tail: p99 ≥ 50x median, max ≥ 1000x median",
            heavy_tailed(gen.votes) and heavy_tailed(off.votes),
        ),
        Check(
            "rated share",
            f"{percent(gen.rows[RATINGS] / gen.rows[BASICS])} of titles; "
            f"movies {percent(movie)}, episodes {percent(episode)}",
            "n/a (files cut separately)",
            "full dump ~13% (1.6M of 11.9M); movies ≥ 3x episodes",
            0.10 <= gen.rows[RATINGS] / gen.rows[BASICS] <= 0.17 and movie >= 3 * episode,
        ),
    ]


def crew_checks(gen: Measures, off: Measures) -> list[Check]:
    def summary(credits: np.ndarray) -> str:
        return f"{len(credits):,} people, median {np.median(credits):.0f}, max {credits.max():,}"

    def heavy_tailed(credits: np.ndarray) -> bool:
        return credits.max() >= 20 * np.median(credits)

    return [
        Check(
            "credits per director",
            summary(gen.director_credits),
            summary(off.director_credits),
            "heavy tail: max ≥ 20x median",
            heavy_tailed(gen.director_credits) and heavy_tailed(off.director_credits),
        )
    ]


def run_checks(generated: Path, official: Path) -> list[Check]:
    if not official.is_dir():
        raise MissingInputError(
            f"official sample not found at {official}: it holds the real IMDb rows to compare "
            "with (see ../shared/imdb/README.md); pass --official FOLDER"
        )
    if not generated.is_dir():
        raise MissingInputError(f"{generated}: no such folder (write it with bench/make_dump.py)")
    gen, off = measure(generated), measure(official)
    return [
        *layout_checks(gen, off),
        *vocabulary_checks(gen, off),
        *null_checks(gen, off),
        *title_checks(gen, off),
        *rating_checks(gen, off),
        *crew_checks(gen, off),
    ]


def markdown(checks: list[Check]) -> str:
    lines = ["| check | generated | official sample | rule | result |", "|---|---|---|---|---|"]
    lines += [
        f"| {c.name} | {c.generated} | {c.official} | {c.rule} | {'ok' if c.passed else 'FAIL'} |"
        for c in checks
    ]
    return "\n".join(lines)


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("output_dir", type=Path, help="folder written by bench/make_dump.py")
    parser.add_argument("--official", type=Path, default=OFFICIAL_SAMPLE)
    args = parser.parse_args(argv)
    try:
        checks = run_checks(args.output_dir, args.official)
    except MissingInputError as error:
        print(f"check_dump: {error}", file=sys.stderr)
        return 2
    print(markdown(checks))
    failed = [check.name for check in checks if not check.passed]
    print(f"\n{len(checks) - len(failed)} of {len(checks)} checks passed", end="")
    print(f"; failed: {', '.join(failed)}" if failed else "")
    return 1 if failed else 0


if __name__ == "__main__":
    sys.exit(main())
