"""Request and response schemas (marshmallow); the OpenAPI document is generated from them.

The movie schema is built from the served model: its genre vocabulary, and crew fields only
when the model uses crew. Numbers are strict: no strings, no booleans, no NaN or infinities.
"""

from __future__ import annotations

import math
import numbers
from collections.abc import Sequence
from typing import Any

from marshmallow import Schema, ValidationError, fields, validate

from imdb_rating.features import (
    MAX_GENRES,
    MAX_PEOPLE,
    MAX_TITLE,
    MAX_VOTES,
    PERSON_ID,
    RUNTIME_RANGE,
    TITLE_ID,
    YEAR_RANGE,
)


class StrictInteger(fields.Integer):
    """An integer JSON number: not a string, not a boolean, not 1999.0."""

    def _deserialize(self, value: Any, attr, data, **kwargs) -> int:
        if isinstance(value, bool) or not isinstance(value, numbers.Integral):
            raise self.make_error("invalid")
        return super()._deserialize(value, attr, data, **kwargs)


class StrictNumber(fields.Float):
    """A finite JSON number: not a string, not a boolean."""

    def _deserialize(self, value: Any, attr, data, **kwargs) -> float:
        if isinstance(value, bool) or not isinstance(value, int | float):
            raise self.make_error("invalid")
        if not math.isfinite(value):
            raise self.make_error("special")
        return super()._deserialize(value, attr, data, **kwargs)


class StrictBoolean(fields.Boolean):
    """true or false: not 0/1 (which marshmallow's Boolean takes, as 0 == False in Python)."""

    def _deserialize(self, value: Any, attr, data, **kwargs) -> bool:
        if not isinstance(value, bool):
            raise self.make_error("invalid")
        return value


def _unique(values: Sequence[str]) -> None:
    if len(set(values)) != len(values):
        raise ValidationError("Values must be unique.")


def movie_schema(genres: Sequence[str], crew_roles: Sequence[str]) -> type[Schema]:
    """The schema of one movie for a model with this genre vocabulary and crew inputs."""
    allowed = ", ".join(genres)
    movie_fields: dict[str, fields.Field] = {
        "year": StrictInteger(
            required=True,
            validate=validate.Range(*YEAR_RANGE),
            metadata={"description": "Release year (startYear)", "example": 1999},
        ),
        "num_votes": StrictInteger(
            required=True,
            validate=validate.Range(0, MAX_VOTES),
            metadata={"description": "Number of IMDb votes", "example": 25000},
        ),
        "runtime_minutes": StrictNumber(
            load_default=None,
            allow_none=True,
            validate=validate.Range(*RUNTIME_RANGE),
            metadata={"description": "Runtime in minutes; null or absent if unknown"},
        ),
        "genres": fields.List(
            fields.String(
                validate=validate.OneOf(
                    genres, error=f"Unknown genre {{input}}; allowed: {allowed}."
                )
            ),
            load_default=list,
            validate=[validate.Length(max=MAX_GENRES), _unique],
            metadata={"description": f"Genre names, from: {allowed}", "uniqueItems": True},
        ),
        "title": fields.String(
            load_default=None,
            allow_none=True,
            validate=validate.Length(1, MAX_TITLE),
            metadata={"description": "Title (primaryTitle)", "example": "The Matrix"},
        ),
        "original_title": fields.String(
            load_default=None,
            allow_none=True,
            validate=validate.Length(1, MAX_TITLE),
            metadata={"description": "Title in the original language, if different"},
        ),
        "is_adult": StrictBoolean(load_default=False, metadata={"description": "Adult title"}),
    }
    for role in crew_roles:
        movie_fields[role] = fields.List(
            fields.String(validate=validate.Regexp(PERSON_ID, error="Not an IMDb name id (nm…).")),
            load_default=list,
            validate=[validate.Length(max=MAX_PEOPLE), _unique],
            metadata={"description": f"IMDb name ids (nconst) of the {role}", "uniqueItems": True},
        )
    # Not a model input: an id for joining logged predictions with later ratings.
    movie_fields["tconst"] = fields.String(
        load_default=None,
        allow_none=True,
        validate=validate.Regexp(TITLE_ID, error="Not an IMDb title id (tt…)."),
        metadata={
            "description": "IMDb title id (tconst), if known: the prediction log keeps it to "
            "compare the prediction with the rating published later",
            "example": "tt0133093",
        },
    )
    return Schema.from_dict(movie_fields, name="Movie")


def batch_schema(movie: type[Schema], max_batch: int) -> type[Schema]:
    return Schema.from_dict(
        {
            "movies": fields.List(
                fields.Nested(movie),
                required=True,
                validate=validate.Length(1, max_batch),
                metadata={"description": f"1 to {max_batch} movies; results keep this order"},
            )
        },
        name="Batch",
    )


class IntervalSchema(Schema):
    low = fields.Float(required=True)
    high = fields.Float(required=True)
    coverage = fields.Float(
        required=True,
        metadata={"description": "Share of ratings the interval is calibrated to hold"},
    )


class RatingSchema(Schema):
    rating = fields.Float(required=True, metadata={"description": "Predicted rating, 1 to 10"})
    interval = fields.Nested(IntervalSchema, required=True)


class PredictionSchema(RatingSchema):
    model_id = fields.String(
        required=True, metadata={"description": "The model's content identity"}
    )


class BatchPredictionSchema(Schema):
    model_id = fields.String(
        required=True, metadata={"description": "The model's content identity"}
    )
    count = fields.Integer(required=True)
    predictions = fields.List(fields.Nested(RatingSchema), required=True)


class ErrorSchema(Schema):
    status = fields.Integer(required=True)
    error = fields.String(required=True)
    message = fields.String(required=True)
    fields_ = fields.Dict(
        data_key="fields", metadata={"description": "Messages per field (and per batch index)"}
    )


class HealthSchema(Schema):
    status = fields.String(required=True)


class ReadySchema(HealthSchema):
    model_id = fields.String(allow_none=True)


class IndexSchema(Schema):
    service = fields.String(required=True)
    version = fields.String(required=True)
    model_id = fields.String(
        required=True, metadata={"description": "The model's content identity"}
    )
    links = fields.Dict(keys=fields.String(), values=fields.String(), required=True)


class ModelInfoSchema(Schema):
    name = fields.String(required=True)
    model_id = fields.String(
        required=True, metadata={"description": "The model's content identity"}
    )
    model_type = fields.String(required=True)
    metrics = fields.Dict(keys=fields.String(), values=fields.Float(), required=True)
    features = fields.List(fields.String(), required=True)
    genres = fields.List(fields.String(), required=True)
    crew_inputs = fields.List(fields.String(), required=True)
    interval = fields.Dict(required=True)
    training_data_sha256 = fields.String(required=True)
    artifact_sha256 = fields.String(required=True)
