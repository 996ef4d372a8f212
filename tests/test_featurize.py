"""featurize: a stable seeded split, and encodings that never see the rows they encode."""

from __future__ import annotations

import dataclasses
import math
import subprocess
import sys
from pathlib import Path

import numpy as np
import pandas as pd
import pytest
import yaml
from scipy import sparse

from imdb_data.movies import as_columns
from imdb_rating.features import FilmTable, Split, build_matrix
from stages.featurize import (
    Credits,
    FeaturizeParams,
    TokenCounts,
    as_lists,
    featurize,
    fit_linear_score,
    ridge_regression,
)
from tests.conftest import synthetic_movies

GENRES = ["Comedy", "Drama"]
PARAMS = FeaturizeParams(
    test_size=0.2,
    seed=42,
    encoding_folds=5,
    crew_encoding_smoothing=5.0,
    title_word_smoothing=20.0,
    title_word_min_count=2,
    linear_score=True,
    linear_alpha=30.0,
    linear_min_count=2,
    crew_similarity={"years": 10.0, "log_votes": 1.0, "genre_weight": 3.0, "smoothing": 2.0},
    drift_bins=10,
)


def test_split_is_deterministic_and_sized_by_params() -> None:
    tconsts = [f"tt{i:07d}" for i in range(5000)]
    first, again = Split(42, 0.2).held_out(tconsts), Split(42, 0.2).held_out(tconsts)
    np.testing.assert_array_equal(first, again)
    assert 0.18 < first.mean() < 0.22
    assert not np.array_equal(first, Split(7, 0.2).held_out(tconsts))  # the seed matters


def test_a_movie_keeps_its_side_when_the_dump_grows() -> None:
    old = [f"tt{i:07d}" for i in range(1000)]
    grown = [*old, *(f"tt{i:07d}" for i in range(5000, 6000))]
    split = Split(42, 0.2)
    np.testing.assert_array_equal(split.held_out(old), split.held_out(grown)[:1000])


def test_spec_describes_the_matrix_and_every_monitored_input() -> None:
    train, test, spec = featurize(synthetic_movies(600), PARAMS)
    assert list(train.columns) == ["tconst", "rating", *spec.feature_names]
    assert list(test.columns) == list(train.columns)
    assert len(train) + len(test) == 600
    assert spec.crew_roles == ["directors", "writers"]
    reference = spec.drift_reference
    assert set(reference.numeric) == {"year", "runtime_minutes", "log_votes", "title_length"}
    for fractions in [
        *(ref.fractions for ref in reference.numeric.values()),
        reference.genres.fractions,
    ]:
        assert sum(fractions) == pytest.approx(1.0, abs=1e-4)


def test_test_ratings_never_reach_the_spec_or_any_feature() -> None:
    movies = synthetic_movies(600)
    train, test, spec = featurize(movies, PARAMS)
    shuffled = movies.copy()
    is_test = shuffled["tconst"].isin(test["tconst"])
    shuffled.loc[is_test, "rating"] = 10.0
    train2, test2, spec2 = featurize(shuffled, PARAMS)
    assert spec2 == spec
    names = spec.feature_names
    np.testing.assert_array_equal(train2[names].to_numpy(), train[names].to_numpy())
    np.testing.assert_array_equal(test2[names].to_numpy(), test[names].to_numpy())


def test_train_rows_get_out_of_fold_encodings() -> None:
    movies = synthetic_movies(600)
    # A director credited on a single train movie is unseen by every other fold, so that row's
    # encoding is the prior: its own rating cannot leak into its features.
    train_ids = featurize(movies, PARAMS)[0]["tconst"]
    loner = train_ids.iloc[0]
    movies.loc[movies["tconst"] == loner, "directors"] = pd.Series([["nm9999999"]]).values
    movies.loc[movies["tconst"] == loner, "rating"] = 10.0
    train, _, spec = featurize(movies, PARAMS)
    row = train.set_index("tconst").loc[loner]
    assert row["directors_encoding"] == pytest.approx(spec.target_mean)
    assert row["directors_similar_encoding"] == pytest.approx(spec.target_mean)  # nor this one
    assert spec.target_tables["directors"]["nm9999999"] == [10.0, 1]
    films = spec.film_tables["directors"]
    start = films.people.index("nm9999999")
    assert films.starts[start + 1] - films.starts[start] == 1
    assert films.rating[films.starts[start]] == 10.0


def test_film_tables_group_each_persons_rated_films_in_the_movies_order() -> None:
    movies = synthetic_movies(4).assign(
        year=[1930, 1940, 1950, 1960], num_votes=[99, 999, 9, 0], rating=[6.0, 7.0, 8.0, 9.0],
        genres=[["Drama"], ["Comedy", "Drama"], [], ["Western"]],
        directors=[["nm2"], ["nm1", "nm2"], ["nm1"], []],
    )  # fmt: skip
    credits = Credits.of(as_columns(movies), "directors", movies["rating"].to_numpy(), GENRES)
    table = as_lists(credits.table())
    assert table.people == ["nm1", "nm2"] and table.starts == [0, 2, 4]
    assert table.year == [1940, 1950, 1930, 1940]
    assert table.rating == [7.0, 8.0, 6.0, 7.0]
    assert table.genres == [0b11, 0, 0b10, 0b11]  # Comedy, Drama: bits 0 and 1
    assert table.log_votes == [round(math.log(1000), 4), round(math.log(10), 4),
                                  round(math.log(100), 4), round(math.log(1000), 4)]  # fmt: skip
    # An out-of-fold table selects its movies' rows: the table of those movies alone.
    first_three = np.array([True, True, True, False])
    alone = Credits.of(
        as_columns(movies[first_three]), "directors", movies["rating"].to_numpy()[:3], GENRES
    )
    assert as_lists(credits.table(first_three)) == as_lists(alone.table())
    assert as_lists(credits.table(~np.ones(4, bool))) == FilmTable([], [0], [], [], [], [])


def test_genre_vocabulary_is_learned_on_the_train_split_only() -> None:
    movies = synthetic_movies(600)
    test_ids = featurize(movies, PARAMS)[1]["tconst"]
    movies.loc[movies["tconst"] == test_ids.iloc[0], "genres"] = pd.Series([["Western"]]).values
    _, _, spec = featurize(movies, PARAMS)
    assert "Western" not in spec.genres


def test_people_statistics_cover_test_movies_without_their_ratings() -> None:
    movies = synthetic_movies(600)
    test_ids = featurize(movies, PARAMS)[1]["tconst"]
    only_in_test = test_ids.iloc[0]
    movies.loc[movies["tconst"] == only_in_test, "directors"] = pd.Series([["nm8888888"]]).values
    _, test, spec = featurize(movies, PARAMS)
    assert "nm8888888" in spec.people["directors"]  # votes and year: inputs only
    assert "nm8888888" not in spec.target_tables["directors"]
    row = test.set_index("tconst").loc[only_in_test]
    assert row["directors_encoding"] == pytest.approx(spec.target_mean)


def test_a_crew_role_nobody_is_credited_for_is_left_out() -> None:
    movies = synthetic_movies(600)
    movies["writers"] = [[] for _ in range(len(movies))]
    _, _, spec = featurize(movies, PARAMS)
    assert spec.crew_roles == ["directors"]
    assert not any(name.startswith("writers") for name in spec.feature_names)


@pytest.mark.parametrize(
    ("stage", "change", "message"),
    [
        ("featurize", {"seeed": 42}, "params.yaml featurize: unknown key 'seeed'"),
        (
            "featurize",
            {"crew_similarity": {"years": 10, "log_vote": 1, "genre_weight": 3, "smoothing": 2}},
            "params.yaml featurize.crew_similarity: unknown key 'log_vote'; missing key 'log_v",
        ),
        ("evaluate", {"plot_points": None}, "params.yaml evaluate: missing key 'plot_points'"),
    ],
)
def test_a_misspelled_param_is_one_line_not_a_traceback(
    repo_copy: Path, stage: str, change: dict, message: str
) -> None:
    params = yaml.safe_load((repo_copy / "params.yaml").read_text())
    section = {key: value for key, value in params[stage].items() if key not in change}
    params[stage] = section | {key: value for key, value in change.items() if value is not None}
    (repo_copy / "params.yaml").write_text(yaml.safe_dump(params))
    result = subprocess.run(
        [sys.executable, "-m", f"stages.{stage}"],
        cwd=repo_copy,
        capture_output=True,
        text=True,
        check=False,
    )
    assert result.returncode == 1, result.stderr
    lines = result.stderr.strip().splitlines()
    assert len(lines) == 1 and lines[0].startswith(f"error: {message}"), lines


def test_the_linear_score_is_learned_on_train_and_scores_train_rows_out_of_fold() -> None:
    movies = synthetic_movies(600)
    train, test, spec = featurize(movies, PARAMS)
    assert spec.feature_names[-23] == "linear_score"  # after the title group, before the crew
    weights = spec.linear_score.weights
    assert weights and all(token[:2] in ("w:", "c:", "g:", "d:", "v:", "r:") for token in weights)
    # A title word that occurs only in test movies never gets a weight.
    test_ids = set(test["tconst"])
    rare = movies["tconst"].isin(test_ids)
    movies.loc[rare, "title"] = "Zyzzyva " + movies.loc[rare, "title"]
    _, _, spec2 = featurize(movies, PARAMS)
    assert "w:zyzzyva" not in spec2.linear_score.weights
    # Out of fold: the same train row scored by the full-split model would differ.
    full = build_matrix(as_columns(movies[movies["tconst"].isin(train["tconst"])]), spec)
    column = spec.feature_names.index("linear_score")
    assert not np.allclose(np.sort(full[:, column]), np.sort(train["linear_score"].to_numpy()))


def test_sparsely_rated_movies_teach_second_encodings_and_are_in_neither_split() -> None:
    movies = synthetic_movies(600)
    sparse = synthetic_movies(300, seed=1).assign(num_votes=20)
    sparse["tconst"] = [f"tt9{i:06d}" for i in range(300)]
    train, test, spec = featurize(movies, PARAMS, sparse_movies=sparse)
    assert not set(sparse["tconst"]) & (set(train["tconst"]) | set(test["tconst"]))
    assert spec.sparse_mean == pytest.approx(sparse["rating"].mean(), abs=1e-6)
    director = sparse["directors"].iloc[0][0]
    theirs = sparse[sparse["directors"].map(lambda people: director in people)]["rating"]
    assert spec.sparse_tables["directors"][director] == [
        pytest.approx(theirs.sum(), abs=1e-3),
        len(theirs),
    ]
    assert spec.feature_names[-24:-22] == ["linear_score", "sparse_linear_score"]
    # No modelled rating is in them, so train rows need no out-of-fold copy: the spec's own.
    names = [name for name in spec.feature_names if "sparse" in name]
    own = build_matrix(
        as_columns(movies.set_index("tconst").loc[train["tconst"]].reset_index()), spec
    )
    columns = [spec.feature_names.index(name) for name in names]
    np.testing.assert_allclose(train[names].to_numpy(), own[:, columns])


def test_without_sparsely_rated_movies_their_encodings_are_the_prior() -> None:
    train, _, spec = featurize(synthetic_movies(600), PARAMS)
    assert "sparse_linear_score" not in spec.feature_names
    assert (train["directors_sparse_encoding"] == spec.target_mean).all()
    assert (train["directors_sparse_films"] == 0).all()


def test_a_linear_score_of_movies_sharing_no_token_is_their_mean() -> None:
    movies = synthetic_movies(2).assign(
        title=["Alpha", "Omega"], genres=[["Drama"], ["Comedy"]], year=[1931, 1999],
        num_votes=[60, 90_000], runtime_minutes=[70.0, 150.0],
    )  # fmt: skip
    tokens = TokenCounts.of(as_columns(movies))
    score = fit_linear_score(tokens, movies["rating"].to_numpy(), 30.0, 2)
    assert score.intercept == pytest.approx(movies["rating"].mean()) and score.weights == {}


def test_the_linear_score_can_be_left_out() -> None:
    _, _, spec = featurize(synthetic_movies(600), dataclasses.replace(PARAMS, linear_score=False))
    assert spec.linear_score is None
    assert "linear_score" not in spec.feature_names


def test_the_ridge_solution_is_the_exact_one_to_well_below_its_rounding() -> None:
    rng = np.random.default_rng(0)
    counts = (rng.random((400, 60)) < 0.1).astype(np.float64)
    targets = counts @ rng.normal(0, 1, 60) + rng.normal(5, 0.5, 400)
    weights, intercept = ridge_regression(sparse.csr_matrix(counts), targets, alpha=3.0)
    centred = counts - counts.mean(axis=0)
    exact = np.linalg.solve(
        centred.T @ centred + 3.0 * np.eye(60), centred.T @ (targets - targets.mean())
    )
    np.testing.assert_allclose(weights, exact, atol=1e-8)
    assert intercept == pytest.approx(targets.mean() - counts.mean(axis=0) @ exact, abs=1e-8)
