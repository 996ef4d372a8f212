"""The feature contract (imdb_rating.features) and drift helpers, shared by pipeline and service."""

from __future__ import annotations

import math
import re

import numpy as np
import pytest

from imdb_rating import features
from imdb_rating.drift import (
    NO_GENRE,
    CategoricalReference,
    DriftReference,
    categorical_reference,
    numeric_bins,
    numeric_reference,
    psi,
)
from imdb_rating.features import (
    FeatureSpec,
    FilmIndex,
    FilmTable,
    LinearScore,
    Similarity,
    SpecError,
    Split,
    build_matrix,
    is_sequel,
    linear_tokens,
    similar_films_encoding,
    smoothed_mean,
    title_words,
)

SIMILARITY = Similarity(years=10.0, log_votes=1.0, genre_weight=3.0, smoothing=2.0)


def films(by_person: dict[str, list[tuple[float, float, int, float]]]) -> FilmTable:
    """A film table from each person's (year, log votes, genres, rating)."""
    people = sorted(by_person)
    rows = [film for person in people for film in by_person[person]]
    starts = np.cumsum([0, *(len(by_person[person]) for person in people)]).tolist()
    names = ("year", "log_votes", "genres", "rating")
    return FilmTable(people, starts, *([row[i] for row in rows] for i in range(len(names))))


def make_spec(crew: bool = True) -> FeatureSpec:
    return FeatureSpec(
        split=Split(seed=1, test_size=0.2),
        genres=["Comedy", "Drama"],
        crew_roles=["directors", "writers"] if crew else [],
        target_mean=6.0,
        crew_encoding_smoothing=2.0,
        title_word_smoothing=1.0,
        target_tables={
            "title_words": {"love": [16.0, 2]},
            "directors": {"nm1": [24.0, 3]},
            "writers": {},
        },
        film_tables={
            # nm1: a 1950 drama with 99 votes rated 9, a 1930 comedy with 9,999 rated 3.
            "directors": films(
                {"nm1": [(1950, math.log(100), 0b10, 9.0), (1930, math.log(10_000), 0b01, 3.0)]}
            ),
            "writers": films({}),
        },
        crew_similarity=SIMILARITY,
        linear_score=LinearScore(6.0, {"w:love": 0.5, "c: lo": 0.25, "g:Drama": -1.0}),
        people={
            "directors": {"nm1": [5.0, 1930, 4], "nm2": [3.0, 1950, 1]},
            "writers": {},
        },
        sparse_mean=5.0,
        sparse_tables={"directors": {"nm2": [12.0, 2]}, "writers": {}} if crew else {},
        sparse_film_tables={
            "directors": films({"nm2": [(1950, math.log(100), 0b10, 4.0)]}),
            "writers": films({}),
        }
        if crew
        else {},
        sparse_linear_score=LinearScore(5.0, {"w:love": -0.5, "g:Drama": 0.25}),
        drift_reference=DriftReference({}, CategoricalReference(["Comedy", "Drama", NO_GENRE], [])),
    )


def encode_one(spec: FeatureSpec, **movie) -> dict[str, float]:
    columns = {name: [value] for name, value in movie.items()}
    return dict(zip(spec.feature_names, build_matrix(columns, spec)[0], strict=True))


def test_the_spec_lists_each_feature_groups_columns_in_matrix_order() -> None:
    spec = make_spec()
    assert spec.feature_names[:7] == [
        "year", "runtime_minutes", "log_votes", "is_adult", "genre_count",
        "genre_Comedy", "genre_Drama",
    ]  # fmt: skip
    assert spec.feature_names[-13:] == [
        "writers_count", "writers_encoding", "writers_rated_films", "writers_mean_log_votes",
        "writers_relative_votes", "writers_career_years", "writers_movies",
        "writers_sparse_encoding", "writers_sparse_films",
        "directors_similar_encoding", "directors_sparse_similar_encoding",
        "writers_similar_encoding", "writers_sparse_similar_encoding",
    ]  # fmt: skip
    assert sum(len(group.names) for group in spec.groups) == len(spec.feature_names) == 38
    matrix = build_matrix({"year": [1950, 1960], "num_votes": [10, 20]}, spec)
    assert matrix.shape == (2, 38)


def test_the_spec_survives_its_json_form_and_refuses_another_schema() -> None:
    spec = make_spec()
    data = spec.to_dict()
    assert FeatureSpec.from_dict(data) == spec
    assert data["feature_names"] == spec.feature_names and data["schema_version"] == 4
    with pytest.raises(SpecError, match="schema_version 3, expected 4"):
        FeatureSpec.from_dict(data | {"schema_version": 3})
    with pytest.raises(SpecError, match="feature_names are not its feature groups' columns"):
        FeatureSpec.from_dict(data | {"feature_names": data["feature_names"][:-1]})
    with pytest.raises(SpecError, match="does not fit this code"):
        FeatureSpec.from_dict({k: v for k, v in data.items() if k != "people"})


def test_numeric_inputs_and_genre_multi_hot() -> None:
    row = encode_one(make_spec(), year=1950, num_votes=99, genres=["Drama"], runtime_minutes=90)
    assert row["year"] == 1950 and row["runtime_minutes"] == 90
    assert row["log_votes"] == pytest.approx(math.log(100))
    assert (row["genre_Drama"], row["genre_Comedy"], row["genre_count"]) == (1, 0, 1)


def test_missing_optional_inputs_take_the_training_conventions() -> None:
    row = encode_one(make_spec(), year=1950, num_votes=10)
    assert math.isnan(row["runtime_minutes"])  # unknown, as missing runtimes were in training
    assert row["genre_count"] == 0 and row["is_adult"] == 0
    assert row["directors_count"] == 0 and math.isnan(row["directors_encoding"])
    assert row["title_words_encoding"] == 6.0  # no known word: the prior


def test_target_encodings_are_smoothed_toward_the_prior() -> None:
    row = encode_one(make_spec(), year=1950, num_votes=10, title="Love", directors=["nm1", "nm9"])
    assert row["title_words_encoding"] == pytest.approx((16 + 1 * 6) / (2 + 1))
    # nm1 seen in 3 rated films; nm9 never: it contributes the prior.
    expected = ((24 + 2 * 6) / (3 + 2) + 6.0) / 2
    assert row["directors_encoding"] == pytest.approx(expected)
    assert row["directors_rated_films"] == 3


def test_sparsely_rated_films_give_a_second_encoding_smoothed_toward_their_own_mean() -> None:
    row = encode_one(make_spec(), year=1950, num_votes=10, directors=["nm2", "nm9"])
    # nm2 has 2 sparsely rated films (sum 12); nm9 none: it contributes their mean, 5.0.
    assert row["directors_sparse_encoding"] == pytest.approx(((12 + 2 * 5) / (2 + 2) + 5) / 2)
    assert row["directors_sparse_films"] == 2
    nobody = encode_one(make_spec(), year=1950, num_votes=10)
    assert math.isnan(nobody["directors_sparse_encoding"])


def test_the_similar_encoding_weights_each_film_of_a_person_by_its_likeness_to_the_movie() -> None:
    # Like nm1's 1950 drama (same year, votes, genres): weight (1 + 3) = 4. Their 1930 comedy:
    # 20 years apart (e^-2), 100 times the votes (1/100), no genre shared: weight e^-2 / 100.
    near, far = 4.0, math.exp(-2) / 100
    row = encode_one(make_spec(), year=1950, num_votes=99, genres=["Drama"], directors=["nm1"])
    assert row["directors_similar_encoding"] == pytest.approx(
        (near * 9 + far * 3 + 2 * 6.0) / (near + far + 2)  # smoothing 2 toward the prior 6
    )
    # A 1930 comedy with 9,999 votes is alike the other film instead.
    other = encode_one(make_spec(), year=1930, num_votes=9999, genres=["Comedy"], directors=["nm1"])
    assert other["directors_similar_encoding"] == pytest.approx(
        (far * 9 + near * 3 + 2 * 6.0) / (near + far + 2)
    )
    # The sparsely rated films' version, smoothed toward their mean; a person without films
    # counts as the prior (as in the plain encodings), and a movie without people has none.
    both = encode_one(
        make_spec(), year=1950, num_votes=99, genres=["Drama"], directors=["nm2", "nm9"]
    )
    assert both["directors_sparse_similar_encoding"] == pytest.approx(
        ((4 * 4 + 2 * 5) / (4 + 2) + 5) / 2
    )
    assert both["directors_similar_encoding"] == 6.0
    nobody = encode_one(make_spec(), year=1950, num_votes=99)
    assert math.isnan(nobody["directors_similar_encoding"])


def test_the_similar_encoding_does_not_depend_on_how_credits_are_chunked(
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    rng = np.random.default_rng(0)

    def random_people() -> list[list[str]]:
        return [
            [f"nm{p}" for p in rng.choice(20, rng.integers(0, 4), replace=False)]
            for _ in range(300)
        ]

    def random_films() -> FilmTable:
        return films({
            f"nm{p}": [(float(y), float(v), int(g), float(r)) for y, v, g, r in zip(
                rng.integers(1920, 2000, 15), rng.uniform(4, 12, 15), rng.integers(0, 8, 15),
                rng.uniform(1, 10, 15), strict=True)]
            for p in range(rng.integers(5, 15))
        })  # fmt: skip

    people, tables = [random_people(), random_people()], [random_films(), random_films()]
    arguments = (
        people,
        rng.integers(1920, 2000, 300).astype(float),
        rng.uniform(4, 12, 300),
        rng.integers(0, 8, 300),
        FilmIndex(tables),
        [6.0, 5.0],
        SIMILARITY,
    )
    whole = similar_films_encoding(*arguments)
    assert whole.shape == (300, 2)
    monkeypatch.setattr(features, "_PAIRS_PER_CHUNK", 7)  # fewer than one prolific person's
    np.testing.assert_array_equal(similar_films_encoding(*arguments), whole)
    # Each table's column from that table alone: the same values.
    for column in (0, 1):
        alone = similar_films_encoding(
            [people[column]], *arguments[1:4], FilmIndex([tables[column]]),
            [arguments[5][column]], arguments[6],
        )  # fmt: skip
        np.testing.assert_array_equal(alone[:, 0], whole[:, column])
        no_one = [not names for names in people[column]]
        assert np.isnan(whole[:, column]).tolist() == no_one
        unknown = [
            bool(names) and not {*names} & set(tables[column].people) for names in people[column]
        ]
        assert any(unknown) and (whole[unknown, column] == arguments[5][column]).all()


def test_people_statistics_describe_the_credited_crew() -> None:
    row = encode_one(make_spec(), year=1960, num_votes=math.e**4 - 1, directors=["nm1", "nm2"])
    assert row["directors_mean_log_votes"] == pytest.approx(4.0)
    assert row["directors_relative_votes"] == pytest.approx(0.0)
    assert row["directors_career_years"] == 30  # since nm1's first film
    assert row["directors_movies"] == pytest.approx(2.5)


def test_title_features() -> None:
    row = encode_one(
        make_spec(), year=1950, num_votes=10, title="Ça Part 2", original_title="Ça, partie 2"
    )
    assert row["title_length"] == 9 and row["title_word_count"] == 3
    assert row["title_has_digit"] == row["title_sequel_marker"] == row["title_non_ascii"] == 1
    assert row["title_differs_from_original"] == 1
    assert title_words("The Thing, the THING") == {"the", "thing"}


@pytest.mark.parametrize(
    "title, sequel",
    [
        ("Rocky II", True),
        ("Rocky ii  ", True),
        ("Alien 3", True),
        ("Star Wars: Episode IV", True),
        ("Back to the Future Part III", True),
        ("Rocky XII", False),
        ("Apollo 13", False),
        ("Film_2", False),
        ("Malcolm X (1992)", False),
        ("Departure", False),
        ("", False),
    ],
)
def test_sequel_marks_are_a_colon_part_n_or_a_last_word_numbering_the_film(
    title: str, sequel: bool
) -> None:
    assert is_sequel(title) is sequel


def test_the_sequel_check_answers_as_the_regex_it_stands_for() -> None:
    # The definition, and what models before the hand-written check were trained with.
    regex = re.compile(r"(?:\b(?:[2-9]|ii|iii|iv|v|vi|vii|viii|ix|x)\b\s*$)|\bpart\s+\w+|:", re.I)
    # Word and non-word characters, Unicode whitespace and digits, re.I's non-ASCII case folds.
    pieces = [*"aiIxXvV23456789 01_-().:,'\t\n", "\u00a0", "\u2003", "\u0130", "\u0131"]
    pieces += ["\u017f", "\u212a", "\u00e9", "\u4e2d", "\u0661", "\u2167", "part ", "PART\t", " ii"]
    rng = np.random.default_rng(7)
    for _ in range(20_000):
        title = "".join(rng.choice(pieces, rng.integers(0, 11)))
        assert is_sequel(title) is bool(regex.search(title)), repr(title)


def test_linear_tokens_are_title_words_trigrams_and_the_context_they_are_measured_against():
    tokens = linear_tokens(
        title_words("Love!"), ["Drama"], year=1957, votes=math.e**3 - 1, runtime=95
    )
    assert tokens == [
        "w:love", "c: lo", "c:lov", "c:ove", "c:ve ",
        "g:Drama", "d:195", "v:6", "r:6",
    ]  # fmt: skip
    # One entry per count: a trigram in two words counts twice (the score sums per word).
    assert linear_tokens(title_words("Loud Lob"), [], 1950, 10, None).count("c: lo") == 2
    assert "r:none" in linear_tokens(title_words(""), [], year=2000, votes=10, runtime=None)
    assert "r:none" in linear_tokens(title_words(""), [], year=2000, votes=10, runtime=math.nan)


def test_the_linear_score_is_the_intercept_plus_the_weights_of_the_movies_tokens() -> None:
    row = encode_one(make_spec(), year=1950, num_votes=10, title="Love", genres=["Drama"])
    assert row["linear_score"] == pytest.approx(6.0 + 0.5 + 0.25 - 1.0)
    unseen = encode_one(make_spec(), year=1950, num_votes=10, title="Zzz")
    assert unseen["linear_score"] == pytest.approx(6.0)
    twice = encode_one(make_spec(), year=1950, num_votes=10, title="Love, love lost")
    assert twice["linear_score"] == pytest.approx(6.0 + 0.5 + 0.25 + 0.25)  # " lo" in "lost"
    # The same tokens, weighed by what the sparsely rated movies taught.
    assert row["sparse_linear_score"] == pytest.approx(5.0 - 0.5 + 0.25)


def test_a_genre_the_model_never_learned_has_no_effect_not_even_on_the_count() -> None:
    spec = make_spec()
    alone = encode_one(spec, year=1950, num_votes=10, genres=["Drama"])
    with_western = encode_one(spec, year=1950, num_votes=10, genres=["Western", "Drama"])
    assert with_western == pytest.approx(alone, nan_ok=True)
    row = encode_one(spec, year=1950, num_votes=10, genres=["Western"])
    assert row["genre_Comedy"] == row["genre_Drama"] == 0 and row["genre_count"] == 0


def test_without_crew_roles_there_are_no_crew_features() -> None:
    spec = make_spec(crew=False)
    assert not any(name.startswith(("directors", "writers")) for name in spec.feature_names)
    matrix = build_matrix({"year": [1], "num_votes": [1]}, spec)
    assert matrix.shape == (1, len(spec.feature_names))


def test_rows_encode_independently_of_their_batch() -> None:
    spec = make_spec()
    movies = {
        "year": [1950, 1990],
        "num_votes": [10, 5000],
        "genres": [["Drama"], []],
        "directors": [["nm1"], []],
    }
    together = build_matrix(movies, spec)
    alone = build_matrix({name: values[1:] for name, values in movies.items()}, spec)
    np.testing.assert_array_equal(together[1:], alone)


def test_smoothed_mean_with_no_observations_is_the_prior() -> None:
    assert smoothed_mean(0.0, 0, prior=6.5, smoothing=3) == 6.5


def test_numeric_bins_put_missing_values_in_the_last_bin() -> None:
    reference = numeric_reference(np.array([1.0, 2, 3, 4, np.nan]), bins=2)
    assert reference.edges == [2.5]
    assert reference.fractions == [0.4, 0.4, 0.2]
    bins = numeric_bins(np.array([np.nan, 2.5, 2.6, -1.0]), reference.edges)
    assert bins.tolist() == [2, 1, 1, 0]  # missing last; an edge value goes right


def test_psi_is_zero_for_the_reference_distribution_and_grows_with_shift() -> None:
    expected = [0.25, 0.25, 0.25, 0.25]
    assert psi(expected, [25, 25, 25, 25]) == pytest.approx(0.0)
    mild, severe = psi(expected, [30, 25, 25, 20]), psi(expected, [97, 1, 1, 1])
    assert 0 < mild < 0.1 < 0.25 < severe
    assert psi(expected, [0, 0, 0, 0]) == 0.0


def test_categorical_reference_counts_movies_without_genre() -> None:
    reference = categorical_reference([["Drama"], [], ["Drama", "Comedy"]], ["Comedy", "Drama"])
    assert reference.categories == ["Comedy", "Drama", "(none)"]
    assert reference.fractions == [0.25, 0.5, 0.25]
