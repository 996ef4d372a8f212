"""Variants of a verified model for tests and benchmarks: its artifact under an edited model
card. The card stays consistent (its model_id is its content's), so the service verifies and
loads it like any model; what differs is what the edit says."""

from __future__ import annotations

import json
import shutil
from pathlib import Path

from imdb_rating.card import ModelCard, read_model_card


def write_card(card: ModelCard, source: Path, folder: Path) -> Path:
    """`card` as model.json in `folder`, beside a copy of `source`'s artifact."""
    folder.mkdir(parents=True, exist_ok=True)
    shutil.copyfile(source.parent / card.artifact.path, folder / card.artifact.path)
    (folder / "model.json").write_text(json.dumps(card.to_dict(), sort_keys=True))
    return folder / "model.json"


def twin(source: Path, folder: Path) -> Path:
    """The same model under another model_id: the same predictions at the same cost (a
    challenger whose scoring costs exactly what the champion's does)."""
    card = read_model_card(source)
    return write_card(card.replace(params=card.params | {"twin_of": card.model_id}), source, folder)
