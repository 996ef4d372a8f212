"""train: fit the model, calibrate its prediction intervals, register it, write the artifact.

- A seeded share of the train split (`calibration_size`) is held out of the fit to calibrate
  split-conformal intervals, Mondrian by vote-count bucket: movies with few votes get wider
  intervals, and each bucket's coverage holds on exchangeable data.
- models/model.skops (skops, trusted types only) and models/model.json (the model card the
  service reads and verifies) are the serving artifact: the same bytes for the same inputs.
- MLflow (MLFLOW_TRACKING_URI, default sqlite:///mlflow.db at the repo root) gets the run and
  a registered version of the model; the gate against the champion is registry/versions.py's.
"""

from __future__ import annotations

import hashlib
import json
import logging
import math
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import numpy as np
import pandas as pd
from threadpoolctl import threadpool_limits

from imdb_rating.accuracy import regression_metrics
from imdb_rating.artifact import dump_model, trusted_types_of
from imdb_rating.card import ArtifactRef, Intervals, ModelCard, ModelMetrics, TrainingData
from imdb_rating.drift import numeric_bins
from imdb_rating.features import FeatureSpec, SpecError
from imdb_rating.intervals import INTERVAL_FEATURE, half_widths
from imdb_rating.splits import share_mask
from registry.versions import register
from stages.families import FAMILIES, TRAINING_THREADS, make_model, servable
from workspace.commands import CommandError, run_command
from workspace.files import atomic_path, sha256_file, write_json
from workspace.layout import FEATURES_DIR, MODEL_CARD, MODELS_DIR, MOVIES_FILE
from workspace.params import stage_params

log = logging.getLogger("stages.train")

ARTIFACT_NAME = "model.skops"


@dataclass(frozen=True)
class TrainParams:
    model: str
    seed: int
    calibration_size: float
    interval_coverage: float
    interval_buckets: int
    registered_model: str
    gate_min_rows: int
    hist_gradient_boosting: dict[str, Any]
    random_forest: dict[str, Any]
    xgboost: dict[str, Any]
    lightgbm: dict[str, Any]
    catboost: dict[str, Any]

    def hyperparameters(self) -> dict[str, Any]:
        if self.model not in FAMILIES:
            raise CommandError(f"train.model {self.model!r}: use one of {', '.join(FAMILIES)}")
        return getattr(self, self.model)


def fit_model(params: TrainParams, features: np.ndarray, targets: np.ndarray):
    """The configured model fit on these rows: the same model on any machine."""
    try:
        model = make_model(params.model, params.hyperparameters(), params.seed)
    except TypeError as error:  # a misspelled hyper-parameter
        raise CommandError(f"params.yaml train.{params.model}: {error}") from None
    with threadpool_limits(TRAINING_THREADS, user_api="openmp"):
        return model.fit(features, targets)


def conformal_quantile(residuals: np.ndarray, coverage: float) -> float:
    """Split-conformal half-width: the ceil((n+1)·coverage)-th smallest |residual|."""
    n = len(residuals)
    rank = math.ceil((n + 1) * coverage)
    if rank > n:
        return float("inf")
    return float(np.sort(np.abs(residuals))[rank - 1])


def calibrate_intervals(
    residuals: np.ndarray, log_votes: np.ndarray, coverage: float, buckets: int
) -> Intervals:
    """Per vote bucket (equal shares of the calibration set), the conformal half-width."""
    quantiles = np.linspace(0, 1, buckets + 1)[1:-1]
    edges = sorted({round(float(q), 6) for q in np.quantile(log_votes, quantiles)})
    bucket = numeric_bins(log_votes, edges)
    widths = [
        round(conformal_quantile(residuals[bucket == b], coverage), 4)
        for b in range(len(edges) + 1)
    ]
    return Intervals(
        method="split conformal, Mondrian by log-votes bucket",
        coverage=coverage,
        feature=INTERVAL_FEATURE,
        edges=edges,
        half_widths=widths,
        calibration_rows=len(residuals),
    )


def interval_coverage(
    intervals: Intervals, actual: np.ndarray, predicted: np.ndarray, log_votes: np.ndarray
) -> float:
    half = half_widths(intervals.edges, intervals.half_widths, log_votes)
    return round(float(np.mean(np.abs(actual - predicted) <= half)), 4)


def fit(
    train: pd.DataFrame, test: pd.DataFrame, names: list[str], params: TrainParams
) -> tuple[Any, Intervals, ModelMetrics]:
    """The model fit on the train split (less its calibration share), its intervals calibrated
    on that share, and its metrics on the test split."""
    calibration = share_mask(train["tconst"], params.calibration_size, params.seed, "calibration")
    fit_rows, calibration_rows = train[~calibration], train[calibration]
    model = fit_model(params, fit_rows[names].to_numpy(), fit_rows["rating"].to_numpy())
    column = names.index(INTERVAL_FEATURE)
    calibration_x = calibration_rows[names].to_numpy()
    residuals = calibration_rows["rating"].to_numpy() - model.predict(calibration_x)
    intervals = calibrate_intervals(
        residuals, calibration_x[:, column], params.interval_coverage, params.interval_buckets
    )
    test_x, actual = test[names].to_numpy(), test["rating"].to_numpy()
    predicted = model.predict(test_x)
    metrics = ModelMetrics(
        **regression_metrics(actual, predicted),
        interval_coverage=interval_coverage(intervals, actual, predicted, test_x[:, column]),
        n_train=len(fit_rows),
        n_test=len(test),
    )
    return model, intervals, metrics


def test_movies(test: pd.DataFrame) -> pd.DataFrame:
    """The test split's raw movies, in its order: what the gate scores with both models."""
    movies = pd.read_parquet(MOVIES_FILE).set_index("tconst")
    return movies.loc[test["tconst"]].reset_index()


def main() -> None:
    params = stage_params(TrainParams, "train")
    spec_json = json.loads((FEATURES_DIR / "spec.json").read_text(encoding="utf-8"))
    try:
        spec = FeatureSpec.from_dict(spec_json)
    except SpecError as error:
        raise CommandError(f"{FEATURES_DIR / 'spec.json'}: {error}") from None
    train = pd.read_parquet(FEATURES_DIR / "train.parquet")
    test = pd.read_parquet(FEATURES_DIR / "test.parquet")
    names = spec.feature_names
    model, intervals, metrics = fit(train, test, names, params)
    log.info(
        "test RMSE %.4f, R² %.4f, MAE %.4f, interval coverage %.3f",
        metrics.rmse,
        metrics.r2,
        metrics.mae,
        metrics.interval_coverage,
    )
    data_sha256 = sha256_file(FEATURES_DIR / "train.parquet")
    save_model(MODELS_DIR, params, model, metrics, intervals, spec, data_sha256)
    run_params = {"model": params.model, "seed": params.seed, **params.hyperparameters()}
    register(MODELS_DIR, test_movies(test), run_params, params.gate_min_rows)


def save_model(
    folder: Path,
    params: TrainParams,
    model: Any,
    metrics: ModelMetrics,
    intervals: Intervals,
    spec: FeatureSpec,
    data_sha256: str,
) -> ModelCard:
    """The fitted model as its serving artifact and model card in `folder`."""
    served = servable(model)
    payload = dump_model(served)
    card = model_card(
        params, payload, trusted_types_of(served), metrics, intervals, spec, data_sha256
    )
    write_serving_artifact(folder, payload, card)
    return card


def model_card(
    params: TrainParams,
    payload: bytes,
    trusted_types: tuple[str, ...],
    metrics: ModelMetrics,
    intervals: Intervals,
    spec: FeatureSpec,
    data_sha256: str,
) -> ModelCard:
    """models/model.json: what the service verifies, loads and reports (imdb_rating/card.py)."""
    return ModelCard.build(
        name=params.registered_model,
        model_type=params.model,
        params={"seed": params.seed, **params.hyperparameters()},
        metrics=metrics,
        intervals=intervals,
        artifact=ArtifactRef(
            path=ARTIFACT_NAME,
            format="skops",
            sha256=hashlib.sha256(payload).hexdigest(),
            trusted_types=list(trusted_types),
        ),
        training_data=TrainingData(sha256=data_sha256, rows=metrics.n_train),
        feature_spec=spec,
    )


def write_serving_artifact(folder: Path, payload: bytes, card: ModelCard) -> None:
    """Artifact first, card last: a reader that sees the new card finds its artifact."""
    with atomic_path(folder / ARTIFACT_NAME) as tmp:
        tmp.write_bytes(payload)
    write_json(folder / MODEL_CARD.name, card.to_dict(), compact=True)


if __name__ == "__main__":
    run_command(main)
