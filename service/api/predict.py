"""Predictions: one movie, or a batch whose results keep the request's order."""

from __future__ import annotations

import time
from collections.abc import Mapping, Sequence
from typing import Any

from flask import Blueprint, current_app

from service.api.responses import json_body, json_response
from service.model_holder import ServedModel

blueprint = Blueprint("predict", __name__)


def _score(
    served: ServedModel, endpoint: str, movies: Sequence[Mapping[str, Any]]
) -> list[dict[str, Any]]:
    """Rate validated movies, hand their inputs to the drift window, record the metrics, and
    queue them for the prediction log when it is on. A movie's genres the model never learned
    are named in its answer (`ignored_genres`) and counted."""
    predictor = served.predictor
    columns = predictor.columns(movies)
    started = time.perf_counter()
    result = predictor.predict(columns)
    seconds = time.perf_counter() - started
    served.drift.observe(columns)
    telemetry = current_app.extensions["telemetry"]
    telemetry.record_predictions(endpoint, predictor.model_id, result.ratings, seconds)
    ratings, lows, highs = result.ratings.tolist(), result.lows.tolist(), result.highs.tolist()
    coverage = predictor.coverage
    prediction_log = current_app.extensions["prediction_log"]
    if prediction_log is not None:
        prediction_log.submit(
            endpoint, predictor.model_id, coverage, movies, (ratings, lows, highs)
        )
    answers = [
        {"rating": rating, "interval": {"low": low, "high": high, "coverage": coverage}}
        for rating, low, high in zip(ratings, lows, highs, strict=True)
    ]
    ignored = predictor.ignored_genres(columns["genres"])
    if any(ignored):
        telemetry.record_ignored_genres(ignored)
        for answer, genres in zip(answers, ignored, strict=True):
            if genres:
                answer["ignored_genres"] = genres
    return answers


@blueprint.post("/predict")
def predict():
    """Predict one movie's rating.
    ---
    post:
      summary: Predicted rating of one movie, with a calibrated prediction interval
      tags: [predict]
      requestBody:
        required: true
        content:
          application/json:
            schema: {$ref: "#/components/schemas/Movie"}
      responses:
        200:
          description: The prediction
          content:
            application/json:
              schema: {$ref: "#/components/schemas/Prediction"}
        400: {$ref: "#/components/responses/BadRequest"}
        413: {$ref: "#/components/responses/TooLarge"}
        415: {$ref: "#/components/responses/UnsupportedMediaType"}
        422: {$ref: "#/components/responses/Invalid"}
    """
    served = current_app.extensions["model"].current  # one model for the whole request
    movie = served.movie.load(json_body())
    prediction = _score(served, "predict", [movie])[0]
    prediction["model_id"] = served.predictor.model_id
    return json_response(prediction)


@blueprint.post("/predict/batch")
def predict_batch():
    """Predict a batch of movies.
    ---
    post:
      summary: Predicted ratings of up to the configured number of movies, in request order
      tags: [predict]
      requestBody:
        required: true
        content:
          application/json:
            schema: {$ref: "#/components/schemas/Batch"}
      responses:
        200:
          description: One prediction per movie, in order
          content:
            application/json:
              schema: {$ref: "#/components/schemas/BatchPrediction"}
        400: {$ref: "#/components/responses/BadRequest"}
        413: {$ref: "#/components/responses/TooLarge"}
        415: {$ref: "#/components/responses/UnsupportedMediaType"}
        422: {$ref: "#/components/responses/Invalid"}
    """
    served = current_app.extensions["model"].current
    movies = served.batch.load(json_body())["movies"]
    current_app.extensions["telemetry"].batch_size.observe(len(movies))
    predictions = _score(served, "predict_batch", movies)
    return json_response(
        {
            "model_id": served.predictor.model_id,
            "count": len(predictions),
            "predictions": predictions,
        }
    )
