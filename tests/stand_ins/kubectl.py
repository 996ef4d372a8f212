"""kubectl for the release replays, where the one thing missing is a cluster.

`kustomize` is the real kubectl's. `apply` records what was applied (namespace, image) in the
stand-in's state folder (STAND_IN_CLUSTER). `rollout status` succeeds, unless the state folder
holds `fail-rollout-<namespace>`. `port-forward` serves, on the local port asked, the model of
the image last applied to that namespace (images.json maps an image to its model card), with
the service's own Gunicorn: the smoke test then talks to a real service.
"""

from __future__ import annotations

import json
import os
import sys
import tempfile
from pathlib import Path

import yaml

STATE = Path(os.environ["STAND_IN_CLUSTER"])
REAL_KUBECTL = os.environ["STAND_IN_REAL_KUBECTL"]
SERVICE_ROOT = Path(__file__).resolve().parents[2]  # the service's code, as in the image


def applied() -> list[dict[str, str]]:
    path = STATE / "applied.jsonl"
    return [json.loads(line) for line in path.read_text().splitlines()] if path.exists() else []


def apply(manifest: Path) -> None:
    objects = [item for item in yaml.safe_load_all(manifest.read_text()) if item]
    (deployment,) = [item for item in objects if item["kind"] == "Deployment"]
    pod = deployment["spec"]["template"]["spec"]
    (container,) = pod["containers"]
    record = {
        "namespace": deployment["metadata"]["namespace"],
        "image": container["image"],
        "challenger": [init["image"] for init in pod.get("initContainers", [])],
    }
    with (STATE / "applied.jsonl").open("a") as log:
        log.write(json.dumps(record) + "\n")
    print("deployment.apps/imdb-rating-api serverside-applied")


def port_forward(namespace: str, ports: str) -> None:
    local = ports.split(":")[0]
    image = [item for item in applied() if item["namespace"] == namespace][-1]["image"]
    card = json.loads((STATE / "images.json").read_text())[image]
    env = os.environ | {
        "IMDB_MODEL_CARD": card,
        "GUNICORN_BIND": f"127.0.0.1:{local}",
        "WEB_CONCURRENCY": "1",
        "PROMETHEUS_MULTIPROC_DIR": tempfile.mkdtemp(prefix="stand-in-metrics-"),
    }
    os.chdir(SERVICE_ROOT)
    gunicorn = str(Path(sys.executable).parent / "gunicorn")
    os.execve(gunicorn, [gunicorn, "-c", "service/gunicorn_conf.py", "service.wsgi:app"], env)  # noqa: S606


def main(args: list[str]) -> None:
    namespace = ""
    if args[:1] == ["-n"]:
        namespace, args = args[1], args[2:]
    command = args[0]
    if command == "kustomize":
        os.execv(REAL_KUBECTL, [REAL_KUBECTL, *args])  # noqa: S606 (the real kubectl)
    elif command == "apply":
        apply(Path(args[args.index("-f") + 1]))
    elif command == "rollout":
        if (STATE / f"fail-rollout-{namespace}").exists():
            sys.exit('error: deployment "imdb-rating-api" exceeded its progress deadline')
        print('deployment "imdb-rating-api" successfully rolled out')
    elif command == "port-forward":
        port_forward(namespace, args[2])
    else:
        sys.exit(f"the stand-in kubectl does not do {command!r}")


if __name__ == "__main__":
    main(sys.argv[1:])
