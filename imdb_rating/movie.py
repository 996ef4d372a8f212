"""What a movie is, however the model is asked: the one table of a movie's fields.

Each field says its type, whether it is required, what an absent one is, and its limits. The
service's request schema (service/schemas.py, marshmallow), the registered model's input check
(registry/pyfunc.py, `movie_problems` here) and batch scoring's vectorised checks
(tools/score.py) are all derived from it, so a new field or limit is one edit here;
tests/test_movie_contract.py holds the three to the same answers on generated movies.

Genres: any genre of IMDb's published list is a valid input. A genre the model never learned
(the 2005 sample knows 7 of the 28) has no learned effect: `Predictor` leaves it out of the
features and names it in the answer (`ignored_genres`), and the service counts it as drift.
Only a string that is no IMDb genre is refused.
"""

from __future__ import annotations

import math
import re
from collections.abc import Iterable, Mapping, Sequence
from dataclasses import dataclass
from typing import Any, Literal

import numpy as np

CREW_ROLES = ("directors", "writers")
# IMDb's genres, as title.basics spells them (https://developer.imdb.com/documentation/
# key-concepts, "Genres"; every genre of the official dump is one of these).
IMDB_GENRES = (
    "Action", "Adult", "Adventure", "Animation", "Biography", "Comedy", "Crime", "Documentary",
    "Drama", "Family", "Fantasy", "Film-Noir", "Game-Show", "History", "Horror", "Music",
    "Musical", "Mystery", "News", "Reality-TV", "Romance", "Sci-Fi", "Short", "Sport",
    "Talk-Show", "Thriller", "War", "Western",
)  # fmt: skip
PERSON_ID = r"^nm\d{7,10}$"
TITLE_ID = r"^tt\d{7,10}$"

Kind = Literal["integer", "number", "string", "boolean", "strings"]


@dataclass(frozen=True)
class MovieField:
    """One field of a movie. `minimum`/`maximum` bound a number, or a string's length; a list
    of strings (`strings`) holds at most `max_items` distinct items, each one of `choices` or
    matching `pattern`. An absent optional field is `default` (a list field: an empty list);
    `nullable` fields also take null, meaning unknown."""

    name: str
    kind: Kind
    description: str
    required: bool = False
    nullable: bool = False
    default: Any = None
    minimum: float | None = None
    maximum: float | None = None
    max_items: int | None = None
    pattern: str | None = None
    choices: tuple[str, ...] | None = None
    model_input: bool = True  # False: carried along (tconst), never a feature
    example: Any = None

    @property
    def bounds(self) -> tuple[float, float] | None:
        if self.minimum is None or self.maximum is None:
            return None
        return self.minimum, self.maximum


def _crew_field(role: str) -> MovieField:
    return MovieField(
        role,
        "strings",
        f"IMDb name ids (nconst) of the {role}",
        default=(),
        max_items=50,
        pattern=PERSON_ID,
    )


_FIELDS = (
    MovieField(
        "year", "integer", "Release year (startYear)", required=True, minimum=1870, maximum=2100,
        example=1999,
    ),
    MovieField(
        "num_votes", "integer", "Number of IMDb votes", required=True, minimum=0,
        maximum=100_000_000, example=25000,  # far above any film's count
    ),
    MovieField(
        "runtime_minutes", "number", "Runtime in minutes; null or absent if unknown",
        nullable=True, minimum=1, maximum=1000,  # the clean stage's plausible runtimes
    ),
    MovieField(
        "genres", "strings", "IMDb genres", default=(), max_items=10, choices=IMDB_GENRES,
    ),
    MovieField(
        "title", "string", "Title (primaryTitle)", nullable=True, minimum=1, maximum=500,
        example="The Matrix",
    ),
    MovieField(
        "original_title", "string", "Title in the original language, if different",
        nullable=True, minimum=1, maximum=500,
    ),
    MovieField("is_adult", "boolean", "Adult title", default=False),
    *(_crew_field(role) for role in CREW_ROLES),
    MovieField(
        "tconst", "string", "IMDb title id (tconst), if known: the prediction log keeps it to "
        "compare the prediction with the rating published later", nullable=True,
        pattern=TITLE_ID, model_input=False, example="tt0133093",
    ),
)  # fmt: skip
MOVIE_FIELDS: dict[str, MovieField] = {field.name: field for field in _FIELDS}


def movie_fields(crew_roles: Sequence[str], genres: Iterable[str] = ()) -> list[MovieField]:
    """The fields a model with these crew inputs and genre vocabulary takes: crew fields only
    for its roles; genres from IMDb's list and any other it learned."""
    known = (*IMDB_GENRES, *sorted(set(genres) - set(IMDB_GENRES)))
    fields = []
    for field in _FIELDS:
        if field.name in CREW_ROLES and field.name not in crew_roles:
            continue
        if field.name == "genres":
            field = MovieField(**{**field.__dict__, "choices": known})
        fields.append(field)
    return fields


def default_of(field: MovieField) -> Any:
    """The value of an absent field (a fresh list for list fields)."""
    return list(field.default) if field.kind == "strings" else field.default


def input_defaults() -> dict[str, Any]:
    """Each optional model input and its value when absent (`build_matrix`'s columns)."""
    return {
        name: default_of(field)
        for name, field in MOVIE_FIELDS.items()
        if field.model_input and not field.required
    }


def is_missing(value: Any) -> bool:
    """Null: None, or NaN (a data frame's empty cell)."""
    return value is None or (isinstance(value, float) and math.isnan(value))


def _is_integer(value: Any) -> bool:
    return isinstance(value, int | np.integer) and not isinstance(value, bool | np.bool_)


def _is_number(value: Any) -> bool:
    return (
        isinstance(value, int | float | np.integer | np.floating)
        and not isinstance(value, bool | np.bool_)
        and math.isfinite(value)
    )


# The words of each problem, shared by every check derived from the fields (batch scoring
# reports them per row as "field: problem").
MISSING = "missing"
NOT_INTEGER = "not an integer"
NOT_NUMBER = "not a number"
NOT_BOOLEAN = "not true or false"
NOT_STRING = "not a string"
EMPTY = "empty"
NOT_LIST = "not a list"
NOT_STRING_ITEMS = "items must be strings"
REPEATED_ITEMS = "repeated items"


def not_in(bounds: tuple[float, float]) -> str:
    return f"not in {_number(bounds[0])}..{_number(bounds[1])}"


def longer_than(maximum: float) -> str:
    return f"longer than {_number(maximum)} characters"


def more_items_than(maximum: int) -> str:
    return f"more than {maximum} items"


def not_an_item(field: MovieField, item: str) -> str:
    return f"not {ITEM_NOUNS[field.name]} {item!r}"


# What an item of each listed or patterned field is, in messages.
ITEM_NOUNS = {
    "genres": "an IMDb genre",
    **dict.fromkeys(CREW_ROLES, "an IMDb name id"),
    "tconst": "an IMDb title id",
}


def _number(value: float) -> str:
    return str(int(value)) if float(value).is_integer() else str(value)


def field_problem(field: MovieField, value: Any) -> str | None:
    """What is wrong with `field`'s value (JSON types, or a data frame's NumPy scalars; null or
    NaN for an absent one), or None."""
    if is_missing(value):
        return MISSING if field.required else None
    if field.kind == "integer":
        return _outside(field, value) if _is_integer(value) else NOT_INTEGER
    if field.kind == "number":
        return _outside(field, value) if _is_number(value) else NOT_NUMBER
    if field.kind == "boolean":
        return None if isinstance(value, bool | np.bool_) else NOT_BOOLEAN
    if field.kind == "string":
        return _string_problem(field, value) if isinstance(value, str) else NOT_STRING
    if not isinstance(value, list | tuple | np.ndarray):
        return NOT_LIST
    if field.max_items is not None and len(value) > field.max_items:
        return more_items_than(field.max_items)
    for item in value:
        if not isinstance(item, str):
            return NOT_STRING_ITEMS
        if not item_is_valid(field, item):
            return not_an_item(field, item)
    return REPEATED_ITEMS if len(set(value)) != len(value) else None


def item_is_valid(field: MovieField, item: str) -> bool:
    """Whether a string (or a list's item) is one of the field's choices or matches its
    pattern."""
    if field.choices is not None:
        return item in field.choices
    return field.pattern is None or re.match(field.pattern, item) is not None


def _outside(field: MovieField, value: float) -> str | None:
    bounds = field.bounds
    return not_in(bounds) if bounds is not None and not bounds[0] <= value <= bounds[1] else None


def _string_problem(field: MovieField, value: str) -> str | None:
    if field.minimum is not None and len(value) < field.minimum:
        return EMPTY
    if field.maximum is not None and len(value) > field.maximum:
        return longer_than(field.maximum)
    return None if item_is_valid(field, value) else not_an_item(field, value)


def movie_problems(movie: Mapping[str, Any], fields: Sequence[MovieField]) -> list[str]:
    """`field: problem` for each field of `movie` that breaks the contract (a key absent, None
    or NaN is an absent field: its default if optional); empty when the movie is valid."""
    problems = []
    for field in fields:
        problem = field_problem(field, movie.get(field.name))
        if problem:
            problems.append(f"{field.name}: {problem}")
    return problems
