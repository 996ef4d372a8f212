"""The API's description: the OpenAPI 3 document of the served model (service/openapi.py builds
it) and a page that renders it, with a "try a movie" form built from the same document's movie
schema, so the form always asks for what the served model takes (its genres, its crew inputs).

The page loads only its own files from service/static/ (no CDN: works offline), and its
Content-Security-Policy forbids every other origin.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any, Literal

from flask import Blueprint, current_app, render_template

from service.api.responses import json_response

blueprint = Blueprint("docs", __name__)

# Scripts, styles, images and fetches from this origin only; no inline code, no plugins, no
# framing, and the form may post nowhere else.
CONTENT_SECURITY_POLICY = (
    "default-src 'none'; script-src 'self'; style-src 'self'; img-src 'self'; "
    "connect-src 'self'; form-action 'self'; base-uri 'none'; frame-ancestors 'none'"
)

FieldKind = Literal["integer", "number", "string", "boolean", "choices", "list"]
SCALAR_KINDS: tuple[FieldKind, ...] = ("integer", "number", "string", "boolean")


@dataclass(frozen=True)
class FormField:
    """One input of the movie form: how docs.js reads it (`kind`) and what the page says."""

    name: str
    kind: FieldKind
    required: bool
    hint: str
    choices: tuple[str, ...] = ()  # the allowed values, for kind "choices"
    example: str = ""


def _number(value: float) -> str:
    return str(int(value)) if float(value).is_integer() else str(value)  # 1.0 -> 1, 1e8 in full


def _bounds(schema: dict[str, Any]) -> str:
    if "minimum" in schema and "maximum" in schema:
        return f"{_number(schema['minimum'])} to {_number(schema['maximum'])}"
    return ""


def form_field(name: str, schema: dict[str, Any], required: bool) -> FormField:
    """The input for one property of the movie schema; refuses a type it has no input for."""
    kind, choices = schema["type"], ()
    if kind == "array":
        choices = tuple(schema["items"].get("enum", ()))
        kind = "choices" if choices else "list"
    elif kind not in SCALAR_KINDS:
        raise ValueError(f"the movie form has no input for {name!r} of type {kind!r}")
    # A choice's checkboxes already show its allowed values, which its description lists.
    description = "" if kind == "choices" else schema.get("description", "")
    hint = ". ".join(part for part in (description, _bounds(schema)) if part)
    return FormField(name, kind, required, hint, choices, str(schema.get("example", "")))


def movie_form(openapi: dict[str, Any]) -> list[FormField]:
    """The movie form's inputs, in the order of the OpenAPI document's Movie schema."""
    movie = openapi["components"]["schemas"]["Movie"]
    required = set(movie.get("required", ()))
    return [form_field(name, prop, name in required) for name, prop in movie["properties"].items()]


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
    return json_response(current_app.extensions["model"].serving.champion.openapi)


@blueprint.get("/docs")
def docs():
    """The API page.
    ---
    get:
      summary: API documentation rendered from the OpenAPI document, with a form to try a movie
      tags: [docs]
      responses:
        200:
          description: HTML page
          content:
            text/html: {}
    """
    spec = current_app.extensions["model"].serving.champion.openapi
    page = render_template("docs.html", spec=spec, movie_form=movie_form(spec))
    return page, 200, {"Content-Security-Policy": CONTENT_SECURITY_POLICY}
