"""JSON in and out: strict parsing (orjson) with the HTTP errors the API promises."""

from __future__ import annotations

from typing import Any

import orjson
from flask import Response, request
from werkzeug.exceptions import BadRequest, UnsupportedMediaType


def json_response(payload: Any, status: int = 200) -> Response:
    # Non-string keys: validation messages are keyed by batch index.
    body = orjson.dumps(payload, option=orjson.OPT_NON_STR_KEYS)
    return Response(body, status=status, mimetype="application/json")


class UnsupportedContentEncoding(UnsupportedMediaType):
    """415 for a compressed body: decoding would need a second limit, on the inflated size (a
    small zip bomb inflates past any body limit), and movies are small JSON. RFC 9110 (15.5.16)
    has the answer name the codings it accepts, in Accept-Encoding."""

    accepted = "identity"


def json_body() -> Any:
    """The request's JSON document: 415 unless identity-encoded JSON, 413 over the size limit,
    400 if malformed.

    Strict JSON: NaN and Infinity literals, invalid UTF-8 and nesting deeper than 1024 levels
    are malformed documents, not values.
    """
    encoding = request.content_encoding or "identity"
    if encoding.strip().lower() != "identity":  # checked first: the coding wraps the media type
        raise UnsupportedContentEncoding(
            f"Content-Encoding {encoding} is not supported; send identity-encoded JSON."
        )
    if request.mimetype != "application/json":
        raise UnsupportedMediaType("Send the body as application/json.")
    raw = request.get_data(cache=False)  # werkzeug raises 413 past MAX_CONTENT_LENGTH
    try:
        return orjson.loads(raw)
    except orjson.JSONDecodeError as error:
        raise BadRequest(f"Malformed JSON: {error}") from None
