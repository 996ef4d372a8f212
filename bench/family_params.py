"""A model family's parameters against params.yaml's, on the train split's folds only: each
variant's validate figures (random CV and temporal fold RMSE) beside the defaults', paired by
seed, on both sources.

    python -m bench.family_params [--official DIR] [--seeds 1 2 3 42]

Each seed's split is featurized once and every variant is fit on the same folds, so a variant's
difference from the defaults is paired: the table gives its mean over the seeds and that mean's
standard error. A variant counts as better only where both folds' mean differences are below
zero by more than two standard errors on both sources (what the test split would add is noise
of the same size, and it is not looked at). The variants are those searched for issue 22 within
the node budget (docs/benchmarks.md): CatBoost's feature subsampling per split (`rsm`), split
score noise, Bernoulli row subsampling, fewer borders, and depth 5 or 7 with the trees that
keep the nodes walked per movie near today's 2,310.
"""

from __future__ import annotations

import argparse
import math
import statistics
from pathlib import Path

from bench.sources import add_official_option, quality_sources
from stages.clean import CleanParams, clean
from stages.featurize import FeaturizeParams, featurize
from stages.train import TrainParams
from stages.validate import ValidateParams, cross_validate, temporal_validation
from workspace.layout import SAMPLE_DIR
from workspace.params import load_params

FAMILY = "catboost"
VARIANTS: dict[str, dict] = {
    "rsm 0.3": {"rsm": 0.3},
    "rsm 0.5": {"rsm": 0.5},
    "rsm 0.7": {"rsm": 0.7},
    "random_strength 2": {"random_strength": 2},
    "Bernoulli subsample 0.8": {"bootstrap_type": "Bernoulli", "subsample": 0.8},
    "border_count 64": {"border_count": 64},
    "depth 5, 385 trees": {"depth": 5, "iterations": 385},
    "depth 7, 290 trees": {"depth": 7, "iterations": 290},
    "rsm 0.5, depth 7, 290 trees": {"rsm": 0.5, "depth": 7, "iterations": 290},
}
FOLDS = ("cv_rmse", "temporal_rmse")


def fold_rmses(source: Path, seed: int) -> dict[str, dict[str, float]]:
    """Per variant (and "defaults"): validate's two RMSEs on `seed`'s train split."""
    movies, sparse, _ = clean(source, CleanParams(**load_params("clean")))
    train, _, spec = featurize(
        movies, FeaturizeParams(**load_params("featurize") | {"seed": seed}), None, sparse
    )
    validate = ValidateParams(**load_params("validate"))
    defaults = load_params("train") | {"model": FAMILY, "seed": seed}
    results = {}
    for name, changes in {"defaults": {}, **VARIANTS}.items():
        params = TrainParams(**defaults | {FAMILY: defaults[FAMILY] | changes})
        cv = cross_validate(train, spec.feature_names, params, validate.folds)
        fold = temporal_validation(train, spec.feature_names, params, validate.temporal_share)
        results[name] = {"cv_rmse": cv["cv_rmse"], "temporal_rmse": fold["temporal_rmse"]}
    return results


def paired(runs: list[dict[str, dict[str, float]]], name: str, key: str) -> tuple[float, float]:
    """The mean over seeds of `name`'s difference from the defaults, and its standard error."""
    differences = [run[name][key] - run["defaults"][key] for run in runs]
    return statistics.mean(differences), statistics.stdev(differences) / math.sqrt(len(runs))


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--seeds", type=int, nargs="+", default=[1, 2, 3, 42])
    add_official_option(parser)
    args = parser.parse_args()
    for title, source in quality_sources(args.official).items():
        runs = [fold_rmses(source or SAMPLE_DIR, seed) for seed in args.seeds]
        print(f"\n### {title}: {FAMILY}, seeds {args.seeds}\n")
        print("| parameters | CV RMSE | temporal fold RMSE | CV Δ (± SE) | temporal Δ (± SE) |")
        print("|---|---:|---:|---:|---:|")
        for name in ("defaults", *VARIANTS):
            medians = [statistics.median(run[name][key] for run in runs) for key in FOLDS]
            cells = [f"{medians[0]:.4f}", f"{medians[1]:.4f}"]
            for key in FOLDS:
                mean, error = paired(runs, name, key)
                beyond_noise = "**" if mean < -2 * error else ""
                cells.append(f"{beyond_noise}{mean:+.4f}{beyond_noise} (± {error:.4f})")
            print(f"| {name} | {' | '.join(cells)} |")


if __name__ == "__main__":
    main()
