"""Both environments' pods, run for real: each overlay rendered by deploy/k8s/render-release
with the locally built API image, played by `podman kube play`, checked as a kubelet would
start it (probes, read-only root, user, limits, environment as rendered), asked to predict,
then taken down with nothing left.

Two edits to the rendered manifest, both for this machine and not the cluster: the HTTP port is
published on a free loopback port (`hostPort`/`hostIP`: podman publishes container ports on
the host, and 8000 may be taken); and the init container is of podman's `always` type (podman
4.3 may remove a `once` init container before it has exited).
"""

from __future__ import annotations

import contextlib
import subprocess
import time
from collections.abc import Iterator
from pathlib import Path

import pytest
import yaml

from harness.loopback import free_port, http_json, http_request, scrape_metrics
from harness.model_variants import twin
from harness.processes import wait_for_http
from tests.conftest import model_id_of
from tests.containers import Podman, build_context, build_service_image
from tests.test_k8s import ENVIRONMENTS, K8S, container_env, cpu_cores, memory_bytes
from tests.test_monitoring import wait_until

CHAMPION_IMAGE = "localhost/imdb-rating-test/api:latest"
CHALLENGER_IMAGE = "localhost/imdb-rating-test/api-challenger:latest"
INIT_CONTAINER_TYPE = "io.podman.annotations.init.container.type"
MOVIE = {"tconst": "tt0133093", "year": 1999, "num_votes": 25_000, "genres": ["Drama"]}
READY_SECONDS = 120


@pytest.fixture(scope="module")
def challenger_card(tmp_path_factory: pytest.TempPathFactory, model_card_path: Path) -> Path:
    """The test model's twin: other model_id, same trees (what staging shadows)."""
    return twin(model_card_path, tmp_path_factory.mktemp("challenger-model"))


@pytest.fixture(scope="module")
def challenger_image(
    podman: Podman, tmp_path_factory: pytest.TempPathFactory, challenger_card: Path
) -> str:
    context = build_context(tmp_path_factory.mktemp("challenger-context"), challenger_card.parent)
    return build_service_image(podman, context, "api", tag=CHALLENGER_IMAGE)


def render(environment: str, *images: str) -> list[dict]:
    result = subprocess.run(
        [str(K8S / "render-release"), *images[:1], environment, *images[1:]],
        capture_output=True, text=True, check=False,
    )  # fmt: skip
    assert result.returncode == 0, result.stderr
    return [item for item in yaml.safe_load_all(result.stdout) if item]


def for_this_machine(objects: list[dict], port: int) -> list[dict]:
    for item in objects:
        if item["kind"] == "Deployment":
            # Podman reads it from the Deployment's annotations, not the pod template's.
            item["metadata"].setdefault("annotations", {})[INIT_CONTAINER_TYPE] = "always"
            # Podman 4.3 gives the init container the pod's restart policy: under Always it
            # copied the challenger again and again (100+ restarts in 20 s) while the service
            # read it, which then refused a half-written archive. Kubernetes runs it once.
            item["spec"]["template"]["spec"]["restartPolicy"] = "OnFailure"
            (http,) = item["spec"]["template"]["spec"]["containers"][0]["ports"]
            http |= {"hostPort": port, "hostIP": "127.0.0.1"}
    return objects


@contextlib.contextmanager
def played(podman: Podman, objects: list[dict], folder: Path) -> Iterator[str]:
    """The manifest played by podman; yields the pod's name; `kube down` afterwards, and no pod,
    container or volume of it is left."""
    manifest = folder / "manifest.yaml"
    manifest.write_text(yaml.safe_dump_all(objects))
    try:
        podman("kube", "play", "--network", "slirp4netns", str(manifest), timeout=300)
        (pod,) = [
            line
            for line in podman("pod", "ps", "--format", "{{.Name}}", timeout=60).split()
            if line.startswith("imdb-rating-api-pod")
        ]
        yield pod
    finally:
        podman("kube", "down", str(manifest), timeout=120)
        # podman 4.3's `kube down` keeps the volumes it made of claims and config maps.
        volumes = [item["metadata"]["name"] for item in objects
                   if item["kind"] in ("PersistentVolumeClaim", "ConfigMap")]  # fmt: skip
        existing = set(podman("volume", "ls", "--format", "{{.Name}}", timeout=60).split())
        if existing & set(volumes):
            podman("volume", "rm", *sorted(existing & set(volumes)), timeout=60)
    assert "imdb-rating-api-pod" not in podman("pod", "ps", timeout=60)
    assert "imdb-rating-api-pod" not in podman("ps", "-a", timeout=60)
    left = set(podman("volume", "ls", "--format", "{{.Name}}", timeout=60).split())
    assert not left & set(volumes)


@pytest.mark.slow
@pytest.mark.parametrize("environment", ENVIRONMENTS)
def test_each_environment_runs_as_rendered_and_predicts(
    environment: str,
    podman: Podman,
    api_image: str,
    challenger_image: str,
    model_card_path: Path,
    challenger_card: Path,
    tmp_path: Path,
) -> None:
    images = [CHAMPION_IMAGE] + ([CHALLENGER_IMAGE] if environment == "staging" else [])
    port = free_port()
    objects = for_this_machine(render(environment, *images), port)
    (deployment,) = [item for item in objects if item["kind"] == "Deployment"]
    (container,) = deployment["spec"]["template"]["spec"]["containers"]
    url = f"http://127.0.0.1:{port}"
    started = time.monotonic()
    with played(podman, objects, tmp_path) as pod:
        api = f"{pod}-{container['name']}"
        try:
            wait_for_http(url + container["readinessProbe"]["httpGet"]["path"], READY_SECONDS)
        except TimeoutError as error:
            pytest.fail(f"{error}:\n{podman.logs(api)[-3000:]}")
        ready_seconds = time.monotonic() - started
        for kind in ("startup", "liveness", "readiness"):
            status, _ = http_request("GET", url + container[f"{kind}Probe"]["httpGet"]["path"])
            assert status == 200, kind

        (inspected,) = yaml.safe_load(podman("inspect", api, timeout=60))
        host = inspected["HostConfig"]
        assert host["ReadonlyRootfs"] is True
        assert inspected["Config"]["User"].split(":")[0] == "10001"
        limits = container["resources"]["limits"]
        assert host["CpuQuota"] / host["CpuPeriod"] == cpu_cores(limits["cpu"])
        assert host["Memory"] == memory_bytes(limits["memory"])
        environment_seen = dict(item.split("=", 1) for item in inspected["Config"]["Env"])
        assert container_env(container).items() <= environment_seen.items()

        for init in deployment["spec"]["template"]["spec"].get("initContainers", []):
            (state,) = yaml.safe_load(podman("inspect", f"{pod}-{init['name']}", timeout=60))
            assert (state["State"]["ExitCode"], state["RestartCount"]) == (0, 0), init["name"]

        answer = http_json(url + "/predict", MOVIE)
        assert answer["model_id"] == model_id_of(model_card_path)
        model = http_json(url + "/model")
        if environment == "staging":  # the challenger's image's model, shadowing every movie
            # The service loads the challenger before it listens: there from the first answer.
            assert model["challenger"] is not None, podman.logs(api)[-3000:]
            assert model["challenger"]["model_id"] == model_id_of(challenger_card)
            assert model["traffic"]["in_force"] == "shadow"
            challenger = model_id_of(challenger_card)
            shadowed = f'imdb_predictions_total{{endpoint="shadow",model_id="{challenger}"}}'
            wait_until(lambda: scrape_metrics(url).get(shadowed, 0) >= 1, 10, "shadow score")
        else:
            assert model["challenger"] is None and model["traffic"]["in_force"] == "off"
    print(f"{environment}: played, ready in {ready_seconds:.1f} s, down with nothing left")
