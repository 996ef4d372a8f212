"""Two models on live traffic, in process: the champion and a challenger under each traffic
policy — off, shadow, split — changed at run time; evidence per model; a challenger that raises
or is too slow never hurts a request. (Under Gunicorn: tests/test_two_models_gunicorn.py.)"""

from __future__ import annotations

import json
import re
import shutil
import time
from pathlib import Path

import pytest

from imdb_rating.prediction_records import log_files, read_records
from service.app import create_app
from service.config import ServiceConfig
from service.model_holder import STRIKES
from tests import challengers
from tests.conftest import model_id_of, synthetic_movies, train_serving_artifact
from tests.test_service import MOVIE


def metric(client, name: str, **labels) -> float:
    """The sum of a metric's samples with these labels, from /metrics (0 when absent)."""
    total = 0.0
    for line in client.get("/metrics").get_data(as_text=True).splitlines():
        sample, _, value = line.rpartition(" ")
        if sample.split("{")[0] == name:
            sample_labels = dict(re.findall(r'(\w+)="([^"]*)"', sample))
            if all(sample_labels.get(key) == wanted for key, wanted in labels.items()):
                total += float(value)
    return total


@pytest.fixture(scope="module")
def challenger_card(tmp_path_factory: pytest.TempPathFactory) -> Path:
    """A challenger: the same recipe on other movies."""
    return train_serving_artifact(tmp_path_factory.mktemp("challenger"), synthetic_movies(seed=9))


def movie(index: int, **fields) -> dict:
    return MOVIE | {"tconst": f"tt{index:07d}", "num_votes": 100 + index} | fields


# Where a Served folder keeps the challenger's card and the traffic policy.
CHALLENGER_CARD = Path("challenger", "model.json")
POLICY_FILE = Path("traffic.json")


class Served:
    """An app serving the champion, a challenger slot and a policy file in a folder of its own;
    `policy()` and `challenger()` change them as an operator would, then refresh."""

    def __init__(self, folder: Path, champion: Path, **config) -> None:
        self.folder = folder
        self.challenger_card = folder / CHALLENGER_CARD
        self.policy_file = folder / POLICY_FILE
        self.log_dir = folder / "log"
        self.config = ServiceConfig(
            model_card=champion,
            drift_window=100,
            max_batch=1000,
            model_poll_seconds=0,
            challenger_card=self.challenger_card,
            traffic_policy=self.policy_file,
            prediction_log_dir=self.log_dir,
            **config,
        )
        self.app = create_app(self.config)
        self.client = self.app.test_client()
        self.holder = self.app.extensions["model"]

    def challenger(self, card: Path | None) -> None:
        shutil.rmtree(self.challenger_card.parent, ignore_errors=True)
        if card is not None:
            shutil.copytree(card.parent, self.challenger_card.parent)
        self.holder.refresh()

    def policy(self, **policy) -> None:
        self.policy_file.write_text(json.dumps(policy))
        self.holder.refresh()

    def batch(self, movies: list[dict]) -> dict:
        response = self.client.post("/predict/batch", json={"movies": movies})
        assert response.status_code == 200, response.get_json()
        return response.get_json()

    def log(self) -> list[dict]:
        """Every record written so far (the shadow queue scored, the log flushed)."""
        self.holder.close()
        self.app.extensions["prediction_log"].close()
        return list(read_records(log_files(self.log_dir)))


@pytest.fixture
def served(tmp_path: Path, model_card_path: Path) -> Served:
    return Served(tmp_path, model_card_path)


def test_with_the_policy_off_a_loaded_challenger_changes_nothing(
    served: Served, challenger_card: Path, model_card_path: Path, tmp_path: Path
) -> None:
    alone = Served(tmp_path / "alone", model_card_path).batch([movie(i) for i in range(50)])
    served.challenger(challenger_card)
    assert served.client.get("/model").get_json()["traffic"]["in_force"] == "off"
    assert served.batch([movie(i) for i in range(50)]) == alone


def test_shadow_answers_with_the_champion_and_logs_both_models(
    served: Served, challenger_card: Path, model_id: str
) -> None:
    served.challenger(challenger_card)
    served.policy(mode="shadow")
    champion_only = Served(served.folder / "alone", served.config.model_card)
    movies = [movie(i) for i in range(40)]
    assert served.batch(movies) == champion_only.batch(movies)
    assert served.client.post("/predict", json=movies[0]).get_json()["model_id"] == model_id
    records = served.log()
    assert len(records) == 41
    challenger_id = model_id_of(challenger_card)
    for record in records:
        assert record["model_id"] == model_id and "split" not in record
        assert record["shadow"]["model_id"] == challenger_id
        assert record["shadow"]["low"] <= record["shadow"]["rating"] <= record["shadow"]["high"]
    assert metric(served.client, "imdb_predictions_total", model_id=challenger_id) == 41
    assert metric(served.client, "imdb_predictions_total", model_id=model_id) == 41


def test_a_challenger_and_a_shadow_policy_on_disk_at_start_shadow_from_the_first_request(
    tmp_path: Path, model_card_path: Path, challenger_card: Path, caplog
) -> None:
    """The staging pod's case: its init container writes the challenger before the service
    starts, so the service is in shadow mode before it answers anything."""
    shutil.copytree(challenger_card.parent, (tmp_path / CHALLENGER_CARD).parent)
    (tmp_path / POLICY_FILE).write_text(json.dumps({"mode": "shadow"}))
    caplog.set_level("INFO", logger="service.model_holder")
    served = Served(tmp_path, model_card_path)
    model = served.client.get("/model").get_json()
    assert model["challenger"]["model_id"] == model_id_of(challenger_card)
    assert model["traffic"]["in_force"] == "shadow"
    loaded = [r.getMessage() for r in caplog.records if "loaded (policy" in r.getMessage()]
    assert loaded == [f"challenger {model_id_of(challenger_card)} loaded (policy shadow)"]


def test_split_sends_a_stable_share_of_movies_to_the_challenger_and_names_who_answered(
    served: Served, challenger_card: Path, model_card_path: Path, model_id: str, tmp_path: Path
) -> None:
    served.challenger(challenger_card)
    served.policy(mode="split", challenger_share=0.2)
    movies = [movie(i) for i in range(10_000)]
    answered = [p["model_id"] for start in range(0, 10_000, 1000)
                for p in served.batch(movies[start : start + 1000])["predictions"]]  # fmt: skip
    challenger_id = model_id_of(challenger_card)
    share = answered.count(challenger_id) / len(answered)
    assert 0.18 <= share <= 0.22 and set(answered) == {model_id, challenger_id}
    # Another process with the same policy (a worker, a replica, a restart) answers alike.
    other = Served(tmp_path / "other", model_card_path)
    other.challenger(challenger_card)
    other.policy(mode="split", challenger_share=0.2)
    again = [p["model_id"] for p in other.batch(movies[:1000])["predictions"]]
    assert again == answered[:1000]
    # The log says which model answered each movie, at which share, between which two.
    for record in served.log():
        answered_by = "challenger" if record["model_id"] == challenger_id else "champion"
        assert record["split"] == {
            "answered_by": answered_by, "share": 0.2,
            "champion": model_id, "challenger": challenger_id,
        }  # fmt: skip


def test_raising_the_share_keeps_the_challengers_movies(
    served: Served, challenger_card: Path
) -> None:
    served.challenger(challenger_card)
    movies = [movie(i) for i in range(1000)]
    shares = []
    for share in (0.1, 0.3):
        served.policy(mode="split", challenger_share=share)
        shares.append({m["tconst"] for m, p in zip(movies, served.batch(movies)["predictions"],
                       strict=True) if p["model_id"] == model_id_of(challenger_card)})  # fmt: skip
    assert shares[0] < shares[1]


def test_a_challenger_that_raises_is_out_of_traffic_at_its_first_failure(
    served: Served, challenger_card: Path, model_id: str, tmp_path: Path, caplog
) -> None:
    broken = challengers.raising(challenger_card, tmp_path / "raising")
    served.challenger(broken)
    served.policy(mode="split", challenger_share=0.5)
    answers = [served.client.post("/predict", json=movie(i)) for i in range(50)]
    assert {answer.status_code for answer in answers} == {200}
    assert {answer.get_json()["model_id"] for answer in answers} == {model_id}
    traffic = served.client.get("/model").get_json()["traffic"]
    assert traffic["in_force"] == "off" and traffic["challenger_out_of_traffic"].startswith("error")
    broken_id = model_id_of(broken)
    assert metric(served.client, "imdb_challenger_ejections_total", reason="error") == 1
    assert metric(served.client, "imdb_challenger_in_traffic", model_id=broken_id) == 0
    assert metric(served.client, "imdb_model_errors_total", model_id=broken_id) >= 1
    ejected = [r for r in caplog.records if "out of traffic" in r.getMessage()]
    assert len(ejected) == 1 and ejected[0].levelname == "ERROR"


def test_a_raising_challenger_in_shadow_never_reaches_a_request(
    served: Served, challenger_card: Path, model_id: str, tmp_path: Path
) -> None:
    served.challenger(challenger_cards := challengers.raising(challenger_card, tmp_path / "r"))
    served.policy(mode="shadow")
    for index in range(20):
        assert served.client.post("/predict", json=movie(index)).status_code == 200
    records = served.log()  # the shadow queue scored (and failed) before the log is read
    assert len(records) == 20 and not any("shadow" in record for record in records)
    assert (
        metric(served.client, "imdb_challenger_in_traffic", model_id=model_id_of(challenger_cards))
        == 0
    )


@pytest.fixture(scope="module")
def slow_challenger(challenger_card: Path, tmp_path_factory: pytest.TempPathFactory) -> Path:
    return challengers.slow(challenger_card, tmp_path_factory.mktemp("slow"))


def test_a_challenger_slower_than_the_budget_is_out_after_three_slow_scorings(
    served: Served, slow_challenger: Path, model_id: str
) -> None:
    served.challenger(slow_challenger)
    served.policy(mode="split", challenger_share=1.0)
    slow_movie = movie(1, directors=[challengers.SLOW_DIRECTOR])
    started = time.perf_counter()
    answers = [served.client.post("/predict", json=slow_movie).get_json() for _ in range(10)]
    elapsed = time.perf_counter() - started
    by_challenger = [a for a in answers if a["model_id"] == model_id_of(slow_challenger)]
    assert len(by_challenger) == STRIKES  # three slow answers, then the champion's
    assert all(answer["model_id"] == model_id for answer in answers[STRIKES:])
    assert elapsed < 10  # out of traffic within its three scorings
    reason = served.client.get("/model").get_json()["traffic"]["challenger_out_of_traffic"]
    assert reason.startswith("slow")
    assert metric(served.client, "imdb_challenger_ejections_total", reason="slow") == 1


def test_the_slow_challenger_is_three_budgets_slower_a_movie(
    served: Served, slow_challenger: Path
) -> None:
    """What the test above relies on: the planted challenger is far over the budget."""
    from imdb_rating.predictor import Predictor

    predictor = Predictor(slow_challenger)
    movie_columns = predictor.columns([served.holder.serving.champion.movie.load(
        movie(1, directors=[challengers.SLOW_DIRECTOR]))])  # fmt: skip
    predictor.predict(movie_columns)
    started = time.perf_counter()
    for _ in range(3):
        predictor.predict(movie_columns)
    assert (time.perf_counter() - started) / 3 > 3 * served.config.challenger_budget_seconds


def test_the_policy_and_the_challenger_change_at_run_time_and_show_in_model(
    served: Served, challenger_card: Path, caplog
) -> None:
    info = served.client.get("/model").get_json()
    assert info["challenger"] is None and info["traffic"]["mode"] == "off"
    served.challenger(challenger_card)
    served.policy(mode="split", challenger_share=0.25)
    info = served.client.get("/model").get_json()
    assert info["challenger"]["model_id"] == model_id_of(challenger_card)
    assert info["traffic"] == {
        "mode": "split",
        "challenger_share": 0.25,
        "in_force": "split",
        "challenger_out_of_traffic": None,
    }
    served.policy_file.write_text('{"mode": "sideways"}')  # refused: the policy stays
    served.holder.refresh()
    assert served.client.get("/model").get_json()["traffic"]["mode"] == "split"
    assert any("traffic policy refused" in r.getMessage() for r in caplog.records)
    served.challenger(None)  # removed: the champion alone
    info = served.client.get("/model").get_json()
    assert info["challenger"] is None and info["traffic"]["in_force"] == "off"


def test_a_challenger_card_that_does_not_match_its_artifact_is_refused_at_load(
    served: Served, challenger_card: Path, tmp_path: Path, caplog
) -> None:
    copy = tmp_path / "bad"
    shutil.copytree(challenger_card.parent, copy)
    (copy / "model.skops").write_bytes(b"not the pinned artifact")
    served.challenger(copy / "model.json")
    assert served.client.get("/model").get_json()["challenger"] is None
    refused = [r.getMessage() for r in caplog.records if "challenger refused" in r.getMessage()]
    assert len(refused) == 1 and "sha256" in refused[0]
    assert served.client.post("/predict", json=movie(1)).status_code == 200


def test_the_champion_itself_is_refused_as_challenger_and_a_promoted_challenger_leaves(
    tmp_path: Path, model_card_path: Path, challenger_card: Path, caplog
) -> None:
    deployed = tmp_path / "deployed"
    shutil.copytree(model_card_path.parent, deployed)
    served = Served(tmp_path / "service", deployed / "model.json")
    served.challenger(model_card_path)
    assert served.client.get("/model").get_json()["challenger"] is None
    assert any("is the champion itself" in r.getMessage() for r in caplog.records)

    served.challenger(challenger_card)
    served.policy(mode="shadow")
    # The challenger is promoted: its artifact, then its card, replace the champion's.
    shutil.copy2(challenger_card.parent / "model.skops", deployed / "model.skops")
    shutil.copy2(challenger_card, deployed / "model.json")
    served.holder.refresh()
    info = served.client.get("/model").get_json()
    assert info["model_id"] == model_id_of(challenger_card)
    assert info["challenger"] is None and info["traffic"]["in_force"] == "off"
