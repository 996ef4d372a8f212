"""Challengers for the two-model tests: a retrained one, and planted bad ones made from it.

Each is a verified pair (model.skops and a model.json whose id is its content's), as the service
loads any model; what makes the bad ones bad is in the card, as a damaged card would be:
- `raising`: intervals without half-widths, so every prediction raises IndexError;
- `slow`: a director credited with hundreds of thousands of rated films, so the similar-films
  encoding of a movie crediting them weighs every one (50 to 115 ms a movie on this project's
  machines, against the champion's 0.2 ms).
"""

from __future__ import annotations

import dataclasses
import json
import shutil
from pathlib import Path

from imdb_rating.card import ModelCard, read_model_card
from imdb_rating.features import FilmTable

SLOW_DIRECTOR = "nm0000007"
SLOW_FILMS = 1_300_000


def write_card(card: ModelCard, source: Path, folder: Path) -> Path:
    """`card` as model.json in `folder`, beside a copy of `source`'s artifact."""
    folder.mkdir(parents=True, exist_ok=True)
    shutil.copyfile(source.parent / card.artifact.path, folder / card.artifact.path)
    (folder / "model.json").write_text(json.dumps(card.to_dict(), sort_keys=True))
    return folder / "model.json"


def raising(source: Path, folder: Path) -> Path:
    card = read_model_card(source)
    broken = card.replace(intervals=dataclasses.replace(card.intervals, half_widths=[]))
    return write_card(broken, source, folder)


def slow(source: Path, folder: Path, films: int = SLOW_FILMS) -> Path:
    card = read_model_card(source)
    spec = card.feature_spec
    prolific = FilmTable(
        [SLOW_DIRECTOR], [0, films], *([value] * films for value in (1950, 7.0, 1, 6.5))
    )
    tables = {**spec.film_tables, "directors": prolific}
    slowed = card.replace(feature_spec=dataclasses.replace(spec, film_tables=tables))
    return write_card(slowed, source, folder)
