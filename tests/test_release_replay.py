"""The release and the rollback, replayed: the jobs of .github/workflows/release.yml and
rollback.yml run step by step (tests/workflow_replay.py) against the team's real servers (moto's
S3 as the DVC remote and MLflow's artifact store, PostgreSQL, `mlflow server`), in fresh clones
of a repository whose pipeline registered its models there. What needs a cluster is a stand-in
kubectl (tests/stand_ins/kubectl.py): it records what is applied, can fail a rollout, and
serves the applied image's model with the real service for the smoke test. The image push is a
stand-in too: its digest names the model folder the image would copy.

The order that matters: `champion` moves only after production's rollout and smoke test, and a
rollback puts the previous release's image and `champion` back together.
"""

from __future__ import annotations

import base64
import hashlib
import json
import os
import shutil
import subprocess
import sys
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import pytest
import yaml

from harness.loopback import VENV_BIN
from registry.releases import PROMOTE, RELEASES_EXPERIMENT, ROLLBACK
from tests.conftest import copy_repository, git, model_id_of
from tests.servers import MlflowServer, S3Server, configure_remote, dvc, isolated_env
from tests.workflow_replay import ARTIFACTS, JobRun, job_outputs, run_job
from workspace.layout import REPO_ROOT

pytestmark = pytest.mark.slow

WORKFLOWS = REPO_ROOT / ".github" / "workflows"
RELEASE = yaml.safe_load((WORKFLOWS / "release.yml").read_text())
ROLLBACK_WORKFLOW = yaml.safe_load((WORKFLOWS / "rollback.yml").read_text())
REPOSITORY = "team/imdb-rating"
IMAGE = f"ghcr.io/{REPOSITORY}/api"
ACTOR = "release-bot"
PRODUCTION = "imdb-rating"  # the namespaces the overlays render (tests/test_k8s.py)
STAGING = "imdb-rating-staging"


@dataclass
class Team:
    origin: Path  # main: the pipeline ran against the team's servers, outputs pushed
    s3: S3Server
    mlflow: MlflowServer
    cluster: Path  # the stand-in cluster's state
    bin: Path  # the stand-in kubectl, first on PATH
    runs: Path

    def client(self) -> Any:
        from mlflow import MlflowClient

        return MlflowClient(tracking_uri=self.mlflow.url, registry_uri=self.mlflow.url)

    def champion(self) -> str:
        return self.client().get_model_version_by_alias("imdb-rating", "champion").tags["model_id"]

    def records(self) -> list[Any]:
        client = self.client()
        experiment = client.get_experiment_by_name(RELEASES_EXPERIMENT)
        if experiment is None:
            return []
        return client.search_runs([experiment.experiment_id], order_by=["attributes.start_time"])

    def applied(self, namespace: str) -> list[dict[str, Any]]:
        path = self.cluster / "applied.jsonl"
        lines = path.read_text().splitlines() if path.exists() else []
        return [record for line in lines if (record := json.loads(line))["namespace"] == namespace]


@pytest.fixture(scope="module")
def team(
    tmp_path_factory: pytest.TempPathFactory, s3_server: S3Server, mlflow_server: MlflowServer
) -> Team:
    root = tmp_path_factory.mktemp("release")
    origin = copy_repository(root / "origin")
    configure_remote(origin, s3_server)
    dvc(origin, "commit", "--force", "--quiet", "data.dvc")
    reproduce_and_push(origin, mlflow_server)
    cluster, bin_dir = root / "cluster", root / "bin"
    cluster.mkdir()
    bin_dir.mkdir()
    (cluster / "images.json").write_text("{}")
    kubectl = bin_dir / "kubectl"
    kubectl.write_text(
        f'#!/bin/sh\nexec "{sys.executable}" "{REPO_ROOT}/tests/stand_ins/kubectl.py" "$@"\n'
    )
    kubectl.chmod(0o755)
    return Team(origin, s3_server, mlflow_server, cluster, bin_dir, root / "runs")


def reproduce_and_push(repo: Path, mlflow: MlflowServer) -> None:
    """The model-review job's work: the pipeline registers the model, the remote gets it."""
    repro = dvc(repo, "repro", env=isolated_env(MLFLOW_TRACKING_URI=mlflow.url), check=False)
    assert repro.returncode == 0, f"{repro.stdout}\n{repro.stderr}\n{mlflow.log()}"
    dvc(repo, "push")


def ci_checkout(team: Team, name: str) -> Path:
    """What actions/checkout and `make install` leave: a clone of main with the project's venv
    (the one the tests run in, installed from the same lock; its stamp is newer)."""
    folder = team.runs / name
    folder.mkdir(parents=True)
    git(folder, "clone", "-q", str(team.origin), "checkout")
    checkout = folder / "checkout"
    for locked in ("requirements/dev.txt", "setup.cfg"):
        os.utime(checkout / locked, (1e9, 1e9))
    (checkout / ".venv").symlink_to(VENV_BIN.parent)
    return checkout


def context(team: Team, checkout: Path, why: str = "") -> dict[str, str]:
    sha = subprocess.run(
        ["git", "rev-parse", "HEAD"], cwd=checkout, capture_output=True, text=True, check=True
    ).stdout.strip()
    return {
        "secrets.MLFLOW_TRACKING_URI": team.mlflow.url,
        "secrets.DVC_REMOTE_ACCESS_KEY_ID": team.s3.credentials["AWS_ACCESS_KEY_ID"],
        "secrets.DVC_REMOTE_SECRET_ACCESS_KEY": team.s3.credentials["AWS_SECRET_ACCESS_KEY"],
        "secrets.DVC_REMOTE_ENDPOINT_URL": team.s3.url,
        "secrets.GITHUB_TOKEN": "replay",
        "secrets.KUBECONFIG_DATA": base64.b64encode(b"the stand-in cluster").decode(),
        "github.sha": sha,
        "github.repository": REPOSITORY,
        "github.server_url": "https://github.example",
        "github.actor": ACTOR,
        "inputs.why": why,
    }


def machine_env(team: Team) -> dict[str, str]:
    env = isolated_env(GITHUB_ACTOR=ACTOR, STAND_IN_CLUSTER=str(team.cluster))
    env["STAND_IN_REAL_KUBECTL"] = shutil.which("kubectl") or "kubectl"
    env["PATH"] = f"{team.bin}{os.pathsep}{env['PATH']}"
    return env


def image_push(team: Team):
    """docker/build-push-action's stand-in: the image's digest, and the model it copies."""

    def push(step: dict[str, Any], replay: JobRun) -> dict[str, str]:
        models = replay.checkout / "models"
        card = (models / "model.json").read_bytes()
        digest = (
            "sha256:" + hashlib.sha256(card + replay.context["github.sha"].encode()).hexdigest()
        )
        kept = team.cluster / "images" / digest
        shutil.copytree(models, kept, dirs_exist_ok=True)  # a re-run builds the same image
        images = json.loads((team.cluster / "images.json").read_text())
        images[f"{IMAGE}@{digest}"] = str(kept / "model.json")
        (team.cluster / "images.json").write_text(json.dumps(images))
        return {"digest": digest}

    return {
        "docker/setup-buildx-action": lambda step, replay: {},
        "docker/login-action": lambda step, replay: {},
        "docker/build-push-action": push,
        **ARTIFACTS,
    }


def release(team: Team, name: str) -> dict[str, JobRun]:
    """release.yml's jobs in order, each in its own checkout, stopping at a failed job."""
    artifacts = team.runs / name / "artifacts"
    done: dict[str, JobRun] = {}
    values: dict[str, str] = {}
    for job in ("build", "staging", "production"):
        checkout = ci_checkout(team, f"{name}/{job}")
        replay = run_job(
            RELEASE, job, checkout, machine_env(team), context(team, checkout) | values,
            artifacts, image_push(team),
        )  # fmt: skip
        done[job] = replay
        if replay.failed:
            break
        values |= {
            f"needs.{job}.outputs.{k}": v for k, v in job_outputs(RELEASE, job, replay).items()
        }
    return done


def roll_back(team: Team, name: str, why: str) -> JobRun:
    checkout = ci_checkout(team, name)
    return run_job(
        ROLLBACK_WORKFLOW, "rollback", checkout, machine_env(team),
        context(team, checkout, why), team.runs / name / "artifacts", ARTIFACTS,
    )  # fmt: skip


def ok(replay: JobRun) -> JobRun:
    assert replay.failed is None, f"{replay.name}: {replay.failed} failed\n{replay.log[-6000:]}"
    return replay


def test_a_release_moves_champion_only_after_production_answers_and_rolls_back_as_one(
    team: Team,
) -> None:
    model_a = model_id_of(team.origin / "models" / "model.json")

    # 1. The first release: one image by digest, staging, production, then champion.
    first = release(team, "release-1")
    for job in first.values():
        ok(job)
    image_a = job_outputs(RELEASE, "build", first["build"])["image"]
    assert image_a.startswith(f"{IMAGE}@sha256:")
    assert [a["image"] for a in team.applied(STAGING)] == [image_a]
    assert team.applied(STAGING)[0]["challenger"] == [image_a]  # no champion yet to shadow
    assert [a["image"] for a in team.applied(PRODUCTION)] == [image_a]
    assert team.champion() == model_a
    (record,) = team.records()
    tags = record.data.tags
    assert (tags["action"], tags["to_model_id"], tags["image"], tags["from_image"]) == (
        PROMOTE,
        model_a,
        image_a,
        "",
    )
    assert (
        tags["actor"] == ACTOR and tags["why"] == f"release {first['build'].context['github.sha']}"
    )
    sbom = json.loads(
        Path(team.client().download_artifacts(record.info.run_id, "sbom.json")).read_text()
    )
    components = {c["name"].lower().replace("_", "-"): c["version"] for c in sbom["components"]}
    locked = dict(
        line.split(" ")[0].split("==")
        for line in (REPO_ROOT / "requirements" / "service.txt").read_text().splitlines()
        if "==" in line and not line.startswith("#")
    )
    assert {name.lower(): version for name, version in locked.items()} == {
        name: components.get(name) for name in (n.lower() for n in locked)
    }

    # 2. A new model on main (the review's pipeline run and push), released: production's
    # rollout fails, so champion and the records stay where they were.
    params = yaml.safe_load((team.origin / "params.yaml").read_text())
    params["train"]["seed"] += 1  # another model, whatever the family
    (team.origin / "params.yaml").write_text(yaml.safe_dump(params, sort_keys=False))
    reproduce_and_push(team.origin, team.mlflow)
    git(team.origin, "commit", "-qam", "a second model")
    model_b = model_id_of(team.origin / "models" / "model.json")
    assert model_b != model_a
    (team.cluster / f"fail-rollout-{PRODUCTION}").touch()
    failed = release(team, "release-2-failed")
    ok(failed["build"]), ok(failed["staging"])
    assert failed["production"].failed == "Deploy to production; smoke test"
    assert "Move champion" not in " ".join(failed["production"].ran)
    assert team.champion() == model_a and len(team.records()) == 1
    # Staging shadowed the current champion's image beside the new one.
    assert team.applied(STAGING)[-1]["challenger"] == [image_a]

    # 3. The same release, the rollout fixed: champion moves, the record names both images.
    (team.cluster / f"fail-rollout-{PRODUCTION}").unlink()
    second = release(team, "release-2")
    for job in second.values():
        ok(job)
    image_b = job_outputs(RELEASE, "build", second["build"])["image"]
    assert team.applied(PRODUCTION)[-1]["image"] == image_b
    assert team.champion() == model_b
    tags = team.records()[-1].data.tags
    assert (tags["from_model_id"], tags["to_model_id"]) == (model_a, model_b)
    assert (tags["from_image"], tags["image"]) == (image_a, image_b)

    # 4. The rollback: production back to the first image, then champion back to its model.
    rolled = ok(roll_back(team, "rollback", "the smoke of a replay"))
    plan = json.loads((rolled.checkout / "plan.json").read_text())
    assert (plan["image"], plan["to_model_id"]) == (image_a, model_a)
    assert team.applied(PRODUCTION)[-1]["image"] == image_a
    assert team.champion() == model_a
    tags = team.records()[-1].data.tags
    assert (tags["action"], tags["image"], tags["to_model_id"]) == (ROLLBACK, image_a, model_a)
    assert tags["why"] == "the smoke of a replay" and tags["actor"] == ACTOR
