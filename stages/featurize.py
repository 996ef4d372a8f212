"""featurize: split the movies, learn the feature spec on the train split, encode both splits.

- The split hashes each tconst with the seed: deterministic, and a movie keeps its side when
  the dump grows, so metrics stay comparable across data versions.
- Genre vocabulary, title-word and crew target encodings and the linear score (a ridge
  regression over title words, character trigrams and genre/decade/votes/runtime indicators,
  whose prediction is a feature) are learned on the train split only. Train rows get
  out-of-fold encodings (learned without their fold), so the model never sees a row's own
  rating through them; test rows use what the whole train split taught.
- Each director's and writer's rated films (year, log votes, genres, rating) are kept as film
  tables, the same way (out-of-fold for train rows): the similar-films encoding weighs them by
  their likeness to the movie encoded (features.Similarity).
- Per-person statistics (mean log votes, first year, films) use inputs only, never ratings, and
  cover every cleaned movie so the service can describe people it has not seen rated.
- The sparsely rated movies (clean stage: too few votes to be modelled) teach a second set of
  crew encodings and film tables and a second linear score. They are in neither split, so
  every row uses the same tables: no rating of a modelled movie is in them.
- The spec (data/features/spec.json) holds everything the service needs to encode a request
  and the training distribution of each monitored input (the drift reference).
"""

from __future__ import annotations

import logging
from collections.abc import Iterable, Sequence
from dataclasses import dataclass, fields
from typing import Any

import numpy as np
import pandas as pd
from scipy import sparse
from sklearn.feature_extraction.text import CountVectorizer

from imdb_data.movies import as_columns
from imdb_rating.drift import (
    DriftReference,
    categorical_reference,
    monitored_inputs,
    numeric_reference,
)
from imdb_rating.features import (
    FeatureSpec,
    FilmTable,
    Learned,
    LinearScore,
    Similarity,
    Split,
    build_matrix,
    genre_masks,
    linear_token_columns,
    title_words,
)
from imdb_rating.movie import CREW_ROLES
from imdb_rating.splits import fold_ids
from workspace.commands import run_command
from workspace.files import atomic_path, write_json
from workspace.layout import FEATURES_DIR, MOVIES_FILE, PARAMS_FILE, SPARSE_MOVIES_FILE
from workspace.params import check_keys, stage_params

log = logging.getLogger("stages.featurize")


@dataclass(frozen=True)
class FeaturizeParams:
    test_size: float
    seed: int
    encoding_folds: int
    crew_encoding_smoothing: float
    title_word_smoothing: float
    title_word_min_count: int
    linear_score: bool
    linear_alpha: float
    linear_min_count: int
    # The fields of imdb_rating.features.Similarity (the crew's `similar_encoding`).
    crew_similarity: dict[str, float]
    drift_bins: int

    def __post_init__(self) -> None:
        names = [item.name for item in fields(Similarity)]
        check_keys(
            self.crew_similarity, names, names, f"{PARAMS_FILE.name} featurize.crew_similarity"
        )


def target_table(
    keys: Sequence[Iterable[str]], targets: np.ndarray, min_count: int = 1
) -> dict[str, list[float]]:
    """Per key: [sum of targets, number of movies], for keys seen in at least min_count movies."""
    exploded = pd.DataFrame({"key": list(keys), "target": targets}).explode("key").dropna()
    grouped = exploded.groupby("key")["target"].agg(["sum", "count"])
    grouped = grouped[grouped["count"] >= min_count]
    return {
        str(key): [round(float(total), 3), int(count)]
        for key, total, count in grouped.itertuples(name=None)
    }


def people_table(movies: pd.DataFrame, role: str) -> dict[str, list[float]]:
    """Per person, from inputs only: [mean log votes, first year, number of movies]."""
    credits = pd.DataFrame(
        {
            "person": movies[role].to_numpy(),
            "log_votes": np.log1p(movies["num_votes"].to_numpy()),
            "year": movies["year"].to_numpy(),
        }
    ).explode("person")
    stats = (
        credits.dropna(subset=["person"])
        .groupby("person")
        .agg(
            mean_log_votes=("log_votes", "mean"),
            first_year=("year", "min"),
            movies=("year", "size"),
        )
    )
    return {
        str(person): [round(float(votes), 4), int(year), int(count)]
        for person, votes, year, count in stats.itertuples(name=None)
    }


@dataclass(frozen=True)
class Credits:
    """One crew role's credits of a set of movies, with their films' year, log votes, genre mask
    and rating, grouped by person (each person's in the movies' order). Built once: the spec's
    film table and each out-of-fold one select their movies' rows."""

    movie: np.ndarray  # the credited movie's row in the set
    person: np.ndarray
    films: dict[str, np.ndarray]

    @classmethod
    def of(
        cls, columns: dict[str, list[Any]], role: str, targets: np.ndarray, genres: Sequence[str]
    ) -> Credits:
        films = {
            "year": np.asarray(columns["year"], dtype=np.int64),
            "log_votes": np.log1p(np.asarray(columns["num_votes"], dtype=np.float64)).round(4),
            "genres": np.asarray(genre_masks(columns["genres"], genres), dtype=np.int64),
            "rating": np.asarray(targets, dtype=np.float64),
        }
        people = columns[role]
        movie = np.repeat(np.arange(len(people)), [len(names) for names in people])
        person = np.asarray([name for names in people for name in names], dtype=str)
        order = np.argsort(person, kind="stable")  # stable: the same table every run
        movie = movie[order]
        return cls(movie, person[order], {name: column[movie] for name, column in films.items()})

    def table(self, movies: np.ndarray | None = None) -> FilmTable:
        """The film table of the movies selected by this boolean mask (default: all), as
        arrays."""
        keep = slice(None) if movies is None else movies[self.movie]
        person = self.person[keep]
        firsts = np.flatnonzero(np.r_[True, person[1:] != person[:-1]]) if len(person) else []
        return FilmTable(
            people=person[firsts],
            starts=np.r_[firsts, len(person)].astype(np.int64),
            **{name: column[keep] for name, column in self.films.items()},
        )


def spec_film_tables(
    columns: dict[str, list[Any]], targets: np.ndarray, roles: Sequence[str], genres: Sequence[str]
) -> dict[str, FilmTable]:
    """Per role, the movies' film table as the spec stores it (JSON lists)."""
    return {role: as_lists(Credits.of(columns, role, targets, genres).table()) for role in roles}


def as_lists(table: FilmTable) -> FilmTable:
    """A film table of JSON lists."""
    columns = table.to_dict()
    return FilmTable(**{name: np.asarray(column).tolist() for name, column in columns.items()})


def select(columns: dict[str, list[Any]], rows: np.ndarray) -> dict[str, list[Any]]:
    """The columns of the rows this boolean mask selects (cheaper than converting them again)."""
    indices = np.flatnonzero(rows).tolist()
    return {name: [values[i] for i in indices] for name, values in columns.items()}


@dataclass(frozen=True)
class TokenCounts:
    """Movies' linear tokens, counted once: featurize fits the score on the train split and on
    each of its out-of-fold subsets, which select rows of the same counts."""

    matrix: Any  # scipy.sparse CSR: movies x tokens
    names: np.ndarray  # the tokens, sorted (the matrix's columns)

    @classmethod
    def of(cls, columns: dict[str, list[Any]]) -> TokenCounts:
        # The documents are already token lists (one entry per count): `list` is the analyzer.
        vectorizer = CountVectorizer(analyzer=list, lowercase=False)
        matrix = vectorizer.fit_transform(linear_token_columns(columns))
        return cls(matrix.tocsr(), vectorizer.get_feature_names_out())

    def rows(self, mask: np.ndarray) -> TokenCounts:
        return TokenCounts(self.matrix[mask], self.names)


def fit_linear_score(
    tokens: TokenCounts, targets: np.ndarray, alpha: float, min_count: int
) -> LinearScore:
    """Ridge regression of the rating on the movies' linear tokens seen in at least min_count
    movies: the weights of the tokens, the intercept."""
    counts = tokens.matrix
    # Tokens seen in at least min_count of these movies (CountVectorizer's min_df, which raises
    # when none is: a handful of movies sharing no token); their mean is all there is to learn.
    kept = np.bincount(counts.indices, minlength=counts.shape[1]) >= min_count
    if not kept.any():
        return LinearScore(round(float(targets.mean()), 6), {})
    coefficients, intercept = ridge_regression(counts[:, kept], targets, alpha)
    weights = {
        str(token): round(float(weight), 6)
        for token, weight in zip(tokens.names[kept], coefficients, strict=True)
    }
    kept_weights = {token: weight for token, weight in weights.items() if weight != 0.0}
    return LinearScore(round(intercept, 6), kept_weights)


# The ridge solution is iterated until its normal-equation residual falls below this share of
# the first one: weights then agree with the exact solution to ~1e-8, below their rounding.
RIDGE_TOLERANCE = 1e-8
RIDGE_MAX_ITERATIONS = 10_000


def _dot(a: np.ndarray, b: np.ndarray) -> float:
    """a·b by NumPy's pairwise sum of the products, not BLAS: a BLAS dot product's summation
    order depends on the CPU's kernel and the thread count, and so would the outputs."""
    return float(np.sum(a * b))


def ridge_regression(
    counts: sparse.csr_matrix, targets: np.ndarray, alpha: float
) -> tuple[np.ndarray, float]:
    """Coefficients and intercept minimising |y - Xw - b|² + alpha·|w|², by conjugate gradients
    on the normal equations of the centred problem (CGLS). Every step is a sparse product
    (SciPy's sequential loops), elementwise arithmetic or `_dot`: the same bytes on every
    machine (scikit-learn's solvers call BLAS, whose results differ between CPUs)."""
    rows = counts.shape[0]
    matrix = counts.astype(np.float64).tocsr()
    transposed = matrix.T.tocsr()
    means = np.asarray(matrix.sum(axis=0)).ravel() / rows
    target_mean = float(np.sum(targets)) / rows

    def times(v: np.ndarray) -> np.ndarray:  # the centred matrix times v
        return matrix @ v - _dot(means, v)

    def transposed_times(u: np.ndarray) -> np.ndarray:
        return transposed @ u - means * float(np.sum(u))

    weights = np.zeros(matrix.shape[1])
    residual = np.asarray(targets, dtype=np.float64) - target_mean
    gradient = transposed_times(residual)
    direction = gradient.copy()
    norm = first_norm = _dot(gradient, gradient)
    for _ in range(RIDGE_MAX_ITERATIONS):
        if norm <= RIDGE_TOLERANCE**2 * first_norm:
            break
        image = times(direction)
        step = norm / (_dot(image, image) + alpha * _dot(direction, direction))
        weights += step * direction
        residual -= step * image
        gradient = transposed_times(residual) - alpha * weights
        norm, previous = _dot(gradient, gradient), norm
        direction = gradient + (norm / previous) * direction
    return weights, target_mean - _dot(means, weights)


def learn_from_ratings(
    columns: dict[str, list[Any]],
    tokens: TokenCounts | None,
    films: dict[str, FilmTable],
    targets: np.ndarray,
    roles: Sequence[str],
    params: FeaturizeParams,
) -> Learned:
    """The target tables and, given the movies' tokens, the linear score; with the movies'
    film tables, what their ratings teach."""
    tables = {role: target_table(columns[role], targets) for role in roles}
    words = [title_words(title) for title in columns["title"]]
    tables["title_words"] = target_table(words, targets, params.title_word_min_count)
    score = (
        fit_linear_score(tokens, targets, params.linear_alpha, params.linear_min_count)
        if tokens is not None
        else None
    )
    return Learned(target_tables=tables, film_tables=films, linear_score=score)


@dataclass(frozen=True)
class SparseLearned:
    """What the sparsely rated movies teach (FeatureSpec's `sparse_*` fields)."""

    mean: float
    tables: dict[str, dict[str, list[float]]]
    film_tables: dict[str, FilmTable]
    linear_score: LinearScore | None


def learn_from_sparse(
    sparse_movies: pd.DataFrame,
    roles: Sequence[str],
    genres: Sequence[str],
    params: FeaturizeParams,
    fallback: float,
) -> SparseLearned:
    """Their mean rating (`fallback` when there are none), per role a target and a film table,
    and the linear score fit on them when featurize fits one at all."""
    columns = as_columns(sparse_movies)
    targets = sparse_movies["rating"].to_numpy()
    films = spec_film_tables(columns, targets, roles, genres)
    if sparse_movies.empty:
        return SparseLearned(fallback, {role: {} for role in roles}, films, None)
    return SparseLearned(
        mean=round(float(targets.mean()), 6),
        tables={role: target_table(columns[role], targets) for role in roles},
        film_tables=films,
        linear_score=(
            fit_linear_score(
                TokenCounts.of(columns), targets, params.linear_alpha, params.linear_min_count
            )
            if params.linear_score
            else None
        ),
    )


def drift_reference(columns: dict[str, list[Any]], genres: list[str], bins: int) -> DriftReference:
    inputs = monitored_inputs(columns)
    numeric = {name: numeric_reference(values, bins) for name, values in inputs.items()}
    return DriftReference(numeric, categorical_reference(columns["genres"], genres))


def learn_spec(
    movies: pd.DataFrame,
    train: pd.DataFrame,
    columns: dict[str, list[Any]],
    tokens: TokenCounts | None,
    sparse_movies: pd.DataFrame,
    params: FeaturizeParams,
) -> FeatureSpec:
    """The spec, learned on the train split (`columns`: as_columns of it)."""
    # A role credited on no train movie would give all-NaN columns (which scikit-learn's
    # histogram binning rejects) and no signal: it is left out, as when title.crew is absent.
    roles = [role for role in CREW_ROLES if role in train and train[role].map(len).any()]
    genres = sorted({genre for values in columns["genres"] for genre in values})
    targets = train["rating"].to_numpy()
    films = spec_film_tables(columns, targets, roles, genres)
    learned = learn_from_ratings(columns, tokens, films, targets, roles, params)
    target_mean = round(float(targets.mean()), 6)
    sparse = learn_from_sparse(sparse_movies, roles, genres, params, fallback=target_mean)
    return FeatureSpec(
        # Which movies this model held out: the registry's gate compares models on those.
        split=Split(seed=params.seed, test_size=params.test_size),
        genres=genres,
        crew_roles=roles,
        target_mean=target_mean,
        crew_encoding_smoothing=params.crew_encoding_smoothing,
        title_word_smoothing=params.title_word_smoothing,
        target_tables=dict(learned.target_tables),
        film_tables=dict(learned.film_tables),
        crew_similarity=Similarity(**params.crew_similarity),
        linear_score=learned.linear_score,
        people={role: people_table(movies, role) for role in roles},
        sparse_mean=sparse.mean,
        sparse_tables=sparse.tables,
        sparse_film_tables=sparse.film_tables,
        sparse_linear_score=sparse.linear_score,
        drift_reference=drift_reference(columns, genres, params.drift_bins),
    )


def out_of_fold_matrix(
    train: pd.DataFrame,
    columns: dict[str, list[Any]],
    tokens: TokenCounts | None,
    spec: FeatureSpec,
    params: FeaturizeParams,
) -> np.ndarray:
    """Encode each fold of the train split (`columns`: as_columns of it) with tables learned on
    the other folds."""
    folds = fold_ids(train["tconst"], params.encoding_folds, params.seed, "fold")
    matrix = np.empty((len(train), len(spec.feature_names)))
    targets = train["rating"].to_numpy()
    credits = {role: Credits.of(columns, role, targets, spec.genres) for role in spec.crew_roles}
    for fold in range(params.encoding_folds):
        held_out = folds == fold
        learned = learn_from_ratings(
            select(columns, ~held_out),
            None if tokens is None else tokens.rows(~held_out),
            {role: credits[role].table(~held_out) for role in spec.crew_roles},
            targets[~held_out],
            spec.crew_roles,
            params,
        )
        matrix[held_out] = build_matrix(select(columns, held_out), spec, learned)
    return matrix


def feature_frame(movies: pd.DataFrame, matrix: np.ndarray, names: list[str]) -> pd.DataFrame:
    frame = pd.DataFrame(matrix, columns=names)
    frame.insert(0, "tconst", movies["tconst"].to_numpy())
    frame.insert(1, "rating", movies["rating"].to_numpy())
    return frame


def featurize(
    movies: pd.DataFrame,
    params: FeaturizeParams,
    is_test: np.ndarray | None = None,
    sparse_movies: pd.DataFrame | None = None,
) -> tuple[pd.DataFrame, pd.DataFrame, FeatureSpec]:
    """Train and test feature frames and the spec learned on train (and on the sparsely rated
    movies, if given). The split is the seeded hash of the tconst unless `is_test` says
    otherwise (evaluate's temporal holdout)."""
    if is_test is None:
        is_test = Split(params.seed, params.test_size).held_out(movies["tconst"])
    train, test = movies[~is_test].reset_index(drop=True), movies[is_test].reset_index(drop=True)
    if sparse_movies is None:
        sparse_movies = movies.iloc[:0]
    columns = as_columns(train)
    tokens = TokenCounts.of(columns) if params.linear_score else None
    spec = learn_spec(movies, train, columns, tokens, sparse_movies, params)
    names = spec.feature_names
    oof = out_of_fold_matrix(train, columns, tokens, spec, params)
    train_frame = feature_frame(train, oof, names)
    test_frame = feature_frame(test, build_matrix(as_columns(test), spec), names)
    return train_frame, test_frame, spec


def main() -> None:
    params = stage_params(FeaturizeParams, "featurize")
    movies, sparse_movies = pd.read_parquet(MOVIES_FILE), pd.read_parquet(SPARSE_MOVIES_FILE)
    train, test, spec = featurize(movies, params, sparse_movies=sparse_movies)
    for name, frame in (("train", train), ("test", test)):
        with atomic_path(FEATURES_DIR / f"{name}.parquet") as tmp:
            frame.to_parquet(tmp, index=False)
    write_json(FEATURES_DIR / "spec.json", spec.to_dict(), compact=True)
    log.info(
        "%d train / %d test movies (and what %d sparsely rated ones teach), %d features (crew: %s)",
        len(train),
        len(test),
        len(sparse_movies),
        len(spec.feature_names),
        ", ".join(spec.crew_roles) or "none",
    )


if __name__ == "__main__":
    run_command(main)
