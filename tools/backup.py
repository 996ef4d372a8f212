"""Backups of the team's stores, and their restore: `make backup`, `make restore`.

    python -m tools.backup create --to ROOT [--postgres URI] [--bucket NAME]
        [--prometheus URL --prometheus-data DIR] [--predictions DIR] [--daily 7] [--weekly 4]
    python -m tools.backup verify BACKUP
    python -m tools.backup recent ROOT [--hours 26]     # a health check: a recent backup exists
    python -m tools.backup restore BACKUP [--postgres URI] [--bucket NAME]
        [--prometheus-data DIR] [--predictions DIR] [--replace]

The parts, each backed up or restored when its store is named:
- postgres: MLflow's database (runs, metrics, the registry, its aliases and tags, the release
  records), `pg_dump -Fc` of URI (postgresql://USER@HOST:PORT/DB, the password in
  PGPASSWORD); restored by pg_restore into the database URI names;
- bucket: every object of the S3 bucket NAME (MLflow's artifacts and the DVC remote), at
  AWS_ENDPOINT_URL with the usual AWS_* keys, each key a file under bucket/;
- prometheus: a snapshot of Prometheus' TSDB taken through its admin API (Prometheus started
  with --web.enable-admin-api), copied from its data folder DIR; restored into a data folder
  for a stopped Prometheus;
- predictions: the service's prediction log files (what the live comparison decides on).

A backup is written to ROOT/<UTC time>.partial, then renamed ROOT/<UTC time> once its
manifest.json holds every file's sha256 and size: a folder without `.partial` is complete.
Retention, after each backup: the newest backup of each of the last `--daily` days that have
one, and of each of the last `--weekly` ISO weeks; older ones are deleted.

Restore first verifies every file of the backup against its manifest (and that nothing else is
there), then refuses any target that already holds data unless --replace; only then does it
write, and it says what it restored. A failed check writes nothing. Exit 1 with one line on any
refusal.
"""

from __future__ import annotations

import argparse
import json
import logging
import os
import shutil
import subprocess
import time
import urllib.request
from collections.abc import Callable, Iterable, Sequence
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

from workspace.commands import CommandError, run_command
from workspace.files import sha256_file, write_json

log = logging.getLogger(__name__)

MANIFEST = "manifest.json"
NAME_FORMAT = "%Y%m%dT%H%M%SZ"
PARTIAL = ".partial"
PARTS = ("postgres", "bucket", "prometheus", "predictions")
DUMP = "postgres/mlflow.dump"


# --- the stores ---------------------------------------------------------------------------------


def postgres_program(name: str) -> str:
    """pg_dump, pg_restore or psql: on PATH, else Debian's newest server folder."""
    found = shutil.which(name)
    if found:
        return found
    installed = sorted(
        Path("/usr/lib/postgresql").glob(f"*/bin/{name}"), key=lambda p: int(p.parts[-3])
    )
    if not installed:
        raise CommandError(f"{name} is not installed (Debian: postgresql-client)")
    return str(installed[-1])


def run(command: list[str]) -> str:
    result = subprocess.run(command, capture_output=True, text=True, check=False)
    if result.returncode != 0:
        raise CommandError(f"{Path(command[0]).name} failed: {result.stderr.strip()[-500:]}")
    return result.stdout


def postgres_holds_tables(uri: str) -> bool:
    query = (
        "select count(*) from information_schema.tables"
        " where table_schema not in ('pg_catalog', 'information_schema')"
    )
    return int(run([postgres_program("psql"), uri, "-At", "-c", query]).strip()) > 0


def s3_client() -> Any:
    import boto3  # the DVC remote's and MLflow's S3 client, installed with them

    return boto3.client("s3", endpoint_url=os.environ.get("AWS_ENDPOINT_URL"))


def bucket_keys(client: Any, bucket: str) -> list[str]:
    pages = client.get_paginator("list_objects_v2").paginate(Bucket=bucket)
    return [item["Key"] for page in pages for item in page.get("Contents", [])]


def prometheus_snapshot(url: str) -> str:
    if not url.startswith(("http://", "https://")):
        raise CommandError(f"--prometheus {url}: an http(s) URL")
    snapshot = f"{url}/api/v1/admin/tsdb/snapshot"
    request = urllib.request.Request(snapshot, method="POST")  # noqa: S310 (http(s), above)
    try:
        with urllib.request.urlopen(request, timeout=300) as response:  # noqa: S310 # nosec B310
            return json.loads(response.read())["data"]["name"]
    except (OSError, ValueError, KeyError) as error:
        raise CommandError(
            f"{url}: no TSDB snapshot ({error}); Prometheus needs --web.enable-admin-api"
        ) from None


def files_under(folder: Path) -> list[Path]:
    return sorted(path for path in folder.rglob("*") if path.is_file())


def holds_files(folder: Path) -> bool:
    return folder.exists() and any(folder.iterdir())


# --- create -------------------------------------------------------------------------------------


def back_up_postgres(uri: str, into: Path) -> None:
    (into / DUMP).parent.mkdir(parents=True)
    run([postgres_program("pg_dump"), "-Fc", "--no-owner", "-f", str(into / DUMP), uri])


def back_up_bucket(bucket: str, into: Path) -> None:
    client = s3_client()
    for key in bucket_keys(client, bucket):
        target = into / "bucket" / key
        target.parent.mkdir(parents=True, exist_ok=True)
        client.download_file(bucket, key, str(target))


def back_up_prometheus(url: str, data: Path, into: Path) -> None:
    snapshot = data / "snapshots" / prometheus_snapshot(url)
    try:
        shutil.copytree(snapshot, into / "prometheus")
    finally:
        shutil.rmtree(snapshot, ignore_errors=True)  # Prometheus keeps snapshots until deleted


def back_up_predictions(folder: Path, into: Path) -> None:
    if not folder.is_dir():
        raise CommandError(f"{folder}: no prediction log folder")
    shutil.copytree(folder, into / "predictions")


def describe(into: Path, part: str) -> dict[str, int]:
    files = files_under(into / part)
    return {"files": len(files), "bytes": sum(path.stat().st_size for path in files)}


def create(args: argparse.Namespace) -> Path:
    steps: dict[str, Callable[[Path], None]] = {}
    if args.postgres:
        steps["postgres"] = lambda into: back_up_postgres(args.postgres, into)
    if args.bucket:
        steps["bucket"] = lambda into: back_up_bucket(args.bucket, into)
    if args.prometheus:
        if args.prometheus_data is None:
            raise CommandError("--prometheus needs --prometheus-data (where its snapshots are)")
        steps["prometheus"] = lambda into: back_up_prometheus(
            args.prometheus.rstrip("/"), args.prometheus_data, into
        )
    if args.predictions:
        steps["predictions"] = lambda into: back_up_predictions(args.predictions, into)
    if not steps:
        raise CommandError("nothing to back up: name at least one store")
    now = datetime.now(UTC)
    name = now.strftime(NAME_FORMAT)
    partial = args.to / f"{name}{PARTIAL}"
    partial.mkdir(parents=True)
    parts = {}
    for part, step in steps.items():
        started = time.monotonic()
        step(partial)
        parts[part] = describe(partial, part) | {"seconds": round(time.monotonic() - started, 2)}
        log.info("backed up %s: %s", part, parts[part])
    files = {
        str(path.relative_to(partial)): {"sha256": sha256_file(path), "bytes": path.stat().st_size}
        for path in files_under(partial)
    }
    write_json(
        partial / MANIFEST,
        {"format": 1, "created": now.isoformat(timespec="seconds"), "parts": parts, "files": files},
    )
    complete = partial.with_name(name)
    partial.rename(complete)
    for old in sorted(
        set(backups(args.to)) - set(to_keep(backups(args.to), args.daily, args.weekly))
    ):
        shutil.rmtree(args.to / old)
        log.info("retention: deleted %s", old)
    return complete


def backups(root: Path) -> list[str]:
    """The complete backups in `root`, by name (their UTC time)."""
    names = []
    for path in root.iterdir() if root.is_dir() else ():
        try:
            datetime.strptime(path.name, NAME_FORMAT)
        except ValueError:
            continue
        names.append(path.name)
    return sorted(names)


def newest_within(root: Path, hours: float) -> str:
    """The newest complete backup in `root`, if it is at most `hours` old."""
    found = backups(root)
    if not found:
        raise CommandError(f"{root}: no complete backup")
    age = datetime.now(UTC) - datetime.strptime(found[-1], NAME_FORMAT).replace(tzinfo=UTC)
    if age.total_seconds() > hours * 3600:
        raise CommandError(f"{root}: the newest backup, {found[-1]}, is {age} old")
    return f"{root / found[-1]}: {age} old"


def to_keep(names: Iterable[str], daily: int, weekly: int) -> list[str]:
    """The newest backup of each of the last `daily` days that have one, and of each of the
    last `weekly` ISO weeks that have one."""
    newest_per_day: dict[str, str] = {}
    newest_per_week: dict[tuple[int, int], str] = {}
    for name in sorted(names):
        moment = datetime.strptime(name, NAME_FORMAT)
        newest_per_day[moment.date().isoformat()] = name
        newest_per_week[moment.isocalendar()[:2]] = name
    days = [newest_per_day[day] for day in sorted(newest_per_day)[-daily:]] if daily else []
    weeks = [newest_per_week[w] for w in sorted(newest_per_week)[-weekly:]] if weekly else []
    return sorted(set(days) | set(weeks))


# --- verify and restore -------------------------------------------------------------------------


def verify(backup: Path) -> dict[str, Any]:
    """The backup's manifest, once every file matches it and nothing else is there."""
    try:
        manifest = json.loads((backup / MANIFEST).read_text())
    except (OSError, ValueError) as error:
        raise CommandError(f"{backup}: no readable {MANIFEST} ({error})") from None
    found = {str(path.relative_to(backup)) for path in files_under(backup)} - {MANIFEST}
    listed = set(manifest["files"])
    if found != listed:
        extra, missing = sorted(found - listed), sorted(listed - found)
        raise CommandError(
            f"{backup} is not as its manifest says: extra {extra}, missing {missing}"
        )
    for name, expected in sorted(manifest["files"].items()):
        if sha256_file(backup / name) != expected["sha256"]:
            raise CommandError(
                f"{backup / name}: sha256 differs from the manifest; nothing restored"
            )
    return manifest


def restore(args: argparse.Namespace) -> list[str]:
    manifest = verify(args.backup)
    targets = {
        "postgres": args.postgres,
        "bucket": args.bucket,
        "prometheus": args.prometheus_data,
        "predictions": args.predictions,
    }
    chosen = [part for part in PARTS if targets[part]]
    if not chosen:
        raise CommandError("nothing to restore: name at least one target")
    absent = [part for part in chosen if part not in manifest["parts"]]
    if absent:
        raise CommandError(f"{args.backup} holds no {', '.join(absent)}")
    occupied = [part for part in chosen if holds_data(part, targets[part])]
    if occupied and not args.replace:
        raise CommandError(
            f"refusing to overwrite {', '.join(occupied)}: the target holds data (--replace to"
            " replace it); nothing restored"
        )
    said = []
    for part in chosen:
        started = time.monotonic()
        RESTORERS[part](args.backup, targets[part], part in occupied)
        figures = manifest["parts"][part]
        said.append(
            f"restored {part}: {figures['files']} files, {figures['bytes']:,} bytes in"
            f" {time.monotonic() - started:.1f} s"
        )
    return said


def holds_data(part: str, target: Any) -> bool:
    if part == "postgres":
        return postgres_holds_tables(target)
    if part == "bucket":
        return bool(s3_client().list_objects_v2(Bucket=target, MaxKeys=1).get("Contents"))
    return holds_files(Path(target))


def restore_postgres(backup: Path, uri: str, replace: bool) -> None:
    clean = ["--clean", "--if-exists"] if replace else []
    run(
        [
            postgres_program("pg_restore"),
            "--no-owner",
            "--exit-on-error",
            *clean,
            "-d",
            uri,
            str(backup / DUMP),
        ]
    )


def restore_bucket(backup: Path, bucket: str, replace: bool) -> None:
    client = s3_client()
    if replace:
        for key in bucket_keys(client, bucket):
            client.delete_object(Bucket=bucket, Key=key)
    root = backup / "bucket"
    for path in files_under(root):
        client.upload_file(str(path), bucket, str(path.relative_to(root)))


def restore_folder(part: str) -> Callable[[Path, Any, bool], None]:
    def restore_files(backup: Path, target: Any, replace: bool) -> None:
        target = Path(target)
        if replace:
            shutil.rmtree(target, ignore_errors=True)
        shutil.copytree(backup / part, target, dirs_exist_ok=True)

    return restore_files


RESTORERS: dict[str, Callable[[Path, Any, bool], None]] = {
    "postgres": restore_postgres,
    "bucket": restore_bucket,
    "prometheus": restore_folder("prometheus"),
    "predictions": restore_folder("predictions"),
}


# --- the command --------------------------------------------------------------------------------


def main(argv: Sequence[str] | None = None) -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    commands = parser.add_subparsers(dest="command", required=True)
    make = commands.add_parser("create", help="back up the named stores")
    make.add_argument("--to", type=Path, required=True, help="the folder that holds backups")
    make.add_argument("--prometheus", help="Prometheus' URL (its admin API takes the snapshot)")
    make.add_argument("--daily", type=int, default=7, help="days to keep a backup of")
    make.add_argument("--weekly", type=int, default=4, help="ISO weeks to keep a backup of")
    check = commands.add_parser("verify", help="check a backup against its manifest")
    check.add_argument("backup", type=Path)
    recent = commands.add_parser("recent", help="exit 1 unless a backup is that recent")
    recent.add_argument("root", type=Path)
    recent.add_argument("--hours", type=float, default=26, help="a day and a margin")
    put_back = commands.add_parser("restore", help="restore a verified backup")
    put_back.add_argument("backup", type=Path)
    put_back.add_argument("--replace", action="store_true", help="overwrite targets with data")
    for sub in (make, put_back):
        sub.add_argument("--postgres", help="MLflow's database: postgresql://USER@HOST:PORT/DB")
        sub.add_argument("--bucket", help="the S3 bucket (at AWS_ENDPOINT_URL)")
        sub.add_argument("--prometheus-data", type=Path, help="Prometheus' data folder")
        sub.add_argument("--predictions", type=Path, help="the prediction log folder")
    args = parser.parse_args(argv)
    if args.command == "create":
        backup = create(args)
        manifest = json.loads((backup / MANIFEST).read_text())
        total = sum(item["bytes"] for item in manifest["files"].values())
        print(f"{backup}: {len(manifest['files'])} files, {total:,} bytes, verified by sha256")
    elif args.command == "recent":
        print(newest_within(args.root, args.hours))
    elif args.command == "verify":
        manifest = verify(args.backup)
        print(f"{args.backup}: all {len(manifest['files'])} files match the manifest")
    else:
        print("\n".join(restore(args)))


if __name__ == "__main__":
    run_command(main)
