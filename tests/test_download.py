"""download stage: copies or fetches the raw files all or nothing, and says why when it cannot.

Every failure case checks the stage's promise: data/raw keeps exactly what the last good run
left there, and no staging folder survives next to it.
"""

from __future__ import annotations

import hashlib
import json
import os
import socket
import subprocess
import sys
import threading
import time
from collections.abc import Iterator, Sequence
from dataclasses import dataclass, field
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from pathlib import Path

import pytest
import yaml

from harness.loopback import free_port
from stages import download
from tests.conftest import write_dump
from workspace.commands import CommandError

BASICS = "title.basics.tsv.gz"
RATINGS = "title.ratings.tsv.gz"
CREW = "title.crew.tsv.gz"
ALL_FILES = (BASICS, RATINGS, CREW)

BASICS_ROWS = ["tt0000001\tmovie\tA\tA\t0\t1999\t\\N\t90\tDrama"]
RATINGS_ROWS = ["tt0000001\t7.1\t1200"]
CREW_ROWS = ["tt0000001\tnm0000001\tnm0000002"]


# --- helpers --------------------------------------------------------------------------------


def make_params(
    source: str | Path, files: Sequence[str] = ALL_FILES, retries: int = 2
) -> download.DownloadParams:
    # Tiny backoff and timeout: the retry logic is exercised without slowing the suite.
    return download.DownloadParams(
        source=str(source),
        files=list(files),
        retries=retries,
        backoff_seconds=0.01,
        timeout_seconds=2,
    )


def sha256(data: bytes) -> str:
    return hashlib.sha256(data).hexdigest()


def snapshot(folder: Path) -> dict[str, str]:
    """Every file under `folder` by relative name, with the sha256 of its bytes."""
    return {
        str(path.relative_to(folder)): sha256(path.read_bytes())
        for path in sorted(folder.rglob("*"))
        if path.is_file()
    }


def leftovers(raw_dir: Path) -> list[str]:
    """Staging or retired folders (`.raw.staging`, `.raw.old`) left beside data/raw."""
    return sorted(p.name for p in raw_dir.parent.iterdir() if p.name.startswith(f".{raw_dir.name}"))


def assert_one_line(error: pytest.ExceptionInfo[CommandError]) -> str:
    message = str(error.value)
    assert message
    assert "\n" not in message
    return message


def assert_untouched(raw_dir: Path, baseline: dict[str, str]) -> None:
    """All or nothing: a failed run leaves the previous files, byte for byte, and no staging."""
    assert snapshot(raw_dir) == baseline
    assert leftovers(raw_dir) == []


def manifest_of(raw_dir: Path) -> dict:
    return json.loads((raw_dir / download.MANIFEST).read_text(encoding="utf-8"))


# --- scripted HTTP server -------------------------------------------------------------------


@dataclass
class Reply:
    status: int = 200
    body: bytes = b""
    headers: dict[str, str] = field(default_factory=dict)
    # Announce the full Content-Length but send only this many bytes, then close the socket.
    drop_after: int | None = None


class ScriptedServer:
    """A real HTTP server on 127.0.0.1 whose replies each test scripts per path.

    Replies for a path are consumed in order; the last one repeats, so a single reply
    scripts a persistent behaviour. Unscripted paths answer 404. Requests are recorded
    with their headers.
    """

    def __init__(self) -> None:
        self.routes: dict[str, list[Reply]] = {}
        self.requests: list[tuple[str, dict[str, str]]] = []
        self._lock = threading.Lock()
        self.httpd = ThreadingHTTPServer(("127.0.0.1", 0), self._handler())
        self.url = f"http://127.0.0.1:{self.httpd.server_port}/"

    def script(self, name: str, *replies: Reply) -> None:
        self.routes[f"/{name}"] = list(replies)

    def serve_file(self, name: str, body: bytes, etag: str | None = None) -> None:
        headers = {"ETag": etag} if etag else {}
        self.script(name, Reply(body=body, headers=headers))

    def headers_for(self, name: str) -> list[dict[str, str]]:
        return [headers for path, headers in self.requests if path == f"/{name}"]

    def _next_reply(self, path: str, headers: dict[str, str]) -> Reply:
        with self._lock:
            self.requests.append((path, headers))
            queue = self.routes.get(path)
            if not queue:
                return Reply(status=404)
            return queue.pop(0) if len(queue) > 1 else queue[0]

    def _handler(self) -> type[BaseHTTPRequestHandler]:
        server = self

        class Handler(BaseHTTPRequestHandler):
            def do_GET(self) -> None:
                reply = server._next_reply(self.path, dict(self.headers))
                self.send_response(reply.status)
                for key, value in reply.headers.items():
                    self.send_header(key, value)
                if reply.status != 304:
                    self.send_header("Content-Length", str(len(reply.body)))
                self.end_headers()
                if reply.drop_after is None:
                    self.wfile.write(reply.body)
                    return
                self.wfile.write(reply.body[: reply.drop_after])
                self.wfile.flush()
                self.close_connection = True
                self.connection.shutdown(socket.SHUT_RDWR)

            def log_message(self, *args: object) -> None:
                pass  # keep pytest's output clean

        return Handler

    def __enter__(self) -> ScriptedServer:
        threading.Thread(target=self.httpd.serve_forever, args=(0.01,), daemon=True).start()
        return self

    def __exit__(self, *exc: object) -> None:
        self.httpd.shutdown()
        self.httpd.server_close()


# --- fixtures -------------------------------------------------------------------------------


@pytest.fixture
def upstream(tmp_path: Path) -> dict[str, bytes]:
    """The bytes the HTTP server offers: a small valid dump, distinct from the baseline."""
    folder = write_dump(tmp_path / "upstream", BASICS_ROWS, RATINGS_ROWS, CREW_ROWS)
    return {name: (folder / name).read_bytes() for name in ALL_FILES}


@pytest.fixture
def dump(tmp_path: Path) -> Path:
    """A source folder in the official layout with all three files."""
    basics = [*BASICS_ROWS, "tt0000002\tmovie\tB\tB\t0\t2001\t\\N\t100\tComedy"]
    ratings = [*RATINGS_ROWS, "tt0000002\t5.5\t300"]
    return write_dump(tmp_path / "dump", basics, ratings, CREW_ROWS)


@pytest.fixture
def raw_dir(tmp_path: Path, dump: Path) -> Path:
    """data/raw as a previous successful (folder-source) run left it."""
    target = tmp_path / "data" / "raw"
    download.download(make_params(dump), target, repo_root=tmp_path)
    assert set(snapshot(target)) == {*ALL_FILES, download.MANIFEST}
    return target


@pytest.fixture
def baseline(raw_dir: Path) -> dict[str, str]:
    """What the last good run left in raw_dir, for assert_untouched after a failure."""
    return snapshot(raw_dir)


@pytest.fixture
def server() -> Iterator[ScriptedServer]:
    with ScriptedServer() as running:
        yield running


# --- folder source --------------------------------------------------------------------------


def test_folder_source_copies_listed_files_and_records_size_and_sha256(
    tmp_path: Path, dump: Path
) -> None:
    raw = tmp_path / "raw"

    manifest = download.download(make_params(dump), raw, repo_root=tmp_path)

    assert sorted(p.name for p in raw.iterdir()) == sorted([*ALL_FILES, download.MANIFEST])
    for name in ALL_FILES:
        data = (dump / name).read_bytes()
        assert (raw / name).read_bytes() == data
        assert manifest["files"][name]["size"] == len(data)
        assert manifest["files"][name]["sha256"] == sha256(data)
    assert manifest_of(raw) == manifest
    assert leftovers(raw) == []


def test_folder_source_skips_missing_optional_file(tmp_path: Path) -> None:
    source = write_dump(tmp_path / "no-crew", BASICS_ROWS, RATINGS_ROWS)
    raw = tmp_path / "raw"

    manifest = download.download(make_params(source), raw, repo_root=tmp_path)

    assert set(manifest["files"]) == {BASICS, RATINGS}
    assert not (raw / CREW).exists()


@pytest.mark.parametrize("missing", [BASICS, RATINGS])
def test_folder_source_missing_required_file_fails_naming_its_path(
    dump: Path, raw_dir: Path, baseline: dict[str, str], missing: str
) -> None:
    (dump / missing).unlink()

    with pytest.raises(CommandError) as error:
        download.download(make_params(dump), raw_dir, repo_root=dump.parent)

    message = assert_one_line(error)
    assert str(dump / missing) in message
    assert "required file not found" in message
    assert_untouched(raw_dir, baseline)


@pytest.mark.parametrize("omitted", [BASICS, RATINGS])
def test_files_param_must_list_every_required_file(
    dump: Path, raw_dir: Path, baseline: dict[str, str], omitted: str
) -> None:
    files = [name for name in ALL_FILES if name != omitted]

    with pytest.raises(CommandError) as error:
        download.download(make_params(dump, files=files), raw_dir, repo_root=dump.parent)

    assert omitted in assert_one_line(error)
    assert_untouched(raw_dir, baseline)


def test_folder_source_truncated_gzip_fails_naming_the_file(
    tmp_path: Path, raw_dir: Path, baseline: dict[str, str]
) -> None:
    source = write_dump(tmp_path / "corrupt", BASICS_ROWS, RATINGS_ROWS, CREW_ROWS)
    data = (source / RATINGS).read_bytes()
    (source / RATINGS).write_bytes(data[: len(data) // 2])

    with pytest.raises(CommandError) as error:
        download.download(make_params(source), raw_dir, repo_root=tmp_path)

    message = assert_one_line(error)
    assert RATINGS in message
    assert "corrupt gzip" in message
    assert_untouched(raw_dir, baseline)


# --- URL source -----------------------------------------------------------------------------


def test_url_source_downloads_files_and_records_url_and_etag(
    tmp_path: Path, server: ScriptedServer, upstream: dict[str, bytes]
) -> None:
    for name in ALL_FILES:
        server.serve_file(name, upstream[name], etag=f'"{name}-v1"')
    raw = tmp_path / "raw"

    manifest = download.download(make_params(server.url), raw, repo_root=tmp_path)

    for name in ALL_FILES:
        assert (raw / name).read_bytes() == upstream[name]
        entry = manifest["files"][name]
        assert entry["size"] == len(upstream[name])
        assert entry["sha256"] == sha256(upstream[name])
        assert entry["url"] == server.url + name
        assert entry["etag"] == f'"{name}-v1"'
    assert manifest_of(raw) == manifest
    assert leftovers(raw) == []


def test_second_run_revalidates_with_etag_and_keeps_file_on_304(
    tmp_path: Path, server: ScriptedServer, upstream: dict[str, bytes]
) -> None:
    for name in ALL_FILES:
        server.script(
            name,
            Reply(body=upstream[name], headers={"ETag": f'"{name}-v1"'}),
            Reply(status=304, headers={"ETag": f'"{name}-v1"'}),
        )
    raw = tmp_path / "raw"
    first = download.download(make_params(server.url), raw, repo_root=tmp_path)

    second = download.download(make_params(server.url), raw, repo_root=tmp_path)

    for name in ALL_FILES:
        first_request, second_request = server.headers_for(name)
        assert "If-None-Match" not in first_request
        assert second_request["If-None-Match"] == f'"{name}-v1"'
        assert (raw / name).read_bytes() == upstream[name]
        assert second["files"][name] == first["files"][name]
    assert manifest_of(raw) == second


def test_5xx_is_retried_until_the_server_recovers(
    tmp_path: Path, server: ScriptedServer, upstream: dict[str, bytes]
) -> None:
    server.script(BASICS, Reply(status=503), Reply(status=503), Reply(body=upstream[BASICS]))
    server.serve_file(RATINGS, upstream[RATINGS])
    raw = tmp_path / "raw"

    manifest = download.download(
        make_params(server.url, files=[BASICS, RATINGS]), raw, repo_root=tmp_path
    )

    assert len(server.headers_for(BASICS)) == 3
    assert manifest["files"][BASICS]["sha256"] == sha256(upstream[BASICS])


def test_persistent_5xx_fails_naming_url_and_attempts(
    raw_dir: Path, baseline: dict[str, str], server: ScriptedServer
) -> None:
    server.script(BASICS, Reply(status=503))

    with pytest.raises(CommandError) as error:
        download.download(make_params(server.url, retries=2), raw_dir, repo_root=raw_dir.parent)

    message = assert_one_line(error)
    assert server.url + BASICS in message
    assert "3 attempts" in message
    assert len(server.headers_for(BASICS)) == 3
    assert_untouched(raw_dir, baseline)


def test_404_on_required_file_fails(
    raw_dir: Path, baseline: dict[str, str], server: ScriptedServer, upstream: dict[str, bytes]
) -> None:
    server.serve_file(BASICS, upstream[BASICS])  # ratings is left unscripted: 404

    with pytest.raises(CommandError) as error:
        download.download(make_params(server.url), raw_dir, repo_root=raw_dir.parent)

    message = assert_one_line(error)
    assert server.url + RATINGS in message
    assert "required file not found" in message
    assert_untouched(raw_dir, baseline)


def test_404_on_optional_file_is_skipped(
    tmp_path: Path, server: ScriptedServer, upstream: dict[str, bytes]
) -> None:
    server.serve_file(BASICS, upstream[BASICS])
    server.serve_file(RATINGS, upstream[RATINGS])  # crew is left unscripted: 404
    raw = tmp_path / "raw"

    manifest = download.download(make_params(server.url), raw, repo_root=tmp_path)

    assert set(manifest["files"]) == {BASICS, RATINGS}
    assert not (raw / CREW).exists()
    assert len(server.headers_for(CREW)) == 1  # a 404 is an answer, not worth retrying


def test_truncated_gzip_served_in_full_fails_naming_the_file(
    raw_dir: Path, baseline: dict[str, str], server: ScriptedServer, upstream: dict[str, bytes]
) -> None:
    server.serve_file(BASICS, upstream[BASICS])
    server.serve_file(RATINGS, upstream[RATINGS][:-10])  # valid HTTP, gzip trailer cut off

    with pytest.raises(CommandError) as error:
        download.download(make_params(server.url), raw_dir, repo_root=raw_dir.parent)

    message = assert_one_line(error)
    assert RATINGS in message
    assert "corrupt gzip" in message
    assert_untouched(raw_dir, baseline)


def test_connection_dropped_mid_body_is_retried(
    tmp_path: Path, server: ScriptedServer, upstream: dict[str, bytes]
) -> None:
    body = upstream[BASICS]
    server.script(BASICS, Reply(body=body, drop_after=len(body) // 2), Reply(body=body))
    server.serve_file(RATINGS, upstream[RATINGS])
    raw = tmp_path / "raw"

    manifest = download.download(
        make_params(server.url, files=[BASICS, RATINGS]), raw, repo_root=tmp_path
    )

    assert len(server.headers_for(BASICS)) == 2
    assert (raw / BASICS).read_bytes() == body
    assert manifest["files"][BASICS]["sha256"] == sha256(body)


def test_gzip_labelled_as_content_encoding_is_stored_as_sent(
    tmp_path: Path, server: ScriptedServer, upstream: dict[str, bytes]
) -> None:
    # Some servers label .gz files `Content-Encoding: gzip`; the bytes must not be unzipped.
    for name in (BASICS, RATINGS):
        server.script(name, Reply(body=upstream[name], headers={"Content-Encoding": "gzip"}))
    raw = tmp_path / "raw"

    download.download(make_params(server.url, files=[BASICS, RATINGS]), raw, repo_root=tmp_path)

    assert (raw / BASICS).read_bytes() == upstream[BASICS]


def test_connection_that_always_drops_fails_after_retries(
    raw_dir: Path, baseline: dict[str, str], server: ScriptedServer, upstream: dict[str, bytes]
) -> None:
    body = upstream[BASICS]
    server.script(BASICS, Reply(body=body, drop_after=len(body) // 2))

    with pytest.raises(CommandError) as error:
        download.download(make_params(server.url, retries=1), raw_dir, repo_root=raw_dir.parent)

    message = assert_one_line(error)
    assert server.url + BASICS in message
    assert "2 attempts" in message
    assert_untouched(raw_dir, baseline)


def test_unreachable_server_fails_quickly_with_one_line(
    raw_dir: Path, baseline: dict[str, str]
) -> None:
    url = f"http://127.0.0.1:{free_port()}/"
    started = time.monotonic()

    with pytest.raises(CommandError) as error:
        download.download(make_params(url, retries=1), raw_dir, repo_root=raw_dir.parent)

    assert time.monotonic() - started < 5  # refused at once; only the tiny backoff waits
    message = assert_one_line(error)
    assert url + BASICS in message
    assert "2 attempts" in message
    assert_untouched(raw_dir, baseline)


# --- DVC guard ------------------------------------------------------------------------------


@pytest.mark.slow
def test_dvc_repro_failure_keeps_the_previous_data_raw(repo_copy: Path) -> None:
    # `python` in the stage command must be this interpreter, as `make repro` arranges.
    bin_dir = str(Path(sys.executable).parent)
    env = {**os.environ, "PATH": bin_dir + os.pathsep + os.environ.get("PATH", "")}
    env["DVC_NO_ANALYTICS"] = "1"

    def repro() -> subprocess.CompletedProcess[str]:
        return subprocess.run(
            ["dvc", "repro", "download"],
            cwd=repo_copy,
            env=env,
            capture_output=True,
            text=True,
            timeout=300,
        )

    first = repro()
    assert first.returncode == 0, first.stderr
    raw = repo_copy / "data" / "raw"
    before = snapshot(raw)
    assert {BASICS, RATINGS, download.MANIFEST} <= set(before)

    params_file = repo_copy / "params.yaml"
    params = yaml.safe_load(params_file.read_text(encoding="utf-8"))
    url = f"http://127.0.0.1:{free_port()}/"
    params["download"] |= {"source": url, "retries": 1, "backoff_seconds": 0.01}
    params_file.write_text(yaml.safe_dump(params, sort_keys=False), encoding="utf-8")

    failed = repro()

    assert failed.returncode != 0
    errors = [line for line in failed.stderr.splitlines() if line.startswith("error: ")]
    assert len(errors) == 1, failed.stderr
    assert url in errors[0]
    assert "Traceback" not in failed.stderr
    assert snapshot(raw) == before
    assert leftovers(raw) == []
