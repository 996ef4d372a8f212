"""Real servers on loopback ports for tests and benchmarks: start, wait, stop, clean up."""

from __future__ import annotations

import http.client
import os
import signal
import socket
import subprocess
import sys
import time
import urllib.parse
from pathlib import Path

REPO_ROOT = Path(__file__).resolve().parent.parent
VENV_BIN = Path(sys.executable).parent


def free_port() -> int:
    """A loopback port nobody listens on now."""
    with socket.socket() as probe:
        probe.bind(("127.0.0.1", 0))
        return probe.getsockname()[1]


def wait_for_http(
    url: str,
    seconds: float = 60,
    process: subprocess.Popen | None = None,
    any_status: bool = False,
) -> None:
    """Until `url` answers 2xx (any status with `any_status`); fails at once if `process`
    (the server) has exited."""
    parts = urllib.parse.urlsplit(url)
    deadline = time.monotonic() + seconds
    while time.monotonic() < deadline:
        if process is not None and process.poll() is not None:
            raise RuntimeError(f"the server exited with {process.returncode} before {url} answered")
        connection = http.client.HTTPConnection(parts.hostname, parts.port, timeout=2)
        try:
            connection.request("GET", parts.path or "/")
            status = connection.getresponse().status
            if 200 <= status < 300 or any_status:
                return
        except OSError:
            pass
        finally:
            connection.close()
        time.sleep(0.2)
    raise TimeoutError(f"{url} did not answer within {seconds} s")


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
        self.log_path = workdir / "gunicorn.log"
        self.env = {
            **os.environ,
            "GUNICORN_BIND": f"127.0.0.1:{self.port}",
            "WEB_CONCURRENCY": str(workers),
            "PROMETHEUS_MULTIPROC_DIR": str(self.metrics_dir),
            **({"IMDB_MODEL_CARD": str(model_card)} if model_card else {}),
            **(env or {}),
        }
        self.process: subprocess.Popen | None = None

    def start(self) -> GunicornService:
        with self.log_path.open("ab") as log:
            self.process = subprocess.Popen(
                [str(VENV_BIN / "gunicorn"), "-c", "service/gunicorn_conf.py", self.app],
                cwd=REPO_ROOT,
                env=self.env,
                stdout=log,
                stderr=subprocess.STDOUT,
                start_new_session=True,
            )
        try:
            is_service = self.app == "service.wsgi:app"
            wait_for_http(
                self.url + self.ready_path, process=self.process, any_status=not is_service
            )
            if is_service:
                self._wait_for_workers()
        except (TimeoutError, RuntimeError):
            self.stop()
            raise RuntimeError(self.log_path.read_text()[-3000:]) from None
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
        if self.process and self.process.poll() is None:
            os.killpg(self.process.pid, signal.SIGTERM)
            try:
                self.process.wait(timeout=30)
            except subprocess.TimeoutExpired:
                os.killpg(self.process.pid, signal.SIGKILL)
                self.process.wait()
