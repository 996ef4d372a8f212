"""Shared fixtures: tiny dumps in the official IMDb layout, written by the tests themselves."""

from __future__ import annotations

import gzip
import json
import os
import shutil
import subprocess
from pathlib import Path

import numpy as np
import pandas as pd
import pytest

from harness.loopback import GunicornService
from stages.featurize import FeaturizeParams, featurize
from stages.train import TrainParams, fit, save_model
from workspace.layout import OFFICIAL_SAMPLE, REPO_ROOT
from workspace.params import load_params

# The team's shared servers (S3, PostgreSQL, MLflow) as fixtures.
pytest_plugins = ["tests.servers"]


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


def git(repo: Path, *args: str) -> None:
    """git in `repo` with a fixed identity (a test machine may have none)."""
    env = {**os.environ, "GIT_AUTHOR_NAME": "t", "GIT_AUTHOR_EMAIL": "t@example.com"}
    env |= {"GIT_COMMITTER_NAME": "t", "GIT_COMMITTER_EMAIL": "t@example.com"}
    subprocess.run(["git", *args], cwd=repo, check=True, env=env)


def copy_repository(target: Path) -> Path:
    """A fresh git repository at `target` holding the project's files, with the sample data
    in place."""
    for name in repo_files():
        destination = target / name
        destination.parent.mkdir(parents=True, exist_ok=True)
        shutil.copy2(REPO_ROOT / name, destination)
    shutil.copytree(REPO_ROOT / "data" / "sample", target / "data" / "sample")
    git(target, "init", "-q", "-b", "main")
    git(target, "add", "-A")
    git(target, "commit", "-qm", "copy")
    return target


@pytest.fixture
def repo_copy(tmp_path: Path) -> Path:
    return copy_repository(tmp_path / "repo")


def synthetic_movies(n: int = 1500, seed: int = 0):
    """Movies in the clean stage's schema, with crew, whose ratings follow their inputs."""
    rng = np.random.default_rng(seed)
    genres = ["Comedy", "Documentary", "Drama", "Horror", "Romance"]
    directors = rng.integers(0, 120, n)
    talent = rng.normal(0, 0.8, 120)
    genre_sets = [sorted(set(rng.choice(genres, rng.integers(1, 3)))) for _ in range(n)]
    votes = rng.lognormal(7, 1.5, n).astype(int) + 50
    rating = (
        6
        + talent[directors]
        + 0.2 * np.log(votes)
        - 1.0 * np.array(["Horror" in g for g in genre_sets])
        + rng.normal(0, 1, n) * 3 / np.log(votes)  # few votes: noisier ratings
    ).clip(1, 10)
    return pd.DataFrame(
        {
            "tconst": [f"tt{i:07d}" for i in range(n)],
            "title": [f"Film number {i}" for i in range(n)],
            "original_title": [f"Film number {i}" for i in range(n)],
            "is_adult": False,
            "year": rng.integers(1930, 2020, n),
            "runtime_minutes": np.where(rng.random(n) < 0.05, np.nan, rng.integers(60, 180, n)),
            "genres": genre_sets,
            "num_votes": votes,
            "rating": rating.round(1),
            "directors": [[f"nm{d:07d}"] for d in directors],
            "writers": [[f"nm{1000 + d % 60:07d}"] for d in directors],
        }
    )


def train_serving_artifact(
    folder: Path,
    movies=None,
    featurize_overrides: dict | None = None,
    train_overrides: dict | None = None,
) -> Path:
    """A model card and artifact made by the pipeline's own featurize and train code."""
    # The project's own params; a small model and a larger calibration share keep it quick.
    featurize_defaults = load_params("featurize")
    featurize_params = FeaturizeParams(**featurize_defaults | (featurize_overrides or {}))
    train, test, spec = featurize(
        synthetic_movies() if movies is None else movies, featurize_params
    )
    defaults = load_params("train")
    params = TrainParams(
        **defaults
        | {
            "calibration_size": 0.2,
            "hist_gradient_boosting": defaults["hist_gradient_boosting"] | {"max_iter": 60},
        }
        | (train_overrides or {})
    )
    model, intervals, metrics = fit(train, test, spec.feature_names, params)
    folder.mkdir(parents=True, exist_ok=True)
    save_model(folder, params, model, metrics, intervals, spec, "f" * 64)
    return folder / "model.json"


@pytest.fixture(scope="session")
def model_card_path(tmp_path_factory: pytest.TempPathFactory) -> Path:
    return train_serving_artifact(tmp_path_factory.mktemp("model"))


def model_id_of(card_path: Path) -> str:
    return json.loads(card_path.read_text())["model_id"]


@pytest.fixture(scope="session")
def model_id(model_card_path: Path) -> str:
    """The test model's identity, as the service reports it."""
    return model_id_of(model_card_path)


@pytest.fixture
def gunicorn_service(model_card_path: Path, tmp_path: Path):
    service = GunicornService(tmp_path / "service", model_card_path).start()
    yield service
    service.stop()


@pytest.fixture
def tracking_uri(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> str:
    """A fresh sqlite MLflow store for one test, in the environment and as the working folder."""
    uri = f"sqlite:///{tmp_path / 'mlflow.db'}"
    monkeypatch.setenv("MLFLOW_TRACKING_URI", uri)
    monkeypatch.chdir(tmp_path)  # the sqlite store's artifacts land in ./mlruns
    return uri


# --- the images (podman) ---------------------------------------------------------------------


@pytest.fixture(scope="session")
def podman(tmp_path_factory: pytest.TempPathFactory):
    from tests.containers import Podman

    podman = Podman(tmp_path_factory.mktemp("podman"))
    podman.ensure_base_image()
    return podman


@pytest.fixture(scope="session")
def image_context(tmp_path_factory: pytest.TempPathFactory, model_card_path: Path) -> Path:
    """The repository as cloned, with a model the pipeline's code trained as models/: the real
    one is a `make repro` output, absent where `make test` runs."""
    from tests.containers import build_context

    return build_context(tmp_path_factory.mktemp("image-context"), model_card_path.parent)


@pytest.fixture(scope="session")
def api_image(podman, image_context: Path) -> str:
    from tests.containers import build_service_image

    return build_service_image(podman, image_context, "api")


@pytest.fixture(scope="session")
def mlflow_image(podman, image_context: Path) -> str:
    from tests.containers import build_service_image

    return build_service_image(podman, image_context, "mlflow")
