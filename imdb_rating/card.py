"""The model card, models/model.json: what the service verifies, loads and reports, as one
typed, frozen value.

The train stage builds it (`ModelCard.build`); every reader gets it from `read_model_card` (or
`artifact.load_verified_model`), which checks its schema version and that its `model_id` is the
hash of its content. This module is the only one that knows the card's JSON layout: the rest
of the code reads attributes (`card.intervals.coverage`, `card.feature_spec.genres`).

The card is a pure function of the model and its inputs (no time, run id or registry version:
those are MLflow's), so `dvc repro` gives the same bytes anywhere, and `model_id` names it: a
hash of the card without the id itself (it pins the artifact's sha256, the features and the
intervals: everything that makes a prediction), the same on every machine, unlike a registry's
version counter.
"""

from __future__ import annotations

import hashlib
import json
from collections.abc import Mapping
from dataclasses import asdict, dataclass, fields
from pathlib import Path
from typing import Any

from imdb_rating.features import FeatureSpec, SpecError

MODEL_CARD_SCHEMA_VERSION = 2
MODEL_ID_LENGTH = 12  # hex digits: 48 bits, like a short git or image id


class ArtifactError(Exception):
    """The model card or the artifact it pins is missing, corrupt, another schema's, or does not
    match (its id, its sha256, its types)."""


@dataclass(frozen=True)
class ArtifactRef:
    """The serialised model next to the card, pinned by its sha256."""

    path: str
    format: str
    sha256: str
    trusted_types: list[str]


@dataclass(frozen=True)
class Intervals:
    """Split-conformal intervals: a half-width per bucket of `feature` (bounded by `edges`)."""

    method: str
    coverage: float
    feature: str
    edges: list[float]
    half_widths: list[float]
    calibration_rows: int


@dataclass(frozen=True)
class ModelMetrics:
    """The model on its test split (and the rows it was fit on and tested on)."""

    rmse: float
    mae: float
    r2: float
    interval_coverage: float
    n_train: int
    n_test: int

    def scores(self) -> dict[str, float]:
        """The error figures, without the row counts."""
        return {"rmse": self.rmse, "mae": self.mae, "r2": self.r2} | {
            "interval_coverage": self.interval_coverage
        }


@dataclass(frozen=True)
class TrainingData:
    sha256: str  # of the train split's feature file
    rows: int


@dataclass(frozen=True)
class ModelCard:
    name: str  # the registry's name of the model
    model_type: str
    params: dict[str, Any]  # the seed and the model's hyper-parameters, as params.yaml has them
    metrics: ModelMetrics
    intervals: Intervals
    artifact: ArtifactRef
    training_data: TrainingData
    feature_spec: FeatureSpec
    model_id: str
    schema_version: int = MODEL_CARD_SCHEMA_VERSION

    @classmethod
    def build(cls, **parts: Any) -> ModelCard:
        """A new card from its parts (every field but `model_id`), identified by their hash."""
        unnamed = cls(**parts, model_id="")
        return cls(**parts, model_id=model_id(unnamed.to_dict()))

    def replace(self, **changes: Any) -> ModelCard:
        """This card with some parts changed, identified by its new content."""
        parts = {item.name: getattr(self, item.name) for item in fields(self)}
        del parts["model_id"], parts["schema_version"]
        return ModelCard.build(**parts | changes)

    def to_dict(self) -> dict[str, Any]:
        """The JSON form (model.json). The spec's tables are shared, not copied."""
        values = {item.name: getattr(self, item.name) for item in fields(self)}
        parts = {name: asdict(values[name]) for name in _PARTS}
        return values | parts | {"feature_spec": self.feature_spec.to_dict()}

    @classmethod
    def from_dict(cls, data: Mapping[str, Any]) -> ModelCard:
        """The card of a model.json's content; ArtifactError when it does not fit this code."""
        version = data.get("schema_version") if isinstance(data, Mapping) else None
        if version != MODEL_CARD_SCHEMA_VERSION:
            raise ArtifactError(f"schema_version {version!r}, expected {MODEL_CARD_SCHEMA_VERSION}")
        expected = model_id(data)
        if data.get("model_id") != expected:
            raise ArtifactError(
                f"model_id {data.get('model_id')!r} does not match the card's content ({expected})"
            )
        try:
            parts = {name: part(**data[name]) for name, part in _PARTS.items()}
            spec = FeatureSpec.from_dict(data["feature_spec"])
            return cls(**{**data, **parts, "feature_spec": spec})
        except SpecError as error:
            raise ArtifactError(str(error)) from None
        except (KeyError, TypeError) as error:
            raise ArtifactError(f"the card does not fit this code ({error})") from None


_PARTS = {
    "metrics": ModelMetrics,
    "intervals": Intervals,
    "artifact": ArtifactRef,
    "training_data": TrainingData,
}


def model_id(card: Mapping[str, Any]) -> str:
    """The hash of a card's JSON form without its `model_id`."""
    content = {key: value for key, value in card.items() if key != "model_id"}
    canonical = json.dumps(content, sort_keys=True, separators=(",", ":"), allow_nan=False)
    return hashlib.sha256(canonical.encode()).hexdigest()[:MODEL_ID_LENGTH]


def read_model_card(card_path: Path) -> ModelCard:
    """The verified card at `card_path` (its schema and its id; not yet its artifact)."""
    try:
        data = json.loads(card_path.read_text(encoding="utf-8"))
    except FileNotFoundError:
        raise ArtifactError(f"{card_path}: model card not found (run `dvc repro`)") from None
    except (OSError, ValueError) as error:
        raise ArtifactError(f"{card_path}: unreadable model card ({error})") from None
    try:
        return ModelCard.from_dict(data)
    except ArtifactError as error:
        raise ArtifactError(f"{card_path}: {error}") from None


def read_crew_roles(card_path: Path) -> list[str]:
    """The crew inputs of the card's model, read without verifying the card (batch scoring
    opens its input, which needs only these, while the model loads and verifies)."""
    try:
        return list(json.loads(card_path.read_text(encoding="utf-8"))["feature_spec"]["crew_roles"])
    except (OSError, ValueError, KeyError, TypeError) as error:
        raise ArtifactError(f"{card_path}: unreadable model card ({error})") from None
