"""evaluate: test metrics, the original recipe on the same split, segments and plots, and a
temporal holdout: how the pipeline does on movies newer than everything it was trained on.

Loads the model exactly as the service does (sha256-verified skops), so a broken artifact
fails here first. The temporal holdout refits the whole recipe — featurize's encodings and the
train stage's model, with their params (hence this stage reads those sections too) — on the
movies up to a cutoff year and tests it on the years after, next to the original recipe on the
same rows. Metrics and plot data are small and git-tracked (`cache: false` in
dvc.yaml), so `dvc metrics diff` and `dvc plots diff` work between commits without a remote.
"""

from __future__ import annotations

import logging
from dataclasses import dataclass
from typing import Any

import numpy as np
import pandas as pd
from sklearn.ensemble import RandomForestRegressor

from imdb_rating.accuracy import regression_metrics
from imdb_rating.artifact import load_verified_model
from imdb_rating.splits import temporal_cutoff
from imdb_rating.trees import FlatEnsemble, flatten
from stages.featurize import FeaturizeParams, featurize
from stages.train import TrainParams, fit
from workspace.commands import run_command
from workspace.files import atomic_path, write_json
from workspace.layout import (
    FEATURES_DIR,
    METRICS_DIR,
    MODEL_CARD,
    MOVIES_FILE,
    PLOTS_DIR,
    SPARSE_MOVIES_FILE,
)
from workspace.params import stage_params

log = logging.getLogger("stages.evaluate")

# The original system's recipe: its three raw columns, RandomForestRegressor(100).
BASELINE_COLUMNS = ["year", "runtime_minutes", "num_votes"]
VOTE_BUCKETS = [(50, 99), (100, 999), (1_000, 9_999), (10_000, 99_999), (100_000, None)]


@dataclass(frozen=True)
class EvaluateParams:
    baseline_n_estimators: int
    baseline_seed: int
    plot_points: int
    importance_repeats: int
    temporal_test_share: float


def baseline_predictions(
    train: pd.DataFrame, test: pd.DataFrame, params: EvaluateParams
) -> np.ndarray:
    model = RandomForestRegressor(
        n_estimators=params.baseline_n_estimators, random_state=params.baseline_seed, n_jobs=-1
    )
    model.fit(train[BASELINE_COLUMNS].to_numpy(), train["rating"].to_numpy())
    return model.predict(test[BASELINE_COLUMNS].to_numpy())


def vote_bucket(votes: int) -> str:
    for low, high in VOTE_BUCKETS:
        if high is None or votes <= high:
            return f"{low}+" if high is None else f"{low}-{high}"
    raise ValueError(votes)


def segment_metrics(scored: pd.DataFrame) -> dict[str, dict[str, Any]]:
    """Model and baseline error per decade and per vote-count bucket."""
    segments: dict[str, dict[str, Any]] = {}
    keys = {
        "by_decade": (scored["year"] // 10 * 10).astype(int).astype(str) + "s",
        "by_votes": scored["num_votes"].map(vote_bucket),
    }
    for name, key in keys.items():
        segments[name] = {}
        for group, rows in scored.groupby(key, sort=True):
            actual = rows["rating"].to_numpy()
            model = regression_metrics(actual, rows["predicted"].to_numpy())
            baseline = regression_metrics(actual, rows["baseline"].to_numpy())
            # R² is left out: within a narrow segment it says more about the segment's spread.
            segments[name][str(group)] = {
                "n": len(rows),
                "rmse": model["rmse"],
                "mae": model["mae"],
                "baseline_rmse": baseline["rmse"],
            }
    return segments


def importance_table(
    flat: FlatEnsemble, test: pd.DataFrame, names: list[str], params: EvaluateParams
):
    """Permutation importance: how much test RMSE grows when one feature is shuffled.

    Scored with the flattened model (the service's): the ~150 predictions this takes cost
    seconds instead of minutes on a full-size test split.
    """
    features, actual = test[names].to_numpy(), test["rating"].to_numpy()
    base = regression_metrics(actual, flat.predict(features))["rmse"]
    rng = np.random.default_rng(params.baseline_seed)
    increases = []
    for column in range(len(names)):
        shuffled = features.copy()
        growth = []
        for _ in range(params.importance_repeats):
            shuffled[:, column] = rng.permutation(features[:, column])
            growth.append(regression_metrics(actual, flat.predict(shuffled))["rmse"] - base)
        increases.append(round(float(np.mean(growth)), 5))
    table = pd.DataFrame({"feature": names, "importance": increases})
    return table.sort_values("importance", ascending=False, ignore_index=True)


def plot_sample(scored: pd.DataFrame, points: int) -> pd.DataFrame:
    """A fixed subset (by tconst order) keeps the git-tracked plot files small and stable."""
    step = max(1, len(scored) // points)
    sample = scored.sort_values("tconst").iloc[::step].head(points)
    return pd.DataFrame(
        {
            "tconst": sample["tconst"],
            "actual": sample["rating"].round(2),
            "predicted": sample["predicted"].round(3),
            "residual": (sample["rating"] - sample["predicted"]).round(3),
        }
    )


def error_by_year(years: np.ndarray, actual: np.ndarray, predicted: np.ndarray) -> pd.DataFrame:
    frame = pd.DataFrame({"year": years, "squared": (predicted - actual) ** 2})
    grouped = frame.groupby("year")["squared"].agg(["mean", "size"]).reset_index()
    return pd.DataFrame(
        {"year": grouped["year"], "rmse": np.sqrt(grouped["mean"]).round(4), "n": grouped["size"]}
    )


def temporal_holdout(
    movies: pd.DataFrame,
    sparse_movies: pd.DataFrame,
    params: EvaluateParams,
    featurize_params: FeaturizeParams,
    train_params: TrainParams,
) -> tuple[dict[str, Any], pd.DataFrame]:
    """The recipe refit on movies up to the cutoff year, tested on the years after. Nothing
    released after the cutoff is learned from, sparsely rated movies included."""
    cutoff = temporal_cutoff(movies["year"].to_numpy(), params.temporal_test_share)
    is_newer = (movies["year"] > cutoff).to_numpy()
    older_sparse = sparse_movies[sparse_movies["year"] <= cutoff]
    train, test, spec = featurize(movies, featurize_params, is_newer, older_sparse)
    model, _, _ = fit(train, test, spec.feature_names, train_params)
    predicted = model.predict(test[spec.feature_names].to_numpy())
    raw = movies.set_index("tconst")
    raw_train = raw.loc[train["tconst"], BASELINE_COLUMNS].assign(rating=train["rating"].to_numpy())
    baseline = baseline_predictions(raw_train, raw.loc[test["tconst"]], params)
    actual = test["rating"].to_numpy()
    metrics = {
        "cutoff_year": cutoff,
        "n_train": len(train),
        "n_test": len(test),
        **regression_metrics(actual, predicted),
        "baseline": regression_metrics(actual, baseline),
    }
    years = raw.loc[test["tconst"], "year"].to_numpy()
    return metrics, error_by_year(years, actual, predicted)


def evaluate(params: EvaluateParams) -> dict[str, Any]:
    model, card = load_verified_model(MODEL_CARD)
    # Scored as served: the walk (checked equal to the model's own predictions at load).
    served = flatten(model)
    names = card.feature_spec.feature_names
    train = pd.read_parquet(FEATURES_DIR / "train.parquet", columns=["tconst", "rating"])
    test = pd.read_parquet(FEATURES_DIR / "test.parquet")
    raw = pd.read_parquet(MOVIES_FILE, columns=["tconst", *BASELINE_COLUMNS]).set_index("tconst")
    raw_train = raw.loc[train["tconst"]].assign(rating=train["rating"].to_numpy())
    raw_test = raw.loc[test["tconst"]]
    scored = test[["tconst", "rating"]].assign(
        predicted=served.predict(test[names].to_numpy()),
        baseline=baseline_predictions(raw_train, raw_test, params),
        year=raw_test["year"].to_numpy(),
        num_votes=raw_test["num_votes"].to_numpy(),
    )
    actual = scored["rating"].to_numpy()
    metrics = {
        **regression_metrics(actual, scored["predicted"].to_numpy()),
        "interval_coverage": card.metrics.interval_coverage,
        "n_train": card.metrics.n_train,
        "n_calibration": card.intervals.calibration_rows,
        "n_test": len(test),
        "baseline": regression_metrics(actual, scored["baseline"].to_numpy()),
    }
    metrics["temporal"], temporal_errors = temporal_holdout(
        pd.read_parquet(MOVIES_FILE),
        pd.read_parquet(SPARSE_MOVIES_FILE),
        params,
        stage_params(FeaturizeParams, "featurize"),
        stage_params(TrainParams, "train"),
    )
    write_json(METRICS_DIR / "metrics.json", metrics)
    write_json(METRICS_DIR / "segments.json", segment_metrics(scored))
    points = plot_sample(scored, params.plot_points)
    for name, columns in (
        ("predictions", ["tconst", "actual", "predicted"]),
        ("residuals", ["tconst", "predicted", "residual"]),
    ):
        with atomic_path(PLOTS_DIR / f"{name}.csv") as tmp:
            points[columns].to_csv(tmp, index=False)
    with atomic_path(PLOTS_DIR / "importance.csv") as tmp:
        importance_table(served, test, names, params).to_csv(tmp, index=False)
    by_year = error_by_year(scored["year"].to_numpy(), actual, scored["predicted"].to_numpy())
    for name, table in (("error_by_year", by_year), ("temporal_error_by_year", temporal_errors)):
        with atomic_path(PLOTS_DIR / f"{name}.csv") as tmp:
            table.to_csv(tmp, index=False)
    return metrics


def main() -> None:
    metrics = evaluate(stage_params(EvaluateParams, "evaluate"))
    for name, figures in (("random split", metrics), ("newer movies", metrics["temporal"])):
        base = figures["baseline"]
        log.info(
            "%s: test RMSE %.4f (original recipe %.4f), R² %.4f (%.4f), MAE %.4f (%.4f)",
            name,
            figures["rmse"],
            base["rmse"],
            figures["r2"],
            base["r2"],
            figures["mae"],
            base["mae"],
        )


if __name__ == "__main__":
    run_command(main)
