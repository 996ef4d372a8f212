"""Request and response schemas (marshmallow); the OpenAPI document is generated from them.

The movie schema is derived from the movie contract (imdb_rating/movie.py) for the served model:
crew fields only when the model uses crew. Numbers are strict: no strings, no booleans, no NaN
or infinities.
"""

from __future__ import annotations

import math
import numbers
from collections.abc import Sequence
from typing import Any

from marshmallow import Schema, ValidationError, fields, validate

from imdb_rating.movie import CREW_ROLES, MovieField


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


# marshmallow's messages for a string that is not one of a field's choices or patterns.
ITEM_ERRORS = {
    "genres": "Not an IMDb genre: {input}.",
    **dict.fromkeys(CREW_ROLES, "Not an IMDb name id (nm…)."),
    "tconst": "Not an IMDb title id (tt…).",
}


def _item_validators(field: MovieField) -> list[validate.Validator]:
    if field.choices is not None:
        return [validate.OneOf(field.choices, error=ITEM_ERRORS[field.name])]
    if field.pattern is not None:
        return [validate.Regexp(field.pattern, error=ITEM_ERRORS[field.name])]
    return []


def _schema_field(field: MovieField) -> fields.Field:
    """The marshmallow field of one field of the movie contract."""
    metadata = {"description": field.description}
    if field.example is not None:
        metadata["example"] = field.example
    optional = {} if field.required else {"load_default": field.default}
    range_ = [validate.Range(*field.bounds)] if field.bounds else []
    if field.kind == "integer":
        return StrictInteger(required=field.required, validate=range_, metadata=metadata)
    if field.kind == "number":
        return StrictNumber(
            allow_none=field.nullable, validate=range_, metadata=metadata, **optional
        )
    if field.kind == "boolean":
        return StrictBoolean(metadata=metadata, **optional)
    if field.kind == "string":
        length = [validate.Length(field.minimum, field.maximum)] if field.bounds else []
        return fields.String(
            allow_none=field.nullable,
            validate=length + _item_validators(field),
            metadata=metadata,
            **optional,
        )
    return fields.List(
        fields.String(validate=_item_validators(field)),
        load_default=list,
        validate=[validate.Length(max=field.max_items), _unique],
        metadata=metadata | {"uniqueItems": True},
    )


def movie_schema(movie_fields: Sequence[MovieField]) -> type[Schema]:
    """The schema of one movie, from the movie contract's fields for the served model."""
    return Schema.from_dict(
        {field.name: _schema_field(field) for field in movie_fields}, name="Movie"
    )


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
    ignored_genres = fields.List(
        fields.String(),
        metadata={
            "description": "Only when the movie has some: its genres the model never learned"
            " (valid IMDb genres, absent from GET /model's `genres`), which had no effect"
        },
    )


class BatchRatingSchema(RatingSchema):
    model_id = fields.String(
        metadata={
            "description": "Only in split mode (GET /model's traffic): the model that answered"
            " this movie, the champion or the challenger"
        }
    )


class PredictionSchema(RatingSchema):
    model_id = fields.String(
        required=True,
        metadata={"description": "The content identity of the model that answered"},
    )


class BatchPredictionSchema(Schema):
    model_id = fields.String(
        required=True, metadata={"description": "The champion's content identity"}
    )
    count = fields.Integer(required=True)
    predictions = fields.List(fields.Nested(BatchRatingSchema), required=True)


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


class TrafficSchema(Schema):
    mode = fields.String(
        required=True, metadata={"description": "The policy's mode: off, shadow or split"}
    )
    challenger_share = fields.Float(
        required=True, metadata={"description": "Split mode: the share the challenger answers"}
    )
    in_force = fields.String(
        required=True,
        metadata={"description": "The mode applied: off while no challenger is in traffic"},
    )
    challenger_out_of_traffic = fields.String(
        allow_none=True,
        required=True,
        metadata={"description": "Why this worker took the challenger out of traffic, if it did"},
    )


class ServedModelsSchema(ModelInfoSchema):
    challenger = fields.Nested(
        ModelInfoSchema,
        allow_none=True,
        required=True,
        metadata={"description": "The challenger beside the champion, or null"},
    )
    traffic = fields.Nested(TrafficSchema, required=True)
