"""Input-drift reference histograms and the population stability index (PSI).

featurize stores, for each monitored input, the training distribution over fixed bins; the
service bins recent requests the same way and reports PSI against it.
"""

from __future__ import annotations

import math
from collections.abc import Iterable, Mapping, Sequence
from dataclasses import dataclass
from typing import Any

import numpy as np

NO_GENRE = "(none)"
# The fields of a movie its monitored inputs are computed from (`monitored_inputs`, genres).
MONITORED_FIELDS = ("year", "runtime_minutes", "num_votes", "title", "genres")
# A bin with no observations would make PSI infinite; this floor is the usual convention.
PSI_FLOOR = 1e-4


@dataclass(frozen=True)
class NumericReference:
    """A numeric input's training distribution: bin edges (bisect right), and the share of
    values in each bin, the last one for missing values."""

    edges: list[float]
    fractions: list[float]


@dataclass(frozen=True)
class CategoricalReference:
    """The share of each category among all labels (NO_GENRE last)."""

    categories: list[str]
    fractions: list[float]


@dataclass(frozen=True)
class DriftReference:
    """The training distribution of each monitored input (`monitored_inputs`) and of genres."""

    numeric: dict[str, NumericReference]
    genres: CategoricalReference

    def to_dict(self) -> dict[str, Any]:
        """The JSON form: per input, its kind and its reference."""
        numeric = {
            name: {"kind": "numeric", "edges": ref.edges, "fractions": ref.fractions}
            for name, ref in self.numeric.items()
        }
        genres = self.genres
        categorical = {"categories": genres.categories, "fractions": genres.fractions}
        return numeric | {"genres": {"kind": "categorical", **categorical}}

    @classmethod
    def from_dict(cls, data: Mapping[str, Mapping[str, Any]]) -> DriftReference:
        numeric = {
            name: NumericReference(ref["edges"], ref["fractions"])
            for name, ref in data.items()
            if ref["kind"] == "numeric"
        }
        genres = data["genres"]
        return cls(numeric, CategoricalReference(genres["categories"], genres["fractions"]))


def monitored_inputs(columns: Mapping[str, Sequence[Any]]) -> dict[str, np.ndarray]:
    """The numeric inputs whose distribution is monitored, as floats (NaN: missing).

    `columns` are `build_matrix`'s: featurize derives the reference from the train split and
    the service its live window from requests, with this one definition.
    """
    return {
        "year": np.asarray(columns["year"], dtype=np.float64),
        "runtime_minutes": np.array(columns["runtime_minutes"], dtype=np.float64),
        "log_votes": np.log1p(np.asarray(columns["num_votes"], dtype=np.float64)),
        "title_length": np.array([len(t or "") for t in columns["title"]], dtype=np.float64),
    }


def numeric_bins(values: np.ndarray, edges: Sequence[float]) -> np.ndarray:
    """Bin index per value: bisect right over `edges`; NaN goes to the last bin."""
    bins = np.searchsorted(edges, values, side="right")
    bins[np.isnan(values)] = len(edges) + 1
    return bins


def numeric_reference(values: np.ndarray, bins: int) -> NumericReference:
    """Quantile bin edges of the training values, with a last bin for missing values."""
    present = values[~np.isnan(values)]
    quantiles = np.quantile(present, np.linspace(0, 1, bins + 1)[1:-1]) if present.size else []
    edges = sorted({round(float(q), 6) for q in quantiles})
    counts = np.bincount(numeric_bins(values, edges), minlength=len(edges) + 2)
    return NumericReference(edges, _fractions(counts))


def categorical_reference(
    labels: Iterable[Sequence[str]], categories: Sequence[str]
) -> CategoricalReference:
    """Share of each category among all labels (a movie with no genre counts as NO_GENRE)."""
    names = [*categories, NO_GENRE]
    return CategoricalReference(names, _fractions(categorical_counts(labels, names)))


def categorical_counts(labels: Iterable[Sequence[str]], names: Sequence[str]) -> np.ndarray:
    """Labels per category of `names` (a reference's categories, NO_GENRE last)."""
    index = {name: i for i, name in enumerate(names)}
    counts = np.zeros(len(names))
    for movie_labels in labels:
        for position in categorical_bins(movie_labels, index):
            counts[position] += 1
    return counts


def categorical_bins(labels: Sequence[str], index: Mapping[str, int]) -> list[int]:
    """Bins of a movie's labels; `index` maps each category (and NO_GENRE) to its bin."""
    bins = [index[label] for label in labels if label in index]
    return bins or [index[NO_GENRE]]


def psi_by_input(
    reference: DriftReference, columns: Mapping[str, Sequence[Any]]
) -> dict[str, float]:
    """PSI of a set of movies (`build_matrix` columns) against a spec's drift reference, per
    monitored input and for the genres: the service's drift metric, over any set of movies."""
    inputs = monitored_inputs(columns)
    values = {}
    for name, ref in reference.numeric.items():
        bins = numeric_bins(inputs[name], ref.edges)
        values[name] = psi(ref.fractions, np.bincount(bins, minlength=len(ref.fractions)))
    genres = reference.genres
    values["genres"] = psi(
        genres.fractions, categorical_counts(columns["genres"], genres.categories)
    )
    return values


def psi(expected: Sequence[float], observed_counts: Sequence[float]) -> float:
    """Population stability index of observed counts against expected fractions."""
    total = float(sum(observed_counts))
    if total == 0:
        return 0.0
    value = 0.0
    for exp, count in zip(expected, observed_counts, strict=True):
        e = max(exp, PSI_FLOOR)
        o = max(count / total, PSI_FLOOR)
        value += (o - e) * math.log(o / e)
    return value


def _fractions(counts: np.ndarray) -> list[float]:
    total = counts.sum()
    return [round(float(c / total), 6) if total else 0.0 for c in counts]
