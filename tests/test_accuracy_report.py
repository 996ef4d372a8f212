"""The accuracy report: logged predictions joined with later ratings, thresholds, exit code."""

from __future__ import annotations

import gzip
import json
import math
from pathlib import Path

import pandas as pd
import pytest

from harness.loopback import GunicornService, http_json
from imdb_rating.prediction_records import LOG_NAME, log_files, read_records
from tests.conftest import RATINGS_HEADER, synthetic_movies, write_dump, write_tsv_gz
from tests.test_download import ScriptedServer
from tools.accuracy_report import FAILED, main

SCORED = 400  # movies the service scores in the end-to-end test


def request_movie(row: pd.Series) -> dict:
    """A synthetic movie as a request, with its IMDb id."""
    runtime = row["runtime_minutes"]
    return {
        "tconst": row["tconst"],
        "year": int(row["year"]),
        "num_votes": int(row["num_votes"]),
        "runtime_minutes": None if math.isnan(runtime) else float(runtime),
        "genres": list(row["genres"]),
        "title": row["title"],
        "original_title": row["original_title"],
        "is_adult": bool(row["is_adult"]),
        "directors": list(row["directors"]),
        "writers": list(row["writers"]),
    }


def ratings_rows(movies: pd.DataFrame, shift: float = 0.0) -> list[str]:
    ratings = (movies["rating"] + shift).clip(1, 10).round(1)
    return [
        f"{t}\t{r:.1f}\t{v}"
        for t, r, v in zip(movies["tconst"], ratings, movies["num_votes"], strict=True)
    ]


def publish(folder: Path, movies: pd.DataFrame, shift: float = 0.0) -> Path:
    """A later dump in the official layout; only title.ratings matters to the report."""
    return write_dump(folder, basics=[], ratings=ratings_rows(movies, shift))


@pytest.fixture(scope="module")
def served_log(model_card_path: Path, tmp_path_factory: pytest.TempPathFactory):
    """The real service under Gunicorn (2 workers) with the log on, after scoring SCORED
    movies (singles and batches) with their tconst and being stopped (which flushes)."""
    workdir = tmp_path_factory.mktemp("served")
    log_dir = workdir / "predictions"
    service = GunicornService(
        workdir / "service", model_card_path, env={"IMDB_PREDICTION_LOG_DIR": str(log_dir)}
    ).start()
    movies = synthetic_movies().iloc[:SCORED]
    requests = [request_movie(row) for _, row in movies.iterrows()]
    try:
        for movie in requests[:50]:
            http_json(service.url + "/predict", movie)
        for start in range(50, SCORED, 70):
            http_json(service.url + "/predict/batch", {"movies": requests[start : start + 70]})
    finally:
        service.stop()
    return log_dir, movies


def run(capsys, *args: str | Path) -> tuple[int, str]:
    code = main([str(a) for a in args])
    return code, capsys.readouterr().out


@pytest.mark.slow
def test_unchanged_ratings_pass_and_shifted_ratings_fail_naming_the_check(
    served_log, model_card_path: Path, model_id: str, tmp_path: Path, capsys
) -> None:
    log_dir, movies = served_log
    records = list(read_records(log_files(log_dir)))
    assert len(records) == SCORED and {r["model_id"] for r in records} == {model_id}
    assert {r["movie"]["tconst"] for r in records} == set(movies["tconst"])

    same = publish(tmp_path / "same", movies)
    out = tmp_path / "report-same"
    code, printed = run(
        capsys, log_dir, "--ratings", same, "--model", model_card_path, "--out", out
    )
    assert code == 0, printed
    report = json.loads((out / "report.json").read_text())
    [model] = report["models"]
    assert model["rows_joined"] == SCORED and report["failures"] == []
    assert model["live"]["rmse"] <= model["test"]["rmse"] + 0.25
    assert set(model["input_psi"]) == {"year", "runtime_minutes", "log_votes", "title_length"} | {
        "genres"
    }
    page = (out / "report.html").read_text()
    assert "PASS" in page and page.count("<svg") == 3 and "<script" not in page

    shifted = publish(tmp_path / "shifted", movies, shift=2.0)
    out = tmp_path / "report-shifted"
    code, printed = run(
        capsys, log_dir, "--ratings", shifted, "--model", model_card_path, "--out", out
    )
    assert code == FAILED
    failures = [line for line in printed.splitlines() if line.startswith("FAIL ")]
    assert any(line.startswith("FAIL rmse_increase: ") for line in failures), printed
    assert any(line.startswith("FAIL coverage: ") for line in failures), printed
    assert "FAIL" in (out / "report.html").read_text()


def fake_log(folder: Path, predictions: list[tuple[str, float, float, float]]) -> Path:
    """A prediction log as the service writes it: (tconst, rating, low, high) per movie."""
    folder.mkdir(parents=True, exist_ok=True)
    lines = [
        json.dumps(
            {
                "time": f"2026-01-0{1 + i % 3}T12:00:00.000Z",
                "model_id": "m" * 64,
                "endpoint": "predict",
                "movie": {
                    "year": 2000,
                    "num_votes": 100,
                    "runtime_minutes": None,
                    "genres": [],
                    "title": "A film",
                    "tconst": tconst,
                },
                "rating": rating,
                "low": low,
                "high": high,
                "coverage": 0.8,
            }
        )
        for i, (tconst, rating, low, high) in enumerate(predictions)
    ]
    (folder / LOG_NAME).write_text("\n".join(lines) + "\n")
    return folder


def test_thresholds_each_fail_in_one_named_line(tmp_path: Path, capsys) -> None:
    ids = [f"tt{i:07d}" for i in range(100)]
    log = fake_log(tmp_path / "log", [(t, 7.0, 6.0, 8.0) for t in ids])
    rows = [f"{t}\t{6.5 if i % 10 else 9.0:.1f}\t100" for i, t in enumerate(ids)]  # 90% inside
    ratings = write_dump(tmp_path / "dump", [], rows)
    common = [log, "--ratings", ratings, "--out", tmp_path / "out"]
    assert run(capsys, *common, "--min-rows", 100)[0] == 0
    code, printed = run(capsys, *common, "--max-rmse", 0.5, "--min-coverage", 0.95)
    assert code == FAILED
    assert [line.split(":")[0] for line in printed.splitlines() if "FAIL" in line] == [
        "FAIL rmse",
        "FAIL coverage",
    ]
    code, printed = run(capsys, *common, "--min-rows", 101)
    assert code == FAILED and "FAIL rows_joined: no model has --min-rows 101" in printed


def test_ratings_come_from_a_url_as_the_download_stage_fetches_them(tmp_path: Path, capsys) -> None:
    ids = [f"tt{i:07d}" for i in range(100)]
    log = fake_log(tmp_path / "log", [(t, 7.0, 6.0, 8.0) for t in ids[:60]] + [(None, 7, 6, 8)])
    rows = "\n".join([RATINGS_HEADER, *(f"{t}\t7.5\t100" for t in ids)]) + "\n"
    with ScriptedServer() as server:
        server.serve_file("title.ratings.tsv.gz", gzip.compress(rows.encode()))
        code, printed = run(
            capsys, log, "--ratings", server.url, "--out", tmp_path / "out", "--min-rows", 60
        )
    assert code == 0, printed
    report = json.loads((tmp_path / "out" / "report.json").read_text())
    [model] = report["models"]
    assert (model["rows_logged"], model["rows_with_tconst"], model["rows_joined"]) == (61, 60, 60)
    assert model["live"]["rmse"] == pytest.approx(0.5)
    assert [day["rows"] for day in model["by_day"]] == [20, 20, 20]


def test_an_unreadable_ratings_source_is_one_error_line(tmp_path: Path, capsys) -> None:
    log = fake_log(tmp_path / "log", [("tt0000001", 7.0, 6.0, 8.0)])
    write_tsv_gz(tmp_path / "empty" / "title.basics.tsv.gz", "tconst", [])
    code = main([str(log), "--ratings", str(tmp_path / "empty")])
    assert code == 1
    assert "title.ratings.tsv.gz" in capsys.readouterr().err
