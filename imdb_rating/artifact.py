"""The serving artifact: a skops file plus `model.json`, which describes and pins it.

Nothing here unpickles: skops loads only the types in TRUSTED_TYPES (besides scikit-learn's
and NumPy's own defaults), and only after the file's sha256 matches the one in model.json.
"""

from __future__ import annotations

import hashlib
import json
from pathlib import Path
from typing import Any

import skops.io as sio

MODEL_CARD_SCHEMA_VERSION = 1
# The non-default types our estimators are made of; a file needing anything else is refused.
TRUSTED_TYPES = (
    "sklearn.ensemble._hist_gradient_boosting.predictor.TreePredictor",
    "sklearn.tree._tree.Tree",
)


class ArtifactError(Exception):
    """The artifact is missing, corrupt, or does not match its model card."""


def sha256_file(path: Path) -> str:
    digest = hashlib.sha256()
    with path.open("rb") as handle:
        for block in iter(lambda: handle.read(1 << 20), b""):
            digest.update(block)
    return digest.hexdigest()


def dump_model(model: Any) -> bytes:
    """Serialise `model` as skops, refusing a model that needs types outside TRUSTED_TYPES."""
    payload = sio.dumps(model)
    untrusted = set(sio.get_untrusted_types(data=payload)) - set(TRUSTED_TYPES)
    if untrusted:
        raise ArtifactError(f"model needs types outside TRUSTED_TYPES: {sorted(untrusted)}")
    return payload


def read_model_card(card_path: Path) -> dict[str, Any]:
    try:
        card = json.loads(card_path.read_text(encoding="utf-8"))
    except FileNotFoundError:
        raise ArtifactError(f"{card_path}: model card not found (run `dvc repro`)") from None
    except (OSError, ValueError) as error:
        raise ArtifactError(f"{card_path}: unreadable model card ({error})") from None
    version = card.get("schema_version") if isinstance(card, dict) else None
    if version != MODEL_CARD_SCHEMA_VERSION:
        raise ArtifactError(
            f"{card_path}: schema_version {version!r}, expected {MODEL_CARD_SCHEMA_VERSION}"
        )
    return card


def load_verified_model(card_path: Path) -> tuple[Any, dict[str, Any]]:
    """Load the artifact described by `card_path` after checking its sha256 and types."""
    card = read_model_card(card_path)
    artifact_path = card_path.parent / card["artifact"]["path"]
    if not artifact_path.is_file():
        raise ArtifactError(f"{artifact_path}: model artifact not found")
    # Hash the very bytes that get loaded, so the file cannot change in between.
    payload = artifact_path.read_bytes()
    actual = hashlib.sha256(payload).hexdigest()
    expected = card["artifact"]["sha256"]
    if actual != expected:
        raise ArtifactError(
            f"{artifact_path}: sha256 {actual[:12]}… does not match model card ({expected[:12]}…)"
        )
    try:
        untrusted = set(sio.get_untrusted_types(data=payload)) - set(TRUSTED_TYPES)
        if untrusted:
            raise ArtifactError(f"{artifact_path}: refusing untrusted types {sorted(untrusted)}")
        model = sio.loads(payload, trusted=list(TRUSTED_TYPES))
    except ArtifactError:
        raise
    except Exception as error:  # skops raises many types for a damaged zip
        raise ArtifactError(f"{artifact_path}: corrupt skops artifact ({error})") from None
    return model, card
