"""One movie contract (imdb_rating/movie.py): the service's request schema, the registered
model's input check and batch scoring's vectorised checks all take and refuse the same movies.

Movies are generated field by field, valid values and invalid ones of every JSON type near every
bound the contract declares, and each is put to the three: `POST /predict`'s loader, the pyfunc's
`movie_columns` (a one-row data frame, as MLflow's scoring server passes it) and tools.score's
reader and checks for JSON lines (many rows at once, as it runs). In a table an empty cell is an
absent field, so an explicit null is generated only for the fields that accept null.
"""

from __future__ import annotations

import json
from pathlib import Path

import pandas as pd
import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st
from marshmallow import ValidationError

from imdb_rating.movie import IMDB_GENRES, MOVIE_FIELDS, default_of, movie_problems
from imdb_rating.predictor import Predictor
from registry.pyfunc import movie_columns
from service.fast_validation import FastLoader
from service.schemas import movie_schema
from tools.score import check_rows, open_jsonl

ABSENT = object()  # a field left out of the movie

WRONG_TYPES = [True, False, "1999", 1999.5, [1999], {"year": 1999}]
VALUES = {
    "integer": st.one_of(
        st.sampled_from([-1, 0, 1, 1869, 1870, 2100, 2101, 10**8, 10**8 + 1, 10**30, 1999.0]),
        st.integers(-10, 3000),
        st.sampled_from(WRONG_TYPES),
    ),
    "number": st.one_of(
        st.sampled_from([0, 0.5, 1, 1.0, 136, 136.5, 1000, 1000.5, 1001, 10**30]),
        st.floats(-10, 2000),
        st.sampled_from(WRONG_TYPES),
    ),
    "string": st.one_of(
        st.sampled_from(["", "x" * 500, "x" * 501, "tt0133093", "tt1", "nm0000001", 5, True]),
        st.text(max_size=3),
    ),
    "boolean": st.sampled_from([True, False, 0, 1, "true", "false", 1.0]),
    "strings": st.one_of(
        st.lists(
            st.one_of(
                st.sampled_from([*IMDB_GENRES, "Westerns", "drama", "", "nm0000001", "nm1"]),
                st.sampled_from(["nm0000007", "nm0001007", "nm12345678901", "tt0000001"]),
                st.integers(0, 3),
            ),
            max_size=12,
        ),
        st.sampled_from(["Drama", "nm0000001", 5]),
    ),
}


NAME_IDS = st.integers(0, 10**9).map(lambda n: f"nm{n:07d}")
VALID = {
    "year": st.one_of(st.integers(1870, 2100), st.sampled_from([1870, 2100])),
    "num_votes": st.one_of(st.integers(0, 10**6), st.sampled_from([0, 10**8])),
    "runtime_minutes": st.one_of(st.none(), st.floats(1, 1000), st.sampled_from([1, 1000])),
    "genres": st.lists(st.sampled_from(IMDB_GENRES), max_size=10, unique=True),
    "title": st.one_of(st.none(), st.text(min_size=1, max_size=20), st.just("x" * 500)),
    "original_title": st.one_of(st.none(), st.text(min_size=1, max_size=20)),
    "is_adult": st.booleans(),
    "directors": st.lists(NAME_IDS, max_size=3, unique=True),
    "writers": st.lists(NAME_IDS, max_size=3, unique=True),
    "tconst": st.one_of(st.none(), st.integers(0, 10**9).map(lambda n: f"tt{n:07d}")),
}


def any_value(name: str) -> st.SearchStrategy:
    """Anything for this field: absent, valid, or any value of any JSON type near its bounds."""
    field = MOVIE_FIELDS[name]
    choices = [st.just(ABSENT), VALID[name], VALUES[field.kind], VALUES[field.kind]]
    if field.required or field.nullable:  # a table cannot tell null from absent for the others
        choices.append(st.none())
    return st.one_of(*choices)


@st.composite
def movies(draw: st.DrawFn) -> dict:
    """A valid movie with up to two fields replaced by anything: a single wrong field must be
    refused by all three, whatever the others hold."""
    movie = {name: draw(VALID[name]) for name in MOVIE_FIELDS}
    for name in draw(st.lists(st.sampled_from(list(MOVIE_FIELDS)), max_size=2, unique=True)):
        movie[name] = draw(any_value(name))
    return {name: value for name, value in movie.items() if value is not ABSENT}


@pytest.fixture(scope="module")
def predictor(model_card_path: Path) -> Predictor:
    return Predictor(model_card_path)


def service_accepts(loader: FastLoader, movie: dict) -> bool:
    try:
        loader.load(movie)
    except ValidationError:
        return False
    return True


def pyfunc_accepts(predictor: Predictor, movie: dict) -> bool:
    try:
        movie_columns(pd.DataFrame([movie]), predictor)
    except ValueError:
        return False
    return True


# A valid movie with every field: as the first line of a JSON lines file, it names the columns
# (a later record's absent key then takes the field's default, as in a request).
EVERY_FIELD = {
    "year": 1999, "num_votes": 25000, "runtime_minutes": 136, "genres": ["Drama"],
    "title": "The Matrix", "original_title": "The Matrix", "is_adult": False,
    "directors": ["nm0905154"], "writers": ["nm0905152"], "tconst": "tt0133093",
}  # fmt: skip


def scorer_accepts(predictor: Predictor, movies: list[dict], folder: Path) -> list[bool]:
    """tools.score's verdict on each movie, read as JSON lines and checked in chunks of 16."""
    path = folder / "movies.jsonl"
    path.write_text("".join(json.dumps(movie) + "\n" for movie in [EVERY_FIELD, *movies]))
    defaults = {field.name: default_of(field) for field in predictor.movie_fields}
    source = open_jsonl(path, defaults, chunk_rows=16)
    verdicts = []
    for chunk in source.chunks:
        valid, _, _ = check_rows(chunk.frame, text=False, fields=predictor.movie_fields)
        verdicts += valid.tolist()
    assert verdicts[0], "the first line is valid"
    return verdicts[1:]


@settings(
    max_examples=150,
    deadline=None,
    suppress_health_check=[HealthCheck.function_scoped_fixture, HealthCheck.too_slow],
)
@given(batch=st.lists(movies(), min_size=1, max_size=40))
def test_the_service_the_pyfunc_and_the_scorer_accept_and_refuse_the_same_movies(
    batch: list[dict], predictor: Predictor, tmp_path: Path
) -> None:
    loader = FastLoader(movie_schema(predictor.movie_fields)())
    scorer = scorer_accepts(predictor, batch, tmp_path)
    for movie, by_scorer in zip(batch, scorer, strict=True):
        by_service = service_accepts(loader, movie)
        problems = movie_problems(movie, predictor.movie_fields)
        assert by_service == pyfunc_accepts(predictor, movie) == by_scorer == (not problems), (
            movie,
            problems,
        )


def accepted_by_all_three(predictor: Predictor, movie: dict, folder: Path) -> set[bool]:
    loader = FastLoader(movie_schema(predictor.movie_fields)())
    return {
        service_accepts(loader, movie),
        pyfunc_accepts(predictor, movie),
        *scorer_accepts(predictor, [movie], folder),
    }


def test_a_movie_with_every_field_valid_is_taken_by_all_three(
    predictor: Predictor, tmp_path: Path
) -> None:
    assert accepted_by_all_three(predictor, EVERY_FIELD, tmp_path) == {True}


@pytest.mark.parametrize(
    ("name", "value"),
    [
        ("year", 1869), ("year", "1999"), ("year", True), ("num_votes", -1),
        ("num_votes", 10**8 + 1), ("runtime_minutes", 0), ("runtime_minutes", "90"),
        ("genres", ["Westerns"]), ("genres", ["Drama", "Drama"]), ("genres", ["Drama"] * 11),
        ("genres", "Drama"), ("title", ""), ("title", "x" * 501), ("original_title", 5),
        ("is_adult", 1), ("directors", ["tt0000001"]), ("writers", ["nm1"]),
        ("tconst", "nm0000001"),
    ],
)  # fmt: skip
def test_a_value_the_contract_refuses_is_refused_by_all_three(
    predictor: Predictor, tmp_path: Path, name: str, value: object
) -> None:
    movie = EVERY_FIELD | {name: value}
    assert movie_problems(movie, predictor.movie_fields)[0].startswith(f"{name}: ")
    assert accepted_by_all_three(predictor, movie, tmp_path) == {False}


def test_an_imdb_genre_the_model_never_learned_is_taken_by_all_three(
    predictor: Predictor, tmp_path: Path
) -> None:
    assert "Western" not in predictor.genres
    movie = EVERY_FIELD | {"genres": ["Western", "Drama"]}
    assert accepted_by_all_three(predictor, movie, tmp_path) == {True}
