"""Shared fixtures: tiny dumps in the official IMDb layout, written by the tests themselves."""

from __future__ import annotations

import gzip
import os
import shutil
import subprocess
from pathlib import Path

import pytest

REPO_ROOT = Path(__file__).resolve().parent.parent
OFFICIAL_SAMPLE = REPO_ROOT.parent / "shared" / "imdb" / "official-sample"

BASICS_HEADER = (
    "tconst\ttitleType\tprimaryTitle\toriginalTitle\tisAdult\tstartYear\tendYear\t"
    "runtimeMinutes\tgenres"
)
RATINGS_HEADER = "tconst\taverageRating\tnumVotes"
CREW_HEADER = "tconst\tdirectors\twriters"


def write_tsv_gz(path: Path, header: str, rows: list[str]) -> Path:
    path.parent.mkdir(parents=True, exist_ok=True)
    with gzip.open(path, "wt", encoding="utf-8", newline="\n") as stream:
        stream.write("\n".join([header, *rows]) + "\n")
    return path


def write_dump(
    folder: Path,
    basics: list[str],
    ratings: list[str],
    crew: list[str] | None = None,
) -> Path:
    """A dump in the official layout: gzip TSV, header, `\\N` nulls, no quoting."""
    write_tsv_gz(folder / "title.basics.tsv.gz", BASICS_HEADER, basics)
    write_tsv_gz(folder / "title.ratings.tsv.gz", RATINGS_HEADER, ratings)
    if crew is not None:
        write_tsv_gz(folder / "title.crew.tsv.gz", CREW_HEADER, crew)
    return folder


@pytest.fixture
def official_sample() -> Path:
    if not (OFFICIAL_SAMPLE / "title.basics.tsv.gz").is_file():
        pytest.skip(f"real IMDb rows not found at {OFFICIAL_SAMPLE} (see shared/imdb/README.md)")
    return OFFICIAL_SAMPLE


def repo_files() -> list[str]:
    """The files git would check out: what a fresh clone of the project contains."""
    listed = subprocess.run(
        ["git", "ls-files", "--cached", "--others", "--exclude-standard", "-z"],
        cwd=REPO_ROOT,
        check=True,
        capture_output=True,
        text=True,
    ).stdout
    return [name for name in listed.split("\0") if name and (REPO_ROOT / name).is_file()]


@pytest.fixture
def repo_copy(tmp_path: Path) -> Path:
    """A fresh git repository holding the project's files, with the sample data in place."""
    target = tmp_path / "repo"
    for name in repo_files():
        destination = target / name
        destination.parent.mkdir(parents=True, exist_ok=True)
        shutil.copy2(REPO_ROOT / name, destination)
    shutil.copytree(REPO_ROOT / "data" / "sample", target / "data" / "sample")
    env = {**os.environ, "GIT_AUTHOR_NAME": "t", "GIT_AUTHOR_EMAIL": "t@example.com"}
    env |= {"GIT_COMMITTER_NAME": "t", "GIT_COMMITTER_EMAIL": "t@example.com"}
    for command in (["git", "init", "-q", "-b", "main"], ["git", "add", "-A"]):
        subprocess.run(command, cwd=target, check=True, env=env)
    subprocess.run(["git", "commit", "-qm", "copy"], cwd=target, check=True, env=env)
    return target
