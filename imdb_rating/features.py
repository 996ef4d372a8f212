"""The model's feature contract: raw movie fields -> feature matrix, described by a FeatureSpec.

featurize learns the spec on the train split and calls `build_matrix`; the service and the
MLflow model call the same function on requests, so training and serving cannot drift apart.
Each feature group is declared once, as its column names and the function that fills those
columns (`feature_groups`): the names the spec lists are the columns the matrix holds.
Only the standard library and NumPy are used here: the service imports this module on its
request path.
"""

from __future__ import annotations

import math
import re
from collections.abc import Callable, Iterable, Iterator, Mapping, Sequence
from dataclasses import asdict, dataclass, field, fields
from functools import cache, cached_property, lru_cache, partial
from statistics import fmean
from typing import Any

import numpy as np

from imdb_rating.drift import DriftReference
from imdb_rating.movie import input_defaults
from imdb_rating.splits import share_mask

SPEC_SCHEMA_VERSION = 4
# The raw inputs of one movie, as the clean stage writes them and the service accepts them
# (imdb_rating/movie.py). A missing optional input takes its default (None means "unknown",
# which the models handle natively as NaN, exactly as in training).
INPUT_DEFAULTS = input_defaults()

_WORD = re.compile(r"\w+")
_DIGIT = re.compile(r"\d")
# A sequel's marks (`is_sequel`): a colon, "part <word>", or a last word that is a number 2-9 or
# a roman numeral ii-x.
_SEQUEL_NUMBER = re.compile(r"[2-9]|ii|iii|iv|v|vi|vii|viii|ix|x", re.I)
_PART = re.compile(r"\bpart\s+\w+", re.I)

# Target-encoding tables: key -> [sum of ratings, number of movies]; people tables: person ->
# [mean log votes, first year, number of movies] (inputs only, never the target).
Table = Mapping[str, Sequence[float]]


class SpecError(ValueError):
    """A feature spec this code cannot use (another schema version, inconsistent names)."""


@dataclass(frozen=True)
class Split:
    """How featurize split the movies: a hash of the tconst with this seed, so which movies a
    model held out can be told from its spec alone."""

    seed: int
    test_size: float

    def held_out(self, tconsts: Iterable[str]) -> np.ndarray:
        """True for the movies this split puts in test: a model with this split never trained
        on them, whatever its data."""
        return share_mask(tconsts, self.test_size, self.seed, "test")


@dataclass(frozen=True)
class LinearScore:
    """A ridge regression on the linear tokens (`linear_tokens`): its intercept and the weight
    of each token it kept."""

    intercept: float
    weights: dict[str, float]


@dataclass(frozen=True)
class FilmTable:
    """One crew role's rated films grouped by person, as columns: `people`, `starts` (where
    each person's films begin: one more entry than people), then per film its year, log votes,
    genres (a bit mask over the spec's genres) and rating. Lists in a spec; arrays in the
    out-of-fold copies featurize builds."""

    people: Sequence[str]
    starts: Sequence[int]
    year: Sequence[float]
    log_votes: Sequence[float]
    genres: Sequence[int]
    rating: Sequence[float]

    def to_dict(self) -> dict[str, Sequence[Any]]:
        """The JSON form: the columns themselves, not copies (millions of entries at full size)."""
        return {item.name: getattr(self, item.name) for item in fields(self)}


@dataclass(frozen=True)
class FeatureSpec:
    """Everything featurize learned on the train split that encoding a movie needs, and the
    training distribution of the monitored inputs (the drift reference)."""

    split: Split
    genres: list[str]
    crew_roles: list[str]
    target_mean: float
    crew_encoding_smoothing: float
    title_word_smoothing: float
    target_tables: dict[str, dict[str, list[float]]]  # per crew role, and "title_words"
    film_tables: dict[str, FilmTable]  # per crew role
    crew_similarity: Similarity  # how alike two films are, for the crew's `similar_encoding`
    linear_score: LinearScore | None  # None when featurize was told not to learn one
    people: dict[str, dict[str, list[float]]]  # per crew role
    # Learned from the sparsely rated movies (clean stage), which are never modelled: their
    # mean rating, per crew role a target table, and a linear score fit on them (or None).
    sparse_mean: float
    sparse_tables: dict[str, dict[str, list[float]]]
    sparse_film_tables: dict[str, FilmTable]
    sparse_linear_score: LinearScore | None
    drift_reference: DriftReference
    schema_version: int = field(default=SPEC_SCHEMA_VERSION)

    @cached_property
    def groups(self) -> list[FeatureGroup]:
        return feature_groups(self)

    @cached_property
    def feature_names(self) -> list[str]:
        return [name for group in self.groups for name in group.names]

    def to_dict(self) -> dict[str, Any]:
        """The JSON form (spec.json, and the model card's `feature_spec`). The tables are
        shared, not copied: at full size they hold millions of entries."""
        values = {item.name: getattr(self, item.name) for item in fields(self)}
        return values | {
            "split": asdict(self.split),
            "film_tables": _tables_to_dict(self.film_tables),
            "crew_similarity": asdict(self.crew_similarity),
            "linear_score": _score_to_dict(self.linear_score),
            "sparse_film_tables": _tables_to_dict(self.sparse_film_tables),
            "sparse_linear_score": _score_to_dict(self.sparse_linear_score),
            "drift_reference": self.drift_reference.to_dict(),
            "feature_names": self.feature_names,
        }

    @classmethod
    def from_dict(cls, data: Mapping[str, Any]) -> FeatureSpec:
        version = data.get("schema_version")
        if version != SPEC_SCHEMA_VERSION:
            raise SpecError(
                f"feature spec schema_version {version!r}, expected {SPEC_SCHEMA_VERSION}"
            )
        values = {key: value for key, value in data.items() if key != "feature_names"}
        try:
            spec = cls(
                **values
                | {
                    "split": Split(**values["split"]),
                    "film_tables": _tables_of(values["film_tables"]),
                    "crew_similarity": Similarity(**values["crew_similarity"]),
                    "linear_score": _score_of(values["linear_score"]),
                    "sparse_film_tables": _tables_of(values["sparse_film_tables"]),
                    "sparse_linear_score": _score_of(values["sparse_linear_score"]),
                    "drift_reference": DriftReference.from_dict(values["drift_reference"]),
                }
            )
        except (KeyError, TypeError, ValueError) as error:
            raise SpecError(f"feature spec does not fit this code ({error})") from None
        if data.get("feature_names") != spec.feature_names:
            raise SpecError("feature spec's feature_names are not its feature groups' columns")
        return spec


def _tables_to_dict(tables: Mapping[str, FilmTable]) -> dict[str, dict[str, Sequence[Any]]]:
    return {role: table.to_dict() for role, table in tables.items()}


def _tables_of(data: Mapping[str, Mapping[str, Any]]) -> dict[str, FilmTable]:
    return {role: FilmTable(**table) for role, table in data.items()}


def _score_to_dict(score: LinearScore | None) -> dict[str, Any] | None:
    return None if score is None else {"intercept": score.intercept, "weights": score.weights}


def _score_of(data: Mapping[str, Any] | None) -> LinearScore | None:
    return None if data is None else LinearScore(**data)


# --- feature groups: names, and the function that fills their columns --------------------------

Columns = Mapping[str, Sequence[Any]]  # field -> one value per movie (`build_matrix`'s input)


@dataclass(frozen=True)
class Learned:
    """What featurize learned from ratings: the target-encoding and film tables and the linear
    score. The spec holds those of the whole train split; featurize encodes each train fold
    with copies learned without it (out-of-fold)."""

    target_tables: Mapping[str, Table]
    film_tables: Mapping[str, FilmTable]
    linear_score: LinearScore | None


@dataclass(frozen=True)
class FeatureGroup:
    """Columns computed together. `fill(block, movies, learned)` writes the group's columns
    into `block` (one row per movie, one column per name, in order)."""

    names: tuple[str, ...]
    fill: Callable[[np.ndarray, Columns, Learned], None]


BASIC_FEATURES = ("year", "runtime_minutes", "log_votes", "is_adult", "genre_count")
TITLE_FEATURES = (
    "title_length",
    "title_word_count",
    "title_has_digit",
    "title_sequel_marker",
    "title_non_ascii",
    "title_differs_from_original",
    "title_words_encoding",
)
CREW_FEATURES = (
    "count",
    "encoding",
    "rated_films",
    "mean_log_votes",
    "relative_votes",
    "career_years",
    "movies",
    "sparse_encoding",
    "sparse_films",
)
# Per crew role, from the train split's films and from the sparsely rated ones: computed for
# every role, movie and table in one pass (`similar_films_encoding`), hence a group of their own.
SIMILAR_FEATURES = ("similar_encoding", "sparse_similar_encoding")


def feature_groups(spec: FeatureSpec) -> list[FeatureGroup]:
    """The model's features, in column order."""
    groups = [
        FeatureGroup(BASIC_FEATURES, _basic_filler(spec)),
        FeatureGroup(tuple(f"genre_{genre}" for genre in spec.genres), _genre_filler(spec)),
        FeatureGroup(TITLE_FEATURES, _title_filler(spec)),
    ]
    if spec.linear_score is not None:
        names = ("linear_score",)
        if spec.sparse_linear_score is not None:
            names += ("sparse_linear_score",)
        groups.append(FeatureGroup(names, _linear_filler(spec)))
    for role in spec.crew_roles:
        names = tuple(f"{role}_{name}" for name in CREW_FEATURES)
        groups.append(FeatureGroup(names, _crew_filler(spec, role)))
    names = tuple(f"{role}_{name}" for role in spec.crew_roles for name in SIMILAR_FEATURES)
    groups.append(FeatureGroup(names, _similar_filler(spec)))
    return groups


def title_words(title: str | None) -> set[str]:
    return set(_WORD.findall(title.lower())) if title else set()


def is_sequel(title: str) -> bool:
    """Whether the title ends in a number 2-9 or a roman numeral ii-x (a whole word), or holds
    "part <word>" or a colon. The same answers as the regex in the tests, which searched from
    every position of the title (2.6 µs a title, now 0.9)."""
    if ":" in title or ("part" in title.lower() and _PART.search(title)):
        return True
    words = title.rsplit(None, 1)  # the last word and what follows it is whitespace (\s*$)
    if not words:
        return False
    last = words[-1]
    start = len(last)
    while start and (last[start - 1].isalnum() or last[start - 1] == "_"):  # \w, as re has it
        start -= 1
    return _SEQUEL_NUMBER.fullmatch(last, start) is not None


def word_tokens(word: str) -> list[str]:
    """A title word's linear tokens: the word, and its character trigrams (padded by a space
    at each end, so prefixes and suffixes count)."""
    padded = f" {word} "
    return [f"w:{word}", *(f"c:{padded[i : i + 3]}" for i in range(len(padded) - 2))]


def context_tokens(
    genres: Sequence[str], year: float, votes: float, runtime: float | None
) -> list[str]:
    """The indicators a title's effect is measured against: a title word common in 1930s dramas
    should not take the credit for the era and the genre."""
    unknown = runtime is None or math.isnan(runtime)  # None from a request, NaN from a frame
    return [
        *(f"g:{genre}" for genre in dict.fromkeys(genres)),
        f"d:{int(year) // 10}",
        f"v:{int(log_votes(votes) * 2)}",  # half a natural-log unit of votes
        "r:none" if unknown else f"r:{min(int(runtime) // 15, 12)}",
    ]


def linear_tokens(
    words: set[str], genres: Sequence[str], year: float, votes: float, runtime: float | None
) -> list[str]:
    """The linear score's inputs, one entry per count: each distinct title word's tokens (the
    `title_words`), then the context's. The score is linear in these counts, so a title's part
    is a sum of per-word values (which the service memoizes)."""
    return [
        # sorted: the fit must not depend on the hash seed
        *(token for word in sorted(words) for token in word_tokens(word)),
        *context_tokens(genres, year, votes, runtime),
    ]


def _linear_inputs(movies: Columns) -> Iterator[tuple[Any, ...]]:
    """Per movie of `_input_columns`: title words, genres, year, votes, runtime."""
    return zip(
        movies["title_words"],
        movies["genres"],
        movies["year"],
        movies["num_votes"],
        movies["runtime_minutes"],
        strict=True,
    )


def linear_token_columns(movies: Columns) -> list[list[str]]:
    """`linear_tokens` of each movie given as `build_matrix` columns (featurize's fit)."""
    return [linear_tokens(*inputs) for inputs in _linear_inputs(_input_columns(movies))]


def log_votes(num_votes: float) -> float:
    return math.log1p(num_votes)


def smoothed_mean(total: float, count: float, prior: float, smoothing: float) -> float:
    """Mean pulled toward the prior: people seen in few training films get little weight."""
    return (total + smoothing * prior) / (count + smoothing)


@dataclass(frozen=True)
class Similarity:
    """How much one of a person's films says about another of theirs: a film released `years`
    apart, or drawing e times the votes (`log_votes` = 1), weighs e times less; sharing every
    genre weighs 1 + genre_weight times more (by the share of their genres in common). The
    weighted mean rating is pulled toward the prior by `smoothing` films' weight."""

    years: float
    log_votes: float
    genre_weight: float
    smoothing: float


def genre_masks(genres: Sequence[Sequence[str]], vocabulary: Sequence[str]) -> list[int]:
    """Each movie's genres as a bit mask over the vocabulary (other genres are left out)."""
    bit = {genre: 1 << i for i, genre in enumerate(vocabulary)}
    return [sum({bit[g] for g in values if g in bit}) for values in genres]


class FilmIndex:
    """Film tables as one set of arrays, and where each person's films are in each table."""

    def __init__(self, tables: Sequence[FilmTable]) -> None:
        self.positions: list[dict[str, int]] = []
        starts: list[np.ndarray] = []
        people_before = offset = 0
        for table in tables:
            people = table.people
            indices = range(people_before, people_before + len(people))
            self.positions.append(dict(zip(people, indices, strict=True)))
            starts.append(np.asarray(table.starts[:-1], dtype=np.int64) + offset)
            people_before += len(people)
            offset += int(table.starts[-1])
        self.starts = np.concatenate([*starts, [offset]]).astype(np.int64)

        def column(name: str, dtype: type) -> np.ndarray:
            parts = [np.asarray(getattr(table, name), dtype=dtype) for table in tables]
            return np.concatenate(parts) if parts else np.empty(0, dtype)

        self.year = column("year", np.float64)
        self.log_votes = column("log_votes", np.float64)
        self.genres = column("genres", np.int64)
        self.rating = column("rating", np.float64)


# Credits are weighed against their people's films in chunks of at most this many pairs.
_PAIRS_PER_CHUNK = 1 << 20


def similar_films_encoding(
    people: Sequence[Sequence[Sequence[str]]],
    years: np.ndarray,
    log_votes: np.ndarray,
    genres: np.ndarray,
    films: FilmIndex,
    priors: Sequence[float],
    similarity: Similarity,
) -> np.ndarray:
    """Per movie (row) and film table (column): the mean over the movie's people, as `people`
    lists them for that table, of their films' ratings weighted by likeness to the movie and
    smoothed toward the table's prior (a person without films in it counts as the prior; NaN
    for a movie without people). Vectorized over every (credit, film) pair: a prolific
    director is one slice, and every role and table one pass."""
    n_rows, n_tables = len(years), len(people)
    # A credit's cell: its movie's row and its table's column, flattened.
    cells, positions = [], []
    for column, (table_people, position) in enumerate(zip(people, films.positions, strict=True)):
        for row, names in enumerate(table_people):
            for person in names:
                cells.append(row * n_tables + column)
                positions.append(position.get(person, -1))
    credit_cells = np.asarray(cells, dtype=np.int64)
    position = np.asarray(positions, dtype=np.int64)
    values = np.asarray(priors, dtype=np.float64)[credit_cells % n_tables]
    known = np.flatnonzero(position >= 0)
    first = films.starts[position[known]]
    counts = films.starts[position[known] + 1] - first
    ends = np.cumsum(counts)
    begin = 0
    while begin < len(known):
        # Whole credits only, so a credit's pairs are always summed in the same order.
        limit = ends[begin] - counts[begin] + _PAIRS_PER_CHUNK
        end = max(begin + 1, int(np.searchsorted(ends, limit, "right")))
        n = counts[begin:end]
        credit = np.repeat(np.arange(end - begin), n)
        film = np.arange(ends[end - 1] - ends[begin] + n[0]) + np.repeat(
            first[begin:end] - (np.cumsum(n) - n), n
        )
        row = credit_cells[known[begin:end]][credit] // n_tables
        shared = np.bitwise_count(films.genres[film] & genres[row])
        either = np.maximum(np.bitwise_count(films.genres[film] | genres[row]), 1)
        weight = np.exp(
            -np.abs(films.year[film] - years[row]) / similarity.years
            - np.abs(films.log_votes[film] - log_votes[row]) / similarity.log_votes
        ) * (1.0 + similarity.genre_weight * shared / either)
        total = np.bincount(credit, weights=weight * films.rating[film], minlength=end - begin)
        weights = np.bincount(credit, weights=weight, minlength=end - begin)
        prior = values[known[begin:end]]
        values[known[begin:end]] = (total + similarity.smoothing * prior) / (
            weights + similarity.smoothing
        )
        begin = end
    credited = np.bincount(credit_cells, minlength=n_rows * n_tables)
    sums = np.bincount(credit_cells, weights=values, minlength=n_rows * n_tables)
    means = np.full(n_rows * n_tables, math.nan)
    np.divide(sums, credited, out=means, where=credited > 0)
    return means.reshape(n_rows, n_tables)


def _basic_filler(spec: FeatureSpec):
    known = frozenset(spec.genres)

    def fill(block: np.ndarray, movies: Columns, _learned: Learned) -> None:
        block[:, 0] = movies["year"]
        runtimes = movies["runtime_minutes"]
        block[:, 1] = [math.nan if minutes is None else minutes for minutes in runtimes]
        block[:, 2] = [log_votes(float(votes)) for votes in movies["num_votes"]]
        block[:, 3] = [bool(adult) for adult in movies["is_adult"]]
        # Genres the model never learned have no effect, not even on the count.
        block[:, 4] = [sum(genre in known for genre in genres) for genres in movies["genres"]]

    return fill


def _genre_filler(spec: FeatureSpec):
    index = {genre: i for i, genre in enumerate(spec.genres)}

    def fill(block: np.ndarray, movies: Columns, _learned: Learned) -> None:
        block[:] = 0.0
        for row, genres in enumerate(movies["genres"]):
            for genre in genres:
                if genre in index:
                    block[row, index[genre]] = 1.0

    return fill


def _title_filler(spec: FeatureSpec):
    prior, smoothing = spec.target_mean, spec.title_word_smoothing
    own = spec.target_tables["title_words"]

    def smoothed_means(table: Table) -> dict[str, float]:
        return {
            word: smoothed_mean(*sum_count, prior, smoothing) for word, sum_count in table.items()
        }

    # The spec's own table is smoothed once (the service encodes with it on every request);
    # featurize's out-of-fold copies, once per call.
    own_means = cache(lambda: smoothed_means(own))

    def features(
        title: str, original_title: str | None, words: set[str], means: Mapping[str, float]
    ):
        known = [means[word] for word in words if word in means]
        return (
            float(len(title)),
            float(len(words)),
            float(_DIGIT.search(title) is not None),
            float(is_sequel(title)),
            float(not title.isascii()),
            float(bool(original_title) and original_title != title),
            fmean(known) if known else prior,
        )

    def fill(block: np.ndarray, movies: Columns, learned: Learned) -> None:
        table = learned.target_tables["title_words"]
        means = own_means() if table is own else smoothed_means(table)
        block[:] = [
            features(title or "", original, words, means)
            for title, original, words in zip(
                movies["title"], movies["original_title"], movies["title_words"], strict=True
            )
        ]

    return fill


def _crew_filler(spec: FeatureSpec, role: str):
    prior, smoothing, people_table = (
        spec.target_mean,
        spec.crew_encoding_smoothing,
        spec.people[role],
    )
    sparse_table = spec.sparse_tables[role]
    nobody = (0.0, *[math.nan] * (len(CREW_FEATURES) - 1))

    def encoding_and_films(people: Sequence[str], table: Table, prior: float):
        sums_counts = [table.get(p, (0.0, 0.0)) for p in people]
        encoding = fmean(smoothed_mean(s, c, prior, smoothing) for s, c in sums_counts)
        return encoding, float(max(c for _, c in sums_counts))

    def features(people: Sequence[str], year: float, votes: float, table: Table):
        if len(people) == 0:
            return nobody
        encoding, rated = encoding_and_films(people, table, prior)
        sparse = encoding_and_films(people, sparse_table, spec.sparse_mean)
        stats = [people_table[p] for p in people if p in people_table]
        if stats:
            mean_votes = fmean(s[0] for s in stats)
            first_year = min(s[1] for s in stats)
            movies = fmean(s[2] for s in stats)
            relative, career = votes - mean_votes, year - first_year
        else:
            mean_votes = relative = career = movies = math.nan
        return (float(len(people)), encoding, rated, mean_votes, relative, career, movies, *sparse)

    def fill(block: np.ndarray, movies: Columns, learned: Learned) -> None:
        table = learned.target_tables[role]
        block[:] = [
            features(people, float(year), log_votes(float(votes)), table)
            for people, year, votes in zip(
                movies[role], movies["year"], movies["num_votes"], strict=True
            )
        ]

    return fill


def _similar_filler(spec: FeatureSpec):
    """Each role's `similar_encoding` from the train split's films, then its
    `sparse_similar_encoding` from the sparsely rated ones (SIMILAR_FEATURES' order)."""
    similarity = spec.crew_similarity
    roles = spec.crew_roles
    priors = [mean for _ in roles for mean in (spec.target_mean, spec.sparse_mean)]

    def index(own: Mapping[str, FilmTable]) -> FilmIndex:
        return FilmIndex([t for r in roles for t in (own[r], spec.sparse_film_tables[r])])

    # Indexed once (the service encodes with it on every request); featurize's out-of-fold
    # copies, once per call.
    own_index = cache(lambda: index(spec.film_tables))

    def fill(block: np.ndarray, movies: Columns, learned: Learned) -> None:
        films = learned.film_tables
        block[:] = similar_films_encoding(
            [movies[role] for role in roles for _ in SIMILAR_FEATURES],
            np.asarray(movies["year"], dtype=np.float64),
            np.log1p(np.asarray(movies["num_votes"], dtype=np.float64)),
            np.asarray(genre_masks(movies["genres"], spec.genres), dtype=np.int64),
            own_index() if films is spec.film_tables else index(films),
            priors,
            similarity,
        )

    return fill


def _linear_filler(spec: FeatureSpec):
    # Per word, the weights of its tokens: words recur across titles, so the service looks each
    # up once (bounded). Only for the spec's own scores: featurize's out-of-fold copies differ.
    own, sparse = spec.linear_score, spec.sparse_linear_score

    def value_of_word(weights: Mapping[str, float], word: str) -> float:
        return math.fsum(weights.get(token, 0.0) for token in word_tokens(word))

    def memoized(score: Mapping[str, Any]) -> Callable[[str], float]:
        return lru_cache(maxsize=1 << 16)(partial(value_of_word, score.weights))

    own_value = memoized(own)
    sparse_value = memoized(sparse) if sparse is not None else None

    def scores(score, word_value, inputs: list[tuple[set[str], list[str]]]) -> list[float]:
        weights, intercept = score.weights, score.intercept
        # fsum: the exact sum, whatever order the title's words come in.
        return [
            intercept
            + math.fsum(
                [*(word_value(word) for word in words), *(weights.get(t, 0.0) for t in context)]
            )
            for words, context in inputs
        ]

    def fill(block: np.ndarray, movies: Columns, learned: Learned) -> None:
        score = learned.linear_score
        assert score is not None  # the group exists only with a linear score
        word_value = own_value if score is own else partial(value_of_word, score.weights)
        inputs = [
            (words, context_tokens(genres, year, votes, runtime))
            for words, genres, year, votes, runtime in _linear_inputs(movies)
        ]
        block[:, 0] = scores(score, word_value, inputs)
        if sparse is not None:
            block[:, 1] = scores(sparse, sparse_value, inputs)

    return fill


def _input_columns(movies: Columns) -> dict[str, Sequence[Any]]:
    """Every input, an absent optional one at its default, and each title's words (two feature
    groups read them)."""
    n_rows = len(movies["year"])
    columns = {
        name: movies[name] if name in movies else [INPUT_DEFAULTS[name]] * n_rows
        for name in INPUT_DEFAULTS
    } | {"year": movies["year"], "num_votes": movies["num_votes"]}
    return columns | {"title_words": [title_words(title) for title in columns["title"]]}


def build_matrix(movies: Columns, spec: FeatureSpec, learned: Learned | None = None) -> np.ndarray:
    """Encode movies given as columns (field -> values, all the same length) into a matrix.

    `learned` replaces what the spec learned from ratings; featurize passes what it learned
    without the rows being encoded to get out-of-fold encodings for the train split.
    """
    if learned is None:
        learned = Learned(spec.target_tables, spec.film_tables, spec.linear_score)
    columns = _input_columns(movies)
    n_rows = len(columns["year"])
    matrix = np.empty((n_rows, len(spec.feature_names)), dtype=np.float64)
    start = 0
    for group in spec.groups:
        end = start + len(group.names)
        if n_rows and end > start:  # a model without genres has an empty genre group
            group.fill(matrix[:, start:end], columns, learned)
        start = end
    return matrix
