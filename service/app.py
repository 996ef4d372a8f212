"""The Flask application factory."""

from __future__ import annotations

import logging

from flask import Flask

from service.api import docs, meta, predict
from service.config import ServiceConfig
from service.drift import DriftWindow
from service.errors import register_error_handlers
from service.fastload import BatchLoader, FastLoader
from service.predictor import Predictor
from service.schemas import batch_schema, movie_schema
from service.telemetry import Telemetry


def create_app(config: ServiceConfig | None = None) -> Flask:
    """Build the app around a verified model; raises ArtifactError when there is none."""
    config = config or ServiceConfig.from_env()
    logging.basicConfig(level=config.log_level)
    app = Flask(__name__)
    app.config.update(MAX_CONTENT_LENGTH=config.max_body_bytes, DEBUG=False, TESTING=False)
    app.json.sort_keys = False

    predictor = Predictor(config.model_card)
    movie = movie_schema(predictor.genres, predictor.crew_roles)
    batch = batch_schema(movie, config.max_batch)
    drift_file = None
    if config.multiprocess_dir is not None:
        # One window per model: a new artifact starts a new window with its own reference.
        drift_file = (
            config.multiprocess_dir / f"drift-{predictor.card['artifact']['sha256'][:16]}.bin"
        )
    drift = DriftWindow(predictor.spec["drift_reference"], config.drift_window, drift_file)

    app.extensions["config"] = config
    app.extensions["predictor"] = predictor
    app.extensions["schemas"] = {"movie": FastLoader(movie()), "batch": BatchLoader(batch())}
    for blueprint in (meta.blueprint, predict.blueprint, docs.blueprint):
        app.register_blueprint(blueprint)
    register_error_handlers(app)
    app.extensions["telemetry"] = Telemetry(app, predictor, drift)
    app.extensions["openapi"] = docs.build_openapi(app, movie, batch)
    app.logger.info(
        "serving %s version %s (sha256 %s…)",
        predictor.card["name"],
        predictor.version,
        predictor.card["artifact"]["sha256"][:12],
    )
    return app
