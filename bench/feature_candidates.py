"""Features for newer movies, measured before any is built: each candidate is a column added to
the pipeline's own features, ranked on the train split only — validate's random CV and temporal
fold — with the test split and evaluate's temporal holdout (everything refit on the older
movies) beside, for information.

    python -m bench.feature_candidates [--official DIR] [--seeds 1 2 3 42]
        [--family hist_gradient_boosting] [--hyper depth=8 iterations=2000]
        [--candidates "today's features" "+ every candidate"]

Candidates, from each movie's inputs and the dump's snapshot year (its newest release year):
- `votes_per_year`: log votes less log(years since release + 1): a film keeps collecting votes,
  so a new film's count is compared with what older films had at its age.
- `era_votes`: log votes less the train split's median log votes of films of its year (a 5-year
  moving mean; a year past the table takes its last year's).
- `title_word_films` (and `title_word_sparse_films`): title words as a film role, the crew's
  similar-films encoding (`featurize.crew_similarity`) of each title word's films, from the train
  split (out of fold for its rows, by featurize's folds) and from the sparsely rated movies:
  title-word encodings by era. Words in at least `featurize.title_word_min_count` and at most
  TITLE_WORD_MAX_FILMS train movies ("the" is in 4,000 of the embedded sample's: thousands of
  films weighed on every request).
- `title_word_era` (and `title_word_sparse_era`): the same with films weighed by their year
  alone (`crew_similarity`'s `years` and `smoothing`), for every word of the title-word target
  table: a form the service could compute in constant time a word (prefix sums by year).
- every candidate at once: with `--hyper` (the family's hyper-parameters overridden, say
  without params.yaml's node budget), how far the dump's information goes.
Prints one Markdown table per source: each candidate's medians over the seeds. The last column
bounds what any correction for the newer movies' shift could reach: the temporal holdout's R²
after the best line a·prediction + b, fit on the holdout's own ratings (an oracle).
"""

from __future__ import annotations

import argparse
import dataclasses
import math
import statistics
from pathlib import Path

import numpy as np
import pandas as pd
import yaml

from bench.sources import add_official_option, quality_sources
from imdb_data.movies import as_columns
from imdb_rating.accuracy import regression_metrics
from imdb_rating.features import (
    FilmIndex,
    Similarity,
    genre_masks,
    similar_films_encoding,
    title_words,
)
from imdb_rating.splits import fold_ids, temporal_cutoff
from stages.clean import CleanParams, clean
from stages.evaluate import EvaluateParams
from stages.families import FAMILIES
from stages.featurize import Credits, FeaturizeParams, featurize, target_table
from stages.train import TrainParams, fit_model
from stages.validate import ValidateParams, cross_validate, temporal_validation
from workspace.layout import SAMPLE_DIR
from workspace.params import load_params

CANDIDATES = {
    "today's features": (),
    "+ votes_per_year": ("votes_per_year",),
    "+ era_votes": ("era_votes",),
    "+ both": ("votes_per_year", "era_votes"),
    "+ title_word_films": ("title_word_films", "title_word_sparse_films"),
    "+ title_word_era": ("title_word_era", "title_word_sparse_era"),
}
CANDIDATES["+ every candidate"] = tuple(
    dict.fromkeys(name for names in CANDIDATES.values() for name in names)
)
MEASURES = ("cv_rmse", "temporal_rmse", "test_r2", "temporal_r2", "temporal_recalibrated_r2")
TITLE_WORD_MAX_FILMS = 300


def candidate_columns(
    frame: pd.DataFrame, movies: pd.DataFrame, train: pd.DataFrame, snapshot_year: int
) -> pd.DataFrame:
    """The candidates for `frame`'s movies, their era table learned from `train`'s."""
    raw = movies.set_index("tconst")
    years = raw.loc[frame["tconst"], "year"].to_numpy(float)
    log_votes = np.log1p(raw.loc[frame["tconst"], "num_votes"].to_numpy(float))
    learned = raw.loc[train["tconst"]]
    by_year = (
        pd.Series(np.log1p(learned["num_votes"].to_numpy(float)), index=learned["year"].to_numpy())
        .groupby(level=0)
        .median()
    )
    span = range(int(by_year.index.min()), int(by_year.index.max()) + 1)
    era = by_year.reindex(span).interpolate().rolling(5, center=True, min_periods=1).mean()
    clipped = np.clip(years, era.index.min(), era.index.max())
    return pd.DataFrame(
        {
            "votes_per_year": log_votes - np.log(np.maximum(snapshot_year - years, 0) + 1),
            "era_votes": log_votes - era.loc[clipped].to_numpy(),
        },
        index=frame.index,
    )


def title_word_films(
    rows: pd.DataFrame,
    learned: pd.DataFrame,
    sparse: pd.DataFrame,
    genres: list[str],
    params: FeaturizeParams,
    similarity: Similarity,
    max_films: float,
) -> np.ndarray:
    """Per movie of `rows`, its title words' similar-films encodings from `learned`'s films and
    from `sparse`'s; out of fold when `rows` are `learned` (featurize's folds)."""
    # featurize's title-word vocabulary (its target table), less the words in too many films.
    words_of_titles = [title_words(title) for title in learned["title"]]
    table = target_table(words_of_titles, learned["rating"].to_numpy(), params.title_word_min_count)
    vocabulary = {word for word, (_, films) in table.items() if films <= max_films}

    def columns(movies: pd.DataFrame) -> dict:
        words = [sorted(title_words(title) & vocabulary) for title in movies["title"]]
        return as_columns(movies) | {"words": words}

    learned_columns, row_columns = columns(learned), columns(rows)
    films = Credits.of(learned_columns, "words", learned["rating"].to_numpy(), genres)
    sparse_films = Credits.of(columns(sparse), "words", sparse["rating"].to_numpy(), genres)
    priors = [float(learned["rating"].mean()), float(sparse["rating"].mean())]
    own = rows is learned
    folds = (
        fold_ids(rows["tconst"], params.encoding_folds, params.seed, "fold")
        if own
        else np.zeros(len(rows), dtype=int)
    )
    encoded = np.empty((len(rows), 2))
    for fold in np.unique(folds):
        mask = folds == fold
        words = [w for w, keep in zip(row_columns["words"], mask, strict=True) if keep]
        encoded[mask] = similar_films_encoding(
            [words, words],
            rows["year"].to_numpy(float)[mask],
            np.log1p(rows["num_votes"].to_numpy(float))[mask],
            np.asarray(genre_masks(rows["genres"][mask], genres), dtype=np.int64),
            FilmIndex([films.table(folds != fold if own else None), sparse_films.table()]),
            priors,
            similarity,
        )
    return encoded


def with_candidates(
    frame: pd.DataFrame,
    movies: pd.DataFrame,
    learned: pd.DataFrame,
    sparse: pd.DataFrame,
    genres: list[str],
    params: FeaturizeParams,
    snapshot_year: int,
) -> pd.DataFrame:
    """`frame` (feature rows of `movies`) with every candidate, learned from `learned`'s
    feature rows (the same frame: out of fold)."""
    raw = movies.set_index("tconst")
    rows = raw.loc[frame["tconst"]].reset_index()
    learned_rows = rows if learned is frame else raw.loc[learned["tconst"]].reset_index()
    likeness = Similarity(**params.crew_similarity)
    era = dataclasses.replace(likeness, log_votes=math.inf, genre_weight=0.0)
    title_words_by = {
        "+ title_word_films": (likeness, TITLE_WORD_MAX_FILMS),
        "+ title_word_era": (era, math.inf),
    }
    return pd.concat(
        [
            frame,
            candidate_columns(frame, movies, learned, snapshot_year),
            *(
                pd.DataFrame(
                    title_word_films(rows, learned_rows, sparse, genres, params, *weighing),
                    columns=CANDIDATES[name],
                    index=frame.index,
                )
                for name, weighing in title_words_by.items()
            ),
        ],
        axis=1,
    )


def measure(
    source: Path, seed: int, family: str, hyper: dict[str, object], candidates: list[str]
) -> dict[str, dict[str, float]]:
    """Per candidate: CV and temporal fold RMSE (train split), test and temporal holdout R²
    (and the holdout's after the oracle's line)."""
    movies, sparse, _ = clean(source, CleanParams(**load_params("clean")))
    featurize_params = FeaturizeParams(**load_params("featurize") | {"seed": seed})
    section = load_params("train")
    train_params = TrainParams(
        **section | {"model": family, "seed": seed, family: section[family] | hyper}
    )
    validate_params = ValidateParams(**load_params("validate"))
    snapshot_year = int(movies["year"].max())
    train, test, spec = featurize(movies, featurize_params, None, sparse)
    cutoff = temporal_cutoff(
        movies["year"].to_numpy(), EvaluateParams(**load_params("evaluate")).temporal_test_share
    )
    newer = (movies["year"] > cutoff).to_numpy()
    older_sparse = sparse[sparse["year"] <= cutoff]
    older_train, newer_test, older_spec = featurize(movies, featurize_params, newer, older_sparse)
    frames = [
        with_candidates(
            frame, movies, learned, known_sparse, genres, featurize_params, snapshot_year
        )
        for frame, learned, known_sparse, genres in (
            (train, train, sparse, spec.genres),
            (test, train, sparse, spec.genres),
            (older_train, older_train, older_sparse, older_spec.genres),
            (newer_test, older_train, older_sparse, older_spec.genres),
        )
    ]
    results = {}
    train_x, test_x, older_x, newer_x = frames
    for name in candidates:
        extra = CANDIDATES[name]
        # The vocabularies (genres) of each split's spec: the temporal one may know fewer.
        names, older_names = [*spec.feature_names, *extra], [*older_spec.feature_names, *extra]
        cv = cross_validate(train_x, names, train_params, validate_params.folds)
        fold = temporal_validation(train_x, names, train_params, validate_params.temporal_share)
        ratings, predicted = _predict(train_params, older_x, newer_x, older_names)
        slope, intercept = np.polyfit(predicted, ratings, 1)
        recalibrated = slope * predicted + intercept
        results[name] = {
            "cv_rmse": cv["cv_rmse"],
            "temporal_rmse": fold["temporal_rmse"],
            "test_r2": regression_metrics(*_predict(train_params, train_x, test_x, names))["r2"],
            "temporal_r2": regression_metrics(ratings, predicted)["r2"],
            "temporal_recalibrated_r2": regression_metrics(ratings, recalibrated)["r2"],
        }
    return results


def _predict(
    params: TrainParams, fit_on: pd.DataFrame, score_on: pd.DataFrame, names
) -> tuple[np.ndarray, np.ndarray]:
    """`score_on`'s ratings and their predictions by a model fit on `fit_on`."""
    model = fit_model(params, fit_on[names].to_numpy(), fit_on["rating"].to_numpy())
    return score_on["rating"].to_numpy(), model.predict(score_on[names].to_numpy())


def hyper_parameter(text: str) -> tuple[str, object]:
    """`key=value`, the value read as YAML (as params.yaml's are)."""
    key, separator, value = text.partition("=")
    if not separator:
        raise argparse.ArgumentTypeError(f"{text!r}: use key=value")
    return key, yaml.safe_load(value)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--seeds", type=int, nargs="+", default=[1, 2, 3, 42])
    add_official_option(parser)
    parser.add_argument("--family", choices=FAMILIES, default=load_params("train")["model"])
    parser.add_argument(
        "--hyper",
        type=hyper_parameter,
        nargs="+",
        default=[],
        help="the family's hyper-parameters, over params.yaml's: key=value",
    )
    parser.add_argument("--candidates", nargs="+", choices=CANDIDATES, default=list(CANDIDATES))
    args = parser.parse_args()
    hyper = dict(args.hyper)
    for title, source in quality_sources(args.official).items():
        runs = [
            measure(source or SAMPLE_DIR, seed, args.family, hyper, args.candidates)
            for seed in args.seeds
        ]
        model = f"{args.family} {hyper}" if hyper else args.family
        print(f"\n### {title}: {model}, medians over seeds {args.seeds}\n")
        print(
            "| features | CV RMSE | temporal fold RMSE | test R² | temporal holdout R² "
            "| … recalibrated on itself (oracle) |"
        )
        print("|---|---:|---:|---:|---:|---:|")
        for name in args.candidates:
            medians = [statistics.median(run[name][key] for run in runs) for key in MEASURES]
            print(f"| {name} | " + " | ".join(f"{value:.4f}" for value in medians) + " |")


if __name__ == "__main__":
    main()
