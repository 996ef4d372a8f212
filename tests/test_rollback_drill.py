"""Promotion and rollback, one step each, against an MLflow registry (sqlite) and real Gunicorn
(2 workers) serving a served folder under wrk load: a planted worse model is promoted (the old
champion shadows it), the guard decides from later ratings that it is worse and rolls back;
both hot swaps fail no request, the alias and /model name the old model, the record says why."""

from __future__ import annotations

import threading
import time
from pathlib import Path

import pandas as pd
import pytest

from harness.loopback import GunicornService, http_json, wrk
from registry import releases, served
from registry.versions import CHAMPION, register
from tests import challengers
from tests.conftest import model_id_of, synthetic_movies
from tests.test_registry import own_test_movies
from tests.test_service import MOVIE
from tools import fetch_model, guard, promote, rollback
from workspace.commands import CommandError

pytestmark = pytest.mark.slow

NAME = "imdb-rating"
LOAD_SECONDS = 20
SWAP_SECONDS = 10  # the watcher polls every 0.2 s; loading a model takes well under a second


@pytest.fixture(scope="module")
def worse_card(tmp_path_factory: pytest.TempPathFactory) -> Path:
    return challengers.uninformed(tmp_path_factory.mktemp("worse"))


@pytest.fixture(scope="module")
def movies() -> pd.DataFrame:
    return synthetic_movies()


def registered(card: Path, movies: pd.DataFrame) -> str:
    """The card's model as a new registry version (the train stage's own registration)."""
    return register(card.parent, own_test_movies(card, movies), {"card": str(card)}, 50)["version"]


def served_model(service: GunicornService, model_id: str) -> float:
    """Seconds until every worker answers with `model_id` (each /model lands on some worker:
    ten answers in a row)."""
    started = time.monotonic()
    in_a_row = 0
    while in_a_row < 10:
        assert time.monotonic() - started < SWAP_SECONDS, f"{model_id} not served"
        in_a_row = in_a_row + 1 if http_json(service.url + "/model")["model_id"] == model_id else 0
        time.sleep(0.02)
    return time.monotonic() - started


def test_a_worse_promotion_is_rolled_back_by_the_guard_with_no_failed_request(
    tracking_uri, tmp_path, model_card_path, worse_card, movies, model_id
) -> None:
    import mlflow

    folder = tmp_path / "served"
    good_version = registered(model_card_path, movies)
    print(promote.promote(NAME, model_card_path, None, "first release", folder))
    worse_version = registered(worse_card, movies)
    ratings = challengers.write_later_ratings(tmp_path / "later", movies)

    env = served.service_environment(folder) | {
        "IMDB_PREDICTION_LOG_DIR": str(tmp_path / "log"),
        "IMDB_MODEL_POLL_SECONDS": "0.2",
        "IMDB_LOG_LEVEL": "warning",
    }
    service = GunicornService(tmp_path / "gunicorn", workers=2, env=env).start()
    load: dict = {}
    loader = threading.Thread(
        target=lambda: load.update(wrk(service.url + "/predict", MOVIE, 8, LOAD_SECONDS))
    )
    try:
        loader.start()
        started = time.monotonic()
        # Promote the worse model: it answers, the replaced champion scores in its shadow.
        print(promote.promote(NAME, worse_card, None, "drill: planted worse model", folder))
        to_worse = served_model(service, model_id_of(worse_card))
        assert http_json(service.url + "/model")["traffic"]["in_force"] == "shadow"
        for start in range(0, len(movies), 500):
            batch = challengers.as_requests(movies[start : start + 500])
            http_json(service.url + "/predict/batch", {"movies": batch})
        time.sleep(1.0)  # the shadow scorer and the log writer flush every 0.05 s and 0.25 s
        code = guard.main([str(tmp_path / "log"), "--ratings", str(ratings), "--served",
                           str(folder), "--out", str(tmp_path / "guard")])  # fmt: skip
        back = served_model(service, model_id)
        swaps_done = time.monotonic() - started
        loader.join()
        traffic = http_json(service.url + "/model")["traffic"]
    finally:
        loader.join()
        service.stop()
    assert code == guard.ROLLED_BACK
    assert swaps_done < LOAD_SECONDS, "both swaps must happen under load"
    assert load["requests"] > 1000 and load["non_2xx"] == 0 and load["socket_errors"] == 0
    print(f"swap to the worse model {to_worse:.2f} s, back {back:.2f} s, wrk {load}")
    # The registry and the service name the old model; the record says what, when and why.
    client = mlflow.MlflowClient()
    assert str(client.get_model_version_by_alias(NAME, CHAMPION).version) == good_version
    assert traffic["in_force"] == "off"
    newest, promotion, first = releases.history(NAME)[:3]
    assert (newest.action, newest.from_version, newest.to_version) == (
        releases.ROLLBACK, worse_version, good_version
    )  # fmt: skip
    assert newest.to_model_id == model_id and newest.at
    assert newest.why.startswith("guard: the replaced champion is better on live traffic")
    assert "challenger better" in newest.why and "RMSE" in newest.why
    assert (promotion.action, promotion.to_version) == (releases.PROMOTE, worse_version)
    assert (first.from_version, first.to_version) == ("", good_version)


def test_rollback_needs_a_recorded_promotion_and_names_why(
    tracking_uri, tmp_path, model_card_path, worse_card, movies, capsys
) -> None:
    import mlflow

    first = registered(model_card_path, movies)
    promote.promote(NAME, model_card_path, None, "first release", None)
    with pytest.raises(CommandError, match=f"version {first} replaced no recorded champion"):
        rollback.roll_back(NAME, "nothing to undo", None)
    second = registered(worse_card, movies)
    promote.promote(NAME, worse_card, None, "second release", None)
    assert "already is the champion" in promote.promote(NAME, worse_card, None, "again", None)
    assert len(releases.history(NAME)) == 2  # a promotion to the champion itself moves nothing

    rollback.main(["--why", "manual: reviewers found a regression"])
    out = capsys.readouterr().out
    assert f"rollback {NAME} champion: version {second}" in out and f"-> version {first}" in out
    client = mlflow.MlflowClient()
    assert str(client.get_model_version_by_alias(NAME, CHAMPION).version) == first
    assert releases.history(NAME)[0].why == "manual: reviewers found a regression"


def test_fetch_refuses_a_tampered_artifact_and_keeps_the_served_model(
    tracking_uri, tmp_path, model_card_path, worse_card, movies, model_id
) -> None:
    import mlflow

    good = registered(model_card_path, movies)
    folder = tmp_path / "served"
    fetch_model.main([good, "--served", str(folder), "--as", "champion"])
    assert (folder / "champion").resolve().name == model_id
    worse = registered(worse_card, movies)
    # Flip a byte of the registered artifact in the store (source: models:/<logged model id>).
    source = mlflow.MlflowClient().get_model_version(NAME, worse).source
    logged = mlflow.get_logged_model(source.removeprefix("models:/"))
    artifact = Path(logged.artifact_location.removeprefix("file://")) / "artifacts/model.skops"
    payload = bytearray(artifact.read_bytes())
    payload[len(payload) // 2] ^= 0xFF
    artifact.write_bytes(bytes(payload))
    with pytest.raises(CommandError, match=r"refusing .*sha256 .* does not match model card"):
        fetch_model.main([worse, "--served", str(folder), "--as", "champion"])
    assert (folder / "champion").resolve().name == model_id
    assert not (folder / "models" / model_id_of(worse_card)).exists()
