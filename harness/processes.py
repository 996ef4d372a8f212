"""Programs started for tests and benchmarks: in a session of their own (so whatever they fork
stops with them), their output in a log file, up once a URL answers, stopped TERM then KILL."""

from __future__ import annotations

import contextlib
import http.client
import os
import signal
import subprocess
import time
import urllib.parse
from pathlib import Path


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


def log_tail(path: Path, chars: int = 4000) -> str:
    text = path.read_text(errors="replace") if path.is_file() else "(no log)"
    return f"--- {path.name} ---\n{text[-chars:]}"


class ServerProcess:
    """One server program. `start` fails with the log's end in its message when the program
    exits or its URL does not answer in time; `stop` leaves nothing of its session running."""

    def __init__(
        self,
        command: list[str],
        log_path: Path,
        env: dict[str, str] | None = None,
        cwd: Path | None = None,
    ) -> None:
        self.command = command
        self.log_path = log_path
        self.env = env
        self.cwd = cwd
        self.popen: subprocess.Popen | None = None

    def start(self, ready_url: str, seconds: float = 60, any_status: bool = False) -> None:
        self.log_path.parent.mkdir(parents=True, exist_ok=True)
        with self.log_path.open("ab") as log:
            self.popen = subprocess.Popen(
                self.command,
                cwd=self.cwd,
                env=self.env,
                stdout=log,
                stderr=subprocess.STDOUT,
                start_new_session=True,
            )
        try:
            wait_for_http(ready_url, seconds, self.popen, any_status)
        except (TimeoutError, RuntimeError) as error:
            self.stop()
            raise RuntimeError(f"{error}\n{log_tail(self.log_path)}") from None

    def stop(self, seconds: float = 30) -> None:
        if self.popen is None:
            return
        with contextlib.suppress(ProcessLookupError):
            os.killpg(self.popen.pid, signal.SIGTERM)
        with contextlib.suppress(subprocess.TimeoutExpired):  # then it is killed below
            self.popen.wait(timeout=seconds)
        # Whatever of the session outlived its leader (workers, job runners) goes too.
        with contextlib.suppress(ProcessLookupError):
            os.killpg(self.popen.pid, signal.SIGKILL)
        self.popen.wait(timeout=10)
        self.popen = None  # its process group id may be reused from now on
