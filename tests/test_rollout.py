"""Model rollout: a new verified artifact is swapped in; a broken one is refused, and the old
model keeps serving."""

from __future__ import annotations

import logging
import shutil
import time
from pathlib import Path

import pytest

from service.app import create_app
from service.config import ServiceConfig
from tests.conftest import model_id_of, synthetic_movies, train_serving_artifact

MOVIE = {"year": 1999, "num_votes": 25_000, "genres": ["Drama"]}


@pytest.fixture(scope="module")
def next_model(tmp_path_factory: pytest.TempPathFactory) -> Path:
    """The next model: trained by the same code on other data."""
    folder = tmp_path_factory.mktemp("next-model")
    return train_serving_artifact(folder, synthetic_movies(seed=5))


@pytest.fixture
def deployed(tmp_path: Path, model_card_path: Path) -> Path:
    """A models/ folder the service watches, holding the test model."""
    folder = tmp_path / "models"
    shutil.copytree(model_card_path.parent, folder)
    return folder


def roll_out(source_card: Path, folder: Path) -> None:
    """As the train stage writes them: artifact first, then the card (the commit point)."""
    shutil.copy2(source_card.parent / "model.skops", folder / "model.skops.new")
    (folder / "model.skops.new").replace(folder / "model.skops")
    shutil.copy2(source_card, folder / "model.json.new")
    (folder / "model.json.new").replace(folder / "model.json")


def served_model(client) -> str:
    return client.post("/predict", json=MOVIE).get_json()["model_id"]


def test_a_new_card_swaps_in_the_new_model(deployed: Path, next_model: Path, model_id: str) -> None:
    app = create_app(ServiceConfig(model_card=deployed / "model.json", model_poll_seconds=0))
    client, holder = app.test_client(), app.extensions["model"]
    next_id = model_id_of(next_model)
    assert holder.refresh() is False  # nothing changed
    assert served_model(client) == model_id != next_id

    roll_out(next_model, deployed)
    assert holder.refresh() is True
    assert served_model(client) == next_id
    assert client.get("/model").get_json()["model_id"] == next_id
    metrics = client.get("/metrics").get_data(as_text=True)
    assert 'imdb_model_reloads_total{outcome="swapped"} 1.0' in metrics
    info = [line for line in metrics.splitlines() if line.startswith("imdb_model_info{")]
    assert any(f'model_id="{next_id}"' in line and line.endswith(" 1.0") for line in info)
    assert any(f'model_id="{model_id}"' in line and line.endswith(" 0.0") for line in info)


@pytest.mark.parametrize("damage", ["corrupt", "mismatched", "missing"])
def test_a_broken_rollout_is_refused_and_the_old_model_keeps_serving(
    deployed: Path, next_model: Path, damage: str, caplog, model_id: str
) -> None:
    app = create_app(ServiceConfig(model_card=deployed / "model.json", model_poll_seconds=0))
    client, holder = app.test_client(), app.extensions["model"]
    shutil.copy2(next_model, deployed / "model.json")  # the next model's card...
    artifact = deployed / "model.skops"
    if damage == "corrupt":  # ...with an artifact whose bytes are damaged
        artifact.write_bytes((next_model.parent / "model.skops").read_bytes()[:-100])
    elif damage == "missing":
        artifact.unlink()
    # "mismatched": the old artifact is still there under the next model's card

    with caplog.at_level(logging.ERROR, logger="service.model_holder"):
        assert holder.refresh() is False
    assert f"model rollout refused, still serving model {model_id}" in caplog.text
    assert served_model(client) == model_id
    assert 'imdb_model_reloads_total{outcome="refused"} 1.0' in client.get("/metrics").get_data(
        as_text=True
    )
    assert holder.refresh() is False  # not retried until the card changes again


def test_the_watcher_picks_up_a_rollout_by_itself(deployed: Path, next_model: Path) -> None:
    app = create_app(ServiceConfig(model_card=deployed / "model.json", model_poll_seconds=0.1))
    client = app.test_client()
    roll_out(next_model, deployed)
    next_id = model_id_of(next_model)
    deadline = time.monotonic() + 30
    while served_model(client) != next_id:
        assert time.monotonic() < deadline, "the watcher did not swap the model in 30 s"
        time.sleep(0.1)
    assert model_id_of(deployed / "model.json") == next_id
