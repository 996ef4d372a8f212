"""The release's smoke test: the service at URL answers a known movie with exactly the rating
the released model gives it, and names that model.

    python -m tools.smoke URL [--model models/model.json] [--wait SECONDS]

Asks GET /ready (200, the model's id) and POST /predict with a fixed movie, and compares the
answer with the model's own prediction here (its card and verified artifact, the same code):
the same model_id, the same rating to 1e-9. Exit 0 when it holds, 1 with one line otherwise.
`--wait` retries an unanswered /ready that long (a port-forward that is starting).
The release workflow runs it in staging and in production (through `kubectl port-forward`),
and the rollback workflow against the model it rolls back to.
"""

from __future__ import annotations

import argparse
import json
import time
import urllib.error
import urllib.request
from pathlib import Path
from typing import Any

from imdb_rating.movie import input_defaults
from imdb_rating.predictor import Predictor
from workspace.commands import CommandError, run_command
from workspace.layout import MODEL_CARD

KNOWN_MOVIE = {
    "tconst": "tt0133093",
    "year": 1999,
    "num_votes": 2_100_000,
    "runtime_minutes": 136,
    "genres": ["Action", "Sci-Fi"],
    "title": "The Matrix",
}
TOLERANCE = 1e-9


def ask(url: str, payload: dict[str, Any] | None = None) -> dict[str, Any]:
    data = None if payload is None else json.dumps(payload).encode()
    headers = {"Content-Type": "application/json"}
    request = urllib.request.Request(url, data, headers)  # noqa: S310 (http(s): main checks)
    try:
        with urllib.request.urlopen(request, timeout=10) as response:  # noqa: S310 # nosec B310
            return json.loads(response.read())
    except (urllib.error.URLError, OSError, ValueError) as error:
        raise CommandError(f"{url}: {error}") from None


def ready(url: str, wait: float) -> dict[str, Any]:
    deadline = time.monotonic() + wait
    while True:
        try:
            return ask(f"{url}/ready")
        except CommandError:
            if time.monotonic() >= deadline:
                raise
            time.sleep(1)


def smoke(url: str, card: Path, wait: float = 0) -> str:
    predictor = Predictor(card)
    movie = input_defaults() | KNOWN_MOVIE  # the absent fields as the service fills them
    expected = float(predictor.predict(predictor.columns([movie])).ratings[0])
    ready_answer = ready(url, wait)
    served = ready_answer.get("model_id")
    if served != predictor.model_id:
        raise CommandError(f"{url} serves model {served}, not {predictor.model_id}")
    answer = ask(f"{url}/predict", KNOWN_MOVIE)
    if answer.get("model_id") != predictor.model_id:
        raise CommandError(f"{url} answered with model {answer.get('model_id')}")
    if abs(answer["rating"] - expected) > TOLERANCE:
        raise CommandError(f"{url} rates the known movie {answer['rating']}, not {expected}")
    title = KNOWN_MOVIE["title"]
    return f"{url}: model {predictor.model_id} rates {title} {expected:.4f}, as it should"


def main(argv: list[str] | None = None) -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("url", help="the service's base URL")
    parser.add_argument("--model", type=Path, default=MODEL_CARD, help="the released model card")
    parser.add_argument("--wait", type=float, default=0, help="seconds to wait for /ready")
    args = parser.parse_args(argv)
    if not args.url.startswith(("http://", "https://")):
        parser.error(f"{args.url}: an http(s) URL")
    print(smoke(args.url.rstrip("/"), args.model, args.wait))


if __name__ == "__main__":
    run_command(main)
