"""The restore drill: every store the team depends on is backed up, destroyed and restored, for
real: MLflow's PostgreSQL 15 (as `postgres`), the bucket on moto's S3 server (MLflow's artifacts
and the DVC remote), Prometheus' TSDB and the prediction logs. After the restore the registry,
the runs and their artifacts are as they were, the champion predicts the same, a fresh clone
pulls cleanly, the logs are the same bytes and Prometheus answers the same queries. A backup
with one flipped byte, or a target that holds data, is refused before anything is written.
"""

from __future__ import annotations

import json
import shutil
import subprocess
import sys
import time
import urllib.parse
from collections.abc import Iterator
from dataclasses import dataclass
from datetime import datetime, timedelta
from pathlib import Path
from typing import Any

import pytest

from harness.loopback import free_port, http_json
from harness.processes import ServerProcess
from tests.servers import (
    BUCKET,
    MLFLOW_DATABASE,
    MlflowServer,
    PostgresCluster,
    S3Server,
    dvc,
    fresh_clone,
    isolated_env,
)
from tests.test_monitoring import wait_until
from tests.test_team_infra import champion_input, champion_predictions
from tools.backup import NAME_FORMAT, to_keep
from workspace.files import sha256_file

SCRAPE_SECONDS = 1


# --- retention (no servers) ----------------------------------------------------------------------


def names(*moments: datetime) -> list[str]:
    return [moment.strftime(NAME_FORMAT) for moment in moments]


def test_retention_keeps_the_newest_backup_of_the_last_7_days_and_4_weeks() -> None:
    start = datetime(2026, 10, 1, 2, 0)  # twice a day for 60 days: to Sunday 29 November
    daily = [start + timedelta(days=day, hours=hour) for day in range(60) for hour in (0, 12)]
    kept = to_keep(names(*daily), daily=7, weekly=4)
    last_days = names(*(start + timedelta(days=day, hours=12) for day in range(53, 60)))
    # The last 7 days are one ISO week; the 3 weeks before keep their newest (Sundays).
    sundays = names(*(datetime(2026, 11, day, 14, 0) for day in (8, 15, 22)))
    assert kept == sorted(last_days + sundays)
    assert to_keep([], 7, 4) == []


# --- the drill --------------------------------------------------------------------------------


@dataclass
class Prometheus:
    binary: str
    root: Path

    def __post_init__(self) -> None:
        self.port = free_port()
        self.url = f"http://127.0.0.1:{self.port}"
        self.data = self.root / "data"
        self.root.mkdir(parents=True, exist_ok=True)
        config = self.root / "prometheus.yml"
        config.write_text(
            f"global:\n  scrape_interval: {SCRAPE_SECONDS}s\nscrape_configs:\n"
            f"  - job_name: prometheus\n    static_configs:\n"
            f"      - targets: ['127.0.0.1:{self.port}']\n"
        )
        self.server = ServerProcess(
            [self.binary, f"--config.file={config}", f"--storage.tsdb.path={self.data}",
             f"--web.listen-address=127.0.0.1:{self.port}", "--web.enable-admin-api"],
            self.root / "prometheus.log",
        )  # fmt: skip

    def start(self) -> Prometheus:
        self.server.start(self.url + "/-/ready", seconds=60)
        return self

    def stop(self) -> None:
        self.server.stop()

    def query(self, expression: str, at: float) -> list[Any]:
        query = urllib.parse.urlencode({"query": expression, "time": at})
        answer = http_json(f"{self.url}/api/v1/query?{query}")
        return sorted(
            (tuple(sorted(r["metric"].items())), r["value"][1]) for r in answer["data"]["result"]
        )


@pytest.fixture
def prometheus(tmp_path: Path) -> Iterator[Prometheus]:
    binary = shutil.which("prometheus")
    if binary is None:
        pytest.fail("prometheus is not installed (Debian prometheus; `make test` does it)")
    server = Prometheus(binary, tmp_path / "prometheus").start()
    yield server
    server.stop()


def registry_state(mlflow: MlflowServer) -> dict[str, Any]:
    """Registered models, versions (tags, run, source), aliases; every run's params, metrics,
    tags and artifact files (path, size)."""
    from mlflow import MlflowClient

    client = MlflowClient(tracking_uri=mlflow.url, registry_uri=mlflow.url)

    def artifacts(run_id: str, path: str = "") -> list[tuple[str, int | None]]:
        found = []
        for item in client.list_artifacts(run_id, path):
            found += artifacts(run_id, item.path) if item.is_dir else [(item.path, item.file_size)]
        return found

    state: dict[str, Any] = {"models": {}, "runs": {}}
    for model in client.search_registered_models():
        state["models"][model.name] = {
            "aliases": dict(model.aliases),
            "tags": dict(model.tags),
            "versions": {
                v.version: (dict(v.tags), v.run_id, v.source)
                for v in client.search_model_versions(f"name = '{model.name}'")
            },
        }
    for experiment in client.search_experiments():
        for run in client.search_runs([experiment.experiment_id]):
            state["runs"][run.info.run_id] = {
                "experiment": experiment.name,
                "params": run.data.params,
                "metrics": run.data.metrics,
                "tags": {k: v for k, v in run.data.tags.items()},
                "artifacts": artifacts(run.info.run_id),
            }
    return state


def backup_command(*args: str, env: dict[str, str]) -> subprocess.CompletedProcess[str]:
    return subprocess.run(
        [sys.executable, "-m", "tools.backup", *args],
        env=env, capture_output=True, text=True, timeout=900, check=False,
    )  # fmt: skip


def flip_one_byte(path: Path) -> None:
    data = bytearray(path.read_bytes())
    data[len(data) // 2] ^= 0xFF
    path.write_bytes(bytes(data))


@pytest.mark.slow
def test_every_store_is_restored_from_a_verified_backup_after_it_was_destroyed(
    team_repo: Path,
    postgres: PostgresCluster,
    s3_server: S3Server,
    mlflow_server: MlflowServer,
    prometheus: Prometheus,
    tmp_path: Path,
) -> None:
    uri = f"postgresql://postgres@127.0.0.1:{postgres.port}/{MLFLOW_DATABASE}"
    env = isolated_env(**s3_server.environment(), PGPASSWORD=postgres.password)
    predictions = tmp_path / "predictions"
    predictions.mkdir()
    for name, lines in (("predictions.jsonl", 30), ("predictions.jsonl.1", 200)):
        (predictions / name).write_text(
            "".join(
                json.dumps({"tconst": f"tt{i:07d}", "rating": i / 10}) + "\n" for i in range(lines)
            )
        )
    # Samples in Prometheus' head block (its first scrape waits for target discovery, ~5 s).
    wait_until(lambda: prometheus.query("up", time.time()), 60, "Prometheus' first scrape")
    time.sleep(3 * SCRAPE_SECONDS)
    observed_at = time.time() - SCRAPE_SECONDS
    series = "count_over_time(up[1m])"
    before = {
        "registry": registry_state(mlflow_server),
        "keys": sorted(s3_server.keys("")),
        "logs": {p.name: p.read_bytes() for p in predictions.iterdir()},
        "prometheus": prometheus.query(series, observed_at),
    }
    assert before["prometheus"] and before["registry"]["models"]["imdb-rating"]["aliases"]
    rows = champion_input(team_repo)
    champion_before = champion_predictions(mlflow_server, rows)

    # Back up.
    store = [
        "--postgres", uri, "--bucket", BUCKET, "--prometheus", prometheus.url,
        "--prometheus-data", str(prometheus.data), "--predictions", str(predictions),
    ]  # fmt: skip
    started = time.monotonic()
    created = backup_command("create", "--to", str(tmp_path / "backups"), *store, env=env)
    backup_seconds = time.monotonic() - started
    assert created.returncode == 0, created.stderr
    (backup,) = (tmp_path / "backups").iterdir()
    manifest = json.loads((backup / "manifest.json").read_text())
    assert set(manifest["parts"]) == {"postgres", "bucket", "prometheus", "predictions"}
    backup_bytes = sum(item["bytes"] for item in manifest["files"].values())

    targets = [
        "--postgres", uri, "--bucket", BUCKET, "--prometheus-data", str(prometheus.data),
        "--predictions", str(predictions),
    ]  # fmt: skip

    # A target that holds data is refused, unless told to replace it; nothing is written.
    refused = backup_command("restore", str(backup), *targets, env=env)
    assert refused.returncode == 1 and "refusing to overwrite" in refused.stderr
    assert "postgres, bucket, prometheus, predictions" in refused.stderr

    # One flipped byte: refused before anything is overwritten, even with --replace.
    damaged = tmp_path / "damaged"
    shutil.copytree(backup, damaged)
    flip_one_byte(damaged / "bucket" / sorted(manifest["files"])[0].removeprefix("bucket/"))
    rejected = backup_command("restore", str(damaged), *targets, "--replace", env=env)
    assert rejected.returncode == 1 and "sha256 differs" in rejected.stderr
    assert rejected.stderr.strip().count("\n") == 0  # one line
    assert sorted(s3_server.keys("")) == before["keys"]
    assert postgres.query("select count(*) from registered_models") == [["1"]]

    # Destroy every store.
    mlflow_server.stop()
    prometheus.stop()
    postgres.run("dropdb", *postgres.connection_args(), MLFLOW_DATABASE)
    postgres.run("createdb", *postgres.connection_args(), MLFLOW_DATABASE)
    client = s3_server.client()
    for key in s3_server.keys(""):
        client.delete_object(Bucket=BUCKET, Key=key)
    shutil.rmtree(prometheus.data)
    shutil.rmtree(predictions)

    # Restore.
    started = time.monotonic()
    restored = backup_command("restore", str(backup), *targets, env=env)
    restore_seconds = time.monotonic() - started
    assert restored.returncode == 0, restored.stderr
    assert [line.split(":")[0] for line in restored.stdout.splitlines()] == [
        "restored postgres", "restored bucket", "restored prometheus", "restored predictions",
    ]  # fmt: skip
    mlflow_server.start()
    prometheus.start()

    assert registry_state(mlflow_server) == before["registry"]
    assert sorted(s3_server.keys("")) == before["keys"]
    assert {p.name: p.read_bytes() for p in predictions.iterdir()} == before["logs"]
    assert prometheus.query(series, observed_at) == before["prometheus"]
    assert (champion_predictions(mlflow_server, rows) == champion_before).all()
    clone = fresh_clone(team_repo, tmp_path / "clone", s3_server)
    dvc(clone, "pull", env=env)
    status = dvc(clone, "status", env=env)
    assert "up to date" in status.stdout, status.stdout
    pinned = team_repo / "models" / "model.skops"
    assert sha256_file(clone / "models" / "model.skops") == sha256_file(pinned)

    print(
        f"backup: {len(manifest['files'])} files, {backup_bytes:,} bytes in {backup_seconds:.1f} s;"
        f" restore {restore_seconds:.1f} s; parts {manifest['parts']}"
    )
