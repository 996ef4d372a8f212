"""The serving artifact is loaded only when it is exactly what the model card pins."""

from __future__ import annotations

import hashlib
import json
from pathlib import Path

import pytest
import skops.io as sio
from sklearn.ensemble import HistGradientBoostingRegressor
from sklearn.pipeline import make_pipeline
from sklearn.preprocessing import FunctionTransformer

from imdb_rating.artifact import (
    MODEL_CARD_SCHEMA_VERSION,
    ArtifactError,
    dump_model,
    load_verified_model,
)


def write_pair(folder: Path, payload: bytes, **card_changes) -> Path:
    (folder / "model.skops").write_bytes(payload)
    card = {
        "schema_version": MODEL_CARD_SCHEMA_VERSION,
        "artifact": {"path": "model.skops", "sha256": hashlib.sha256(payload).hexdigest()},
        **card_changes,
    }
    (folder / "model.json").write_text(json.dumps(card))
    return folder / "model.json"


@pytest.fixture
def model() -> HistGradientBoostingRegressor:
    return HistGradientBoostingRegressor(max_iter=3).fit([[0.0], [1.0], [2.0]], [1.0, 2.0, 3.0])


def test_a_matching_artifact_loads_and_predicts(tmp_path: Path, model) -> None:
    loaded, card = load_verified_model(write_pair(tmp_path, dump_model(model)))
    assert loaded.predict([[1.0]]) == pytest.approx(model.predict([[1.0]]))
    assert card["artifact"]["path"] == "model.skops"


def test_a_modified_artifact_is_refused(tmp_path: Path, model) -> None:
    card = write_pair(tmp_path, dump_model(model))
    (tmp_path / "model.skops").write_bytes(dump_model(model.set_params(max_iter=4)))
    with pytest.raises(ArtifactError, match="does not match model card"):
        load_verified_model(card)


def test_a_corrupt_artifact_is_refused_even_with_a_matching_hash(tmp_path: Path) -> None:
    with pytest.raises(ArtifactError, match="corrupt skops artifact"):
        load_verified_model(write_pair(tmp_path, b"PK\x03\x04 not really a zip"))


def test_missing_files_are_named(tmp_path: Path, model) -> None:
    with pytest.raises(ArtifactError, match="model card not found"):
        load_verified_model(tmp_path / "model.json")
    card = write_pair(tmp_path, dump_model(model))
    (tmp_path / "model.skops").unlink()
    with pytest.raises(ArtifactError, match="model artifact not found"):
        load_verified_model(card)


def test_an_unknown_card_schema_is_refused(tmp_path: Path, model) -> None:
    card = write_pair(tmp_path, dump_model(model), schema_version=99)
    with pytest.raises(ArtifactError, match="schema_version 99"):
        load_verified_model(card)


def test_types_outside_the_trusted_list_are_refused(tmp_path: Path) -> None:
    risky = make_pipeline(FunctionTransformer(func=len))  # a callable: arbitrary code
    payload = sio.dumps(risky)
    with pytest.raises(ArtifactError, match="outside TRUSTED_TYPES"):
        dump_model(risky)
    with pytest.raises(ArtifactError, match="refusing untrusted types"):
        load_verified_model(write_pair(tmp_path, payload))
