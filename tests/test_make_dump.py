"""bench/make_dump.py: a synthetic dump the pipeline reads exactly like the official one.

A tiny scale (0.001: 11,900 titles) exercises the same code as the full-size run.
"""

from __future__ import annotations

import gzip
import shutil
import subprocess
import sys
from pathlib import Path
from typing import Any

import pyarrow as pa
import pyarrow.compute as pc
import pyarrow.csv as pv
import pytest

from stages.clean import CleanParams, clean
from tests.conftest import BASICS_HEADER, CREW_HEADER, RATINGS_HEADER
from workspace.layout import REPO_ROOT
from workspace.params import load_params

SCALE = 0.001
TITLES = 11_900
HEADERS = {
    "title.basics.tsv.gz": BASICS_HEADER,
    "title.ratings.tsv.gz": RATINGS_HEADER,
    "title.crew.tsv.gz": CREW_HEADER,
}


def make_dump(folder: Path, seed: int = 0) -> Path:
    command = [sys.executable, "-m", "bench.make_dump", str(folder), "--scale", str(SCALE)]
    subprocess.run([*command, "--seed", str(seed)], check=True, capture_output=True, cwd=REPO_ROOT)
    return folder


def check_dump(folder: Path, official: Path) -> subprocess.CompletedProcess:
    command = [sys.executable, "-m", "bench.check_dump", str(folder), "--official", str(official)]
    return subprocess.run(command, capture_output=True, text=True, cwd=REPO_ROOT)


def read_like_the_pipeline(path: Path) -> tuple[pa.Table, list[str]]:
    """The file parsed with stages/clean.py's options; returns the table and malformed lines."""
    malformed: list[str] = []

    def skip(row: Any) -> str:
        malformed.append(row.text)
        return "skip"

    table = pv.read_csv(
        path,
        parse_options=pv.ParseOptions(delimiter="\t", quote_char=False, invalid_row_handler=skip),
        convert_options=pv.ConvertOptions(
            column_types=dict.fromkeys(HEADERS[path.name].split("\t"), pa.string()),
            null_values=["\\N"],
            strings_can_be_null=True,
        ),
    )
    return table, malformed


@pytest.fixture(scope="module")
def dump(tmp_path_factory: pytest.TempPathFactory) -> Path:
    return make_dump(tmp_path_factory.mktemp("dump"))


def test_every_file_has_the_official_header(dump: Path) -> None:
    for name, header in HEADERS.items():
        with gzip.open(dump / name, "rt", encoding="utf-8") as stream:
            assert stream.readline() == header + "\n", name


def test_the_pipeline_parser_reads_every_line(dump: Path) -> None:
    for name in HEADERS:
        table, malformed = read_like_the_pipeline(dump / name)
        assert malformed == [], name
        assert table.column_names == HEADERS[name].split("\t")
    basics, _ = read_like_the_pipeline(dump / "title.basics.tsv.gz")
    ratings, _ = read_like_the_pipeline(dump / "title.ratings.tsv.gz")
    assert len(basics) == TITLES
    assert 0.10 * TITLES < len(ratings) < 0.17 * TITLES
    # Unquoted parsing keeps raw quotes in titles and reads `\N` as null.
    assert pc.any(pc.match_substring(basics["primaryTitle"], '"')).as_py()
    assert basics["runtimeMinutes"].null_count > 0


def test_the_same_seed_gives_the_same_bytes(dump: Path, tmp_path: Path) -> None:
    again = make_dump(tmp_path / "again")
    other = make_dump(tmp_path / "other", seed=1)
    for name in HEADERS:
        assert (again / name).read_bytes() == (dump / name).read_bytes(), name
        assert (other / name).read_bytes() != (dump / name).read_bytes(), name


def test_ratings_and_crew_refer_to_the_titles(dump: Path) -> None:
    basics, _ = read_like_the_pipeline(dump / "title.basics.tsv.gz")
    ratings, _ = read_like_the_pipeline(dump / "title.ratings.tsv.gz")
    crew, _ = read_like_the_pipeline(dump / "title.crew.tsv.gz")
    titles = set(basics["tconst"].to_pylist())
    assert set(ratings["tconst"].to_pylist()) <= titles
    assert crew["tconst"].to_pylist() == basics["tconst"].to_pylist()
    tconsts = basics["tconst"].to_pylist()
    assert tconsts == sorted(tconsts) and len(set(tconsts)) == len(tconsts)
    assert {len(tconst) for tconst in tconsts} == {9, 10}  # tt + 7 or 8 digits


def test_titles_carry_the_characters_of_real_ones(dump: Path) -> None:
    basics, _ = read_like_the_pipeline(dump / "title.basics.tsv.gz")
    titles = basics["primaryTitle"].to_pylist() + basics["originalTitle"].to_pylist()
    for character in ('"', "'", ",", ":", "#", "é", "ö", "愛"):
        assert any(character in title for title in titles), character
    assert not any("\t" in title or "\n" in title or title != title.strip() for title in titles)


def test_the_clean_stage_keeps_movies_and_finds_no_malformed_line(dump: Path) -> None:
    params = CleanParams(**load_params("clean"))  # the pipeline's
    movies, _, quality = clean(dump, params)

    assert quality["rows_read"] == TITLES
    assert quality["rows_dropped"]["malformed_line"] == 0
    assert quality["has_crew"]
    assert len(movies) > 100
    assert movies["directors"].map(len).gt(0).mean() > 0.8
    assert movies["num_votes"].min() >= 50 and movies["rating"].between(1, 10).all()


@pytest.mark.official_sample
def test_the_check_passes_against_the_official_sample(dump: Path, official_sample: Path) -> None:
    result = check_dump(dump, official_sample)

    assert result.returncode == 0, result.stdout + result.stderr
    assert "| check | generated | official sample | rule | result |" in result.stdout
    assert "FAIL" not in result.stdout


@pytest.mark.official_sample
def test_the_check_fails_on_a_broken_file(
    dump: Path, official_sample: Path, tmp_path: Path
) -> None:
    broken = tmp_path / "broken"
    shutil.copytree(dump, broken)
    with gzip.open(broken / "title.ratings.tsv.gz", "at", encoding="utf-8") as stream:
        stream.write("tt9999999\t11.5\tmany\n")

    result = check_dump(broken, official_sample)

    assert result.returncode == 1
    assert "| averageRating and numVotes text | 2 bad" in result.stdout
    assert "failed: ratings ⊂ basics, averageRating and numVotes text" in result.stdout


def test_the_check_says_when_the_official_sample_is_absent(dump: Path, tmp_path: Path) -> None:
    result = check_dump(dump, tmp_path / "absent")

    assert result.returncode == 2
    assert "official sample not found" in result.stderr
    assert "Traceback" not in result.stderr


def test_a_scale_of_zero_is_refused(tmp_path: Path) -> None:
    command = [sys.executable, "-m", "bench.make_dump", str(tmp_path / "dump"), "--scale", "0"]
    result = subprocess.run(command, capture_output=True, text=True, cwd=REPO_ROOT)

    assert result.returncode == 2
    assert "--scale must be in (0, 2]" in result.stderr
    assert not (tmp_path / "dump").exists()
