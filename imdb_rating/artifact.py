"""The serving artifact: a skops file plus `model.json`, which describes and pins it.

Nothing here unpickles: skops loads only the types in TRUSTED_TYPES (besides scikit-learn's
and NumPy's own defaults), and only after the file's sha256 matches the one in model.json.

Both files are pure functions of the model and its card (imdb_rating/card.py): the skops archive
is rewritten with fixed zip timestamps and object ids numbered in order (skops names them after
memory addresses), so the same model gives the same bytes on every machine.
"""

from __future__ import annotations

import hashlib
import io
import json
import zipfile
from pathlib import Path
from typing import Any

import skops.io as sio

from imdb_rating.card import ArtifactError, ModelCard, read_model_card
from imdb_rating.trees import TreeEnsemble

# The non-default types our models are made of; a file needing anything else is refused.
# scikit-learn's estimators need their tree types; a boosting library's model is our own
# TreeEnsemble (arrays, numbers and strings: imdb_rating/trees.py).
SKLEARN_TYPES = (
    "sklearn.ensemble._hist_gradient_boosting.predictor.TreePredictor",
    "sklearn.tree._tree.Tree",
)
LIBRARY_TYPES = (f"{TreeEnsemble.__module__}.{TreeEnsemble.__qualname__}",)
TRUSTED_TYPES = SKLEARN_TYPES + LIBRARY_TYPES
# The model card people read (stages/card.py writes it next to model.json; the image ships it).
READABLE_CARD_MARKDOWN = "model_card.md"
READABLE_CARD_PAGE = "model_card.html"
# Zip entries carry a local time; a fixed one keeps the archive's bytes reproducible.
ZIP_EPOCH = (1980, 1, 1, 0, 0, 0)


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


def trusted_types_of(model: Any) -> tuple[str, ...]:
    """The types this model's artifact is trusted to hold: what its model card lists."""
    return LIBRARY_TYPES if isinstance(model, TreeEnsemble) else SKLEARN_TYPES


def dump_model(model: Any) -> bytes:
    """Serialise `model` as reproducible skops, refusing types outside TRUSTED_TYPES."""
    payload = sio.dumps(model)
    untrusted = set(sio.get_untrusted_types(data=payload)) - set(trusted_types_of(model))
    if untrusted:
        raise ArtifactError(f"model needs types outside TRUSTED_TYPES: {sorted(untrusted)}")
    return canonical_archive(payload)


def load_verified_model(card_path: Path) -> tuple[Any, ModelCard]:
    """Load the artifact described by `card_path` after checking its sha256 and types."""
    card = read_model_card(card_path)
    artifact_path = card_path.parent / card.artifact.path
    if not artifact_path.is_file():
        raise ArtifactError(f"{artifact_path}: model artifact not found")
    # Hash the very bytes that get loaded, so the file cannot change in between.
    payload = artifact_path.read_bytes()
    actual = hashlib.sha256(payload).hexdigest()
    expected = card.artifact.sha256
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
