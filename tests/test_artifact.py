"""The serving artifact is loaded only when it is exactly what the model card pins, and the
same model always gives the same bytes and the same identity."""

from __future__ import annotations

import hashlib
import json
import subprocess
import sys
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
    model_id,
)
from workspace.layout import REPO_ROOT


def write_pair(folder: Path, payload: bytes, **card_changes) -> Path:
    (folder / "model.skops").write_bytes(payload)
    card = {
        "schema_version": MODEL_CARD_SCHEMA_VERSION,
        "artifact": {"path": "model.skops", "sha256": hashlib.sha256(payload).hexdigest()},
        **card_changes,
    }
    card["model_id"] = model_id(card)
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


def test_the_same_model_gives_the_same_bytes_in_every_process() -> None:
    """skops names arrays after memory addresses and stamps the time: neither may leak in."""
    digests = [
        subprocess.run(
            [sys.executable, "-m", "tests.reproducibility_probe", "archives"],
            cwd=REPO_ROOT,
            capture_output=True,
            text=True,
            check=True,
        ).stdout
        for _ in range(2)
    ]
    assert digests[0] == digests[1] and len(digests[0].split()) == 2


def test_the_reproducible_archive_loads_the_same_model(tmp_path: Path, model) -> None:
    loaded, _ = load_verified_model(write_pair(tmp_path, dump_model(model)))
    rows = [[x / 10] for x in range(-5, 30)]
    assert (loaded.predict(rows) == model.predict(rows)).all()


def test_the_model_id_names_the_whole_card(tmp_path: Path, model) -> None:
    card_path = write_pair(tmp_path, dump_model(model), intervals={"coverage": 0.8})
    card = json.loads(card_path.read_text())
    assert len(card["model_id"]) == 12
    changed = card | {"intervals": {"coverage": 0.9}}  # same trees, other intervals
    assert model_id(changed) != card["model_id"]
    card_path.write_text(json.dumps(changed))
    with pytest.raises(ArtifactError, match="does not match the card's content"):
        load_verified_model(card_path)
