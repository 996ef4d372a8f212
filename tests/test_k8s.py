"""Kubernetes (deploy/k8s): the manifests render, validate, agree with the service, and the pod
they describe serves.

`kubectl kustomize` renders the base and every overlay; every object must validate against the
Kubernetes JSON schemas (kubernetes-validate, strict: unknown fields fail) of the three newest
minor releases it ships. The objects must agree with the image (Dockerfile), Gunicorn's config,
the monitoring rules and each other. Last, the production pod's container is replayed with
bubblewrap: the root filesystem read-only, only its emptyDirs writable (as tmpfs), its
environment and the image's command; its probes, a prediction and its scrape path must answer.
"""

from __future__ import annotations

import functools
import json
import os
import re
import shutil
import signal
import subprocess
import sys
import time
from pathlib import Path

import kubernetes_validate
import pytest
import yaml
from kubernetes_validate.utils import all_versions
from packaging.version import Version

from harness.loopback import free_port, http_json, http_request, scrape_metrics
from harness.processes import wait_for_http
from service.cpu_limit import workers_for_cpu_limit
from tests.conftest import model_id_of
from tests.test_deploy import COMPOSE, FINAL, env_of
from tests.test_monitoring import wait_until
from workspace.layout import REPO_ROOT

K8S = REPO_ROOT / "deploy" / "k8s"
KUSTOMIZATIONS = sorted(path.parent.name for path in K8S.glob("*/kustomization.yaml"))
SCRAPE_JOB = yaml.safe_load((K8S / "prometheus" / "scrape-imdb-api.yml").read_text())
IMAGE_ENV = env_of(FINAL)


def program(name: str, install: str) -> str:
    path = shutil.which(name)
    if path is None:
        pytest.fail(f"{name} is not installed: {install}")
    return path


@functools.cache
def rendered(kustomization: str) -> tuple[dict, ...]:
    """`kubectl kustomize deploy/k8s/<kustomization>`: the objects it renders."""
    kubectl = program("kubectl", "these machines ship it (kustomize v5 inside); see kubernetes.io")
    result = subprocess.run(
        [kubectl, "kustomize", str(K8S / kustomization)],
        capture_output=True,
        text=True,
        check=False,
    )
    assert result.returncode == 0, result.stderr
    return tuple(item for item in yaml.safe_load_all(result.stdout) if item)


def the(kind: str, kustomization: str) -> dict:
    objects = [item for item in rendered(kustomization) if item["kind"] == kind]
    assert len(objects) == 1, f"{kustomization}: {len(objects)} objects of kind {kind}"
    return objects[0]


def api_container(kustomization: str) -> dict:
    (container,) = the("Deployment", kustomization)["spec"]["template"]["spec"]["containers"]
    return container


def container_env(container: dict) -> dict[str, str]:
    return {item["name"]: item["value"] for item in container.get("env", [])}


def container_port(container: dict, port: int | str) -> int:
    """A probe's or a Service's port (a number or a port name) as the container's number."""
    if isinstance(port, int):
        return port
    (number,) = [p["containerPort"] for p in container["ports"] if p["name"] == port]
    return number


def cpu_cores(quantity: str) -> float:
    return int(quantity[:-1]) / 1000 if quantity.endswith("m") else float(quantity)


def prestop_seconds(container: dict) -> int:
    command = container["lifecycle"]["preStop"]["exec"]["command"]
    assert command[0] == "sleep", command
    return int(command[1])


def gunicorn_setting(name: str, env: dict[str, str]) -> object:
    """A setting of service/gunicorn_conf.py as the module computes it with this environment."""
    settings = "runpy.run_path('service/gunicorn_conf.py')"
    code = f"import json, runpy; print(json.dumps({settings}[{name!r}]))"
    result = subprocess.run(
        [sys.executable, "-c", code],
        cwd=REPO_ROOT,
        env={**os.environ, **env},
        capture_output=True,
        text=True,
        check=True,
    )
    return json.loads(result.stdout)


def current_kubernetes_versions() -> list[str]:
    """The three newest minor releases with schemas (Kubernetes supports three at a time)."""
    minors = {".".join(version.split(".")[:2]) for version in all_versions()}
    return sorted(minors, key=Version)[-3:]


# --- rendering and schemas ---------------------------------------------------------------------


@pytest.mark.parametrize("version", current_kubernetes_versions())
@pytest.mark.parametrize("kustomization", KUSTOMIZATIONS)
def test_every_rendered_object_validates_against_the_kubernetes_schemas(
    kustomization: str, version: str
) -> None:
    for item in rendered(kustomization):
        where = f"{kustomization}: {item['kind']}/{item['metadata']['name']} on {version}"
        try:
            kubernetes_validate.validate(item, version, strict=True)
        except kubernetes_validate.ValidationError as error:
            pytest.fail(f"{where}: {'.'.join(map(str, error.path))}: {error.message}")
        except kubernetes_validate.SchemaNotFoundError as error:
            pytest.fail(f"{where}: {error.message}")


ENVIRONMENTS = ("staging", "production")


def test_there_is_a_base_and_an_overlay_of_it_per_environment() -> None:
    assert {"base", *ENVIRONMENTS} == set(KUSTOMIZATIONS)
    for environment in ENVIRONMENTS:
        overlay = yaml.safe_load((K8S / environment / "kustomization.yaml").read_text())
        assert "../base" in overlay["resources"]


@pytest.mark.parametrize("kustomization", KUSTOMIZATIONS)
def test_the_api_is_a_deployment_service_autoscaler_disruption_budget_and_network_policy(
    kustomization: str,
) -> None:
    kinds = sorted(item["kind"] for item in rendered(kustomization))
    expected = [
        "Deployment", "HorizontalPodAutoscaler", "NetworkPolicy", "PodDisruptionBudget", "Service",
    ]  # fmt: skip
    if kustomization == "production":  # and the daily backups, with their volume
        expected = sorted([*expected, "CronJob", "PersistentVolumeClaim"])
    assert [kind for kind in kinds if kind not in ("Namespace", "ConfigMap")] == expected


@pytest.mark.parametrize("environment", ENVIRONMENTS)
def test_each_environment_runs_in_its_namespace_under_the_restricted_pod_security_standard(
    environment: str,
) -> None:
    namespace = the("Namespace", environment)
    assert namespace["metadata"]["labels"]["pod-security.kubernetes.io/enforce"] == "restricted"
    for item in rendered(environment):
        if item["kind"] != "Namespace":
            assert item["metadata"]["namespace"] == namespace["metadata"]["name"]
    names = {the("Namespace", other)["metadata"]["name"] for other in ENVIRONMENTS}
    assert len(names) == len(ENVIRONMENTS)


@pytest.mark.parametrize("kustomization", KUSTOMIZATIONS)
def test_the_network_policy_admits_the_gateway_and_prometheus_on_http_and_no_egress(
    kustomization: str,
) -> None:
    policy = the("NetworkPolicy", kustomization)["spec"]
    pods = the("Deployment", kustomization)["spec"]["template"]["metadata"]["labels"]
    assert policy["podSelector"]["matchLabels"].items() <= pods.items()
    assert sorted(policy["policyTypes"]) == ["Egress", "Ingress"]
    assert policy["egress"] == []  # the model is in the image: the pod calls nothing
    (rule,) = policy["ingress"]
    (port,) = rule["ports"]
    container = api_container(kustomization)
    assert container_port(container, port["port"]) == container_port(container, "http")
    sources = {
        (peer["namespaceSelector"]["matchLabels"]["kubernetes.io/metadata.name"],
         peer.get("podSelector", {}).get("matchLabels", {}).get("app.kubernetes.io/name"))
        for peer in rule["from"]
    }  # fmt: skip
    assert sources == {("gateway", None), ("monitoring", "prometheus")}


def test_staging_is_one_small_pod_shadowing_the_challenger_from_its_image() -> None:
    hpa = the("HorizontalPodAutoscaler", "staging")["spec"]
    assert hpa["minReplicas"] == hpa["maxReplicas"] == 1
    staging, production = api_container("staging"), api_container("production")
    for kind in ("requests", "limits"):
        assert cpu_cores(staging["resources"][kind]["cpu"]) < cpu_cores(
            production["resources"][kind]["cpu"]
        )
        assert memory_bytes(staging["resources"][kind]["memory"]) < memory_bytes(
            production["resources"][kind]["memory"]
        )
    pod = the("Deployment", "staging")["spec"]["template"]["spec"]
    (copier,) = pod["initContainers"]
    mounts = {m["name"]: m["mountPath"] for m in copier["volumeMounts"]}
    env = container_env(staging)
    assert env["IMDB_CHALLENGER_CARD"] == f"{mounts['challenger']}/model.json"
    (config_map,) = [item for item in rendered("staging") if item["kind"] == "ConfigMap"]
    (traffic,) = [v for v in pod["volumes"] if v["name"] == "traffic"]
    assert traffic["configMap"]["name"] == config_map["metadata"]["name"]
    mounted = {m["name"]: m["mountPath"] for m in staging["volumeMounts"]}
    policy_file = Path(env["IMDB_TRAFFIC_POLICY"])
    assert str(policy_file.parent) == mounted["traffic"]
    assert json.loads(config_map["data"][policy_file.name]) == {"mode": "shadow"}
    assert "IMDB_CHALLENGER_CARD" not in container_env(production)  # production serves alone


# --- the pod agrees with the image and Gunicorn -------------------------------------------------


def image_healthcheck() -> tuple[int, str]:
    """The port and path the image's HEALTHCHECK asks."""
    port, path = re.search(r"127\.0\.0\.1:(\d+)(/\w+)", FINAL.all("HEALTHCHECK")[-1]).groups()
    return int(port), path


@pytest.mark.parametrize("kustomization", KUSTOMIZATIONS)
def test_probes_and_service_reach_the_port_gunicorn_binds(kustomization: str) -> None:
    container = api_container(kustomization)
    bound = int(IMAGE_ENV["GUNICORN_BIND"].rsplit(":", 1)[1])
    assert FINAL.all("EXPOSE") == [str(bound)]
    assert "GUNICORN_BIND" not in container_env(container)
    probes = {kind: container[f"{kind}Probe"]["httpGet"] for kind in ("startup", "liveness")}
    probes["readiness"] = container["readinessProbe"]["httpGet"]
    for probe in probes.values():
        assert container_port(container, probe["port"]) == bound
    # Liveness asks whether the process answers; readiness, whether it can serve predictions,
    # which is what the image's own HEALTHCHECK asks.
    assert probes["startup"]["path"] == probes["liveness"]["path"] == "/health"
    assert (bound, probes["readiness"]["path"]) == image_healthcheck()

    service = the("Service", kustomization)
    (port,) = service["spec"]["ports"]
    assert container_port(container, port["targetPort"]) == bound
    pod_labels = the("Deployment", kustomization)["spec"]["template"]["metadata"]["labels"]
    assert service["spec"]["selector"].items() <= pod_labels.items()


@pytest.mark.parametrize("kustomization", KUSTOMIZATIONS)
def test_the_metrics_folder_is_an_emptydir_in_a_read_only_container(kustomization: str) -> None:
    container = api_container(kustomization)
    pod = the("Deployment", kustomization)["spec"]["template"]["spec"]
    assert container["securityContext"]["readOnlyRootFilesystem"] is True
    multiproc = container_env(container).get("PROMETHEUS_MULTIPROC_DIR")
    assert multiproc == IMAGE_ENV["PROMETHEUS_MULTIPROC_DIR"]
    volumes = {volume["name"]: volume for volume in pod["volumes"]}
    writable = {
        mount["mountPath"]: volumes[mount["name"]]
        for mount in container["volumeMounts"]
        if not mount.get("readOnly")
    }
    assert "emptyDir" in writable[multiproc]
    # Every writable path is a fresh emptyDir: nothing outlives the pod or is shared.
    assert all(set(volume) == {"name", "emptyDir"} for volume in writable.values())


@pytest.mark.parametrize("kustomization", KUSTOMIZATIONS)
def test_the_pod_runs_as_the_image_user_with_no_privileges(kustomization: str) -> None:
    pod = the("Deployment", kustomization)["spec"]["template"]["spec"]
    container = api_container(kustomization)
    uid, gid = map(int, FINAL.all("USER")[-1].split(":"))
    context = pod["securityContext"]
    assert (context["runAsUser"], context["runAsGroup"]) == (uid, gid)
    assert context["runAsNonRoot"] is True
    assert context["seccompProfile"]["type"] == "RuntimeDefault"
    assert container["securityContext"]["allowPrivilegeEscalation"] is False
    assert container["securityContext"]["capabilities"]["drop"] == ["ALL"]
    assert pod["automountServiceAccountToken"] is False


@pytest.mark.parametrize("kustomization", KUSTOMIZATIONS)
def test_termination_grace_outlasts_prestop_and_gunicorns_graceful_timeout(
    kustomization: str,
) -> None:
    pod = the("Deployment", kustomization)["spec"]["template"]["spec"]
    container = api_container(kustomization)
    graceful = gunicorn_setting("graceful_timeout", container_env(container))
    assert pod["terminationGracePeriodSeconds"] > prestop_seconds(container) + graceful


@pytest.mark.parametrize("kustomization", KUSTOMIZATIONS)
def test_gunicorn_runs_one_worker_per_cpu_of_the_limit(kustomization: str, tmp_path: Path) -> None:
    container = api_container(kustomization)
    assert "WEB_CONCURRENCY" not in container_env(container)  # the limit decides
    resources = container["resources"]
    assert resources["requests"] == resources["limits"]  # Guaranteed QoS: never throttled
    cores = cpu_cores(resources["limits"]["cpu"])
    assert cores == int(cores), "whole CPUs: a fraction would be a throttled worker"
    # The container's cgroup as the kubelet writes it for that limit (CFS period 100 ms).
    (tmp_path / "cpu.max").write_text(f"{int(cores * 100_000)} 100000\n")
    assert workers_for_cpu_limit(tmp_path, usable_cpus=64) == cores


# --- autoscaler, disruption budget, scraping ----------------------------------------------------


@pytest.mark.parametrize("kustomization", KUSTOMIZATIONS)
def test_the_autoscaler_owns_the_deployments_replicas_and_scales_on_cpu(
    kustomization: str,
) -> None:
    deployment = the("Deployment", kustomization)
    hpa = the("HorizontalPodAutoscaler", kustomization)["spec"]
    assert hpa["scaleTargetRef"] == {
        "apiVersion": deployment["apiVersion"],
        "kind": "Deployment",
        "name": deployment["metadata"]["name"],
    }
    assert "replicas" not in deployment["spec"]  # applying the manifest must not reset it
    (metric,) = hpa["metrics"]
    assert metric["resource"]["name"] == "cpu"
    assert 0 < metric["resource"]["target"]["averageUtilization"] < 100
    if kustomization == "staging":  # one pod checks a release; it carries no users' load
        assert hpa["minReplicas"] == hpa["maxReplicas"] == 1
    else:
        assert 2 <= hpa["minReplicas"] < hpa["maxReplicas"]


@pytest.mark.parametrize("kustomization", KUSTOMIZATIONS)
def test_the_disruption_budget_selects_exactly_the_deployments_pods(kustomization: str) -> None:
    deployment = the("Deployment", kustomization)["spec"]
    budget = the("PodDisruptionBudget", kustomization)["spec"]
    assert budget["selector"] == deployment["selector"]
    assert (
        budget["selector"]["matchLabels"].items()
        <= deployment["template"]["metadata"]["labels"].items()
    )
    # A drain never takes every pod: at least minReplicas - maxUnavailable keep serving
    # (staging's one pod may go: it serves no users).
    minimum = the("HorizontalPodAutoscaler", kustomization)["spec"]["minReplicas"]
    assert budget["maxUnavailable"] < minimum or kustomization == "staging"


def prometheus_label(prefix: str, key: str) -> str:
    """The discovery label kubernetes_sd gives a pod label or annotation."""
    return prefix + re.sub(r"[^a-zA-Z0-9_]", "_", key)


def test_the_scrape_job_keeps_the_jobs_name_the_rules_select() -> None:
    (job,) = SCRAPE_JOB["scrape_configs"]
    rule_files = (REPO_ROOT / "monitoring/prometheus/rules").glob("imdb-*.yml")  # the API's
    selected = set(re.findall(r'job="([^"]+)"', "".join(p.read_text() for p in rule_files)))
    assert selected == {job["job_name"]}
    assert job["kubernetes_sd_configs"] == [
        {
            "role": "pod",
            "namespaces": {"names": [the("Namespace", "production")["metadata"]["name"]]},
        }
    ]


@pytest.mark.parametrize("kustomization", KUSTOMIZATIONS)
def test_prometheus_scrapes_metrics_on_the_port_gunicorn_binds(kustomization: str) -> None:
    template = the("Deployment", kustomization)["spec"]["template"]
    annotations = template["metadata"]["annotations"]
    bound = int(IMAGE_ENV["GUNICORN_BIND"].rsplit(":", 1)[1])
    assert annotations["prometheus.io/scrape"] == "true"
    assert int(annotations["prometheus.io/port"]) == bound
    assert annotations["prometheus.io/path"] == "/metrics"

    # The scrape job's "keep" rule matches these pods: its labels and annotations, as
    # kubernetes_sd names them, joined by ";" and matched whole (Prometheus anchors regexes).
    (job,) = SCRAPE_JOB["scrape_configs"]
    keep = next(rule for rule in job["relabel_configs"] if rule.get("action") == "keep")
    values = {prometheus_label("__meta_kubernetes_pod_label_", k): v
              for k, v in template["metadata"]["labels"].items()}  # fmt: skip
    values |= {prometheus_label("__meta_kubernetes_pod_annotation_", k): v
               for k, v in annotations.items()}  # fmt: skip
    joined = ";".join(values[label] for label in keep["source_labels"])
    assert re.fullmatch(keep["regex"], joined)
    used = {label for rule in job["relabel_configs"] for label in rule["source_labels"]}
    for key in annotations:
        assert prometheus_label("__meta_kubernetes_pod_annotation_", key) in used, key


# --- images and the release -----------------------------------------------------------------


def test_the_base_runs_the_image_compose_builds() -> None:
    assert api_container("base")["image"] == COMPOSE["services"]["api"]["image"]


@pytest.mark.parametrize(
    "image",
    [
        "ghcr.io/example/imdb-rating-mlops/api@sha256:" + "0123456789abcdef" * 4,
        "registry.example:5000/api:2",
    ],
)
def test_the_release_renders_production_with_only_the_image_pinned(image: str) -> None:
    result = subprocess.run(
        [str(K8S / "render-release"), image], capture_output=True, text=True, check=False
    )
    assert result.returncode == 0, result.stderr
    released = [item for item in yaml.safe_load_all(result.stdout) if item]
    (deployment,) = [item for item in released if item["kind"] == "Deployment"]
    assert deployment["spec"]["template"]["spec"]["containers"][0]["image"] == image
    deployment["spec"]["template"]["spec"]["containers"][0]["image"] = api_container("production")[
        "image"
    ]
    assert released == list(rendered("production"))


def test_the_release_refuses_an_image_without_tag_or_digest() -> None:
    result = subprocess.run(
        [str(K8S / "render-release"), "registry.example:5000/api"],
        capture_output=True,
        text=True,
        check=False,
    )
    assert result.returncode == 2 and "neither a tag nor a digest" in result.stderr


def test_the_release_deploys_each_environment_pinned_to_the_built_digest_champion_last() -> None:
    workflow = yaml.safe_load((REPO_ROOT / ".github/workflows/release.yml").read_text())
    build = workflow["jobs"]["build"]
    (push,) = [s for s in build["steps"] if s.get("uses", "").startswith("docker/build-push")]
    pin = next(step for step in build["steps"] if step.get("id") == "pin")
    assert f"steps.{push['id']}.outputs.digest" in pin["env"]["DIGEST"]
    assert build["outputs"]["image"] == "${{ steps.pin.outputs.image }}"
    for environment in ENVIRONMENTS:
        job = workflow["jobs"][environment]
        (deploy,) = [s for s in job["steps"] if "deploy/k8s/deploy" in s.get("run", "")]
        assert deploy["run"].split()[:2] == ["deploy/k8s/deploy", environment]
        assert deploy["env"]["IMAGE"] == "${{ needs.build.outputs.image }}"
    production = workflow["jobs"]["production"]["steps"]
    (promote,) = [s for s in production if "tools.promote" in s.get("run", "")]
    assert production.index(promote) == len(production) - 1  # after the rollout, and last
    assert workflow["jobs"]["production"]["environment"] == "production"


# --- the pod, replayed ---------------------------------------------------------------------------


def pod_processes(session: int) -> list[int]:
    """Every process of a session (the sandbox and everything it started)."""
    pids = []
    for stat in Path("/proc").glob("[0-9]*/stat"):
        try:
            fields = stat.read_text().rsplit(")", 1)[1].split()
        except (FileNotFoundError, ProcessLookupError):
            continue  # it exited meanwhile
        if int(fields[3]) == session:  # the session id
            pids.append(int(stat.parent.name))
    return pids


def proportional_memory_bytes(pids: list[int]) -> int:
    """Their memory with shared pages split between sharers (Pss): what a cgroup is charged."""
    total = 0
    for pid in pids:
        for line in Path(f"/proc/{pid}/smaps_rollup").read_text().splitlines():
            if line.startswith("Pss:"):
                total += int(line.split()[1]) * 1024
    return total


def memory_bytes(quantity: str) -> int:
    units = {"Ki": 2**10, "Mi": 2**20, "Gi": 2**30}
    return int(quantity[:-2]) * units[quantity[-2:]] if quantity[-2:] in units else int(quantity)


@pytest.mark.slow
def test_the_production_pod_serves_from_a_read_only_root(
    tmp_path: Path, model_card_path: Path
) -> None:
    """The container as the kubelet would run it, minus the cluster: bubblewrap mounts the host
    root read-only, a tmpfs at each emptyDir mount, and runs the image's CMD in the repository
    (the image's WORKDIR layout) with the image's ENV and the container's env. Gunicorn binds a
    free loopback port instead of 8000, the model is the test's, and the worker count is what
    the CPU limit gives (no cgroup quota here)."""
    bwrap = program("bwrap", "apt-get install bubblewrap (`make test` does it)")
    pod = the("Deployment", "production")["spec"]["template"]["spec"]
    container = api_container("production")
    volumes = {volume["name"]: volume for volume in pod["volumes"]}
    empty_dirs = sorted(
        (mount["mountPath"] for mount in container["volumeMounts"]
         if "emptyDir" in volumes[mount["name"]]),
        key=lambda path: path.count("/"),
    )  # fmt: skip
    sandbox = [bwrap, "--ro-bind", "/", "/", "--dev", "/dev", "--proc", "/proc"]
    for path in empty_dirs:  # parents first: /tmp, then /tmp/prometheus-metrics
        sandbox += ["--tmpfs", path]
    # After the tmpfs mounts: the model, and a checkout (with its venv), may lie under /tmp.
    model_dir, repo = str(model_card_path.parent), str(REPO_ROOT)
    sandbox += ["--ro-bind", repo, repo, "--ro-bind", model_dir, model_dir, "--chdir", repo]

    (tmp_path / "cpu.max").write_text(
        f"{int(cpu_cores(container['resources']['limits']['cpu']) * 100_000)} 100000\n"
    )
    workers = workers_for_cpu_limit(tmp_path, len(os.sched_getaffinity(0)))
    port = free_port()
    env = {
        **IMAGE_ENV,
        **container_env(container),
        "PATH": f"{Path(sys.executable).parent}{os.pathsep}/usr/bin:/bin",
        "HOME": "/home/app",  # the image's user has no home folder
        "IMDB_MODEL_CARD": str(model_card_path),
        "GUNICORN_BIND": f"127.0.0.1:{port}",
        "WEB_CONCURRENCY": str(workers),
    }
    url = f"http://127.0.0.1:{port}"
    log = tmp_path / "pod.log"
    with log.open("wb") as output:
        process = subprocess.Popen(
            sandbox + json.loads(FINAL.all("CMD")[-1]),
            env=env,
            stdout=output,
            stderr=subprocess.STDOUT,
            start_new_session=True,
        )
    try:
        try:
            wait_for_http(url + container["readinessProbe"]["httpGet"]["path"], 120, process)
        except (RuntimeError, TimeoutError) as error:
            pytest.fail(f"{error}:\n{log.read_text()[-3000:]}")
        for kind in ("startup", "liveness", "readiness"):
            status, _ = http_request("GET", url + container[f"{kind}Probe"]["httpGet"]["path"])
            assert status == 200, kind
        movie = {"year": 1999, "num_votes": 25_000, "genres": ["Drama"], "title": "The Matrix"}
        assert http_json(url + "/predict", movie)["model_id"] == model_id_of(model_card_path)
        http_json(url + "/predict/batch", {"movies": [movie] * 1000})
        annotations = the("Deployment", "production")["spec"]["template"]["metadata"]
        assert annotations["annotations"]["prometheus.io/path"] == "/metrics"
        # Ready is one worker up; under load the others may boot a little later.
        samples = wait_until(
            lambda: (found := scrape_metrics(url))["imdb_worker_slots"] == workers and found,
            60,
            f"{workers} workers' slots in /metrics",
        )
        drift_window = f'imdb_drift_window_movies{{model_id="{model_id_of(model_card_path)}"}}'
        assert samples[drift_window] >= 1  # the shared ring lives in the emptyDir
        limit = memory_bytes(container["resources"]["limits"]["memory"])
        assert proportional_memory_bytes(pod_processes(process.pid)) < limit
    finally:
        if process.poll() is None:
            os.killpg(process.pid, signal.SIGTERM)
        process.wait(timeout=60)
        deadline = time.monotonic() + 60  # Gunicorn's graceful shutdown, after bwrap's exit
        while pod_processes(process.pid) and time.monotonic() < deadline:
            time.sleep(0.2)
        assert not pod_processes(process.pid), "the pod's processes outlived SIGTERM"
    # Nothing tried to write outside the emptyDirs (Gunicorn logs such failures and goes on).
    text = log.read_text()
    assert "Read-only file system" not in text and "[ERROR]" not in text, text[-3000:]


def test_production_backs_up_daily_one_job_at_a_time_as_a_restricted_pod() -> None:
    cronjob = the("CronJob", "production")["spec"]
    minute, hour, *every_day = cronjob["schedule"].split()
    assert every_day == ["*", "*", "*"] and minute.isdigit() and hour.isdigit()
    assert cronjob["concurrencyPolicy"] == "Forbid"
    pod = cronjob["jobTemplate"]["spec"]["template"]["spec"]
    (container,) = pod["containers"]
    assert container["args"][0] == "create" and "--to=/backups" in container["args"]
    assert pod["securityContext"]["runAsNonRoot"] is True
    assert container["securityContext"]["readOnlyRootFilesystem"] is True
    assert container["securityContext"]["capabilities"]["drop"] == ["ALL"]
    claim = the("PersistentVolumeClaim", "production")["metadata"]["name"]
    volumes = {volume["name"]: volume for volume in pod["volumes"]}
    mounted = {m["mountPath"]: volumes[m["name"]] for m in container["volumeMounts"]}
    assert mounted["/backups"]["persistentVolumeClaim"]["claimName"] == claim
