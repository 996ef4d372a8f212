"""Every error is JSON with a status, a name and a message; never an HTML page, never a 500
for bad input."""

from __future__ import annotations

from flask import Flask, current_app
from marshmallow import ValidationError
from werkzeug.exceptions import HTTPException, InternalServerError

from service.api.responses import UnsupportedContentEncoding, json_response


def _http_error(error: HTTPException):
    response = json_response(
        {"status": error.code, "error": error.name, "message": error.description}, error.code
    )
    if error.code == 405 and error.valid_methods:  # the Allow header is part of a 405
        response.headers["Allow"] = ", ".join(sorted(error.valid_methods))
    if isinstance(error, UnsupportedContentEncoding):
        response.headers["Accept-Encoding"] = error.accepted
    return response


def _invalid(error: ValidationError):
    messages = error.messages if isinstance(error.messages, dict) else {"_body": error.messages}
    return json_response(
        {
            "status": 422,
            "error": "Unprocessable Entity",
            "message": "The request is valid JSON but some fields are invalid.",
            "fields": messages,
        },
        422,
    )


def _unexpected(error: Exception):
    current_app.logger.error("unhandled error", exc_info=error)  # the client gets no internals
    return _http_error(InternalServerError())


def register_error_handlers(app: Flask) -> None:
    app.register_error_handler(HTTPException, _http_error)
    app.register_error_handler(ValidationError, _invalid)
    app.register_error_handler(Exception, _unexpected)
