"""The serving artifact: a skops file plus `model.json`, which describes and pins it.

Nothing here unpickles: skops loads only the types in TRUSTED_TYPES (besides scikit-learn's
and NumPy's own defaults), and only after the file's sha256 matches the one in model.json.

Both files are pure functions of the model and its card: the skops archive is rewritten with
fixed zip timestamps and object ids numbered in order (skops names them after memory
addresses), so the same model gives the same bytes on every machine. The model's identity,
`model_id`, is a hash of its card (which pins the archive's sha256): the same everywhere,
unlike a registry's version counter.
"""

from __future__ import annotations

import hashlib
import io
import json
import zipfile
from pathlib import Path
from typing import Any

import skops.io as sio

MODEL_CARD_SCHEMA_VERSION = 2
MODEL_ID_LENGTH = 12  # hex digits: 48 bits, like a short git or image id
# The non-default types our estimators are made of; a file needing anything else is refused.
TRUSTED_TYPES = (
    "sklearn.ensemble._hist_gradient_boosting.predictor.TreePredictor",
    "sklearn.tree._tree.Tree",
)
# The model card people read (stages/card.py writes it next to model.json; the image ships it).
READABLE_CARD_MARKDOWN = "model_card.md"
READABLE_CARD_PAGE = "model_card.html"
# Zip entries carry a local time; a fixed one keeps the archive's bytes reproducible.
ZIP_EPOCH = (1980, 1, 1, 0, 0, 0)


class ArtifactError(Exception):
    """The artifact is missing, corrupt, or does not match its model card."""


def _renumber_ids(node: Any, ids: dict[str, str]) -> Any:
    """skops' schema with every object id (`__id__`, and `<id>.npy` file names) replaced by
    its rank of first appearance: the schema's order is the traversal's, so it is stable."""
    if isinstance(node, list):
        return [_renumber_ids(item, ids) for item in node]
    if not isinstance(node, dict):
        return node
    renumbered = {}
    for key, value in node.items():
        if key == "__id__":
            value = int(ids.setdefault(str(value), str(len(ids))))
        elif key == "file":
            value = ids.setdefault(value.removesuffix(".npy"), str(len(ids))) + ".npy"
        else:
            value = _renumber_ids(value, ids)
        renumbered[key] = value
    return renumbered


def canonical_archive(payload: bytes) -> bytes:
    """The same skops archive with reproducible bytes: ids renumbered, fixed timestamps."""
    source = zipfile.ZipFile(io.BytesIO(payload))
    ids: dict[str, str] = {}
    schema = _renumber_ids(json.loads(source.read("schema.json")), ids)
    output = io.BytesIO()
    with zipfile.ZipFile(output, "w", compression=zipfile.ZIP_STORED) as archive:
        for entry in source.infolist():  # skops' own order: arrays as met, then the schema
            if entry.filename == "schema.json":
                name, data = entry.filename, json.dumps(schema, indent=2).encode()
            else:
                name, data = ids[entry.filename.removesuffix(".npy")] + ".npy", source.read(entry)
            info = zipfile.ZipInfo(name, date_time=ZIP_EPOCH)
            info.external_attr = 0o644 << 16
            archive.writestr(info, data)
    return output.getvalue()


def dump_model(model: Any) -> bytes:
    """Serialise `model` as reproducible skops, refusing types outside TRUSTED_TYPES."""
    payload = sio.dumps(model)
    untrusted = set(sio.get_untrusted_types(data=payload)) - set(TRUSTED_TYPES)
    if untrusted:
        raise ArtifactError(f"model needs types outside TRUSTED_TYPES: {sorted(untrusted)}")
    return canonical_archive(payload)


def model_id(card: dict[str, Any]) -> str:
    """The model's identity: a hash of its card without the id itself (the card pins the
    artifact's sha256, the features and the intervals: everything that makes a prediction)."""
    content = {key: value for key, value in card.items() if key != "model_id"}
    canonical = json.dumps(content, sort_keys=True, separators=(",", ":"), allow_nan=False)
    return hashlib.sha256(canonical.encode()).hexdigest()[:MODEL_ID_LENGTH]


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
    if card.get("model_id") != model_id(card):
        raise ArtifactError(
            f"{card_path}: model_id {card.get('model_id')!r} does not match the card's content"
            f" ({model_id(card)})"
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
