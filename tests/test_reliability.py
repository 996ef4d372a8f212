"""Reliability drills (harness/drills.py) at test size: real Gunicorn on 127.0.0.1, bounded
request counts and durations. The full-size run is `python -m bench.reliability`."""

from __future__ import annotations

import shutil
from pathlib import Path

import pytest

from harness.drills import graceful_shutdown, hostile_inputs, load, rollout, worker_crash
from harness.loopback import GunicornService
from tests.conftest import synthetic_movies, train_serving_artifact

pytestmark = pytest.mark.slow


@pytest.fixture(autouse=True)
def load_tools() -> None:
    for tool in ("wrk", "ab"):
        if shutil.which(tool) is None:
            pytest.fail(
                f"{tool} is needed (Debian packages wrk, apache2-utils; `make test` installs them)"
            )


@pytest.fixture(scope="module")
def next_model(tmp_path_factory: pytest.TempPathFactory) -> Path:
    return train_serving_artifact(tmp_path_factory.mktemp("next"), synthetic_movies(seed=9))


@pytest.fixture
def deployed(tmp_path: Path, model_card_path: Path) -> Path:
    shutil.copytree(model_card_path.parent, tmp_path / "models")
    return tmp_path / "models"


@pytest.fixture
def service(tmp_path: Path, deployed: Path):
    env = {"IMDB_LOG_LEVEL": "warning", "IMDB_MODEL_POLL_SECONDS": "0.5"}
    running = GunicornService(tmp_path / "service", deployed / "model.json", env=env).start()
    yield running
    running.stop()


def test_load_completes_every_request(service) -> None:
    drill = load(service, requests=4000, connections=64)
    assert drill.held, drill.figures


def test_a_killed_worker_loses_at_most_its_request_and_is_replaced(service) -> None:
    drill = worker_crash(service, seconds=8)
    assert drill.held, drill.figures


def test_rollout_under_load_fails_no_request_and_refuses_a_broken_card(
    service, deployed: Path, next_model: Path
) -> None:
    drill = rollout(service, deployed, next_model, seconds=8)
    assert drill.held, drill.figures


def test_hostile_inputs_get_clear_json_4xx(service) -> None:
    drill = hostile_inputs(service)
    assert drill.held, drill.figures


def test_sigterm_completes_requests_in_flight(service) -> None:
    drill = graceful_shutdown(service)
    assert drill.held, drill.figures
