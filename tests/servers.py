"""The team's shared infrastructure, started for real for the tests: an S3-compatible server
(moto's standalone server, which DVC's and MLflow's own suites use), a PostgreSQL cluster on a
temporary data directory, and an MLflow tracking server on both.

Each server binds a free loopback port, is waited for within a bound, puts its log in any
failure message, and is stopped and cleaned up by its fixture (module-scoped: one set of servers
per test module)."""

from __future__ import annotations

import os
import pwd
import secrets
import shutil
import subprocess
import sys
import tempfile
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest

from harness.loopback import VENV_BIN, free_port
from harness.processes import ServerProcess, log_tail
from tests.conftest import copy_repository, git

BUCKET = "imdb-rating"
MLFLOW_ARTIFACTS = f"s3://{BUCKET}/mlflow"
MLFLOW_DATABASE = "mlflow"


class S3Server:
    """moto's S3 on a loopback port, with the team's bucket. Its state lives in memory: it
    dies with the process, which is what an outage test wants."""

    def __init__(self, workdir: Path) -> None:
        self.url = f"http://127.0.0.1:{free_port()}"
        # Fresh per server: moto accepts any key, and none is ever written to the repository.
        self.credentials = {
            "AWS_ACCESS_KEY_ID": secrets.token_hex(8),
            "AWS_SECRET_ACCESS_KEY": secrets.token_hex(16),
        }
        port = self.url.rsplit(":", 1)[1]
        command = [str(VENV_BIN / "moto_server"), "-H", "127.0.0.1", "-p", port]
        self.server = ServerProcess(command, workdir / "moto.log", dict(os.environ))

    def start(self) -> S3Server:
        self.server.start(self.url + "/moto-api/", seconds=60)
        self.client().create_bucket(Bucket=BUCKET)
        return self

    def environment(self) -> dict[str, str]:
        """The endpoint and keys as environment variables (botocore reads AWS_ENDPOINT_URL)."""
        return {"AWS_ENDPOINT_URL": self.url, **self.credentials}

    def client(self) -> Any:
        import boto3

        return boto3.client(
            "s3",
            endpoint_url=self.url,
            region_name="us-east-1",
            aws_access_key_id=self.credentials["AWS_ACCESS_KEY_ID"],
            aws_secret_access_key=self.credentials["AWS_SECRET_ACCESS_KEY"],
        )

    def keys(self, prefix: str) -> list[str]:
        pages = (
            self.client().get_paginator("list_objects_v2").paginate(Bucket=BUCKET, Prefix=prefix)
        )
        return [item["Key"] for page in pages for item in page.get("Contents", [])]

    def stop(self) -> None:
        self.server.stop()


def postgres_bindir() -> Path:
    """Debian keeps initdb and pg_ctl off PATH, under /usr/lib/postgresql/<major>/bin."""
    installed = sorted(
        Path("/usr/lib/postgresql").glob("*/bin/initdb"), key=lambda p: int(p.parts[-3])
    )
    if installed:
        return installed[-1].parent
    on_path = shutil.which("initdb")
    if on_path is None:
        pytest.fail("PostgreSQL is not installed: run .ci/system-packages (Debian postgresql)")
    return Path(on_path).parent


class PostgresCluster:
    """A throwaway cluster listening on a loopback port with password (scram) authentication.

    PostgreSQL refuses to run as root: as root, initdb and the server run as the `postgres`
    user the Debian package creates. The data directory lives in a private directory made
    directly under the system temp dir and handed to that user, because pytest's tmp_path sits
    under a root-only (0700) folder that `postgres` cannot traverse.
    """

    def __init__(self) -> None:
        self.bindir = postgres_bindir()
        self.port = free_port()
        self.password = secrets.token_hex(16)
        self.root = Path(tempfile.mkdtemp(prefix="imdb-postgres-"))  # mode 0700
        self.data = self.root / "data"
        self.log_path = self.root / "postgres.log"
        self.owner: dict[str, int] = {}
        if os.geteuid() == 0:
            account = pwd.getpwnam("postgres")
            os.chown(self.root, account.pw_uid, account.pw_gid)
            self.owner = {"user": account.pw_uid, "group": account.pw_gid}

    def run(self, tool: str, *args: str) -> str:
        """One PostgreSQL program, as the cluster's owner; its output, or a failure naming it
        with the server log."""
        result = subprocess.run(
            [str(self.bindir / tool), *args],
            cwd=self.root,
            env={**os.environ, "PGPASSWORD": self.password},
            capture_output=True,
            text=True,
            timeout=120,
            check=False,
            **self.owner,
        )
        if result.returncode != 0:
            raise RuntimeError(
                f"{tool} {' '.join(args)} exited with {result.returncode}:\n"
                f"{result.stdout}{result.stderr}\n{log_tail(self.log_path)}"
            )
        return result.stdout

    def start(self) -> PostgresCluster:
        password_file = self.root / "password"
        password_file.write_text(self.password)
        password_file.chmod(0o600)
        if self.owner:
            os.chown(password_file, self.owner["user"], self.owner["group"])
        self.run("initdb", "-D", str(self.data), "-U", "postgres", "-E", "UTF8",
                 "--auth-host=scram-sha-256", "--auth-local=peer",
                 f"--pwfile={password_file}", "--no-instructions")  # fmt: skip
        password_file.unlink()
        server_options = f"-p {self.port} -c listen_addresses=127.0.0.1 -k {self.root}"
        self.run("pg_ctl", "start", "-D", str(self.data), "-l", str(self.log_path),
                 "-w", "-t", "60", "-o", server_options)  # fmt: skip
        self.run("createdb", *self.connection_args(), MLFLOW_DATABASE)
        return self

    def connection_args(self) -> list[str]:
        return ["-h", "127.0.0.1", "-p", str(self.port), "-U", "postgres"]

    def uri(self) -> str:
        """SQLAlchemy URI of the MLflow database, explicitly through psycopg 3 (SQLAlchemy 2.1's
        default for postgresql://, 2.0's being psycopg2). The password comes from PGPASSWORD."""
        return f"postgresql+psycopg://postgres@127.0.0.1:{self.port}/{MLFLOW_DATABASE}"

    def query(self, sql: str) -> list[list[str]]:
        output = self.run("psql", *self.connection_args(), "-d", MLFLOW_DATABASE,
                          "-A", "-t", "-F", "\t", "-c", sql)  # fmt: skip
        return [line.split("\t") for line in output.splitlines() if line]

    def stop(self) -> None:
        if (self.data / "postmaster.pid").exists():
            self.run("pg_ctl", "stop", "-D", str(self.data), "-m", "fast", "-w", "-t", "60")

    def remove(self) -> None:
        shutil.rmtree(self.root)


class MlflowServer:
    """`mlflow server` with its backend store on PostgreSQL and its artifacts on S3, proxied:
    clients need the server's URL only, no database or S3 credentials."""

    def __init__(self, workdir: Path, postgres: PostgresCluster, s3: S3Server) -> None:
        self.port = free_port()
        self.url = f"http://127.0.0.1:{self.port}"
        # Configured the way compose.yaml configures the image: stores, endpoint and secrets
        # all from the environment.
        env = {
            **os.environ,
            **s3.credentials,
            "MLFLOW_BACKEND_STORE_URI": postgres.uri(),
            "MLFLOW_ARTIFACTS_DESTINATION": MLFLOW_ARTIFACTS,
            "MLFLOW_S3_ENDPOINT_URL": s3.url,
            "PGPASSWORD": postgres.password,
        }
        command = [str(VENV_BIN / "mlflow"), "server", "--host", "127.0.0.1",
                   "--port", str(self.port), "--workers", "1"]  # fmt: skip
        self.server = ServerProcess(command, workdir / "mlflow.log", env)

    def start(self) -> MlflowServer:
        # The first start creates and migrates the schema: tens of seconds on a busy machine.
        self.server.start(self.url + "/health", seconds=240)
        return self

    def restart(self) -> None:
        self.stop()
        self.start()

    def log(self) -> str:
        return log_tail(self.server.log_path)

    def stop(self) -> None:
        self.server.stop()


@pytest.fixture(scope="module")
def s3_server(tmp_path_factory: pytest.TempPathFactory) -> Iterator[S3Server]:
    server = S3Server(tmp_path_factory.mktemp("s3")).start()
    yield server
    server.stop()


@pytest.fixture(scope="module")
def postgres() -> Iterator[PostgresCluster]:
    cluster = PostgresCluster()
    try:
        yield cluster.start()
    finally:
        try:
            cluster.stop()
        finally:
            cluster.remove()


@pytest.fixture(scope="module")
def mlflow_server(
    tmp_path_factory: pytest.TempPathFactory, postgres: PostgresCluster, s3_server: S3Server
) -> Iterator[MlflowServer]:
    server = MlflowServer(tmp_path_factory.mktemp("mlflow"), postgres, s3_server).start()
    yield server
    server.stop()


# --- a teammate's clone on the team's servers --------------------------------------------------

# Variables of the developer's own shell that would point the tests at real infrastructure.
FOREIGN_ENV = ("MLFLOW_TRACKING_URI", "MLFLOW_S3_ENDPOINT_URL", "AWS_ACCESS_KEY_ID",
               "AWS_SECRET_ACCESS_KEY", "AWS_ENDPOINT_URL", "AWS_PROFILE")  # fmt: skip


def isolated_env(**extra: str) -> dict[str, str]:
    env = {k: v for k, v in os.environ.items() if k not in FOREIGN_ENV}
    return env | {"PATH": f"{VENV_BIN}{os.pathsep}{os.environ['PATH']}", **extra}


def dvc(
    repo: Path, *args: str, env: dict[str, str] | None = None, check: bool = True
) -> subprocess.CompletedProcess[str]:
    result = subprocess.run(
        ["dvc", *args],
        cwd=repo,
        env=env or isolated_env(),
        capture_output=True,
        text=True,
        timeout=600,
        check=False,
    )
    if check:
        assert result.returncode == 0, f"dvc {' '.join(args)}:\n{result.stdout}\n{result.stderr}"
    return result


def configure_remote(repo: Path, s3: S3Server, remote: str = "storage") -> None:
    """What the README asks of each teammate: endpoint and keys in .dvc/config.local only."""
    settings = {"endpointurl": s3.url, "access_key_id": s3.credentials["AWS_ACCESS_KEY_ID"]}
    settings["secret_access_key"] = s3.credentials["AWS_SECRET_ACCESS_KEY"]
    for option, value in settings.items():
        dvc(repo, "remote", "modify", "--local", remote, option, value)


def fresh_clone(origin: Path, target: Path, s3: S3Server | None = None) -> Path:
    """A clone (no cache, no .dvc/config.local), set up for `s3` when given."""
    git(target.parent, "clone", "-q", str(origin), target.name)
    if s3 is not None:
        configure_remote(target, s3)
    return target


@pytest.fixture(scope="module")
def team_repo(
    tmp_path_factory: pytest.TempPathFactory, s3_server: S3Server, mlflow_server: MlflowServer
) -> Path:
    """A teammate's clone after a reviewed merge: the pipeline ran against the team's MLflow
    server, `champion` was promoted there, and the pinned outputs were pushed to the remote."""
    repo = copy_repository(tmp_path_factory.mktemp("team") / "repo")
    configure_remote(repo, s3_server)
    dvc(repo, "commit", "--force", "--quiet", "data.dvc")  # the sample cached, as `make sample`
    training_env = isolated_env(MLFLOW_TRACKING_URI=mlflow_server.url)
    repro = dvc(repo, "repro", env=training_env, check=False)
    assert repro.returncode == 0, f"{repro.stdout}\n{repro.stderr}\n{mlflow_server.log()}"
    # After the merge, CI moves `champion` to the pinned model (`make promote`).
    promote = subprocess.run(
        [sys.executable, "-m", "tools.promote"],
        cwd=repo,
        env=training_env,
        capture_output=True,
        text=True,
        check=False,
    )
    assert promote.returncode == 0, promote.stderr
    # The pipeline reproduced the very bytes dvc.lock pins: nothing to commit.
    changed = subprocess.run(
        ["git", "status", "--porcelain"], cwd=repo, capture_output=True, text=True, check=True
    )
    assert changed.stdout == ""
    assert "pushed" in dvc(repo, "push").stdout
    return repo
