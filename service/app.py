"""The Flask application factory."""

from __future__ import annotations

import logging

from flask import Flask, request

from service.api import docs, meta, predict
from service.config import ServiceConfig
from service.errors import register_error_handlers
from service.model_holder import ModelHolder
from service.prediction_log import PredictionLog
from service.telemetry import Telemetry


def create_app(config: ServiceConfig | None = None) -> Flask:
    """Build the app around a verified model; raises ArtifactError when there is none."""
    config = config or ServiceConfig.from_env()
    logging.basicConfig(level=config.log_level)
    app = Flask(__name__)
    app.config.update(MAX_CONTENT_LENGTH=config.max_body_bytes, DEBUG=False, TESTING=False)
    for blueprint in (meta.blueprint, predict.blueprint, docs.blueprint):
        app.register_blueprint(blueprint)
    register_error_handlers(app)
    telemetry = Telemetry(app, config.drift_window)
    prediction_log = None
    if config.prediction_log_dir is not None:
        prediction_log = PredictionLog(
            config.prediction_log_dir,
            config.prediction_log_max_bytes,
            config.prediction_log_backups,
            on_drop=telemetry.prediction_log_dropped.inc,
        )
    holder = ModelHolder(app, config, telemetry, prediction_log)
    app.extensions.update(
        config=config, telemetry=telemetry, model=holder, prediction_log=prediction_log
    )

    @app.before_request
    def publish_drift_for_scrapes() -> None:
        if request.path == "/metrics":
            serving = holder.serving
            for served in (serving.champion, serving.challenger):
                if served is not None:
                    telemetry.publish_drift(served.drift, served.predictor.model_id)

    if config.model_poll_seconds > 0:
        holder.watch(config.model_poll_seconds)
    predictor = holder.serving.champion.predictor
    app.logger.info(
        "serving %s model %s (sha256 %s…)",
        predictor.card.name,
        predictor.model_id,
        predictor.card.artifact.sha256[:12],
    )
    return app
