"""The API's description: the OpenAPI 3 document of the served model (service/openapi.py builds
it) and a self-contained HTML page that renders it (no CDN: works offline)."""

from __future__ import annotations

from flask import Blueprint, current_app, render_template

from service.api.responses import json_response

blueprint = Blueprint("docs", __name__)


@blueprint.get("/openapi.json")
def openapi():
    """The API description.
    ---
    get:
      summary: This OpenAPI 3 document
      tags: [docs]
      responses:
        200:
          description: OpenAPI 3 document
          content:
            application/json: {}
    """
    return json_response(current_app.extensions["model"].current.openapi)


@blueprint.get("/docs")
def docs():
    """The API page.
    ---
    get:
      summary: Human-readable API documentation, rendered from the OpenAPI document
      tags: [docs]
      responses:
        200:
          description: HTML page
          content:
            text/html: {}
    """
    return render_template("docs.html", spec=current_app.extensions["model"].current.openapi)
