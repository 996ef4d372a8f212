"""Two models under real Gunicorn (2 workers) on 127.0.0.1: the split is the same in every
worker and after the workers restart; a challenger that raises, or one far slower than the
budget, is out of traffic in every worker within a second (its first scoring, or its third
slow one) while every request under load is answered (wrk: 0 non-2xx, 0 socket errors)."""

from __future__ import annotations

import json
import os
import shutil
import signal
import threading
import time
from pathlib import Path

import pytest

from harness.loopback import GunicornService, http_json, scrape_metrics, wrk
from service.model_holder import STRIKES
from tests import challengers
from tests.conftest import model_id_of, synthetic_movies, train_serving_artifact
from tests.test_service import MOVIE

pytestmark = pytest.mark.slow

WORKERS = 2
# The bar: out of traffic in every worker within a second of the first request (the slow one
# needs three scorings per worker at 50-115 ms a movie; the metrics are polled every 0.05 s).
EJECTED_WITHIN = 1.0


@pytest.fixture(scope="module")
def challenger_card(tmp_path_factory: pytest.TempPathFactory) -> Path:
    return train_serving_artifact(tmp_path_factory.mktemp("challenger"), synthetic_movies(seed=9))


def start(folder: Path, champion: Path, challenger: Path, policy: dict) -> GunicornService:
    """The service with `challenger` beside the champion and `policy` in force."""
    shutil.copytree(challenger.parent, folder / "challenger")
    (folder / "traffic.json").write_text(json.dumps(policy))
    env = {
        "IMDB_CHALLENGER_CARD": str(folder / "challenger" / "model.json"),
        "IMDB_TRAFFIC_POLICY": str(folder / "traffic.json"),
        "IMDB_LOG_LEVEL": "warning",
    }
    return GunicornService(folder / "service", champion, workers=WORKERS, env=env).start()


def answered_by(service: GunicornService, movies: list[dict]) -> list[str]:
    """The model_id that answered each movie, in batches of 1,000 (spread over the workers)."""
    answered = []
    for start_at in range(0, len(movies), 1000):
        body = {"movies": movies[start_at : start_at + 1000]}
        answered += [
            p["model_id"] for p in http_json(service.url + "/predict/batch", body)["predictions"]
        ]
    return answered


def metric_total(service: GunicornService, name: str, **labels: str) -> float:
    samples = scrape_metrics(service.url)
    wanted = [f'{key}="{value}"' for key, value in labels.items()]
    return sum(
        value
        for sample, value in samples.items()
        if sample.split("{")[0] == name and all(label in sample for label in wanted)
    )


def test_the_split_is_the_same_in_every_worker_and_after_a_restart(
    tmp_path: Path, model_card_path: Path, challenger_card: Path
) -> None:
    service = start(
        tmp_path, model_card_path, challenger_card, {"mode": "split", "challenger_share": 0.2}
    )
    movies = [
        MOVIE | {"tconst": f"tt{index:07d}", "num_votes": 50 + index} for index in range(10_000)
    ]
    try:
        first = answered_by(service, movies)
        second = answered_by(service, movies)
        workers = service.worker_pids()
        os.kill(service.process.pid, signal.SIGHUP)  # Gunicorn replaces every worker
        deadline = time.monotonic() + 60
        while not (len(service.worker_pids()) == WORKERS and not service.worker_pids() & workers):
            assert time.monotonic() < deadline, "the workers were not replaced"
            time.sleep(0.2)
        after_restart = answered_by(service, movies)
    finally:
        service.stop()
    share = first.count(model_id_of(challenger_card)) / len(first)
    assert 0.18 <= share <= 0.22
    assert first == second == after_restart


@pytest.mark.parametrize("kind", ["raising", "slow"])
def test_a_bad_challenger_is_out_of_traffic_at_once_and_no_request_fails(
    kind: str, tmp_path: Path, model_card_path: Path, challenger_card: Path
) -> None:
    bad = getattr(challengers, kind)(challenger_card, tmp_path / kind)
    bad_id = model_id_of(bad)
    # Movies without tconst are assigned at random: half of wrk's requests go to the challenger.
    service = start(tmp_path, model_card_path, bad, {"mode": "split", "challenger_share": 0.5})
    movie = MOVIE | {"directors": [challengers.SLOW_DIRECTOR]}
    load: dict = {}
    loader = threading.Thread(
        target=lambda: load.update(wrk(service.url + "/predict", movie, connections=16, seconds=6))
    )
    try:
        assert metric_total(service, "imdb_challenger_in_traffic", model_id=bad_id) == 1
        loader.start()
        started = time.monotonic()
        while metric_total(service, "imdb_challenger_in_traffic", model_id=bad_id) > 0:
            assert time.monotonic() - started < EJECTED_WITHIN, "the challenger is still in"
            time.sleep(0.05)
        ejected_after = time.monotonic() - started
        loader.join()
        traffic = http_json(service.url + "/model")["traffic"]
        ejections = metric_total(service, "imdb_challenger_ejections_total", model_id=bad_id)
        scored = metric_total(service, "imdb_predictions_total", model_id=bad_id)
    finally:
        loader.join()
        service.stop()
    print(f"{kind} challenger out of traffic {ejected_after:.2f} s after the load started")
    assert load["requests"] > 500 and load["non_2xx"] == 0 and load["socket_errors"] == 0
    assert traffic["in_force"] == "off"
    assert traffic["challenger_out_of_traffic"].startswith("error" if kind == "raising" else "slow")
    assert ejections == WORKERS  # each worker, once
    # Out within its first scoring (raising: none succeeds) or its third slow one, per worker.
    assert scored <= (0 if kind == "raising" else STRIKES * WORKERS)
