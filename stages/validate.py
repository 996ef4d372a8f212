"""validate: the cross-validated error on the train split, the figure a search ranks by.

Hyper-parameter and feature searches (`make tune`) choose by this figure, never by the test
split: the test split is read once, by train and evaluate, for the chosen configuration. A
search that picked by test RMSE would fit the test rows through its choices, and the test
figure would then overstate how well the model does on movies it has not seen.

The folds are a seeded hash of the tconst, as every split here. Each fold is scored by the train
stage's own model (`fit_model`, train's params, hence this stage reads that section too) fit on
the other folds. Train rows carry out-of-fold encodings (featurize), so no fold sees its own
ratings through them.

Newer movies are where the model is weakest, so a search also ranks by a temporal fold: the
train split's newest years (`temporal_share` of its movies) held out, the model fit on the older
ones. It reuses the train split's features: cheap enough for every search point, but a newer
movie's crew and title encodings were learned out of fold from all years, so it is kinder than
evaluate's temporal holdout, which refits everything on the older movies alone. A search ranks
by `selection_rmse`, the mean of the two.
"""

from __future__ import annotations

import json
import logging
from dataclasses import dataclass
from typing import Any

import numpy as np
import pandas as pd

from imdb_rating.accuracy import regression_metrics
from imdb_rating.features import FeatureSpec
from imdb_rating.splits import fold_ids, temporal_cutoff
from stages.train import TrainParams, fit_model
from workspace.commands import run_command
from workspace.files import write_json
from workspace.layout import FEATURES_DIR, METRICS_DIR
from workspace.params import stage_params

log = logging.getLogger("stages.validate")


@dataclass(frozen=True)
class ValidateParams:
    folds: int
    temporal_share: float


def cross_validate(
    train: pd.DataFrame, names: list[str], params: TrainParams, folds: int
) -> dict[str, Any]:
    """Mean (and spread) of the per-fold test metrics of the train stage's model."""
    fold = fold_ids(train["tconst"], folds, params.seed, "validation")
    features, ratings = train[names].to_numpy(), train["rating"].to_numpy()
    scores = []
    for held_out in (fold == k for k in range(folds)):
        model = fit_model(params, features[~held_out], ratings[~held_out])
        scores.append(regression_metrics(ratings[held_out], model.predict(features[held_out])))
    rmses = [score["rmse"] for score in scores]
    return {
        "cv_rmse": round(float(np.mean(rmses)), 6),
        "cv_rmse_std": round(float(np.std(rmses)), 6),
        "cv_r2": round(float(np.mean([score["r2"] for score in scores])), 6),
        "cv_mae": round(float(np.mean([score["mae"] for score in scores])), 6),
        "folds": folds,
        "n_train": len(train),
    }


def temporal_validation(
    train: pd.DataFrame, names: list[str], params: TrainParams, share: float
) -> dict[str, Any]:
    """The train stage's model fit on the train split's older movies, scored on its newest."""
    cutoff = temporal_cutoff(train["year"].to_numpy(), share)
    newer = (train["year"] > cutoff).to_numpy()
    features, ratings = train[names].to_numpy(), train["rating"].to_numpy()
    model = fit_model(params, features[~newer], ratings[~newer])
    score = regression_metrics(ratings[newer], model.predict(features[newer]))
    return {
        "temporal_rmse": round(score["rmse"], 6),
        "temporal_r2": round(score["r2"], 6),
        "temporal_cutoff_year": cutoff,
        "temporal_n_test": int(newer.sum()),
    }


def validate(
    train: pd.DataFrame, names: list[str], params: ValidateParams, train_params: TrainParams
) -> dict[str, Any]:
    metrics = cross_validate(train, names, train_params, params.folds)
    metrics |= temporal_validation(train, names, train_params, params.temporal_share)
    metrics["selection_rmse"] = round((metrics["cv_rmse"] + metrics["temporal_rmse"]) / 2, 6)
    return metrics


def main() -> None:
    params = stage_params(ValidateParams, "validate")
    spec = FeatureSpec.from_dict(json.loads((FEATURES_DIR / "spec.json").read_text()))
    train = pd.read_parquet(FEATURES_DIR / "train.parquet")
    metrics = validate(train, spec.feature_names, params, stage_params(TrainParams, "train"))
    write_json(METRICS_DIR / "validation.json", metrics)
    log.info(
        "%d-fold cross-validation on the train split: RMSE %.4f ± %.4f, R² %.4f; "
        "newest years (after %d): RMSE %.4f; selection RMSE %.4f",
        params.folds,
        metrics["cv_rmse"],
        metrics["cv_rmse_std"],
        metrics["cv_r2"],
        metrics["temporal_cutoff_year"],
        metrics["temporal_rmse"],
        metrics["selection_rmse"],
    )


if __name__ == "__main__":
    run_command(main)
