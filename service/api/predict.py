"""Predictions: one movie, or a batch whose results keep the request's order.

Which model answers follows the traffic policy in force (service/traffic.py): the champion
alone (`off`); the champion, the challenger scoring the same movies off the request path
(`shadow`); or the challenger for its share of the movies (`split`: then each answer names the
model_id that gave it). A challenger that raises or is too slow never fails a request: its
movies are answered by the champion, and its guard takes it out of traffic.
"""

from __future__ import annotations

import time
from collections.abc import Mapping, Sequence
from typing import Any

import numpy as np
from flask import Blueprint, current_app

from imdb_rating.prediction_records import split_assignment
from imdb_rating.predictor import Predictions
from service.api.responses import json_body, json_response
from service.model_holder import ServedModel, Serving
from service.traffic import challenger_answers

blueprint = Blueprint("predict", __name__)

Movies = Sequence[Mapping[str, Any]]


def _score(served: ServedModel, endpoint: str, movies: Movies) -> tuple[Predictions, list]:
    """One model's predictions and, per movie, the genres it ignored; its metrics and drift
    window. A model that raises is counted against it (and the error goes on)."""
    telemetry = current_app.extensions["telemetry"]
    model_id = served.predictor.model_id
    started = time.perf_counter()
    try:
        columns, result = served.score(movies)
    except Exception:
        telemetry.model_errors.labels(model_id).inc()
        raise
    telemetry.record_predictions(endpoint, model_id, result.ratings, time.perf_counter() - started)
    served.drift.observe(columns)
    ignored = served.predictor.ignored_genres(columns["genres"])
    if any(ignored):
        telemetry.record_ignored_genres(ignored)
    return result, ignored


def _answers(
    served: ServedModel, result: Predictions, ignored: list, name_model: bool
) -> list[dict[str, Any]]:
    """The JSON answers: rating, interval, the genres the model ignored (when some), and the
    model that answered (split mode)."""
    coverage = served.predictor.coverage
    ratings, lows, highs = result.ratings.tolist(), result.lows.tolist(), result.highs.tolist()
    answers = [
        {"rating": rating, "interval": {"low": low, "high": high, "coverage": coverage}}
        for rating, low, high in zip(ratings, lows, highs, strict=True)
    ]
    for answer, genres in zip(answers, ignored, strict=True):
        if genres:
            answer["ignored_genres"] = genres
        if name_model:
            answer["model_id"] = served.predictor.model_id
    return answers


def _split(serving: Serving, endpoint: str, movies: Movies) -> list[dict[str, Any]]:
    """The challenger answers its share, the champion the rest (and the challenger's share too
    when it fails), each answer naming its model."""
    prediction_log = current_app.extensions["prediction_log"]
    challenger, guard = serving.challenger, serving.guard
    assert challenger is not None and guard is not None  # split mode needs both
    share = serving.policy.challenger_share
    to_challenger = challenger_answers([movie["tconst"] for movie in movies], share)
    answers: list[dict[str, Any]] = [{}] * len(movies)
    ids = (serving.champion.predictor.model_id, challenger.predictor.model_id)
    for served, answered_by in ((challenger, "challenger"), (serving.champion, "champion")):
        positions = np.flatnonzero(to_challenger if served is challenger else ~to_challenger)
        if not len(positions):
            continue
        subset = [movies[i] for i in positions]
        started = time.perf_counter()
        try:
            result, ignored = _score(served, endpoint, subset)
        except Exception as error:
            if served is not challenger:
                raise
            guard.failed(error)  # the challenger's failure is never the request's
            to_challenger[positions] = False
            continue
        if served is challenger:
            guard.timed(time.perf_counter() - started, len(subset))
        for position, answer in zip(
            positions, _answers(served, result, ignored, True), strict=True
        ):
            answers[position] = answer
        if prediction_log is not None:
            predictor = served.predictor
            split = split_assignment(answered_by, share, *ids)
            prediction_log.submit(
                endpoint, predictor.model_id, predictor.coverage, subset, result, split=split
            )
    return answers


def _predict(serving: Serving, endpoint: str, movies: Movies) -> list[dict[str, Any]]:
    """Rate validated movies as the policy in force says; queue them for the prediction log."""
    mode = serving.mode
    if mode == "split":
        return _split(serving, endpoint, movies)
    champion = serving.champion
    result, ignored = _score(champion, endpoint, movies)
    shadow = serving.shadow
    if mode != "shadow" or shadow is None or not shadow.submit(endpoint, movies, result):
        prediction_log = current_app.extensions["prediction_log"]
        if prediction_log is not None:
            predictor = champion.predictor
            prediction_log.submit(endpoint, predictor.model_id, predictor.coverage, movies, result)
    return _answers(champion, result, ignored, False)


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
    serving = current_app.extensions["model"].serving  # one snapshot for the whole request
    movie = serving.champion.movie.load(json_body())
    prediction = _predict(serving, "predict", [movie])[0]
    prediction.setdefault("model_id", serving.champion.predictor.model_id)
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
    serving = current_app.extensions["model"].serving
    movies = serving.champion.batch.load(json_body())["movies"]
    current_app.extensions["telemetry"].batch_size.observe(len(movies))
    predictions = _predict(serving, "predict_batch", movies)
    return json_response(
        {
            "model_id": serving.champion.predictor.model_id,
            "count": len(predictions),
            "predictions": predictions,
        }
    )
