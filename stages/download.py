"""download: copy or fetch the raw IMDb files into data/raw, all or nothing.

`download.source` is a folder in the official layout (the default is the embedded sample,
data/sample) or an http(s) base URL such as https://datasets.imdbws.com/. Files are written
into a staging folder and verified (complete gzip streams, sha256) before the staging folder
replaces data/raw in one rename, so a failed run never leaves a partial file there and never
destroys what an earlier run fetched. dvc.yaml marks data/raw `persist: true` so that DVC does
not delete it before this stage runs; a manifest records size, ETag and sha256 per file.
"""

from __future__ import annotations

import gzip
import json
import logging
import shutil
import time
import zlib
from dataclasses import dataclass
from pathlib import Path
from typing import Any
from urllib.parse import urljoin

import requests
import urllib3
from tqdm import tqdm

from workspace.commands import CommandError, run_command
from workspace.files import sha256_file, write_json
from workspace.layout import RAW_DIR, REPO_ROOT
from workspace.params import stage_params

log = logging.getLogger("stages.download")

MANIFEST = "manifest.json"
REQUIRED_FILES = ("title.basics.tsv.gz", "title.ratings.tsv.gz")
CHUNK_BYTES = 1 << 20


@dataclass(frozen=True)
class DownloadParams:
    source: str
    files: list[str]
    retries: int
    backoff_seconds: float
    timeout_seconds: float


class TransientError(Exception):
    """A failure worth retrying: connection refused or dropped, timeout, HTTP 5xx."""


class MissingFileError(Exception):
    """The source has no such file (absent from the folder, or HTTP 404)."""


def is_url(source: str) -> bool:
    return source.startswith(("http://", "https://"))


def check_files_param(files: list[str]) -> None:
    missing = [name for name in REQUIRED_FILES if name not in files]
    if missing:
        raise CommandError(f"params.yaml download.files must list {', '.join(missing)}")


def verify_gzip(path: Path) -> None:
    """Read the whole stream: gzip checks its CRC and length, so truncation is caught."""
    try:
        with gzip.open(path, "rb") as stream:
            while stream.read(CHUNK_BYTES):
                pass
    except (OSError, EOFError, zlib.error) as error:
        raise CommandError(f"{path.name}: corrupt gzip ({error})") from None


def read_manifest(raw_dir: Path) -> dict[str, Any]:
    try:
        return json.loads((raw_dir / MANIFEST).read_text(encoding="utf-8"))
    except (OSError, ValueError):
        return {}


def copy_from_folder(folder: Path, name: str, staging: Path) -> dict[str, Any]:
    source = folder / name
    if not source.is_file():
        raise MissingFileError(str(source))
    shutil.copyfile(source, staging / name)
    return {}


def _stream_once(
    session: requests.Session, url: str, target: Path, etag: str | None, timeout: float
) -> dict[str, Any] | None:
    """One GET; returns the file's HTTP metadata, or None when the server says 304."""
    headers = {"If-None-Match": etag} if etag else {}
    try:
        with session.get(url, stream=True, timeout=timeout, headers=headers) as response:
            if response.status_code == 304:
                return None
            if response.status_code == 404:
                raise MissingFileError(url)
            if response.status_code >= 500:
                raise TransientError(f"HTTP {response.status_code}")
            if response.status_code != 200:
                raise CommandError(f"{url}: HTTP {response.status_code} {response.reason}")
            length = response.headers.get("Content-Length")
            with (
                target.open("wb") as out,
                tqdm(
                    total=int(length) if length else None,
                    unit="B",
                    unit_scale=True,
                    desc=target.name,
                    disable=None,
                ) as bar,
            ):
                # Raw bytes: a server that labels .gz files `Content-Encoding: gzip` must not
                # get them unzipped on the way (the file would no longer match its length).
                for chunk in response.raw.stream(CHUNK_BYTES, decode_content=False):
                    out.write(chunk)
                    bar.update(len(chunk))
            size = target.stat().st_size
            if length is not None and size != int(length):
                raise TransientError(f"connection dropped after {size} of {length} bytes")
            return {
                "url": url,
                "etag": response.headers.get("ETag"),
                "last_modified": response.headers.get("Last-Modified"),
            }
    except (requests.ConnectionError, requests.Timeout, urllib3.exceptions.HTTPError) as error:
        # urllib3's errors come from reading the body: a dropped connection, a read timeout.
        raise TransientError(type(error).__name__) from None


def fetch_from_url(
    base_url: str,
    name: str,
    staging: Path,
    previous: dict[str, Any],
    previous_dir: Path,
    params: DownloadParams,
) -> dict[str, Any]:
    url = urljoin(base_url if base_url.endswith("/") else base_url + "/", name)
    earlier = previous.get("files", {}).get(name, {})
    reusable = earlier.get("url") == url and (previous_dir / name).is_file()
    target = staging / name
    session = requests.Session()
    for attempt in range(params.retries + 1):
        try:
            meta = _stream_once(
                session,
                url,
                target,
                earlier.get("etag") if reusable else None,
                params.timeout_seconds,
            )
        except TransientError as error:
            if attempt == params.retries:
                raise CommandError(
                    f"{url}: {error} (gave up after {params.retries + 1} attempts)"
                ) from None
            delay = params.backoff_seconds * 2**attempt
            log.warning("%s: %s; retrying in %.1fs", url, error, delay)
            time.sleep(delay)
            continue
        if meta is None:  # 304 Not Modified: keep the bytes fetched last time
            log.info("%s not modified (ETag %s); reusing it", name, earlier["etag"])
            shutil.copyfile(previous_dir / name, target)
            return {k: earlier.get(k) for k in ("url", "etag", "last_modified")}
        return meta
    raise AssertionError("unreachable: the loop returns or raises")


def replace_folder(staging: Path, target: Path) -> None:
    """Swap `staging` in for `target`; only then delete the old contents."""
    retired = target.with_name(f".{target.name}.old")
    shutil.rmtree(retired, ignore_errors=True)
    if target.exists():
        target.rename(retired)
    staging.rename(target)
    shutil.rmtree(retired, ignore_errors=True)


def download(params: DownloadParams, raw_dir: Path, repo_root: Path = REPO_ROOT) -> dict[str, Any]:
    """Fetch every listed file into `raw_dir`; return the manifest that was written."""
    check_files_param(params.files)
    previous = read_manifest(raw_dir)
    staging = raw_dir.with_name(f".{raw_dir.name}.staging")
    shutil.rmtree(staging, ignore_errors=True)
    staging.mkdir(parents=True)
    try:
        folder = None if is_url(params.source) else (repo_root / params.source).resolve()
        if folder is not None and not folder.is_dir():
            raise CommandError(f"download.source {params.source!r}: no such folder or URL")
        entries: dict[str, Any] = {}
        for name in params.files:
            try:
                if folder is not None:
                    meta = copy_from_folder(folder, name, staging)
                else:
                    meta = fetch_from_url(params.source, name, staging, previous, raw_dir, params)
            except MissingFileError as missing:
                if name in REQUIRED_FILES:
                    raise CommandError(f"{missing}: required file not found") from None
                log.info("%s not found: skipped (optional file)", missing)
                continue
            path = staging / name
            verify_gzip(path)
            entries[name] = {"size": path.stat().st_size, "sha256": sha256_file(path), **meta}
            log.info(
                "%s: %d bytes, sha256 %s", name, entries[name]["size"], entries[name]["sha256"]
            )
        manifest = {"source": params.source, "files": entries}
        write_json(staging / MANIFEST, manifest)
        replace_folder(staging, raw_dir)
        return manifest
    finally:
        shutil.rmtree(staging, ignore_errors=True)


def main() -> None:
    download(stage_params(DownloadParams, "download"), RAW_DIR)


if __name__ == "__main__":
    run_command(main)
