"""The registry: each train run registers a version named by its content, the champion gate
compares models on the same rows only, `champion` moves only to the model main pins, and the
registered model answers movies exactly as the service does."""

from __future__ import annotations

import json
import subprocess
from pathlib import Path

import numpy as np
import pandas as pd
import pytest

from harness.loopback import (
    VENV_BIN,
    GunicornService,
    http_json,
    http_request,
    mlflow_scoring_server,
)
from imdb_data.movies import as_columns
from imdb_rating.accuracy import regression_metrics
from imdb_rating.predictor import Predictor
from registry.releases import apply, plan_promotion
from registry.versions import CHALLENGER, CHAMPION, compare, register
from tests.conftest import model_id_of, synthetic_movies, train_serving_artifact
from tools import promote as promote_tool
from workspace.commands import CommandError, run_command

NAME = "imdb-rating"


def own_test_movies(card_path: Path, movies: pd.DataFrame) -> pd.DataFrame:
    """The raw movies of the model's own test split (its split is a hash of the tconst)."""
    spec = Predictor(card_path).spec
    return movies[spec.split.held_out(movies["tconst"])].reset_index(drop=True)


@pytest.fixture(scope="module")
def dataset_a() -> pd.DataFrame:
    return synthetic_movies(2000, seed=0)


@pytest.fixture(scope="module")
def dataset_b(dataset_a: pd.DataFrame) -> pd.DataFrame:
    """A filtered subset of A: no horror films, other test/train split seed."""
    no_horror = dataset_a[~dataset_a["genres"].map(lambda genres: "Horror" in genres)]
    return no_horror.reset_index(drop=True)


@pytest.fixture(scope="module")
def model_a(tmp_path_factory, dataset_a) -> Path:
    return train_serving_artifact(tmp_path_factory.mktemp("model-a"), dataset_a)


@pytest.fixture(scope="module")
def model_b(tmp_path_factory, dataset_b) -> Path:
    folder = tmp_path_factory.mktemp("model-b")
    return train_serving_artifact(folder, dataset_b, featurize_overrides={"seed": 7})


def promote(name: str, card: Path, version: str | None = None) -> str:
    """`make promote` without its workspace check: the move, applied and recorded."""
    release = plan_promotion(name, card, version)
    apply(release)
    return release.describe()


def alias(client, name: str) -> str:
    return str(client.get_model_version_by_alias(NAME, name).version)


def rmse(predictor: Predictor, movies: pd.DataFrame) -> float:
    predicted = predictor.predict(as_columns(movies)).ratings
    return regression_metrics(movies["rating"].to_numpy(), predicted)["rmse"]


# --- the gate, without MLflow -------------------------------------------------------------------


def test_models_are_compared_only_on_rows_neither_trained_on(model_a, model_b, dataset_b) -> None:
    champion, challenger = Predictor(model_a), Predictor(model_b)
    test_b = own_test_movies(model_b, dataset_b)
    result = compare(challenger, champion, test_b, min_rows=50)

    shared = test_b[champion.spec.split.held_out(test_b["tconst"])]
    assert 50 <= result.rows == len(shared) < len(test_b)  # another split seed: a subset
    assert result.champion_rmse == rmse(champion, shared)
    assert result.challenger_rmse == rmse(challenger, shared)
    better = result.challenger_rmse < result.champion_rmse
    assert result.verdict == ("better" if better else "not better")
    assert result.earns_challenger == better


def test_too_few_shared_rows_is_no_comparison(model_a, model_b, dataset_b) -> None:
    test_b = own_test_movies(model_b, dataset_b)
    result = compare(Predictor(model_b), Predictor(model_a), test_b, min_rows=10_000)
    assert result.verdict == "no comparison" and not result.earns_challenger
    assert result.champion_rmse is None and "train.gate_min_rows" in result.reason


def test_a_model_without_a_champion_earns_the_challenger_alias(model_b, dataset_b) -> None:
    result = compare(Predictor(model_b), None, own_test_movies(model_b, dataset_b), min_rows=1)
    assert result.verdict == "no champion" and result.earns_challenger


# --- the registry, on a real MLflow store -------------------------------------------------------


@pytest.mark.slow
def test_dataset_b_is_judged_on_its_own_test_rows_and_champion_never_moves_by_itself(
    tracking_uri, model_a, model_b, dataset_a, dataset_b
) -> None:
    import mlflow

    client = mlflow.MlflowClient()
    first = register(model_a.parent, own_test_movies(model_a, dataset_a), {"model": "a"}, 50)
    assert first["gate"].verdict == "no champion"
    assert alias(client, CHALLENGER) == first["version"]
    promote(NAME, model_a)
    assert alias(client, CHAMPION) == first["version"]

    test_b = own_test_movies(model_b, dataset_b)
    second = register(model_b.parent, test_b, {"model": "b"}, 50)

    logged = client.get_run(second["run_id"])
    shared = test_b[Predictor(model_a).spec.split.held_out(test_b["tconst"])]
    assert logged.data.metrics["gate_rows"] == len(shared) < len(test_b)
    assert logged.data.metrics["gate_champion_rmse"] == rmse(Predictor(model_a), shared)
    assert logged.data.metrics["gate_challenger_rmse"] == rmse(Predictor(model_b), shared)
    assert logged.data.tags["gate_champion_model_id"] == model_id_of(model_a)
    # Training never moves champion; challenger only on a better RMSE on the same rows.
    assert alias(client, CHAMPION) == first["version"]
    challenger = alias(client, CHALLENGER)
    better = second["gate"].challenger_rmse < second["gate"].champion_rmse
    assert challenger == (second["version"] if better else first["version"])

    version = client.get_model_version(NAME, second["version"])
    assert version.tags["model_id"] == model_id_of(model_b)
    assert version.tags["training_data_sha256"] and version.tags["git_commit"]
    assert json.loads(version.tags["params"])["seed"] == 42


@pytest.mark.slow
def test_promote_moves_champion_only_to_the_pinned_model(
    tracking_uri, model_a, model_b, dataset_a, dataset_b
) -> None:
    import mlflow

    a = register(model_a.parent, own_test_movies(model_a, dataset_a), {"model": "a"}, 50)
    b = register(model_b.parent, own_test_movies(model_b, dataset_b), {"model": "b"}, 50)
    with pytest.raises(CommandError, match=f"refusing to promote {NAME} version {a['version']}"):
        promote(NAME, model_b, version=a["version"])
    assert f"-> version {b['version']} (model {model_id_of(model_b)})" in promote(NAME, model_b)
    assert alias(mlflow.MlflowClient(), CHAMPION) == b["version"]
    with pytest.raises(CommandError, match=r"no version of imdb-rating .* has model_id"):
        promote(NAME, train_serving_artifact(Path("other"), synthetic_movies(500, seed=9)))


def test_make_promote_refuses_a_workspace_model_that_is_not_the_pinned_one(
    tmp_path: Path, model_a: Path, monkeypatch: pytest.MonkeyPatch, capsys
) -> None:
    card = tmp_path / "models" / "model.json"
    card.parent.mkdir()
    card.write_bytes(model_a.read_bytes())
    lock = {"stages": {"train": {"outs": [{"path": "models/model.json", "md5": "0" * 32}]}}}
    (tmp_path / "dvc.lock").write_text(json.dumps(lock))  # JSON is YAML too
    monkeypatch.setattr(promote_tool, "REPO_ROOT", tmp_path)

    with pytest.raises(SystemExit) as exit_status:
        run_command(lambda: promote_tool.main([]))
    assert exit_status.value.code == 1
    error = capsys.readouterr().err.strip().splitlines()
    assert len(error) == 1
    assert error[0].startswith("error: models/model.json is not the model dvc.lock pins")


# --- the registered model serves movies ---------------------------------------------------------


def generated_movies(predictor: Predictor, count: int, seed: int) -> list[dict]:
    """Valid movies over the whole input space: every field, present, absent or null."""
    rng = np.random.default_rng(seed)
    movies = []
    for index in range(count):
        movie = {
            "year": int(rng.integers(1900, 2030)),
            "num_votes": int(rng.lognormal(7, 2)),
            "runtime_minutes": None if rng.random() < 0.1 else float(rng.integers(40, 240)),
            "genres": sorted(rng.choice(predictor.genres, rng.integers(0, 4), replace=False)),
            "title": None if rng.random() < 0.1 else f"Movie {index}: part {rng.integers(1, 9)}",
            "original_title": None if rng.random() < 0.7 else f"Film {index}",
            "is_adult": bool(rng.random() < 0.05),
        }
        for role in predictor.crew_roles:
            people = rng.integers(0, 150, rng.integers(0, 3))
            movie[role] = sorted({f"nm{person:07d}" for person in people})
        movies.append(movie)
    return movies


@pytest.mark.slow
def test_the_registered_model_answers_as_the_service_does(
    tracking_uri, model_card_path: Path, tmp_path: Path
) -> None:
    movies = synthetic_movies()
    register(model_card_path.parent, own_test_movies(model_card_path, movies), {"m": "x"}, 50)
    promote(NAME, model_card_path)
    predictor = Predictor(model_card_path)
    movies = generated_movies(predictor, 100, seed=3)

    service = GunicornService(tmp_path / "service", model_card_path, workers=1).start()
    try:
        served = http_json(service.url + "/predict/batch", {"movies": movies})["predictions"]
    finally:
        service.stop()
    with mlflow_scoring_server(f"models:/{NAME}@{CHAMPION}", tracking_uri) as url:
        registered = http_json(url + "/invocations", {"dataframe_records": movies})["predictions"]
        status, body = http_request(
            "POST",
            url + "/invocations",
            json.dumps({"dataframe_records": [{**movies[0], "num_votes": -1}]}).encode(),
            {"Content-Type": "application/json"},
        )
    assert 400 <= status < 500, body
    assert b"movie 0: num_votes: not in 0..100000000" in body
    assert len(served) == len(registered) == 100
    for service_answer, mlflow_answer in zip(served, registered, strict=True):
        interval = service_answer["interval"]
        assert mlflow_answer["model_id"] == model_id_of(model_card_path)
        assert mlflow_answer["rating"] == pytest.approx(service_answer["rating"], abs=1e-9)
        assert mlflow_answer["interval_low"] == pytest.approx(interval["low"], abs=1e-9)
        assert mlflow_answer["interval_high"] == pytest.approx(interval["high"], abs=1e-9)
        assert mlflow_answer["interval_coverage"] == interval["coverage"]

    # ...and `mlflow models predict` scores a file of movies the same way.
    (tmp_path / "movies.json").write_text(json.dumps({"dataframe_records": movies[:5]}))
    subprocess.run(
        [
            *(str(VENV_BIN / "mlflow"), "models", "predict", "-m", f"models:/{NAME}@{CHAMPION}"),
            *("-i", "movies.json", "-t", "json", "-o", "out.json", "--env-manager", "local"),
        ],
        cwd=tmp_path,
        check=True,
        capture_output=True,
    )
    from_file = json.loads((tmp_path / "out.json").read_text())["predictions"]
    assert [row["rating"] for row in from_file] == [row["rating"] for row in registered[:5]]
