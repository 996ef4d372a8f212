"""What is running: index, liveness, readiness and the served model."""

from __future__ import annotations

from flask import Blueprint, Response, current_app
from werkzeug.exceptions import NotFound

from service import __version__
from service.api.responses import json_response

blueprint = Blueprint("meta", __name__)


@blueprint.get("/")
def index():
    """Service index.
    ---
    get:
      summary: Service name, version and links
      tags: [meta]
      responses:
        200:
          description: The index
          content:
            application/json:
              schema: {$ref: "#/components/schemas/Index"}
    """
    return json_response(
        {
            "service": "imdb-rating",
            "version": __version__,
            "model_id": current_app.extensions["model"].serving.champion.predictor.model_id,
            "links": {
                "predict": "/predict",
                "predict_batch": "/predict/batch",
                "model": "/model",
                "model_card": "/model/card",
                "health": "/health",
                "ready": "/ready",
                "metrics": "/metrics",
                "openapi": "/openapi.json",
                "docs": "/docs",
            },
        }
    )


@blueprint.get("/health")
def health():
    """Liveness.
    ---
    get:
      summary: "Liveness: the process answers"
      tags: [meta]
      responses:
        200:
          description: Alive
          content:
            application/json:
              schema: {$ref: "#/components/schemas/Health"}
    """
    return json_response({"status": "ok"})


@blueprint.get("/ready")
def ready():
    """Readiness.
    ---
    get:
      summary: "Readiness: 200 only while a verified model is loaded"
      tags: [meta]
      responses:
        200:
          description: Ready to predict
          content:
            application/json:
              schema: {$ref: "#/components/schemas/Ready"}
        503:
          description: Not ready (no model loaded)
          content:
            application/json:
              schema: {$ref: "#/components/schemas/Ready"}
    """
    holder = current_app.extensions.get("model")
    if holder is None:
        return json_response({"status": "unavailable", "model_id": None}, status=503)
    return json_response(
        {"status": "ready", "model_id": holder.serving.champion.predictor.model_id}
    )


@blueprint.get("/model")
def model():
    """The served model.
    ---
    get:
      summary: Identity, metrics, features and hashes of the served model (the champion), the
        challenger beside it if any, and the traffic policy between them
      tags: [meta]
      responses:
        200:
          description: The model cards' public part, and the traffic between them
          content:
            application/json:
              schema: {$ref: "#/components/schemas/ServedModels"}
    """
    serving = current_app.extensions["model"].serving
    challenger = serving.challenger
    return json_response(
        serving.champion.predictor.describe()
        | {
            "challenger": None if challenger is None else challenger.predictor.describe(),
            "traffic": serving.describe(),
        }
    )


@blueprint.get("/model/card")
def model_card():
    """The served model's card.
    ---
    get:
      summary: "The model card: intended use, training data, metrics, errors by segment, limits"
      tags: [meta]
      responses:
        200:
          description: The card, as a page (the pipeline's models/model_card.html)
          content:
            text/html: {}
        404:
          description: The pipeline wrote no card for the served model
          content:
            application/json:
              schema: {$ref: "#/components/schemas/Error"}
    """
    served = current_app.extensions["model"].serving.champion
    if served.card_page is None:
        raise NotFound(
            f"No model card for model {served.predictor.model_id}: the pipeline's card stage"
            " writes models/model_card.html next to model.json."
        )
    return Response(served.card_page, mimetype="text/html")
