"""Beyond one laptop: the DVC remote on S3-compatible storage and the team's MLflow tracking
server on PostgreSQL + S3, every part started for real (see tests/servers.py).

One teammate's clone runs the pipeline against the team's MLflow server and pushes its outputs
to the team's DVC remote (`team_repo`, shared by every test: the pipeline runs once); the tests
then act as the other teammates, the storage, and the operators."""

from __future__ import annotations

import json
import subprocess
import sys
from pathlib import Path

import numpy as np
import pandas as pd
import pytest
import yaml

from harness.loopback import GunicornService, http_json
from imdb_data.movies import as_columns
from imdb_rating.predictor import Predictor
from tests.servers import (
    BUCKET,
    MlflowServer,
    PostgresCluster,
    S3Server,
    configure_remote,
    dvc,
    fresh_clone,
    isolated_env,
)
from workspace.files import sha256_file

pytestmark = pytest.mark.slow

REGISTERED_MODEL = "imdb-rating"
CHAMPION_URI = f"models:/{REGISTERED_MODEL}@champion"


def file_digests(repo: Path, *folders: str) -> dict[str, str]:
    """sha256 of every file under `folders` (the whole workspace but .git and .dvc if none)."""
    roots = [repo / folder for folder in folders] or [repo]
    return {
        str(path.relative_to(repo)): sha256_file(path)
        for root in roots
        for path in sorted(root.rglob("*"))
        if path.is_file() and path.relative_to(repo).parts[0] not in (".git", ".dvc")
    }


def locked_md5(repo: Path, stage: str, out: str) -> str:
    lock = yaml.safe_load((repo / "dvc.lock").read_text())
    return next(o["md5"] for o in lock["stages"][stage]["outs"] if o["path"] == out)


# --- the DVC remote ----------------------------------------------------------------------------


def test_a_fresh_clone_pulls_the_pinned_model_and_data_and_serves_without_running_a_stage(
    team_repo: Path, s3_server: S3Server, tmp_path: Path
) -> None:
    clone = fresh_clone(team_repo, tmp_path / "clone")
    # Git holds only the readable model card; the model itself lives in the DVC remote.
    assert not (clone / "models" / "model.skops").exists()
    assert not (clone / "models" / "model.json").exists()

    # This teammate (or CI) has the endpoint and keys in the environment, not in config.local.
    pulled = dvc(clone, "pull", env=isolated_env(**s3_server.environment()))

    assert "Running stage" not in pulled.stdout + pulled.stderr
    assert "Data and pipelines are up to date." in dvc(clone, "status").stdout
    # Byte for byte what the teammate pushed; a rerun of train would write a new model card.
    assert file_digests(clone, "data", "models") == file_digests(team_repo, "data", "models")
    service = GunicornService(tmp_path / "service", clone / "models" / "model.json").start()
    try:
        served = http_json(f"{service.url}/model")
        answer = http_json(f"{service.url}/predict", {"year": 1999, "num_votes": 25_000})
    finally:
        service.stop()
    card = json.loads((clone / "models" / "model.json").read_text())
    assert served["model_id"] == answer["model_id"] == card["model_id"]
    assert 1 <= answer["rating"] <= 10


def test_an_object_corrupted_in_the_bucket_is_detected_on_pull_and_not_served(
    team_repo: Path, s3_server: S3Server, tmp_path: Path
) -> None:
    md5 = locked_md5(team_repo, "train", "models/model.skops")
    key = f"dvc/files/md5/{md5[:2]}/{md5[2:]}"
    bucket = s3_server.client()
    original = bucket.get_object(Bucket=BUCKET, Key=key)["Body"].read()
    corrupted = bytes([original[0] ^ 0xFF]) + original[1:]  # same size, one byte flipped
    bucket.put_object(Bucket=BUCKET, Key=key, Body=corrupted)
    try:
        clone = fresh_clone(team_repo, tmp_path / "clone", s3_server)
        pulled = dvc(clone, "pull", "--verbose", check=False)
    finally:
        bucket.put_object(Bucket=BUCKET, Key=key, Body=original)

    output = pulled.stdout + pulled.stderr
    assert pulled.returncode != 0
    # `verify = true` in .dvc/config: DVC hashes what it downloads and drops a mismatch
    # (without it, DVC 3 would check the corrupted bytes out and call the workspace clean).
    assert "corrupted cache file" in output
    assert "Checkout failed for following targets:\nmodels/model.skops" in output
    assert not (clone / "models" / "model.skops").exists()
    assert not (clone / ".dvc" / "cache" / "files" / "md5" / md5[:2] / md5[2:]).exists()
    # The intact objects still arrived.
    assert (clone / "models" / "model.json").is_file()


def test_with_the_storage_down_push_and_pull_fail_clearly_and_leave_the_workspace_alone(
    team_repo: Path, tmp_path: Path
) -> None:
    outage = S3Server(tmp_path).start()
    dvc(team_repo, "remote", "add", "--local", "outage", f"s3://{BUCKET}/dvc")
    try:
        configure_remote(team_repo, outage, remote="outage")
        assert "pushed" in dvc(team_repo, "push", "--remote", "outage").stdout  # while up
        outage.stop()
        before = file_digests(team_repo)

        pushed = dvc(team_repo, "push", "--remote", "outage", check=False)
        pulled = dvc(team_repo, "pull", "--remote", "outage", check=False)
    finally:
        outage.stop()
        dvc(team_repo, "remote", "remove", "--local", "outage")

    for result in (pushed, pulled):
        assert result.returncode != 0
        assert f'Could not connect to the endpoint URL: "{outage.url}/{BUCKET}/dvc' in result.stderr
    assert file_digests(team_repo) == before


# --- the MLflow tracking server ----------------------------------------------------------------


def test_the_train_stage_logs_and_registers_on_the_team_server(
    team_repo: Path, mlflow_server: MlflowServer, postgres: PostgresCluster, s3_server: S3Server
) -> None:
    from mlflow import MlflowClient

    card = json.loads((team_repo / "models" / "model.json").read_text())
    client = MlflowClient(tracking_uri=mlflow_server.url, registry_uri=mlflow_server.url)
    query = f"name = '{REGISTERED_MODEL}' and tag.model_id = '{card['model_id']}'"
    [version] = client.search_model_versions(query)

    run = client.get_run(version.run_id)
    assert run.info.status == "FINISHED"
    assert run.data.metrics["test_rmse"] == pytest.approx(card["metrics"]["rmse"])
    # `make promote` moved champion to the version holding the pinned model.
    champion = client.get_model_version_by_alias(REGISTERED_MODEL, "champion")
    assert str(champion.version) == str(version.version) == "1"

    # The registry lives in PostgreSQL, the model files in the bucket.
    rows = postgres.query("SELECT name, version, run_id FROM model_versions")
    assert rows == [[REGISTERED_MODEL, "1", version.run_id]]
    artifact_files = {Path(key).name for key in s3_server.keys("mlflow/")}
    assert {"MLmodel", "model.skops", "model.json", "requirements.txt"} <= artifact_files


def check_release(repo: Path, env: dict[str, str]) -> subprocess.CompletedProcess[str]:
    return subprocess.run(
        [sys.executable, "-m", "tools.check_release"],
        cwd=repo,
        env=env,
        capture_output=True,
        text=True,
        timeout=300,
        check=False,
    )


def test_the_release_builds_only_a_pulled_model_the_registry_holds(
    team_repo: Path, s3_server: S3Server, mlflow_server: MlflowServer, tmp_path: Path
) -> None:
    """release.yml's build job, its first steps: pull models/ (no stage, no data), check it
    against its card and that the registry holds it (the version `champion` will move to after
    the rollout); a registry without it, or a corrupted artifact, stops the build.
    tests/test_release_replay.py replays the whole release."""
    clone = fresh_clone(team_repo, tmp_path / "clone")
    env = isolated_env(**s3_server.environment(), MLFLOW_TRACKING_URI=mlflow_server.url)
    dvc(clone, "pull", "models/model.skops", "models/model.json", env=env)
    assert not (clone / "data" / "features").exists()  # only the model came

    released = check_release(clone, env)
    assert released.returncode == 0, released.stderr
    assert "ready to build" in released.stdout

    elsewhere = f"sqlite:///{tmp_path / 'another.db'}"  # a tracking store without the model
    refused = check_release(clone, env | {"MLFLOW_TRACKING_URI": elsewhere})
    assert refused.returncode == 1
    # One error line (MLflow logs its creation of the empty store's tables before it).
    (error,) = [line for line in refused.stderr.splitlines() if line.startswith("error:")]
    assert f"no version of {REGISTERED_MODEL} at {elsewhere} has model_id" in error

    artifact = clone / "models" / "model.skops"
    artifact.write_bytes(artifact.read_bytes()[:-10])
    corrupted = check_release(clone, env)
    assert corrupted.returncode == 1 and "does not match model card" in corrupted.stderr


def champion_input(repo: Path) -> list[dict]:
    """Raw movies of the test split, as the registered pyfunc (and the service) take them."""
    test = pd.read_parquet(repo / "data" / "features" / "test.parquet", columns=["tconst"])
    movies = pd.read_parquet(repo / "data" / "clean" / "movies.parquet").set_index("tconst")
    columns = as_columns(movies.loc[test["tconst"].head(20)].reset_index())
    fields = Predictor(repo / "models" / "model.json").input_fields
    return [{name: columns[name][row] for name in fields} for row in range(20)]


def pinned_ratings(repo: Path, movies: list[dict]) -> np.ndarray:
    predictor = Predictor(repo / "models" / "model.json")
    return predictor.predict(predictor.columns(movies)).ratings


LOAD_CHAMPION = """
import json, sys
import mlflow.pyfunc
import pandas as pd
model = mlflow.pyfunc.load_model(sys.argv[1])
print(json.dumps(model.predict(pd.DataFrame(json.load(sys.stdin)))["rating"].tolist()))
"""


def champion_predictions(server: MlflowServer, rows: list[dict]) -> np.ndarray:
    """Predictions of `models:/imdb-rating@champion`, loaded in a separate process that knows
    only the server's URL: no database, no S3 endpoint or credentials."""
    result = subprocess.run(
        [sys.executable, "-c", LOAD_CHAMPION, CHAMPION_URI],
        input=json.dumps(rows),
        env=isolated_env(MLFLOW_TRACKING_URI=server.url),
        capture_output=True,
        text=True,
        timeout=300,
        check=False,
    )
    assert result.returncode == 0, f"{result.stderr[-3000:]}\n{server.log()}"
    return np.array(json.loads(result.stdout.splitlines()[-1]))


def test_the_champion_loads_through_the_server_and_predicts_like_the_pinned_artifact(
    team_repo: Path, mlflow_server: MlflowServer
) -> None:
    rows = champion_input(team_repo)
    np.testing.assert_array_equal(
        champion_predictions(mlflow_server, rows), pinned_ratings(team_repo, rows)
    )


def test_the_registry_and_artifacts_survive_a_restart_of_the_tracking_server(
    team_repo: Path, mlflow_server: MlflowServer
) -> None:
    from mlflow import MlflowClient

    mlflow_server.restart()

    client = MlflowClient(tracking_uri=mlflow_server.url, registry_uri=mlflow_server.url)
    [registered] = client.search_registered_models()
    assert registered.name == REGISTERED_MODEL
    assert registered.aliases == {"champion": "1", "challenger": "1"}
    rows = champion_input(team_repo)
    np.testing.assert_array_equal(
        champion_predictions(mlflow_server, rows), pinned_ratings(team_repo, rows)
    )
