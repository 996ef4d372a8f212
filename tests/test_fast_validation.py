"""The fast path of request loading agrees with marshmallow, which stays the definition."""

from __future__ import annotations

import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st
from marshmallow import ValidationError

from imdb_rating.movie import movie_fields
from service.fast_validation import BatchLoader, FastLoader, _Fallback
from service.schemas import batch_schema, movie_schema

GENRES = ["Comedy", "Drama", "Sci-Fi"]
MOVIE_SCHEMA = movie_schema(movie_fields(["directors", "writers"], GENRES))
LOADER = FastLoader(MOVIE_SCHEMA())
BATCH = BatchLoader(batch_schema(MOVIE_SCHEMA, 5)())

# Values near every boundary the schema declares, of every JSON type, plus wrong types.
any_value = st.one_of(
    st.none(),
    st.booleans(),
    st.integers(min_value=-10, max_value=3000),
    st.sampled_from([0, 1, 1869, 1870, 2100, 2101, 10**8, 10**8 + 1, 10**30]),
    st.floats(allow_nan=True, allow_infinity=True),
    st.sampled_from([0.5, 1.0, 1000.0, 1000.5, 136.0]),
    st.text(max_size=3),
    st.sampled_from(["", "x" * 500, "x" * 501, "nm0000001", "Drama", "drama"]),
    st.lists(
        st.one_of(
            st.sampled_from([*GENRES, "Western", "Westerns", "", "nm0000001", "nm1"]), st.integers()
        ),
        max_size=12,
    ),
)
field_names = st.sampled_from([*MOVIE_SCHEMA().fields, "extra"])
movies = st.dictionaries(field_names, any_value, max_size=10)
valid_movies = st.fixed_dictionaries(
    {"year": st.integers(1870, 2100), "num_votes": st.integers(0, 10**8)},
    optional={
        "runtime_minutes": st.one_of(st.none(), st.floats(1, 1000), st.integers(1, 1000)),
        "genres": st.lists(st.sampled_from(GENRES), max_size=3, unique=True),
        "title": st.text(min_size=1, max_size=40),
        "original_title": st.one_of(st.none(), st.text(min_size=1, max_size=40)),
        "is_adult": st.booleans(),
        "directors": st.lists(st.from_regex(r"nm\d{7}", fullmatch=True), max_size=3, unique=True),
    },
)


def marshmallow_outcome(load, data):
    try:
        return "ok", load(data)
    except ValidationError as error:
        return "invalid", error.messages


@settings(max_examples=1500, suppress_health_check=[HealthCheck.too_slow])
@given(movies)
def test_whatever_the_fast_path_accepts_marshmallow_loads_identically(data) -> None:
    try:
        fast = LOADER.fast(data)
    except _Fallback:
        return
    outcome, loaded = marshmallow_outcome(LOADER.schema.load, data)
    assert outcome == "ok", loaded
    assert fast == loaded and all(type(fast[k]) is type(loaded[k]) for k in fast)


@settings(max_examples=300)
@given(valid_movies)
def test_valid_movies_take_the_fast_path(data) -> None:
    assert LOADER.fast(data) == LOADER.schema.load(data)


@settings(max_examples=500)
@given(movies)
def test_load_always_ends_as_marshmallow_would(data) -> None:
    assert marshmallow_outcome(LOADER.load, data) == marshmallow_outcome(LOADER.schema.load, data)


@settings(max_examples=300)
@given(st.lists(st.one_of(valid_movies, movies), max_size=7))
def test_batches_end_as_marshmallow_would(items) -> None:
    body = {"movies": items}
    assert marshmallow_outcome(BATCH.load, body) == marshmallow_outcome(BATCH.schema.load, body)


@pytest.mark.parametrize("body", [[], {"movies": [], "x": 1}, {"movies": "no"}, None])
def test_malformed_batches_get_marshmallows_messages(body) -> None:
    with pytest.raises(ValidationError) as ours:
        BATCH.load(body)
    with pytest.raises(ValidationError) as theirs:
        BATCH.schema.load(body)
    assert ours.value.messages == theirs.value.messages
