"""The service under real Gunicorn with two workers: metrics must describe the whole service."""

from __future__ import annotations

import json
from concurrent.futures import ThreadPoolExecutor

import pytest
from prometheus_client.mmap_dict import MmapedDict

from harness.loopback import http_json, scrape_metrics

pytestmark = pytest.mark.slow

MOVIE = {"year": 1999, "num_votes": 25_000, "genres": ["Drama"], "title": "The Matrix"}


def workers_that_predicted(service) -> set[str]:
    """Worker pids whose own metric file counts predictions (the files are per process)."""
    pids = set()
    for path in service.metrics_dir.glob("counter_*.db"):
        for key, value, *_ in MmapedDict.read_all_values_from_file(str(path)):
            if json.loads(key)[1] == "imdb_predictions_total" and value > 0:
                pids.add(path.stem.split("_")[1])
    return pids


def test_counters_aggregate_across_workers(gunicorn_service, model_id: str) -> None:
    url = gunicorn_service.url
    batch = {"movies": [MOVIE] * 1000}
    batches = 0
    # Two slow batches at once: while one worker scores the first, only the other worker can
    # accept the second (fast single requests may all land on one worker).
    with ThreadPoolExecutor(2) as pool:
        while batches < 40 and len(workers_that_predicted(gunicorn_service)) < 2:
            list(pool.map(lambda _: http_json(url + "/predict/batch", batch), range(2)))
            batches += 2
    assert len(workers_that_predicted(gunicorn_service)) == 2
    sent = 30
    for _ in range(sent):
        http_json(url + "/predict", MOVIE)

    key = f'imdb_predictions_total{{endpoint="predict",model_id="{model_id}"}}'
    for _ in range(6):  # whichever worker answers the scrape reports the service's totals
        samples = scrape_metrics(url)
        assert samples[key] == sent
        batch_key = f'imdb_predictions_total{{endpoint="predict_batch",model_id="{model_id}"}}'
        assert samples[batch_key] == batches * 1000
        requests = [
            v
            for k, v in samples.items()
            if k.startswith("flask_http_request_duration_seconds_count")
            and 'endpoint="predict.predict"' in k
            and 'status="200"' in k
        ]
        assert sum(requests) == sent
        assert samples["imdb_model_loaded"] == 1
        assert samples["imdb_http_requests_in_flight"] == 0  # scrapes are not counted
        assert samples["imdb_worker_slots"] == 2  # two workers, one thread each


def test_predictions_through_gunicorn_match_the_api_contract(gunicorn_service) -> None:
    body = http_json(gunicorn_service.url + "/predict", MOVIE)
    assert set(body) == {"rating", "interval", "model_id"}
    assert 1 <= body["interval"]["low"] <= body["rating"] <= body["interval"]["high"] <= 10
