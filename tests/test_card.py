"""card: a model card people read, from what the pipeline recorded; the service serves it."""

from __future__ import annotations

import json
import shutil
from pathlib import Path

import pytest

from imdb_rating.card import read_model_card
from service.app import create_app
from service.config import ServiceConfig
from stages.card import EMBEDDED_SAMPLE, render, to_html
from workspace.layout import REPO_ROOT

CLEAN = {
    "title_types": ["movie"],
    "min_votes": 50,
    "year_min": 1900,
    "year_max": 2030,
    "runtime_min": 1,
    "runtime_max": 1000,
    "include_adult": False,
    "sparse_min_votes": 0,
}
QUALITY = {
    "files": ["title.basics.tsv.gz", "title.ratings.tsv.gz", "title.crew.tsv.gz"],
    "rows_read": 1000,
    "rows_kept": 600,
    "rows_dropped": {"below_min_votes": 300, "title_type": 100, "no_rating": 0},
    "sparse_movies_kept": 280,
}
METRICS = {
    "rmse": 0.5,
    "r2": 0.55,
    "mae": 0.38,
    "interval_coverage": 0.81,
    "n_train": 400,
    "n_calibration": 50,
    "n_test": 150,
    "baseline": {"rmse": 0.66, "r2": 0.24, "mae": 0.5},
    "temporal": {
        "cutoff_year": 1950,
        "n_train": 500,
        "n_test": 100,
        "rmse": 0.6,
        "r2": 0.4,
        "mae": 0.45,
        "baseline": {"rmse": 0.8, "r2": 0.1, "mae": 0.6},
    },
}
SEGMENTS = {
    "by_decade": {"1930s": {"n": 50, "rmse": 0.6, "mae": 0.4, "baseline_rmse": 0.7}},
    "by_votes": {"50-99": {"n": 80, "rmse": 0.7, "mae": 0.5, "baseline_rmse": 0.8}},
}


def card(model_card_path: Path, **changes) -> str:
    model = read_model_card(model_card_path)
    return render(
        model, METRICS, SEGMENTS, QUALITY, **{"source": "/data/imdb", "clean": CLEAN} | changes,
        contact="the team",
    )  # fmt: skip


def test_the_card_says_what_the_model_is_for_and_how_it_was_made(model_card_path) -> None:
    text = card(model_card_path)
    model_id = json.loads(model_card_path.read_text())["model_id"]
    assert text.startswith(f"# Model card: imdb-rating, model {model_id}")
    for section in ("Intended use", "The model", "Training data", "How well it predicts",
                    "Where it errs", "Limits", "How to reproduce"):  # fmt: skip
        assert f"## {section}\n" in text
    assert "| RMSE | 0.500 | 0.660 |" in text  # next to the original recipe
    assert "| below min votes | 300 |" in text and "no rating" not in text  # what was dropped
    assert "280 of those with fewer votes were kept aside" in text  # and what still taught
    assert "| 1930s | 50 | 0.600 | 0.700 |" in text  # errors by segment
    assert "81.0% of test ratings fall inside" in text  # interval coverage
    assert "movies up to 1950 (500), tested on the 100 released after" in text
    assert "| RMSE | 0.600 | 0.800 |" in text  # newer movies, next to the recipe
    assert "dvc exp run -S download.source=/data/imdb" in text
    assert card(model_card_path) == text  # a pure function of its inputs


def test_the_embedded_sample_card_names_its_limits(model_card_path: Path) -> None:
    text = card(model_card_path, source=EMBEDDED_SAMPLE)
    assert "2005 snapshot" in text and "download.source=https://datasets.imdbws.com/" in text


def test_the_repository_card_describes_the_default_model() -> None:
    """models/model_card.md is git-tracked (tests/test_pipeline.py checks that `dvc repro`
    rewrites it byte for byte): the embedded sample's model, without crew."""
    pinned = (REPO_ROOT / "models" / "model_card.md").read_text()
    assert pinned.startswith("# Model card: imdb-rating, model ")
    assert "No crew inputs" in pinned and "2005 snapshot" in pinned


@pytest.fixture
def deployed(tmp_path: Path, model_card_path: Path) -> Path:
    shutil.copytree(model_card_path.parent, tmp_path / "models")
    return tmp_path / "models" / "model.json"


def test_the_service_serves_the_card_of_the_model_it_serves(deployed: Path) -> None:
    model_id = json.loads(deployed.read_text())["model_id"]
    page = to_html(card(deployed), model_id)
    (deployed.parent / "model_card.html").write_text(page)
    client = create_app(ServiceConfig(model_card=deployed, model_poll_seconds=0)).test_client()
    response = client.get("/model/card")
    assert response.status_code == 200 and response.mimetype == "text/html"
    assert f"model {model_id}</h1>" in response.get_data(as_text=True)
    assert client.get("/").get_json()["links"]["model_card"] == "/model/card"


def test_a_card_of_another_model_is_not_served(deployed: Path) -> None:
    (deployed.parent / "model_card.html").write_text(to_html("# Model card", "0" * 12))
    client = create_app(ServiceConfig(model_card=deployed, model_poll_seconds=0)).test_client()
    response = client.get("/model/card")
    assert response.status_code == 404
    assert "No model card for model" in response.get_json()["message"]
