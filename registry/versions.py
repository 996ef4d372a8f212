"""The registry's versions: the train stage's run and registered version, and the champion
gate. `stages.train`, `stages.card` and the tools call it.

- Identity: each version is tagged with its model's `model_id` (a hash of the model card, the
  same on every machine; a registry's version number is local to one tracking store), the
  training data's hash, the git commit and the params.
- The gate (MLflow's alias pattern): the current `champion`'s own artifact scores the new
  model's test movies, keeping only those the champion's own split held out of its training,
  and both RMSEs on those same rows are logged. A better new version gets the alias
  `challenger`. Nothing is ever decided on RMSEs measured on different rows.

Moves of `champion` (promotion, rollback) and their record are registry/releases.py's.
"""

from __future__ import annotations

import json
import logging
import os
import subprocess
import tempfile
from dataclasses import dataclass
from importlib.metadata import version as installed_version
from pathlib import Path
from typing import Any

import pandas as pd

from imdb_data.movies import as_columns
from imdb_rating.accuracy import regression_metrics
from imdb_rating.artifact import READABLE_CARD_MARKDOWN, READABLE_CARD_PAGE
from imdb_rating.card import ArtifactError
from imdb_rating.predictor import Predictor
from workspace.commands import CommandError
from workspace.layout import PARAMS_FILE, REPO_ROOT
from workspace.params import load_params

log = logging.getLogger("registry.versions")

EXPERIMENT = "imdb-rating"
CHAMPION, CHALLENGER = "champion", "challenger"
CARD_ARTIFACTS = "model_card"  # the run's folder for the model card (stages/card.py)
# What `mlflow models serve` needs besides MLflow itself to load the pyfunc.
SERVING_PACKAGES = ("mlflow", "numba", "numpy", "pandas", "scikit-learn", "skops")


def registered_model() -> str:
    """The registry's name of the model (params.yaml train.registered_model)."""
    return load_params("train", REPO_ROOT / PARAMS_FILE)["registered_model"]


def tracking_uri() -> str:
    return os.environ.get("MLFLOW_TRACKING_URI") or f"sqlite:///{REPO_ROOT / 'mlflow.db'}"


def tracking():
    """The mlflow module and a client, at tracking_uri()."""
    os.environ.setdefault("MLFLOW_ENABLE_ARTIFACTS_PROGRESS_BAR", "false")
    import mlflow  # heavy (~0.8 s): only on the training and promotion paths

    mlflow.set_tracking_uri(tracking_uri())
    return mlflow, mlflow.MlflowClient()


def git_commit() -> str:
    """HEAD's commit, with `-dirty` when the working tree differs (e.g. a `dvc exp run -S`)."""

    def git(*args: str) -> str:
        result = subprocess.run(
            ["git", *args], cwd=REPO_ROOT, capture_output=True, text=True, check=False
        )
        return result.stdout.strip() if result.returncode == 0 else ""

    commit = git("rev-parse", "HEAD")
    if not commit:
        return "unknown"
    return commit + ("-dirty" if git("status", "--porcelain", "--untracked-files=no") else "")


@dataclass(frozen=True)
class GateResult:
    """The new model against the champion on the same rows (RMSEs are None when not scored)."""

    verdict: str  # "better", "not better", "no champion" or "no comparison"
    reason: str
    rows: int = 0
    challenger_rmse: float | None = None
    champion_rmse: float | None = None

    @property
    def earns_challenger(self) -> bool:
        return self.verdict in ("better", "no champion")


def rmse_on(predictor: Predictor, movies: pd.DataFrame) -> float:
    """RMSE of the served predictions (the service's own path) against the movies' ratings."""
    predicted = predictor.predict(as_columns(movies)).ratings
    return regression_metrics(movies["rating"].to_numpy(), predicted)["rmse"]


def compare(
    challenger: Predictor, champion: Predictor | None, test_movies: pd.DataFrame, min_rows: int
) -> GateResult:
    """The gate's verdict; `test_movies` is the new model's test split, raw fields + rating."""
    if champion is None:
        return GateResult("no champion", "no version has the alias champion yet")
    rows = test_movies[champion.spec.split.held_out(test_movies["tconst"])]
    if len(rows) < min_rows:
        return GateResult(
            "no comparison",
            f"only {len(rows)} of {len(test_movies)} test movies are held out of both models'"
            f" training (train.gate_min_rows is {min_rows})",
            rows=len(rows),
        )
    try:
        champion_rmse = rmse_on(champion, rows)
    except (KeyError, ValueError) as error:  # e.g. inputs the champion's features lack
        return GateResult("no comparison", f"the champion cannot score these movies ({error})")
    challenger_rmse = rmse_on(challenger, rows)
    verdict = "better" if challenger_rmse < champion_rmse else "not better"
    return GateResult(
        verdict,
        f"on {len(rows)} of {len(test_movies)} test movies held out of both models' training",
        rows=len(rows),
        challenger_rmse=challenger_rmse,
        champion_rmse=champion_rmse,
    )


def download_version(mlflow, name: str, version: str, into: Path) -> Path:
    """The folder, under `into`, of a registered version's model.json and model.skops."""
    folder = mlflow.artifacts.download_artifacts(
        artifact_uri=f"models:/{name}/{version}", dst_path=str(into)
    )
    return Path(folder) / "artifacts"


def version_by_alias(client, name: str, alias: str) -> Any:
    """The registered version `alias` names (None when no version has the alias)."""
    from mlflow.exceptions import MlflowException

    try:
        return client.get_model_version_by_alias(name, alias)
    except MlflowException:
        return None


def _champion(mlflow, client, name: str) -> tuple[Any, Predictor | None, str]:
    """The champion version and its predictor, loaded from its own registered artifact."""
    version = version_by_alias(client, name, CHAMPION)
    if version is None:
        return None, None, "no version has the alias champion yet"
    folder = download_version(mlflow, name, version.version, Path(tempfile.mkdtemp()))
    try:
        return version, Predictor(folder / "model.json"), ""
    except (ArtifactError, FileNotFoundError, KeyError) as error:
        return version, None, f"version {version.version}'s artifact cannot be loaded ({error})"


def serving_requirements() -> list[str]:
    return [f"{name}=={installed_version(name)}" for name in SERVING_PACKAGES]


def input_example(test_movies: pd.DataFrame, fields: list[str]) -> pd.DataFrame:
    """A few real movies in the signature's form (lists for genres and crew)."""
    example = pd.DataFrame(as_columns(test_movies.head(3)))[fields]
    return example.astype({"runtime_minutes": "float64"})


def register(
    models_dir: Path, test_movies: pd.DataFrame, run_params: dict[str, Any], min_rows: int
) -> dict[str, Any]:
    """Log the train run, register the model as a pyfunc version, run the gate.

    Returns what the train stage logs: the run id, the version and the gate's result.
    """
    from registry import pyfunc

    mlflow, client = tracking()
    challenger = Predictor(models_dir / "model.json")
    card = challenger.card  # read and verified once: tens of MB on the full dump
    name = card.name
    tags = {
        "model_id": card.model_id,
        "training_data_sha256": card.training_data.sha256,
        "git_commit": git_commit(),
        "params": json.dumps(card.params, sort_keys=True),
    }
    mlflow.set_experiment(EXPERIMENT)
    with mlflow.start_run(tags=tags) as run:
        mlflow.log_params(run_params)
        mlflow.log_metrics({f"test_{name}": value for name, value in card.metrics.scores().items()})
        info = mlflow.pyfunc.log_model(
            name="model",
            python_model=pyfunc.__file__,
            artifacts={
                pyfunc.CARD_ARTIFACT: str(models_dir / "model.json"),
                pyfunc.SKOPS_ARTIFACT: str(models_dir / "model.skops"),
            },
            code_paths=[str(REPO_ROOT / "imdb_rating")],
            signature=pyfunc.signature(challenger.movie_fields),
            input_example=input_example(test_movies, challenger.input_fields),
            # Stated, not inferred: inference re-imports the model in a subprocess (~5 s).
            pip_requirements=serving_requirements(),
            registered_model_name=name,
        )
        version = str(info.registered_model_version)
        for key, value in tags.items():
            client.set_model_version_tag(name, version, key, value)
        # The card stage logs the card of a new model. A rerun that rebuilds the same model
        # (a fresh clone) skips that stage: the git-tracked card is then this model's; log it.
        card_files = card_files_of(models_dir, card.model_id)
        for path in card_files:
            mlflow.log_artifact(str(path), artifact_path=CARD_ARTIFACTS)
        champion_version, champion, why_not = _champion(mlflow, client, name)
        if champion_version is not None and champion is None:
            result = GateResult("no comparison", why_not)
        else:
            result = compare(challenger, champion, test_movies, min_rows)
        mlflow.set_tags(
            {
                "gate_verdict": result.verdict,
                "gate_reason": result.reason,
                "gate_champion_version": getattr(champion_version, "version", ""),
                "gate_champion_model_id": champion.model_id if champion else "",
            }
        )
        if result.challenger_rmse is not None:
            mlflow.log_metrics(
                {
                    "gate_rows": result.rows,
                    "gate_challenger_rmse": result.challenger_rmse,
                    "gate_champion_rmse": result.champion_rmse,
                }
            )
    describe = f"version {version} (model {card.model_id})"
    if result.earns_challenger:
        client.set_registered_model_alias(name, CHALLENGER, version)
        describe += f" is the new {CHALLENGER}"
    else:
        describe += " gets no alias"
    rmses = ""
    if result.challenger_rmse is not None:
        rmses = f": test RMSE {result.challenger_rmse:.4f} vs champion {result.champion_rmse:.4f}"
    log.info("%s (%s%s, %s)", describe, result.verdict, rmses, result.reason)
    return {"run_id": run.info.run_id, "version": version, "gate": result}


def card_files_of(models_dir: Path, model_id: str) -> list[Path]:
    """The model card's files in `models_dir` if they describe this model, else none."""
    markdown, page = models_dir / READABLE_CARD_MARKDOWN, models_dir / READABLE_CARD_PAGE
    try:
        title = markdown.read_text(encoding="utf-8").partition("\n")[0]
    except FileNotFoundError:
        return []
    return [markdown, page] if title.endswith(f"model {model_id}") and page.is_file() else []


def log_model_card(name: str, model_id: str, paths: list[Path]) -> None:
    """Log the model card's files to the run that registered the model with this id."""
    _, client = tracking()
    versions = client.search_model_versions(f"name = '{name}' and tag.model_id = '{model_id}'")
    if not versions:
        raise CommandError(
            f"no version of {name} at {tracking_uri()} has model_id {model_id}: run the train"
            " stage with this tracking URI first"
        )
    newest = max(versions, key=lambda version: int(version.version))
    for path in paths:
        client.log_artifact(newest.run_id, str(path), artifact_path=CARD_ARTIFACTS)
