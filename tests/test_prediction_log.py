"""The prediction log: record format, bounded rotation shared by processes, drops counted."""

from __future__ import annotations

import logging
import multiprocessing
import re
import runpy
import shutil
import time
from pathlib import Path
from types import SimpleNamespace

import numpy as np
import pytest

from imdb_rating.prediction_records import LOG_NAME, log_files, read_records
from imdb_rating.predictor import Predictions
from service import prediction_log
from service.app import create_app
from service.config import ConfigError, ServiceConfig
from service.prediction_log import PredictionLog
from tests.test_service import MOVIE, metric
from workspace.layout import REPO_ROOT


def movie(index: int) -> dict:
    return {"year": 1990 + index % 30, "num_votes": 100 + index, "genres": [], "tconst": None}


def results(count: int) -> Predictions:
    return Predictions(np.full(count, 6.5), np.full(count, 5.0), np.full(count, 8.0))


class Drops:
    def __init__(self) -> None:
        self.count = 0

    def __call__(self, movies: int) -> None:
        self.count += movies


def write_movies(directory: Path, count: int, max_bytes: int, backups: int, per_request=1):
    drops = Drops()
    log = PredictionLog(directory, max_bytes, backups, on_drop=drops)
    for start in range(0, count, per_request):
        movies = [movie(i) for i in range(start, min(start + per_request, count))]
        log.submit("predict", "m1", 0.8, movies, results(len(movies)))
    log.close()
    return drops.count


def test_a_record_holds_the_movie_its_id_the_prediction_interval_model_and_utc_time(
    tmp_path: Path,
) -> None:
    log = PredictionLog(tmp_path, 1 << 20, 2, on_drop=Drops())
    scored = {"year": 1999, "num_votes": 25_000, "genres": ["Drama"], "tconst": "tt0133093"}
    answer = Predictions(np.array([7.1]), np.array([6.0]), np.array([8.2]))
    log.submit("predict_batch", "abc123", 0.8, [scored], answer)
    log.close()
    [record] = read_records(log_files(tmp_path))
    assert re.fullmatch(r"\d{4}-\d\d-\d\dT\d\d:\d\d:\d\d\.\d{3}Z", record.pop("time"))
    assert record == {
        "model_id": "abc123",
        "endpoint": "predict_batch",
        "movie": scored,
        "rating": 7.1,
        "low": 6.0,
        "high": 8.2,
        "coverage": 0.8,
    }


def test_rotation_keeps_the_newest_records_within_backups_plus_one_files(tmp_path: Path) -> None:
    max_bytes, backups = 4000, 2
    assert write_movies(tmp_path, 500, max_bytes, backups, per_request=7) == 0
    files = log_files(tmp_path)
    assert [f.name for f in files] == [f"{LOG_NAME}.2", f"{LOG_NAME}.1", LOG_NAME]
    assert all(0 < f.stat().st_size <= max_bytes for f in files)
    votes = [r["movie"]["num_votes"] for r in read_records(files)]
    assert votes == list(range(votes[0], 600))  # the newest, in order, none torn or repeated
    assert len(votes) < 500  # the oldest were rotated away


def _worker(directory: Path, worker: int) -> None:
    prediction_log.FLUSH_SECONDS = 0.001  # many small writes, interleaved with the others'
    log = PredictionLog(directory, 6000, 3, on_drop=Drops())
    for index in range(300):
        scored = movie(index) | {"tconst": f"tt{worker:03d}{index:05d}"}
        log.submit("predict", "m1", 0.8, [scored], results(1))
        if index % 10 == 0:
            time.sleep(0.002)
    log.close()


def test_workers_share_one_bounded_log_without_torn_or_lost_lines(tmp_path: Path) -> None:
    """Four processes write and rotate at once: every line whole, the disk bound held, and each
    worker's records that were not rotated away are all there, in order."""
    context = multiprocessing.get_context("fork")
    workers = [context.Process(target=_worker, args=(tmp_path, w)) for w in range(4)]
    for process in workers:
        process.start()
    for process in workers:
        process.join(timeout=60)
        assert process.exitcode == 0
    files = log_files(tmp_path)
    assert len(files) <= 4 and all(f.stat().st_size <= 6000 for f in files)
    records = list(read_records(files))  # each line parses
    assert sum(len(f.read_bytes().splitlines()) for f in files) == len(records) > 0
    for worker in range(4):
        tconsts = [r["movie"]["tconst"] for r in records]
        ids = [int(t[5:]) for t in tconsts if t.startswith(f"tt{worker:03d}")]
        assert ids == list(range(300 - len(ids), 300))


def test_a_line_torn_by_a_killed_worker_costs_that_line_only_with_a_warning(
    tmp_path: Path, caplog: pytest.LogCaptureFixture
) -> None:
    assert write_movies(tmp_path, 2, 1 << 20, 1) == 0
    path = tmp_path / LOG_NAME
    first, second = path.read_bytes().splitlines(keepends=True)
    path.write_bytes(first + second[:40])  # a worker killed mid-write
    assert write_movies(tmp_path, 1, 1 << 20, 1) == 0  # the next write starts a new line
    with path.open("ab") as stream:
        stream.write(second[:30])  # a write in progress while the report reads
    assert [r["movie"]["num_votes"] for r in read_records([path])] == [100, 100]
    assert f"{path}:2: torn line skipped" in caplog.text
    assert f"{path}:4: torn line skipped" in caplog.text


def test_a_full_queue_drops_and_counts_and_so_does_a_closed_log(tmp_path: Path) -> None:
    drops = Drops()
    log = PredictionLog(tmp_path, 1 << 20, 1, on_drop=drops, capacity=10)
    log.submit("predict_batch", "m1", 0.8, [movie(i) for i in range(11)], results(11))
    assert drops.count == 11
    log.close()
    log.submit("predict", "m1", 0.8, [movie(0)], results(1))
    assert drops.count == 12
    assert not log_files(tmp_path)


def test_a_failed_write_is_counted_and_logged_once_per_outage_not_raised(
    tmp_path: Path, caplog: pytest.LogCaptureFixture, monkeypatch: pytest.MonkeyPatch
) -> None:
    caplog.set_level(logging.INFO, logger="service.prediction_log")
    monkeypatch.setattr(prediction_log, "FLUSH_SECONDS", 3600)  # the test flushes, in order
    drops = Drops()
    log = PredictionLog(tmp_path / "log", 1 << 20, 1, on_drop=drops)
    shutil.rmtree(tmp_path / "log")  # the volume went away
    log.submit("predict", "m1", 0.8, [movie(0), movie(1)], results(2))
    log._flush()
    log.submit("predict", "m1", 0.8, [movie(2)], results(1))
    log._flush()
    assert drops.count == 3
    assert caplog.text.count("not written") == 1
    assert "prediction log: 2 movies not written" in caplog.text
    (tmp_path / "log").mkdir()  # it is back
    log.submit("predict", "m1", 0.8, [movie(3)], results(1))
    log.close()
    assert drops.count == 3 and "prediction log: writing again" in caplog.text
    assert [r["movie"]["num_votes"] for r in read_records(log_files(tmp_path / "log"))] == [103]


def test_config_reads_the_log_settings_from_the_environment(
    monkeypatch: pytest.MonkeyPatch, tmp_path: Path
) -> None:
    assert ServiceConfig.from_env().prediction_log_dir is None  # off unless asked for
    monkeypatch.setenv("IMDB_PREDICTION_LOG_DIR", str(tmp_path))
    monkeypatch.setenv("IMDB_PREDICTION_LOG_MAX_BYTES", "1000")
    monkeypatch.setenv("IMDB_PREDICTION_LOG_BACKUPS", "3")
    config = ServiceConfig.from_env()
    assert (config.prediction_log_dir, config.prediction_log_max_bytes) == (tmp_path, 1000)
    assert config.prediction_log_backups == 3
    monkeypatch.setenv("IMDB_PREDICTION_LOG_BACKUPS", "0")
    with pytest.raises(ConfigError, match="IMDB_PREDICTION_LOG_BACKUPS"):
        ServiceConfig.from_env()


def test_the_service_logs_what_it_scores_with_the_requests_title_ids(
    model_card_path: Path, model_id: str, tmp_path: Path
) -> None:
    config = ServiceConfig(
        model_card=model_card_path, drift_window=100, prediction_log_dir=tmp_path
    )
    app = create_app(config)
    client = app.test_client()
    single = client.post("/predict", json=MOVIE | {"tconst": "tt0133093"}).get_json()
    batch = {"movies": [MOVIE, MOVIE | {"tconst": "tt0000001", "title": "Other"}]}
    assert client.post("/predict/batch", json=batch).status_code == 200
    invalid = client.post("/predict", json=MOVIE | {"tconst": "nm0000001"})
    assert invalid.status_code == 422 and "tconst" in invalid.get_json()["fields"]
    assert metric(client, "imdb_prediction_log_dropped_total") == 0
    app.extensions["prediction_log"].close()
    records = list(read_records(log_files(tmp_path)))
    assert [(r["endpoint"], r["movie"]["tconst"]) for r in records] == [
        ("predict", "tt0133093"),
        ("predict_batch", None),
        ("predict_batch", "tt0000001"),
    ]
    first = records[0]
    assert first["model_id"] == model_id
    assert (first["rating"], first["low"], first["high"]) == (
        single["rating"],
        single["interval"]["low"],
        single["interval"]["high"],
    )
    assert first["movie"] == app.extensions["model"].serving.champion.movie.load(MOVIE) | {
        "tconst": "tt0133093"
    }


def test_without_a_log_folder_nothing_is_logged(model_card_path: Path) -> None:
    app = create_app(ServiceConfig(model_card=model_card_path, drift_window=100))
    assert app.extensions["prediction_log"] is None
    assert app.test_client().post("/predict", json=MOVIE).status_code == 200


def test_gunicorns_worker_exit_hook_writes_the_queue_before_the_worker_goes(
    model_card_path: Path, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    for name, value in {"PROMETHEUS_MULTIPROC_DIR": "", "OMP_NUM_THREADS": "1"}.items():
        monkeypatch.setenv(name, value)  # the config module sets defaults for a real server
    monkeypatch.setenv("WEB_CONCURRENCY", "1")
    worker_exit = runpy.run_path(str(REPO_ROOT / "service" / "gunicorn_conf.py"))["worker_exit"]
    config = ServiceConfig(
        model_card=model_card_path, drift_window=100, prediction_log_dir=tmp_path
    )
    app = create_app(config)
    assert app.test_client().post("/predict", json=MOVIE).status_code == 200
    worker_exit(None, SimpleNamespace(wsgi=app))
    assert len(list(read_records(log_files(tmp_path)))) == 1
    worker_exit(None, SimpleNamespace(wsgi=create_app(ServiceConfig(model_card=model_card_path))))
    worker_exit(None, SimpleNamespace())  # the app failed to load: nothing to write
