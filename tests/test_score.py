"""Batch scoring (`python -m tools.score`): every input format, the official layout, rejected
rows, accounting, and the same numbers as the service's /predict/batch."""

from __future__ import annotations

import csv
import json
import math
import subprocess
import sys
from pathlib import Path

import pandas as pd
import pyarrow as pa
import pyarrow.parquet as pq
import pytest

from service.app import create_app
from service.config import ServiceConfig
from stages.clean import CleanParams, clean
from tests.conftest import synthetic_movies, train_serving_artifact, write_dump
from tools.score import main
from workspace.commands import run_command
from workspace.layout import REPO_ROOT, SAMPLE_DIR
from workspace.params import stage_params

FIELDS = (
    "year",
    "num_votes",
    "runtime_minutes",
    "genres",
    "title",
    "original_title",
    "is_adult",
    "directors",
    "writers",
)
LISTS = ("genres", "directors", "writers")


@pytest.fixture(scope="module")
def client(model_card_path: Path):
    config = ServiceConfig(model_card=model_card_path, max_batch=1000, drift_window=100)
    return create_app(config).test_client()


@pytest.fixture(scope="module")
def movies() -> pd.DataFrame:
    return synthetic_movies(n=240, seed=7).drop(columns="rating")


def request_movie(row: dict) -> dict:
    """A row as the service's JSON: an unknown runtime is left out."""
    movie = {name: row[name] for name in FIELDS}
    if movie["runtime_minutes"] is None or math.isnan(movie["runtime_minutes"]):
        del movie["runtime_minutes"]
    return {
        name: value.item() if hasattr(value, "item") else value for name, value in movie.items()
    }


def service_answers(client, movies: list[dict]) -> pd.DataFrame:
    response = client.post("/predict/batch", json={"movies": movies})
    assert response.status_code == 200, response.get_json()
    body = response.get_json()
    return pd.DataFrame(
        {
            "rating": [p["rating"] for p in body["predictions"]],
            "interval_low": [p["interval"]["low"] for p in body["predictions"]],
            "interval_high": [p["interval"]["high"] for p in body["predictions"]],
            "coverage": [p["interval"]["coverage"] for p in body["predictions"]],
            "model_id": body["model_id"],
            "ignored_genres": pd.Series(
                [",".join(p.get("ignored_genres", [])) or None for p in body["predictions"]],
                dtype="str",
            ),
        }
    )


def write_input(movies: pd.DataFrame, path: Path) -> Path:
    """`movies` in the format the name says: lists comma-joined in CSV/TSV, lists in the rest."""
    if path.suffix == ".parquet":
        pq.write_table(pa.Table.from_pandas(movies, preserve_index=False), path)
    elif path.suffix == ".jsonl":
        records = [
            request_movie(row) | {"tconst": row["tconst"]} for row in movies.to_dict("records")
        ]
        path.write_text("".join(json.dumps(record) + "\n" for record in records))
    else:
        text = movies.assign(**{name: movies[name].map(",".join) for name in LISTS})
        text.to_csv(path, sep="\t" if path.suffix == ".tsv" else ",", index=False)
    return path


def score(capsys, *argv: object) -> tuple[int, str, str]:
    """The CLI in this process (as `python -m tools.score` runs it): status, stdout, stderr."""
    try:
        run_command(lambda: main([str(arg) for arg in argv]))
        status = 0
    except SystemExit as exit_:
        status = exit_.code
    captured = capsys.readouterr()
    return status, captured.out, captured.err


def counts(summary: str) -> dict[str, int]:
    """read / scored / rejected / skipped from the summary line."""
    words = summary.replace(",", "").replace(":", "").split()
    return {
        key: int(words[words.index(key) + 1]) for key in ("read", "scored", "rejected", "skipped")
    }


def read_errors(path: Path) -> list[dict[str, str]]:
    with path.open(newline="", encoding="utf-8") as stream:
        return list(csv.DictReader(stream))


# --- every format, the same numbers as the service ------------------------------------------------


@pytest.mark.parametrize("name", ["movies.csv", "movies.tsv", "movies.jsonl", "movies.parquet"])
def test_each_format_scores_every_movie_as_the_service_does(
    name: str, movies, client, model_card_path: Path, model_id: str, tmp_path: Path, capsys
) -> None:
    source = write_input(movies, tmp_path / name)
    status, out, _ = score(
        capsys,
        source,
        "-o",
        tmp_path / "out.parquet",
        "--model",
        model_card_path,
        "--chunk-rows",
        50,
    )
    assert status == 0
    assert counts(out) == {"read": 240, "scored": 240, "rejected": 0, "skipped": 0}
    scored = pq.read_table(tmp_path / "out.parquet").to_pandas()
    assert scored["tconst"].tolist() == movies["tconst"].tolist()
    assert set(scored["model_id"]) == {model_id}
    expected = service_answers(client, [request_movie(row) for row in movies.to_dict("records")])
    columns = ["rating", "interval_low", "interval_high", "coverage", "model_id"]
    pd.testing.assert_frame_equal(scored[columns], expected[columns])  # identical, not close
    assert read_errors(tmp_path / "out.errors.csv") == []


def test_csv_output_holds_the_same_predictions(
    movies, model_card_path: Path, tmp_path: Path, capsys
) -> None:
    source = write_input(movies, tmp_path / "movies.parquet")
    for output in ("out.parquet", "out.csv"):
        assert score(capsys, source, "-o", tmp_path / output, "--model", model_card_path)[0] == 0
    as_csv = pd.read_csv(tmp_path / "out.csv", dtype={"ignored_genres": "str"})
    pd.testing.assert_frame_equal(as_csv, pq.read_table(tmp_path / "out.parquet").to_pandas())


def test_an_input_without_id_column_is_keyed_by_row_number(
    movies, model_card_path: Path, tmp_path: Path, capsys
) -> None:
    source = write_input(movies.drop(columns="tconst").head(30), tmp_path / "movies.csv")
    assert score(capsys, source, "-o", tmp_path / "out.csv", "--model", model_card_path)[0] == 0
    assert pd.read_csv(tmp_path / "out.csv")["row"].tolist() == list(range(1, 31))


# --- the official layout ------------------------------------------------------------------------

BASICS = [
    "tt0000001\tmovie\tFilm number 1\tFilm number 1\t0\t1999\t\\N\t120\tDrama,Horror",
    "tt0000002\ttvSeries\tA series\tA series\t0\t2001\t2004\t30\tComedy",
    "tt0000003\tmovie\tAdult film\tAdult film\t1\t2001\t\\N\t90\tDrama",
    "tt0000004\tmovie\tNo votes\tNo votes\t0\t2005\t\\N\t\\N\tComedy",
    "tt0000005\tmovie\tOdd genre\tOdd genre\t0\t2005\t\\N\t95\tWestern",
    "tt0000006\tmovie\tNo crew row\tNo crew row\t0\t1950\t\\N\t\\N\t\\N",
    "tt0000007\ttvEpisode\tEpisode\tEpisode\t0\t2010\t\\N\t44\tDrama",
    "tt0000008\tmovie\tToo early\tToo early\t0\t1890\t\\N\t10\t\\N",
]
RATINGS = ["tt0000001\t7.1\t2500", "tt0000002\t8.0\t100", "tt0000003\t5.0\t80",
           "tt0000005\t6.0\t300", "tt0000006\t6.5\t40"]  # fmt: skip
CREW = ["tt0000001\tnm0000007\tnm0001007,nm0001008", "tt0000004\t\\N\t\\N",
        "tt0000005\tnm0000009\t\\N"]  # fmt: skip


def test_an_official_layout_folder_scores_its_movies_and_skips_other_titles(
    client, model_card_path: Path, tmp_path: Path, capsys
) -> None:
    folder = write_dump(tmp_path / "dump", BASICS, RATINGS, CREW)
    status, out, _ = score(
        capsys, folder, "-o", tmp_path / "out.parquet", "--model", model_card_path
    )
    assert status == 0
    # Skipped by the clean stage's filters: 2 other title types, 1 adult, 1 before 1900.
    assert counts(out) == {"read": 8, "scored": 3, "rejected": 1, "skipped": 4}
    assert "title_type 2" in out and "adult 1" in out and "year_out_of_range 1" in out
    assert "genres the model never learned, ignored: Western 1" in out
    errors = {row["id"]: row["reason"] for row in read_errors(tmp_path / "out.errors.csv")}
    assert errors == {"tt0000004": "num_votes: missing"}
    scored = pq.read_table(tmp_path / "out.parquet").to_pandas()
    assert scored["tconst"].tolist() == ["tt0000001", "tt0000005", "tt0000006"]
    movies = [
        {"year": 1999, "num_votes": 2500, "runtime_minutes": 120, "genres": ["Drama", "Horror"],
         "title": "Film number 1", "original_title": "Film number 1", "is_adult": False,
         "directors": ["nm0000007"], "writers": ["nm0001007", "nm0001008"]},
        {"year": 2005, "num_votes": 300, "runtime_minutes": 95, "genres": ["Western"],
         "title": "Odd genre", "original_title": "Odd genre", "is_adult": False,
         "directors": ["nm0000009"]},
        {"year": 1950, "num_votes": 40, "title": "No crew row", "original_title": "No crew row"},
    ]  # fmt: skip
    expected = service_answers(client, movies)
    pd.testing.assert_frame_equal(scored.drop(columns="tconst"), expected)


def test_a_folder_without_ratings_is_unusable(model_card_path: Path, tmp_path: Path, capsys):
    folder = write_dump(tmp_path / "dump", BASICS, RATINGS)
    (folder / "title.ratings.tsv.gz").unlink()
    status, out, err = score(
        capsys, folder, "-o", tmp_path / "out.parquet", "--model", model_card_path
    )
    assert status == 1 and out == ""
    assert err.count("\n") == 1 and "title.ratings.tsv.gz: not found" in err
    assert not (tmp_path / "out.parquet").exists()


def test_the_official_sample_is_scored_and_accounted_for(
    official_sample: Path, model_card_path: Path, tmp_path: Path, capsys
) -> None:
    output = tmp_path / "out.parquet"
    status, out, _ = score(capsys, official_sample, "-o", output, "--model", model_card_path)
    assert status == 0
    numbers = counts(out)
    assert numbers["read"] == numbers["scored"] + numbers["rejected"] + numbers["skipped"]
    assert numbers["scored"] > 1000 and "title_type" in out
    assert pq.read_metadata(output).num_rows == numbers["scored"]
    assert len(read_errors(tmp_path / "out.errors.csv")) == numbers["rejected"]


# --- rejected rows ------------------------------------------------------------------------------

GOOD = "tt0000001,1999,2500,120,Drama,A film,,false,nm0000007,nm0001007"
BAD_CSV = {
    "tt0000002,abc,2500,120,Drama,A film,,0,,": "year: not an integer",
    "tt0000003,1800,2500,120,Drama,A film,,0,,": "year: not in 1870..2100",
    "tt0000004,1999,,120,Drama,A film,,0,,": "num_votes: missing",
    "tt0000005,1999,-1,120,Drama,A film,,0,,": "num_votes: not in 0..100000000",
    "tt0000006,1999,10,0,Drama,A film,,0,,": "runtime_minutes: not in 1..1000",
    "tt0000007,1999,10,long,Drama,A film,,0,,": "runtime_minutes: not a number",
    "tt0000008,1999,10,,Drama,Drama,A film,,0,,": "11 fields, expected 10",  # a line too long
    "tt0000009,1999,10,,Westerns,A film,,0,,": "genres: not an IMDb genre 'Westerns'",
    '"tt0000010",1999,10,,"Drama,Drama",A film,,0,,': "genres: repeated items",
    "tt0000011,1999,10,,Drama," + "x" * 501 + ",,0,,": "title: longer than 500 characters",
    "tt0000012,1999,10,,Drama,A film,,maybe,,": "is_adult: not a boolean (0, 1, true or false)",
    "tt0000013,1999,10,,Drama,A film,,0,xx7,": "directors: not an IMDb name id 'xx7'",
    "tt0000014,1999.5,10,,Drama,A film,,0,,": "year: not an integer",
    "tt0000015,3000,-5,,Drama,A film,,0,,": (
        "year: not in 1870..2100; num_votes: not in 0..100000000"
    ),
    "tt16,1999,10,,Drama,A film,,0,,": "tconst: not an IMDb title id 'tt16'",
}


def test_invalid_rows_land_in_the_error_file_with_reasons_and_counts_add_up(
    model_card_path: Path, tmp_path: Path, capsys
) -> None:
    header = "tconst,year,num_votes,runtime_minutes,genres,title,original_title,is_adult,"
    header += "directors,writers"
    lines = [GOOD]
    for bad in BAD_CSV:
        lines += [bad, GOOD.replace("tt0000001,", f"tt{len(lines) + 2:07d},")]  # its row number
    source = tmp_path / "movies.csv"
    source.write_text("\n".join([header, *lines]) + "\n")
    output = tmp_path / "out.parquet"
    status, out, _ = score(
        capsys, source, "-o", output, "--model", model_card_path, "--chunk-rows", 4,
        "--errors", tmp_path / "rejected.csv",
    )  # fmt: skip
    assert status == 0
    n_bad = len(BAD_CSV)
    assert counts(out) == {
        "read": 2 * n_bad + 1,
        "scored": n_bad + 1,
        "rejected": n_bad,
        "skipped": 0,
    }
    errors = sorted(read_errors(tmp_path / "rejected.csv"), key=lambda row: int(row["row"]))
    # Row numbers count records from 1 after the header, across chunks and malformed lines.
    assert [int(row["row"]) for row in errors] == list(range(2, 2 * n_bad + 1, 2))
    assert [row["reason"] for row in errors] == list(BAD_CSV.values())
    assert [row["id"] for row in errors if "fields" not in row["reason"]] == [
        bad.split(",")[0].strip('"') for bad in BAD_CSV if "Drama,Drama,A" not in bad
    ]
    scored = pq.read_table(output).to_pandas()
    good_rows = [f"tt{i:07d}" for i in range(3, 2 * n_bad + 2, 2)]
    assert scored["tconst"].tolist() == ["tt0000001", *good_rows]
    assert scored["rating"].nunique() == 1  # the same movie every time


def test_typed_formats_take_what_the_service_takes(
    client, model_card_path: Path, tmp_path: Path, capsys
) -> None:
    """JSON lines: each record is accepted exactly when POST /predict accepts it."""
    good = {"year": 1999, "num_votes": 2500, "genres": ["Drama"], "directors": ["nm0000007"]}
    records = [
        good,
        good | {"year": "1999"},
        good | {"year": 1999.0},
        good | {"num_votes": True},
        good | {"runtime_minutes": "90"},
        good | {"runtime_minutes": None, "title": None},
        good | {"is_adult": 1},
        good | {"is_adult": None},
        good | {"genres": "Drama"},
        good | {"genres": None},
        good | {"genres": ["Drama", 3]},
        good | {"title": ""},
        good | {"title": 5},
        good | {"writers": ["nm0000001", "nm0000001"]},
        good | {"directors": ["nm" + "0" * 12]},
        {"num_votes": 3},
        good | {"is_adult": True, "original_title": "Autre"},
    ]
    lines = [json.dumps(record) for record in records] + ["[1, 2]", "{oops"]
    source = tmp_path / "movies.jsonl"
    source.write_text("\n".join(lines) + "\n")
    status, out, _ = score(
        capsys, source, "-o", tmp_path / "out.csv", "--model", model_card_path, "--chunk-rows", 5
    )
    assert status == 0
    rejected = {int(row["row"]): row["reason"] for row in read_errors(tmp_path / "out.errors.csv")}
    for number, record in enumerate(records, start=1):
        accepted = client.post("/predict", json=record).status_code == 200
        assert (number not in rejected) == accepted, (record, rejected.get(number))
    assert (
        rejected[len(records) + 1] == "not a JSON object"
        and rejected[len(records) + 2] == "not JSON"
    )
    assert counts(out)["read"] == len(lines)


def test_max_error_rate_fails_the_run_but_keeps_its_outputs(
    model_card_path: Path, tmp_path: Path, capsys
) -> None:
    source = tmp_path / "movies.csv"
    source.write_text("year,num_votes\n1999,10\n1999,-1\n1800,10\n")
    argv = [source, "-o", tmp_path / "out.csv", "--model", model_card_path]
    assert score(capsys, *argv, "--max-error-rate", 0.7)[0] == 0
    status, _, err = score(capsys, *argv, "--max-error-rate", 0.5)
    assert status == 3 and "66.7% of the rows were rejected" in err
    assert len(pd.read_csv(tmp_path / "out.csv")) == 1
    assert len(read_errors(tmp_path / "out.errors.csv")) == 2


# --- unusable inputs ----------------------------------------------------------------------------


@pytest.mark.parametrize(
    ("name", "content", "message"),
    [
        ("absent.csv", None, "absent.csv: no such file or folder"),
        ("movies.csv", "year,title\n1999,A\n", "no column num_votes"),
        ("movies.jsonl", "not json\n", "the first line is not a JSON object"),
        ("movies.txt", "year,num_votes\n", "unknown format"),
        ("movies.parquet", "not parquet", "cannot read"),
        ("movies.jsonl", b'{"year": 1999, "num_votes": 1}\n{"title": "\xff"}\n', "cannot read"),
    ],
)
def test_an_unusable_input_is_one_line_and_exit_1(
    name: str, content: str | bytes | None, message: str, model_card_path: Path, tmp_path, capsys
) -> None:
    """Including a file that turns unreadable midway (invalid UTF-8 on line 2)."""
    source = tmp_path / name
    if content is not None:
        source.write_bytes(content.encode() if isinstance(content, str) else content)
    status, out, err = score(
        capsys, source, "-o", tmp_path / "out.parquet", "--model", model_card_path
    )
    assert status == 1 and out == ""
    assert err.startswith("error: ") and err.count("\n") == 1 and message in err
    assert not (tmp_path / "out.parquet").exists()


def test_the_command_line_entry_point(model_card_path: Path, tmp_path: Path) -> None:
    source = tmp_path / "movies.csv"
    source.write_text("year,num_votes,genres\n1999,2500,Drama\n")
    command = [sys.executable, "-m", "tools.score", str(source), "-o", str(tmp_path / "out.csv")]
    result = subprocess.run(
        [*command, "--model", str(model_card_path)], cwd=REPO_ROOT, capture_output=True, text=True
    )
    assert result.returncode == 0, result.stderr
    assert result.stdout.startswith("read 1 rows: scored 1, rejected 0, skipped 0 in ")
    missing = subprocess.run(
        [*command, "--model", str(tmp_path / "none.json")],
        cwd=REPO_ROOT,
        capture_output=True,
        text=True,
    )
    assert missing.returncode == 1 and missing.stderr.count("\n") == 1
    assert "model card not found" in missing.stderr


@pytest.fixture(scope="module")
def embedded_model(tmp_path_factory: pytest.TempPathFactory) -> Path:
    """A model trained by the pipeline's code on the embedded sample (2005: 7 of IMDb's 28
    genres), as `make repro` trains the default one."""
    cleaned = clean(SAMPLE_DIR, stage_params(CleanParams, "clean"))
    return train_serving_artifact(tmp_path_factory.mktemp("embedded"), cleaned.movies)


@pytest.mark.official_sample
def test_real_movies_are_never_refused_for_a_genre_imdb_publishes(
    official_sample: Path, embedded_model: Path, tmp_path: Path, capsys
) -> None:
    """The official rows' Crime, Adventure, Horror... are IMDb genres the embedded model never
    learned: scored without their effect, and counted, not rejected."""
    output = tmp_path / "out.parquet"
    status, out, _ = score(capsys, official_sample, "-o", output, "--model", embedded_model)
    assert status == 0
    reasons = [row["reason"] for row in read_errors(tmp_path / "out.errors.csv")]
    assert not [reason for reason in reasons if "genres" in reason]
    ignored = pq.read_table(output, columns=["ignored_genres"]).column(0).drop_null()
    assert len(ignored) > 1000 and "genres the model never learned, ignored: " in out
    assert {"Crime", "Adventure", "Horror"} <= set(",".join(ignored.to_pylist()).split(","))
