"""The project's images, built by podman from their Dockerfiles and run as compose runs them.

No image registry is reachable from these machines, so the base image the Dockerfiles name,
python:3.11-slim, is a local stand-in: Debian bookworm's python3.11 laid down by debootstrap
and imported into podman's storage once per machine (later sessions find it there), with the
official image's layout on top (python and pip in /usr/local/bin) and this machine's CA bundle,
which pip needs to reach the package index through the machine's egress proxy.

Podman runs with runc (crun cannot drive this machine's hybrid cgroup layout) and without
default ulimits (they exceed the machine's hard limits). Images are built in docker format, as
the OCI format drops HEALTHCHECK. Containers run on podman's bridge network with their port
published on a free loopback port, not on the host's network: there the HEALTHCHECKs, which
probe fixed ports (8000, 5000), would reach whatever else listens on them. Every podman call is
bounded by a timeout; failures carry the command's output, and the containers' logs are at hand
for assertion messages. Build times and start-to-healthy times are logged (--log-cli-level=INFO).
"""

from __future__ import annotations

import contextlib
import json
import logging
import os
import re
import shutil
import subprocess
import tempfile
import time
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path

import pytest
import yaml

from harness.loopback import free_port
from tests.conftest import repo_files
from workspace.layout import REPO_ROOT

log = logging.getLogger(__name__)

# Program on PATH -> the Debian package that brings it (.ci/system-packages installs them).
PROGRAMS = {"podman": "podman", "runc": "runc", "debootstrap": "debootstrap"}
CONTAINERS_CONF = """\
[containers]
default_ulimits = []

[engine]
runtime = "runc"
"""
# The local stand-in for the Dockerfiles' base, which they pin by digest (PYTHON_IMAGE): the
# build passes this tag instead.
BASE_IMAGE = "python:3.11-slim"
DEBOOTSTRAP_IMAGE = "localhost/imdb-rating-test/debootstrap:bookworm-python3.11"
# python3-distutils provides the python3.11-distutils that python3.11-venv depends on: named
# explicitly, as debootstrap does not resolve virtual packages.
DEBOOTSTRAP_PACKAGES = "python3.11,python3.11-venv,python3-distutils,ca-certificates"
CA_BUNDLE = Path("/etc/ssl/certs/ca-certificates.crt")  # Debian's, with the machine's own CAs
BASE_CONTAINERFILE = f"""\
FROM {DEBOOTSTRAP_IMAGE}
# The official image has python, python3 and pip in /usr/local/bin: a venv there gives the same
# commands, and a pip that installs for root as the official one does (no PEP 668 guard).
RUN python3.11 -m venv /usr/local
COPY {CA_BUNDLE.name} {CA_BUNDLE}
RUN printf '[global]\\ncert = {CA_BUNDLE}\\n' > /etc/pip.conf
ENV PATH=/usr/local/bin:/usr/local/sbin:/usr/sbin:/usr/bin:/sbin:/bin LANG=C.UTF-8
"""
ERROR_LINE = re.compile(r"^.*\b(?:ERROR|CRITICAL)\b.*$|^Traceback.*$", re.MULTILINE)
NANOSECONDS = 1e9


class PodmanError(RuntimeError):
    pass


def error_lines(logs: str) -> list[str]:
    """Log lines at ERROR or CRITICAL level, and tracebacks."""
    return ERROR_LINE.findall(logs)


def compose_run_options(service: dict) -> list[str]:
    """`podman run` options for a compose service's environment, read_only and tmpfs."""
    options = [f"--env={key}={value}" for key, value in service.get("environment", {}).items()]
    if service.get("read_only"):
        # Podman adds tmpfs mounts of its own to a read-only root unless told not to; compose
        # mounts only those it lists.
        options += ["--read-only", "--read-only-tmpfs=false"]
    options += [f"--tmpfs={target}" for target in service.get("tmpfs", [])]
    return options


def build_service_image(podman: Podman, context: Path, service: str, tag: str | None = None) -> str:
    """The image compose builds for `service` in `context`, under a tag of the tests' own (not
    compose's, which a build with the real model may hold); its id."""
    build = yaml.safe_load((REPO_ROOT / "compose.yaml").read_text())["services"][service]["build"]
    folder = context / build["context"]
    tag = tag or f"localhost/imdb-rating-test/{service}:latest"
    return podman.build(folder / build["dockerfile"], folder, tag=tag)


def build_context(folder: Path, models: Path) -> Path:
    """The repository's files as a fresh clone has them, with `models` as models/."""
    for name in repo_files():
        destination = folder / name
        destination.parent.mkdir(parents=True, exist_ok=True)
        shutil.copy2(REPO_ROOT / name, destination)
    shutil.copytree(models, folder / "models", dirs_exist_ok=True)
    return folder


class Podman:
    """The podman command, configured for this machine."""

    def __init__(self, workdir: Path) -> None:
        missing = [package for program, package in PROGRAMS.items() if not shutil.which(program)]
        if missing:
            pytest.fail(
                f"not installed: {' '.join(missing)} (apt-get install them; `make test` does)"
            )
        conf = workdir / "containers.conf"
        conf.write_text(CONTAINERS_CONF)
        self.env = {**os.environ, "CONTAINERS_CONF": str(conf)}

    def __call__(self, *args: str, timeout: float, stdin: int | None = None) -> str:
        """Run `podman args`; its standard output. Raises with its output if it fails."""
        result = subprocess.run(
            ["podman", *args],
            env=self.env,
            stdin=stdin,
            capture_output=True,
            text=True,
            timeout=timeout,
            check=False,
        )
        if result.returncode != 0:
            output = (result.stdout + result.stderr)[-4000:]
            raise PodmanError(f"podman {' '.join(args)} exited with {result.returncode}:\n{output}")
        return result.stdout

    def logs(self, container: str) -> str:
        """A container's output so far, standard output and error interleaved as written (the
        service logs to standard error, which `podman logs` replays there too)."""
        return subprocess.run(
            ["podman", "logs", container],
            env=self.env,
            stdout=subprocess.PIPE,
            stderr=subprocess.STDOUT,
            text=True,
            timeout=60,
            check=True,
        ).stdout

    def image_exists(self, name: str) -> bool:
        result = subprocess.run(
            ["podman", "image", "exists", name], env=self.env, timeout=60, check=False
        )
        if result.returncode not in (0, 1):
            raise PodmanError(f"podman image exists {name} exited with {result.returncode}")
        return result.returncode == 0

    def ensure_base_image(self) -> None:
        """Tag the stand-in for python:3.11-slim; debootstrap only if podman lacks its root."""
        if not self.image_exists(DEBOOTSTRAP_IMAGE):
            started = time.monotonic()
            self._import_debootstrap_root()
            log.info("debootstrap root imported in %.0f s", time.monotonic() - started)
        with tempfile.TemporaryDirectory() as context:
            (Path(context) / "Containerfile").write_text(BASE_CONTAINERFILE)
            shutil.copy2(CA_BUNDLE, Path(context) / CA_BUNDLE.name)
            self.build(Path(context) / "Containerfile", Path(context), tag=BASE_IMAGE)

    def _import_debootstrap_root(self) -> None:
        with tempfile.TemporaryDirectory() as root:
            debootstrap = subprocess.run(
                ["debootstrap", "--variant=minbase", f"--include={DEBOOTSTRAP_PACKAGES}",
                 "bookworm", root],
                capture_output=True, text=True, timeout=1200, check=False,
            )  # fmt: skip
            if debootstrap.returncode != 0:
                output = (debootstrap.stdout + debootstrap.stderr)[-4000:]
                raise PodmanError(f"debootstrap exited with {debootstrap.returncode}:\n{output}")
            with subprocess.Popen(["tar", "-C", root, "-c", "."], stdout=subprocess.PIPE) as tar:
                self("import", "-", DEBOOTSTRAP_IMAGE, stdin=tar.stdout, timeout=600)
            if tar.returncode != 0:
                raise PodmanError(f"tar of the debootstrap root exited with {tar.returncode}")

    def build(self, dockerfile: Path, context: Path, tag: str | None = None) -> str:
        """Build `dockerfile` in `context` from local images only; the image id."""
        started = time.monotonic()
        with tempfile.TemporaryDirectory() as scratch:
            id_file = Path(scratch) / "id"
            output = self(
                "build", "--pull=never", "--format=docker", "--network=host",
                f"--build-arg=PYTHON_IMAGE={BASE_IMAGE}",
                f"--iidfile={id_file}", f"--file={dockerfile}",
                *([f"--tag={tag}"] if tag else []), str(context),
                timeout=1800,
            )  # fmt: skip
            image = id_file.read_text().strip()
        log.info(
            "built %s in %.0f s (%d of %d steps from the layer cache)",
            tag or dockerfile.name,
            time.monotonic() - started,
            output.count("--> Using cache"),
            len(re.findall(r"^(?:\[\d+/\d+\] )?STEP \d+/\d+:", output, re.MULTILINE)),
        )
        return image

    @contextlib.contextmanager
    def running(
        self, image: str, port: int, options: list[str] | None = None
    ) -> Iterator[Container]:
        """A detached container of `image` with its `port` published on a loopback port;
        removed on exit."""
        host_port = free_port()
        name = f"imdb-rating-test-{os.getpid()}-{host_port}"
        started = time.monotonic()
        try:
            self(
                "run", "--detach", f"--name={name}", f"--publish=127.0.0.1:{host_port}:{port}",
                *(options or []), image,
                timeout=120,
            )  # fmt: skip
            yield Container(self, name, f"http://127.0.0.1:{host_port}", started)
        finally:
            self("rm", "--force", "--ignore", "--time=0", name, timeout=60)


@dataclass
class Container:
    podman: Podman
    name: str
    url: str
    started: float  # time.monotonic() when `podman run` was called

    def logs(self) -> str:
        """Its output so far, standard output and error interleaved as written."""
        return self.podman.logs(self.name)

    def exec(self, *command: str) -> str:
        return self.podman("exec", self.name, *command, timeout=60)

    def healthcheck(self) -> subprocess.CompletedProcess:
        """Run the image's HEALTHCHECK once (no systemd here to schedule it): exit status 0
        when it passes; a failure or a time-out of the check otherwise."""
        return subprocess.run(
            ["podman", "healthcheck", "run", self.name],
            env=self.podman.env,
            capture_output=True,
            text=True,
            timeout=60,
            check=False,
        )

    def inspect(self) -> dict:
        return json.loads(self.podman("inspect", "--type=container", self.name, timeout=60))[0]

    def wait_healthy(self) -> None:
        """Until the HEALTHCHECK passes (the time from `podman run` is logged); fails with the
        logs if the container stops first, or has not passed within the time its settings allow
        (start period + retries x interval)."""
        settings = self.inspect()["Config"]["Healthcheck"]
        budget = (
            settings["StartPeriod"] + settings["Retries"] * settings["Interval"]
        ) / NANOSECONDS
        while (check := self.healthcheck()).returncode != 0:
            state = self.inspect()["State"]
            if not state["Running"]:
                pytest.fail(f"{self.name} exited with {state['ExitCode']}:\n{self.logs()}")
            if time.monotonic() - self.started > budget:
                pytest.fail(
                    f"{self.name} not healthy within {budget:.0f} s ({check.stdout}{check.stderr})"
                    f":\n{self.logs()}"
                )
            time.sleep(0.5)
        log.info("%s healthy %.1f s after podman run", self.name, time.monotonic() - self.started)

    def terminate(self) -> int:
        """Send SIGTERM and wait for the container to exit; its exit code."""
        self.podman("kill", "--signal=TERM", self.name, timeout=60)
        return int(self.podman("wait", self.name, timeout=90))
