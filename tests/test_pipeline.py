"""End to end: `dvc repro` in a fresh copy of the repository, and the quality bar on real rows."""

from __future__ import annotations

import json
import os
import re
import signal
import subprocess
import time
from pathlib import Path

import pytest

from harness.loopback import VENV_BIN
from imdb_rating.artifact import load_verified_model
from imdb_rating.trees import flatten
from stages.families import LIBRARY_FAMILIES
from tests.conftest import git
from workspace.layout import REPO_ROOT

pytestmark = pytest.mark.slow


def dvc(repo: Path, *args: str) -> subprocess.CompletedProcess[str]:
    env = {**os.environ, "PATH": f"{VENV_BIN}{os.pathsep}{os.environ['PATH']}"}
    env.pop("MLFLOW_TRACKING_URI", None)  # each copy keeps its own sqlite store
    result = subprocess.run(
        ["dvc", *args], cwd=repo, env=env, capture_output=True, text=True, check=False
    )
    assert result.returncode == 0, f"dvc {' '.join(args)}:\n{result.stdout}\n{result.stderr}"
    return result


def test_repro_elsewhere_rebuilds_exactly_the_pinned_model_and_metrics(repo_copy: Path) -> None:
    """A copy in another directory, on its own: `dvc repro` gives the very bytes dvc.lock pins
    (git status stays clean), so the pinned model can be obtained anywhere."""
    dvc(repo_copy, "repro")

    changed = subprocess.run(
        ["git", "status", "--porcelain"], cwd=repo_copy, capture_output=True, text=True, check=True
    ).stdout
    assert changed == "", f"dvc repro changed committed files:\n{changed}"
    assert (repo_copy / "dvc.lock").read_text() == (REPO_ROOT / "dvc.lock").read_text()
    assert "up to date" in dvc(repo_copy, "status").stdout
    metrics = json.loads((repo_copy / "metrics" / "metrics.json").read_text())
    assert metrics["n_test"] > 1000
    assert metrics["rmse"] < metrics["baseline"]["rmse"]  # the lift over the original recipe
    assert 0.7 <= metrics["interval_coverage"] <= 0.9
    model, card = load_verified_model(repo_copy / "models" / "model.json")
    for plot in ("predictions", "residuals", "importance"):
        assert (repo_copy / "metrics" / "plots" / f"{plot}.csv").stat().st_size > 100
    assert flatten(model).predict([[0.0] * len(card.feature_spec.feature_names)]).shape == (1,)

    import mlflow  # the run registered the model under its content identity

    client = mlflow.MlflowClient(f"sqlite:///{repo_copy / 'mlflow.db'}")
    version = client.get_model_version_by_alias("imdb-rating", "challenger")  # no champion yet
    assert version.tags["model_id"] == card.model_id
    logged = {Path(a.path).name for a in client.list_artifacts(version.run_id, "model_card")}
    assert logged == {"model_card.md", "model_card.html"}  # the card stage logged the card


@pytest.mark.parametrize("family", LIBRARY_FAMILIES)
def test_each_boosting_family_reproduces_its_own_bytes(repo_copy: Path, family: str) -> None:
    """`make check-repro` with the family selected: its pipeline committed, train, validate and
    evaluate forced to run again leave every output (model, card, metrics) as committed."""
    params = repo_copy / "params.yaml"
    chosen, count = re.subn(r"(?m)^  model: \w+$", f"  model: {family}", params.read_text())
    assert count == 1
    params.write_text(chosen)
    dvc(repo_copy, "repro")
    git(repo_copy, "add", "-A")
    git(repo_copy, "commit", "-q", "--allow-empty", "-m", f"train.model: {family}")
    for stage in ("train", "validate", "evaluate"):
        dvc(repo_copy, "repro", "--force", "--single-item", stage)
    changed = subprocess.run(
        ["git", "status", "--porcelain"], cwd=repo_copy, capture_output=True, text=True, check=True
    ).stdout
    assert changed == "", f"a second run changed committed outputs:\n{changed}"
    _, card = load_verified_model(repo_copy / "models" / "model.json")
    assert card.model_type == family
    validation = json.loads((repo_copy / "metrics" / "validation.json").read_text())
    assert validation["temporal_rmse"] > 0 and validation["selection_rmse"] > 0


@pytest.mark.official_sample
def test_real_imdb_rows_meet_the_quality_bar(repo_copy: Path, official_sample: Path) -> None:
    dvc(repo_copy, "exp", "run", "-S", f"download.source={official_sample}")

    metrics = json.loads((repo_copy / "metrics" / "metrics.json").read_text())
    assert metrics["rmse"] <= 0.55, metrics
    assert metrics["r2"] >= 0.50, metrics
    quality = json.loads((repo_copy / "metrics" / "data_quality.json").read_text())
    assert quality["has_crew"] and quality["rows_kept"] > 15_000


def test_a_stage_killed_mid_run_is_reported_and_repaired(repo_copy: Path) -> None:
    dvc(repo_copy, "repro")
    env = {**os.environ, "PATH": f"{VENV_BIN}{os.pathsep}{os.environ['PATH']}"}
    env.pop("MLFLOW_TRACKING_URI", None)
    run = subprocess.Popen(
        ["dvc", "repro", "--force", "--single-item", "train"],
        cwd=repo_copy,
        env=env,
        stdout=subprocess.PIPE,
        stderr=subprocess.STDOUT,
        text=True,
        start_new_session=True,
    )
    # Kill the whole process group once the stage's command is running (it fits for seconds).
    started = time.monotonic()
    for line in run.stdout:
        if "python -m stages.train" in line:
            break
        assert time.monotonic() - started < 60, "train never started"
    time.sleep(1.5)
    os.killpg(run.pid, signal.SIGKILL)
    run.wait()

    status = dvc(repo_copy, "status").stdout
    assert "train" in status and "up to date" not in status  # the truth: train must rerun
    assert not list((repo_copy / "models").glob(".*.tmp"))  # nothing half-written left behind
    dvc(repo_copy, "repro")
    assert "up to date" in dvc(repo_copy, "status").stdout
    load_verified_model(repo_copy / "models" / "model.json")
