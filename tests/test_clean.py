"""clean: parsing of the official layout, filters from params, and the data quality report."""

from __future__ import annotations

import dataclasses
import subprocess
import sys
from pathlib import Path

import pytest

from stages.clean import DROP_REASONS, CleanParams, clean
from tests.conftest import write_dump, write_tsv_gz
from workspace.commands import CommandError

PARAMS = CleanParams(
    title_types=["movie"],
    min_votes=50,
    year_min=1900,
    year_max=2030,
    runtime_min=1,
    runtime_max=1000,
    include_adult=False,
    sparse_min_votes=10,
)

BASICS = [
    "tt0000001\tmovie\tKept One\tUn Gardé\t0\t1950\t\\N\t95\tDrama,Romance",
    "tt0000002\tmovie\tNo Runtime\tNo Runtime\t0\t1960\t\\N\t\\N\t\\N",
    "tt0000003\tshort\tA Short\tA Short\t0\t1950\t\\N\t10\tShort",
    "tt0000001\tmovie\tDuplicate Of One\tDuplicate Of One\t0\t1951\t\\N\t90\tDrama",
    "tt0000004\tmovie\tAdult\tAdult\t1\t1990\t\\N\t80\tAdult",
    "tt0000005\tmovie\tBad Adult Flag\tBad Adult Flag\tyes\t1990\t\\N\t80\tDrama",
    "tt0000006\tmovie\tNo Year\tNo Year\t0\t\\N\t\\N\t80\tDrama",
    "tt0000007\tmovie\tGarbage Year\tGarbage Year\t0\t19x0\t\\N\t80\tDrama",
    "tt0000008\tmovie\tToo Old\tToo Old\t0\t1890\t\\N\t80\tDrama",
    "tt0000009\tmovie\tEndless\tEndless\t0\t1990\t\\N\t5000\tDrama",
    "tt0000010\tmovie\tUnrated\tUnrated\t0\t1990\t\\N\t80\tDrama",
    "tt0000011\tmovie\tRated Eleven\tRated Eleven\t0\t1990\t\\N\t80\tDrama",
    "tt0000012\tmovie\tFew Votes\tFew Votes\t0\t1990\t\\N\t80\tDrama",
    'tt0000013\tmovie\t"Quoted" Title\t"Quoted" Title\t0\t2001\t\\N\tabc\tComedy',
]
RATINGS = [
    "tt0000001\t7.5\t1200",
    "tt0000002\t6.1\t50",
    "tt0000003\t5.0\t999",
    "tt0000004\t5.0\t999",
    "tt0000005\t5.0\t999",
    "tt0000006\t5.0\t999",
    "tt0000007\t5.0\t999",
    "tt0000008\t5.0\t999",
    "tt0000009\t5.0\t999",
    "tt0000011\t11.0\t999",
    "tt0000012\t5.0\t49",
    "tt0000013\t4.2\t70",
]
CREW = [
    "tt0000001\tnm0000001,nm0000002\tnm0000003",
    "tt0000002\t\\N\t\\N",
    "tt0000013\tnm0000001\t\\N",
]


@pytest.fixture
def raw_dir(tmp_path: Path) -> Path:
    return write_dump(tmp_path / "raw", BASICS, RATINGS, CREW)


def test_keeps_only_rated_movies_inside_every_filter(raw_dir: Path) -> None:
    movies = clean(raw_dir, PARAMS).movies
    assert movies["tconst"].tolist() == ["tt0000001", "tt0000002", "tt0000013"]


def test_every_row_read_is_kept_or_counted_under_its_first_failing_reason(raw_dir: Path) -> None:
    quality = clean(raw_dir, PARAMS).quality
    assert quality["rows_read"] == len(BASICS)
    assert quality["rows_kept"] == 3
    assert quality["rows_dropped"] == {
        "malformed_line": 0,
        "title_type": 1,
        "duplicate_tconst": 1,
        "invalid_is_adult": 1,
        "adult": 1,
        "invalid_year": 2,
        "year_out_of_range": 1,
        "runtime_out_of_range": 1,
        "no_rating": 1,
        "invalid_rating": 1,
        "below_min_votes": 1,
    }
    assert list(quality["rows_dropped"]) == list(DROP_REASONS)


def test_movies_below_min_votes_but_not_below_sparse_min_votes_are_kept_aside(
    raw_dir: Path,
) -> None:
    movies, sparse_movies, quality = clean(raw_dir, PARAMS)
    assert sparse_movies["tconst"].tolist() == ["tt0000012"]  # 49 votes: min_votes is 50
    assert list(sparse_movies.columns) == list(movies.columns)  # one schema, crew included
    # Still not modelled: counted as dropped below min_votes, and as kept aside.
    assert quality["rows_dropped"]["below_min_votes"] == 1
    assert quality["sparse_movies_kept"] == 1
    stricter = dataclasses.replace(PARAMS, sparse_min_votes=50)
    assert clean(raw_dir, stricter).sparse_movies.empty


def test_parses_nulls_lists_and_unquoted_text(raw_dir: Path) -> None:
    movies = clean(raw_dir, PARAMS).movies
    movies = movies.set_index("tconst")
    first = movies.loc["tt0000001"]
    assert first["title"] == "Kept One" and first["original_title"] == "Un Gardé"
    assert list(first["genres"]) == ["Drama", "Romance"]
    assert list(first["directors"]) == ["nm0000001", "nm0000002"]
    assert list(first["writers"]) == ["nm0000003"]
    assert (first["year"], first["runtime_minutes"], first["num_votes"]) == (1950, 95.0, 1200)
    no_runtime = movies.loc["tt0000002"]
    assert no_runtime["runtime_minutes"] != no_runtime["runtime_minutes"]  # NaN: unknown
    assert list(no_runtime["genres"]) == [] and list(no_runtime["directors"]) == []
    # Official files have no quoting: quotes are part of the title.
    assert movies.loc["tt0000013", "title"] == '"Quoted" Title'


def test_unreadable_runtime_is_kept_as_unknown(raw_dir: Path) -> None:
    movies, _, quality = clean(raw_dir, PARAMS)
    assert movies.set_index("tconst")["runtime_minutes"].isna().to_dict() == {
        "tt0000001": False,
        "tt0000002": True,
        "tt0000013": True,
    }
    assert quality["runtime_missing"] == 2


def test_filters_follow_params(raw_dir: Path) -> None:
    wider = CleanParams(
        title_types=["movie", "short"],
        min_votes=1,
        year_min=1800,
        year_max=2030,
        runtime_min=1,
        runtime_max=10_000,
        include_adult=True,
        sparse_min_votes=0,
    )
    movies = clean(raw_dir, wider).movies
    assert set(movies["tconst"]) == {
        "tt0000001", "tt0000002", "tt0000003", "tt0000004", "tt0000008", "tt0000009",
        "tt0000012", "tt0000013",
    }  # fmt: skip


def test_without_crew_file_there_are_no_crew_columns(tmp_path: Path) -> None:
    raw_dir = write_dump(tmp_path / "raw", BASICS, RATINGS)
    movies, _, quality = clean(raw_dir, PARAMS)
    assert "directors" not in movies and not quality["has_crew"]


def test_missing_column_is_named_with_its_file(tmp_path: Path) -> None:
    raw_dir = write_dump(tmp_path / "raw", BASICS, RATINGS)
    write_tsv_gz(raw_dir / "title.ratings.tsv.gz", "tconst\taverageRating", ["tt0000001\t7.5"])
    with pytest.raises(CommandError, match=r"title\.ratings\.tsv\.gz: missing column numVotes"):
        clean(raw_dir, PARAMS)


def test_missing_file_is_named(tmp_path: Path) -> None:
    raw_dir = write_dump(tmp_path / "raw", BASICS, RATINGS)
    (raw_dir / "title.ratings.tsv.gz").unlink()
    with pytest.raises(CommandError, match=r"title\.ratings\.tsv\.gz: file not found"):
        clean(raw_dir, PARAMS)


def test_a_few_malformed_lines_are_dropped_and_counted(tmp_path: Path) -> None:
    good = [f"tt{i:07d}\tmovie\tT{i}\tT{i}\t0\t1990\t\\N\t90\tDrama" for i in range(1, 3001)]
    ratings = [f"tt{i:07d}\t6.0\t100" for i in range(1, 3001)]
    raw_dir = write_dump(tmp_path / "raw", [*good, "tt9999999\tmovie\tcut short"], ratings)
    movies, _, quality = clean(raw_dir, PARAMS)
    assert len(movies) == 3000 and quality["rows_dropped"]["malformed_line"] == 1


def test_garbage_beyond_tolerance_fails_naming_file_and_line(tmp_path: Path) -> None:
    rows = [*BASICS[:2], "this is not a tsv row", *BASICS[2:]]
    raw_dir = write_dump(tmp_path / "raw", rows, RATINGS)
    with pytest.raises(CommandError, match=r"title\.basics\.tsv\.gz: 1 of 15 lines .* at line 4"):
        clean(raw_dir, PARAMS)


def test_a_corrupt_gzip_is_reported_by_file_name(raw_dir: Path) -> None:
    path = raw_dir / "title.basics.tsv.gz"
    path.write_bytes(path.read_bytes()[:-20])
    with pytest.raises(CommandError, match=r"title\.basics\.tsv\.gz"):
        clean(raw_dir, PARAMS)


def test_the_stage_stops_on_garbage_with_one_line_and_writes_nothing(repo_copy: Path) -> None:
    rows = [*BASICS[:2], "this is not a tsv row", *BASICS[2:]]
    write_dump(repo_copy / "data" / "raw", rows, RATINGS)
    report = repo_copy / "metrics" / "data_quality.json"
    report_before = report.read_bytes()

    result = subprocess.run(
        [sys.executable, "-m", "stages.clean"],
        cwd=repo_copy,
        capture_output=True,
        text=True,
        check=False,
    )

    assert result.returncode == 1
    errors = [line for line in result.stderr.splitlines() if line.startswith("error: ")]
    assert len(errors) == 1, result.stderr
    assert "title.basics.tsv.gz" in errors[0] and "line 4" in errors[0]
    assert not (repo_copy / "data" / "clean").exists() or not any(
        (repo_copy / "data" / "clean").iterdir()
    )
    assert report.read_bytes() == report_before
    assert not list((repo_copy / "metrics").glob(".*.tmp"))
