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

from imdb_rating.artifact import TRUSTED_TYPES, dump_model, load_verified_model
from imdb_rating.card import ArtifactError, ArtifactRef, ModelCard, model_id, read_model_card
from workspace.layout import REPO_ROOT


@pytest.fixture
def base_card(model_card_path: Path) -> ModelCard:
    """The test model's card: its spec, intervals and metrics, to pin other artifacts with."""
    return read_model_card(model_card_path)


@pytest.fixture
def write_pair(base_card: ModelCard):
    def write(folder: Path, payload: bytes, **card_changes) -> Path:
        """`payload` as model.skops and a card pinning it (with `card_changes`, and the id
        of its content) as model.json."""
        (folder / "model.skops").write_bytes(payload)
        artifact = ArtifactRef(
            "model.skops", "skops", hashlib.sha256(payload).hexdigest(), list(TRUSTED_TYPES)
        )
        card = base_card.replace(artifact=artifact).to_dict() | card_changes
        card["model_id"] = model_id(card)
        (folder / "model.json").write_text(json.dumps(card))
        return folder / "model.json"

    return write


@pytest.fixture
def model() -> HistGradientBoostingRegressor:
    return HistGradientBoostingRegressor(max_iter=3).fit([[0.0], [1.0], [2.0]], [1.0, 2.0, 3.0])


def test_a_matching_artifact_loads_and_predicts(tmp_path: Path, model, write_pair) -> None:
    loaded, card = load_verified_model(write_pair(tmp_path, dump_model(model)))
    assert loaded.predict([[1.0]]) == pytest.approx(model.predict([[1.0]]))
    assert card.artifact.path == "model.skops"


def test_a_modified_artifact_is_refused(tmp_path: Path, model, write_pair) -> None:
    card = write_pair(tmp_path, dump_model(model))
    (tmp_path / "model.skops").write_bytes(dump_model(model.set_params(max_iter=4)))
    with pytest.raises(ArtifactError, match="does not match model card"):
        load_verified_model(card)


def test_a_corrupt_artifact_is_refused_even_with_a_matching_hash(
    tmp_path: Path, write_pair
) -> None:
    with pytest.raises(ArtifactError, match="corrupt skops artifact"):
        load_verified_model(write_pair(tmp_path, b"PK\x03\x04 not really a zip"))


def test_missing_files_are_named(tmp_path: Path, model, write_pair) -> None:
    with pytest.raises(ArtifactError, match="model card not found"):
        load_verified_model(tmp_path / "model.json")
    card = write_pair(tmp_path, dump_model(model))
    (tmp_path / "model.skops").unlink()
    with pytest.raises(ArtifactError, match="model artifact not found"):
        load_verified_model(card)


def test_an_unknown_card_schema_is_refused(tmp_path: Path, model, write_pair) -> None:
    card = write_pair(tmp_path, dump_model(model), schema_version=99)
    with pytest.raises(ArtifactError, match="schema_version 99"):
        load_verified_model(card)


def test_types_outside_the_trusted_list_are_refused(tmp_path: Path, write_pair) -> None:
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


def test_the_reproducible_archive_loads_the_same_model(tmp_path: Path, model, write_pair) -> None:
    loaded, _ = load_verified_model(write_pair(tmp_path, dump_model(model)))
    rows = [[x / 10] for x in range(-5, 30)]
    assert (loaded.predict(rows) == model.predict(rows)).all()


def test_the_model_id_names_the_whole_card(tmp_path: Path, model, write_pair) -> None:
    card_path = write_pair(tmp_path, dump_model(model))
    card = json.loads(card_path.read_text())
    assert len(card["model_id"]) == 12
    changed = card | {"intervals": card["intervals"] | {"coverage": 0.9}}  # other intervals
    assert model_id(changed) != card["model_id"]
    card_path.write_text(json.dumps(changed))
    with pytest.raises(ArtifactError, match="does not match the card's content"):
        load_verified_model(card_path)


def test_the_typed_card_reads_and_writes_model_json_unchanged(model_card_path: Path) -> None:
    """Every reader gets a ModelCard; writing one back gives the very content it was read from
    (so its model_id, a hash of that content, holds)."""
    content = json.loads(model_card_path.read_text())
    card = read_model_card(model_card_path)
    assert card.to_dict() == content
    assert ModelCard.from_dict(card.to_dict()) == card
    assert card.feature_spec.linear_score.weights and card.intervals.coverage == 0.8


def test_a_card_with_a_field_this_code_does_not_know_is_refused(
    tmp_path: Path, model_card_path: Path
) -> None:
    content = json.loads(model_card_path.read_text()) | {"trained_at": "2026-12-07"}
    content["model_id"] = model_id(content)
    (tmp_path / "model.json").write_text(json.dumps(content))
    with pytest.raises(ArtifactError, match="does not fit this code"):
        read_model_card(tmp_path / "model.json")
