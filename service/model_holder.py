"""The model the service holds: everything that depends on it, loaded and swapped as one.

A rollout writes the new artifact, then the new model.json (the commit point, as the train
stage does). Each worker's watcher notices the card change, loads and verifies the new model
in the background and swaps it in with one reference assignment: requests in flight finish
on the model they started with, none fails. A card whose artifact is missing, corrupt or does
not match is refused with a clear log line and a metric; the old model keeps serving.
"""

from __future__ import annotations

import logging
import threading
import time
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from flask import Flask

from imdb_rating.artifact import READABLE_CARD_PAGE
from imdb_rating.predictor import Predictor
from service.config import ServiceConfig
from service.drift_window import DriftWindow
from service.fast_validation import BatchLoader, FastLoader
from service.openapi import build_openapi
from service.schemas import batch_schema, movie_schema
from service.telemetry import Telemetry

log = logging.getLogger("service.model_holder")


@dataclass(frozen=True)
class ServedModel:
    """One model and what is built from it: request loaders (its genres and crew inputs), the
    drift window against its training data, and the OpenAPI document of its schemas."""

    predictor: Predictor
    movie: FastLoader
    batch: BatchLoader
    drift: DriftWindow
    openapi: dict[str, Any]
    card_page: bytes | None  # the model card's HTML page, when the pipeline wrote this model's


def load_served_model(app: Flask, config: ServiceConfig) -> ServedModel:
    predictor = Predictor(config.model_card)
    movie = movie_schema(predictor.movie_fields)
    batch = batch_schema(movie, config.max_batch)
    drift_file = None
    if config.multiprocess_dir is not None:
        # Shared by the workers serving this artifact; a new artifact starts a new window.
        sha = predictor.card.artifact.sha256[:16]
        drift_file = config.multiprocess_dir / f"drift-{sha}.bin"
    return ServedModel(
        predictor=predictor,
        movie=FastLoader(movie()),
        batch=BatchLoader(batch()),
        drift=DriftWindow(predictor.spec.drift_reference, config.drift_window, drift_file),
        openapi=build_openapi(app, movie, batch),
        card_page=model_card_page(
            config.model_card.parent / READABLE_CARD_PAGE, predictor.model_id
        ),
    )


def model_card_page(path: Path, model_id: str) -> bytes | None:
    """The card stage's HTML page next to model.json, if it describes this very model."""
    try:
        page = path.read_bytes()
    except FileNotFoundError:
        return None
    return page if f'<meta name="model-id" content="{model_id}">'.encode() in page else None


def _card_signature(path: Path) -> tuple[int, int, int] | None:
    try:
        stat = path.stat()
    except FileNotFoundError:
        return None
    return stat.st_ino, stat.st_size, stat.st_mtime_ns


class ModelHolder:
    """The current ServedModel; `refresh` swaps in a verified new one when model.json changes."""

    def __init__(self, app: Flask, config: ServiceConfig, telemetry: Telemetry) -> None:
        self._app = app
        self._config = config
        self._telemetry = telemetry
        self._signature = _card_signature(config.model_card)
        self.current = load_served_model(app, config)  # raises: no model, no service
        telemetry.show_model(self.current.predictor)

    def refresh(self) -> bool:
        """Load the card again if it changed since last seen; True if a new model is served."""
        signature = _card_signature(self._config.model_card)
        if signature == self._signature:
            return False
        self._signature = signature  # a refused card is not retried until it changes again
        try:
            candidate = load_served_model(self._app, self._config)
        except Exception as error:  # whatever breaks a candidate, the old model stays
            log.error(
                "model rollout refused, still serving model %s: %s",
                self.current.predictor.model_id,
                error,
            )
            self._telemetry.reloads.labels("refused").inc()
            return False
        previous, self.current = self.current.predictor, candidate
        self._telemetry.show_model(candidate.predictor, previous=previous)
        self._telemetry.reloads.labels("swapped").inc()
        log.info("now serving model %s (was %s)", candidate.predictor.model_id, previous.model_id)
        return True

    def watch(self, every_seconds: float) -> None:
        """Poll the card in a daemon thread (one stat() call per period)."""

        def loop() -> None:
            while True:
                time.sleep(every_seconds)
                self.refresh()

        threading.Thread(target=loop, name="model-watcher", daemon=True).start()
