"""Real servers on loopback ports for tests and benchmarks: start, wait, stop, clean up."""

from __future__ import annotations

import contextlib
import http.client
import json
import os
import re
import socket
import subprocess
import sys
import tempfile
import time
import urllib.parse
from pathlib import Path
from typing import Any

from harness.processes import ServerProcess, log_tail
from workspace.layout import REPO_ROOT

VENV_BIN = Path(sys.executable).parent


def free_port() -> int:
    """A loopback port nobody listens on now."""
    with socket.socket() as probe:
        probe.bind(("127.0.0.1", 0))
        return probe.getsockname()[1]


def timed_run(command: list[str], cwd: Path) -> float:
    """Run a command with the project's venv first on PATH (DVC stages call `python`) and the
    default MLflow store; its wall time in seconds. Exits with its output if it fails."""
    env = {**os.environ, "PATH": f"{VENV_BIN}{os.pathsep}{os.environ['PATH']}"}
    env.pop("MLFLOW_TRACKING_URI", None)
    started = time.perf_counter()
    result = subprocess.run(command, cwd=cwd, env=env, capture_output=True, text=True)
    if result.returncode != 0:
        sys.exit(f"{' '.join(command)} failed:\n{result.stdout[-3000:]}\n{result.stderr[-3000:]}")
    return time.perf_counter() - started


def http_request(
    method: str, url: str, body: bytes | None = None, headers: dict[str, str] | None = None
) -> tuple[int, bytes]:
    """One request on a fresh connection: the status and the body, whatever the status."""
    parts = urllib.parse.urlsplit(url)
    connection = http.client.HTTPConnection(parts.hostname, parts.port, timeout=30)
    try:
        # The server may answer (413) before the body is all sent: then read that answer.
        with contextlib.suppress(BrokenPipeError, ConnectionResetError):
            target = (parts.path or "/") + (f"?{parts.query}" if parts.query else "")
            connection.request(method, target, body=body, headers=headers or {})
        response = connection.getresponse()
        return response.status, response.read()
    finally:
        connection.close()


def http_json(url: str, payload: Any = None) -> Any:
    """GET `url`, or POST `payload` as JSON; the decoded JSON answer (None when empty).
    Raises on a status of 400 or more."""
    if payload is None:
        status, body = http_request("GET", url)
    else:
        headers = {"Content-Type": "application/json"}
        status, body = http_request("POST", url, json.dumps(payload).encode(), headers)
    if status >= 400:
        raise RuntimeError(f"{url} answered {status}: {body[:500]!r}")
    return json.loads(body) if body else None


def scrape_metrics(url: str) -> dict[str, float]:
    """Every sample of the service's /metrics, keyed by name and labels as exposed."""
    samples = {}
    for line in http_request("GET", url + "/metrics")[1].decode().splitlines():
        if line and not line.startswith("#"):
            name, value = line.rsplit(" ", 1)
            samples[name] = float(value)
    return samples


def wrk(url: str, body: Any, connections: int, seconds: int) -> dict[str, float]:
    """POST `body` as JSON to `url` for `seconds` (wrk): requests, errors, rps, p50/p99 in ms."""
    with tempfile.NamedTemporaryFile("w", suffix=".lua", delete=False) as script:
        script.write(
            'wrk.method = "POST"\n'
            'wrk.headers["Content-Type"] = "application/json"\n'
            f"wrk.body = {json.dumps(json.dumps(body))}\n"
        )
    try:
        output = subprocess.run(
            ["wrk", "-t", str(min(2, connections)), "-c", str(connections), "-d", f"{seconds}s",
             "--latency", "-s", script.name, url],
            capture_output=True, text=True, check=True,
        ).stdout  # fmt: skip
    finally:
        Path(script.name).unlink()

    def millis(value: str, unit: str) -> float:
        return float(value) * {"us": 0.001, "ms": 1.0, "s": 1000.0}[unit]

    socket_errors = re.search(
        r"Socket errors: connect (\d+), read (\d+), write (\d+), timeout (\d+)", output
    )
    non_2xx = re.search(r"Non-2xx or 3xx responses:\s+(\d+)", output)
    return {
        "requests": int(re.search(r"(\d+) requests in", output).group(1)),
        "non_2xx": int(non_2xx.group(1)) if non_2xx else 0,
        "socket_errors": sum(map(int, socket_errors.groups())) if socket_errors else 0,
        "p50_ms": millis(*re.search(r"\s50%\s+([\d.]+)(us|ms|s)", output).groups()),
        "p99_ms": millis(*re.search(r"\s99%\s+([\d.]+)(us|ms|s)", output).groups()),
        "rps": float(re.search(r"Requests/sec:\s+([\d.]+)", output).group(1)),
    }


@contextlib.contextmanager
def mlflow_scoring_server(model_uri: str, tracking_uri: str, workers: int = 1):
    """`mlflow models serve --env-manager local` on `model_uri`; yields its base URL."""
    port = free_port()
    env = {
        **os.environ,
        "MLFLOW_TRACKING_URI": tracking_uri,
        "PATH": f"{VENV_BIN}{os.pathsep}{os.environ['PATH']}",  # it execs uvicorn
    }
    command = [str(VENV_BIN / "mlflow"), "models", "serve", "-m", model_uri, "--env-manager"]
    command += ["local", "-h", "127.0.0.1", "-p", str(port), "-w", str(workers)]
    with tempfile.TemporaryDirectory(prefix="mlflow-serve-") as folder:
        server = ServerProcess(command, Path(folder) / "mlflow-serve.log", env)
        server.start(f"http://127.0.0.1:{port}/ping", seconds=120)
        try:
            yield f"http://127.0.0.1:{port}"
        finally:
            server.stop()


class GunicornService:
    """An app under Gunicorn with the project's config module, on a loopback port.

    `app` is the service by default; another app (the benchmark's echo) runs with the same
    settings and is up once it answers anything on `ready_path`.
    """

    def __init__(
        self,
        workdir: Path,
        model_card: Path | None = None,
        workers: int = 2,
        app: str = "service.wsgi:app",
        ready_path: str = "/ready",
        env: dict[str, str] | None = None,
    ) -> None:
        workdir.mkdir(parents=True, exist_ok=True)
        self.workers = workers
        self.app = app
        self.ready_path = ready_path
        self.port = free_port()
        self.url = f"http://127.0.0.1:{self.port}"
        self.metrics_dir = workdir / "metrics"
        self.env = {
            **os.environ,
            "GUNICORN_BIND": f"127.0.0.1:{self.port}",
            "WEB_CONCURRENCY": str(workers),
            "PROMETHEUS_MULTIPROC_DIR": str(self.metrics_dir),
            **({"IMDB_MODEL_CARD": str(model_card)} if model_card else {}),
            **(env or {}),
        }
        command = [str(VENV_BIN / "gunicorn"), "-c", "service/gunicorn_conf.py", app]
        self.server = ServerProcess(command, workdir / "gunicorn.log", self.env, REPO_ROOT)

    @property
    def process(self) -> subprocess.Popen | None:
        """Gunicorn's master."""
        return self.server.popen

    def start(self) -> GunicornService:
        is_service = self.app == "service.wsgi:app"
        self.server.start(self.url + self.ready_path, any_status=not is_service)
        if is_service:
            try:
                self._wait_for_workers()
            except TimeoutError as error:
                self.stop()
                raise RuntimeError(f"{error}\n{log_tail(self.server.log_path)}") from None
        return self

    def worker_pids(self) -> set[int]:
        """Live workers that finished loading the model (each writes its live gauges then;
        the master deletes a dead worker's)."""
        return {int(p.stem.rsplit("_", 1)[1]) for p in self.metrics_dir.glob("gauge_livemax_*.db")}

    def _wait_for_workers(self, seconds: float = 60) -> None:
        deadline = time.monotonic() + seconds
        while len(self.worker_pids()) < self.workers:
            if time.monotonic() > deadline:
                raise TimeoutError(f"only {len(self.worker_pids())} of {self.workers} workers up")
            time.sleep(0.1)

    def stop(self) -> None:
        self.server.stop()
