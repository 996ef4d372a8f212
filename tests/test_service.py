"""The inference service through Flask's test client: endpoints, validation, errors, metrics."""

from __future__ import annotations

import gzip
import json
import re
import shutil
import subprocess
import sys
from pathlib import Path

import numpy as np
import pytest

from imdb_rating.artifact import ArtifactError, load_verified_model
from imdb_rating.features import build_matrix
from imdb_rating.movie import IMDB_GENRES
from imdb_rating.trees import flatten
from service.api.docs import form_field
from service.app import create_app
from service.config import ServiceConfig
from tests.conftest import model_id_of

MOVIE = {
    "year": 1999,
    "num_votes": 25_000,
    "runtime_minutes": 136,
    "genres": ["Drama", "Horror"],
    "title": "The Matrix",
    "directors": ["nm0000007"],
    "writers": ["nm0001007"],
}


@pytest.fixture(scope="module")
def app(model_card_path: Path):
    return create_app(ServiceConfig(model_card=model_card_path, max_batch=50, drift_window=100))


@pytest.fixture
def client(app):
    return app.test_client()


def post(client, path: str, payload=None, data: bytes | None = None, **kwargs):
    if data is None:
        data = json.dumps(payload).encode()
    kwargs.setdefault("content_type", "application/json")
    return client.post(path, data=data, **kwargs)


def metric(client, name: str, **labels) -> float:
    """A sample's value from /metrics (0 when absent)."""
    text = client.get("/metrics").get_data(as_text=True)
    for line in text.splitlines():
        if line.startswith(name + "{") or line.startswith(name + " "):
            sample_labels = dict(re.findall(r'(\w+)="([^"]*)"', line.split(" ")[0]))
            if all(sample_labels.get(k) == v for k, v in labels.items()):
                return float(line.rsplit(" ", 1)[1])
    return 0.0


# --- what is served -------------------------------------------------------------------------


def test_index_links_every_endpoint(client, model_id: str) -> None:
    body = client.get("/").get_json()
    assert body["service"] == "imdb-rating" and body["model_id"] == model_id
    for name, path in body["links"].items():
        # The test model has no card page: a 404 that says so (tests/test_card.py serves one).
        expected = (404,) if name == "model_card" else (200, 405)
        assert client.get(path).status_code in expected, name


def test_liveness_and_readiness(client, app, model_id: str) -> None:
    assert client.get("/health").get_json() == {"status": "ok"}
    assert client.get("/ready").get_json() == {"status": "ready", "model_id": model_id}
    holder = app.extensions.pop("model")
    try:
        response = client.get("/ready")
        assert response.status_code == 503 and response.get_json()["status"] == "unavailable"
    finally:
        app.extensions["model"] = holder


def test_model_endpoint_describes_the_pinned_artifact(client, model_card_path: Path) -> None:
    card = json.loads(model_card_path.read_text())
    body = client.get("/model").get_json()
    assert body["model_id"] == card["model_id"] == model_id_of(model_card_path)
    assert body["artifact_sha256"] == card["artifact"]["sha256"]
    assert body["training_data_sha256"] == card["training_data"]["sha256"]
    assert body["features"] == card["feature_spec"]["feature_names"]
    assert body["metrics"]["rmse"] == card["metrics"]["rmse"]
    assert body["crew_inputs"] == ["directors", "writers"]


# --- predictions ----------------------------------------------------------------------------


def test_predict_returns_the_models_rating_with_an_interval(
    client, model_card_path, model_id: str
) -> None:
    response = post(client, "/predict", MOVIE)
    assert response.status_code == 200
    body = response.get_json()
    model, card = load_verified_model(model_card_path)
    columns = {name: [value] for name, value in MOVIE.items()}
    expected = flatten(model).predict(build_matrix(columns, card.feature_spec))[0]
    assert body["rating"] == pytest.approx(expected, abs=1e-3)
    assert body["model_id"] == model_id
    interval = body["interval"]
    assert interval["low"] < body["rating"] < interval["high"]
    assert interval["coverage"] == 0.8


def test_intervals_are_wider_for_movies_with_few_votes(client) -> None:
    def width(votes: int) -> float:
        interval = post(client, "/predict", {**MOVIE, "num_votes": votes}).get_json()["interval"]
        return interval["high"] - interval["low"]

    assert width(60) > width(500_000)


def test_optional_fields_may_be_omitted(client) -> None:
    response = post(client, "/predict", {"year": 1950, "num_votes": 80})
    assert response.status_code == 200
    assert 1 <= response.get_json()["rating"] <= 10


def test_batch_keeps_request_order_and_matches_single_predictions(client, model_id) -> None:
    movies = [{**MOVIE, "num_votes": votes} for votes in (60, 1_000, 80_000)]
    body = post(client, "/predict/batch", {"movies": movies}).get_json()
    assert body["count"] == 3 and body["model_id"] == model_id
    singles = [post(client, "/predict", movie).get_json()["rating"] for movie in movies]
    assert [p["rating"] for p in body["predictions"]] == singles


# --- bad input: a clear 4xx, never a 500 ----------------------------------------------------


@pytest.mark.parametrize(
    ("change", "field"),
    [
        ({"year": "1999"}, "year"),
        ({"year": 1999.5}, "year"),
        ({"year": True}, "year"),
        ({"year": 1500}, "year"),
        ({"num_votes": -1}, "num_votes"),
        ({"num_votes": 10**30}, "num_votes"),
        ({"runtime_minutes": 0}, "runtime_minutes"),
        ({"runtime_minutes": "90"}, "runtime_minutes"),
        ({"title": ""}, "title"),
        ({"title": "x" * 501}, "title"),
        ({"genres": "Drama"}, "genres"),
        ({"genres": [""]}, "genres"),
        ({"genres": ["Drama", "Drama"]}, "genres"),
        ({"is_adult": "yes"}, "is_adult"),
        ({"is_adult": 0}, "is_adult"),
        ({"directors": ["Stanley Kubrick"]}, "directors"),
        ({"unexpected": 1}, "unexpected"),
    ],
)
def test_invalid_fields_get_422_with_a_message_per_field(client, change, field) -> None:
    payload = {**MOVIE, **change}
    response = post(client, "/predict", payload)
    assert response.status_code == 422, response.get_json()
    assert field in response.get_json()["fields"]


def test_missing_required_fields_are_named(client) -> None:
    fields = post(client, "/predict", {"title": "Only a title"}).get_json()["fields"]
    assert set(fields) == {"year", "num_votes"}


def test_an_imdb_genre_the_model_never_learned_is_ignored_named_and_counted(client) -> None:
    """The test model learned 5 of IMDb's 28 genres: a Western is valid input without effect."""
    known = post(client, "/predict", {**MOVIE, "genres": ["Drama"]}).get_json()
    answer = post(client, "/predict", {**MOVIE, "genres": ["Western", "Drama"]})
    assert answer.status_code == 200
    assert answer.get_json() == known | {"ignored_genres": ["Western"]}
    batch = post(
        client, "/predict/batch", {"movies": [MOVIE, {**MOVIE, "genres": ["Film-Noir"]}]}
    ).get_json()
    assert "ignored_genres" not in batch["predictions"][0]
    assert batch["predictions"][1]["ignored_genres"] == ["Film-Noir"]
    assert metric(client, "imdb_ignored_genres_total", genre="Western") == 1
    assert metric(client, "imdb_ignored_genres_total", genre="Film-Noir") == 1


def test_a_string_that_is_no_imdb_genre_is_refused(client) -> None:
    response = post(client, "/predict", {**MOVIE, "genres": ["Westerns"]})
    assert response.status_code == 422
    assert response.get_json()["fields"]["genres"] == {"0": ["Not an IMDb genre: Westerns."]}


@pytest.mark.parametrize("literal", [b"NaN", b"Infinity", b"-Infinity"])
def test_nan_and_infinity_are_malformed_json(client, literal: bytes) -> None:
    response = post(client, "/predict", data=b'{"year": 1999, "num_votes": ' + literal + b"}")
    assert response.status_code == 400
    assert response.get_json()["message"].startswith("Malformed JSON")


@pytest.mark.parametrize(
    "data",
    [b"{", b"", b'{"year": 1999,}', b"\xff\xfe{}", b"[" * 5000 + b"]" * 5000],
    ids=["truncated", "empty", "trailing-comma", "invalid-utf8", "deeply-nested"],
)
def test_malformed_bodies_get_400(client, data: bytes) -> None:
    assert post(client, "/predict", data=data).status_code == 400


def test_a_body_that_is_not_an_object_gets_422(client) -> None:
    assert post(client, "/predict", [MOVIE]).status_code == 422
    assert post(client, "/predict/batch", MOVIE).status_code == 422


@pytest.mark.parametrize("content_type", ["text/plain", "application/x-www-form-urlencoded"])
def test_non_json_content_types_get_415(client, content_type: str) -> None:
    response = post(client, "/predict", data=b"year=1999", content_type=content_type)
    assert response.status_code == 415
    assert response.get_json()["error"] == "Unsupported Media Type"


@pytest.mark.parametrize("path", ["/predict", "/predict/batch"])
@pytest.mark.parametrize("encoding", ["gzip", "deflate", "br"])
def test_compressed_bodies_get_415_naming_the_encoding(client, path: str, encoding: str) -> None:
    body = gzip.compress(
        json.dumps({"movies": [MOVIE]} if path.endswith("batch") else MOVIE).encode()
    )
    response = post(client, path, data=body, headers={"Content-Encoding": encoding})
    assert response.status_code == 415
    assert response.get_json()["message"] == (
        f"Content-Encoding {encoding} is not supported; send identity-encoded JSON."
    )
    assert response.headers["Accept-Encoding"] == "identity"


def test_identity_encoded_bodies_are_accepted(client) -> None:
    response = post(client, "/predict", MOVIE, headers={"Content-Encoding": "identity"})
    assert response.status_code == 200


def test_a_body_over_the_limit_gets_413(model_card_path) -> None:
    small = create_app(ServiceConfig(model_card=model_card_path, max_body_bytes=1000))
    response = post(small.test_client(), "/predict", {**MOVIE, "title": "x" * 2000})
    assert response.status_code == 413


def test_batches_must_hold_1_to_max_batch_movies(client) -> None:
    empty = post(client, "/predict/batch", {"movies": []})
    assert empty.status_code == 422 and "movies" in empty.get_json()["fields"]
    assert post(client, "/predict/batch", {"movies": [MOVIE] * 50}).status_code == 200
    over = post(client, "/predict/batch", {"movies": [MOVIE] * 51})
    assert over.status_code == 422
    assert "50" in over.get_json()["fields"]["movies"][0]


def test_batch_errors_name_the_item_index(client) -> None:
    movies = [MOVIE, {**MOVIE, "year": "soon"}, MOVIE, {**MOVIE, "genres": ["Westerns"]}]
    fields = post(client, "/predict/batch", {"movies": movies}).get_json()["fields"]["movies"]
    assert set(fields) == {"1", "3"}
    assert "year" in fields["1"] and "genres" in fields["3"]


def test_unknown_paths_and_methods_are_json_404_and_405(client) -> None:
    missing = client.get("/nowhere")
    assert missing.status_code == 404 and missing.get_json()["status"] == 404
    wrong = client.get("/predict")
    assert wrong.status_code == 405 and wrong.get_json()["status"] == 405
    assert "POST" in wrong.headers["Allow"]


# --- metrics --------------------------------------------------------------------------------


def test_prediction_metrics_count_movies_and_timings(client, model_id: str) -> None:
    before = metric(client, "imdb_predictions_total", endpoint="predict_batch", model_id=model_id)
    batches_before = metric(client, "imdb_batch_size_count")
    post(client, "/predict/batch", {"movies": [MOVIE] * 4})
    assert (
        metric(client, "imdb_predictions_total", endpoint="predict_batch", model_id=model_id)
        == before + 4
    )
    assert metric(client, "imdb_batch_size_count") == batches_before + 1
    assert metric(client, "imdb_model_inference_seconds_count", endpoint="predict_batch") >= 1
    assert metric(client, "imdb_predicted_rating_count") >= 4


def test_request_metrics_are_labelled_by_endpoint_method_and_status(client) -> None:
    post(client, "/predict", {"year": "bad"})
    count = metric(
        client,
        "flask_http_request_duration_seconds_count",
        endpoint="predict.predict",
        method="POST",
        status="422",
    )
    assert count >= 1


def test_model_gauges_describe_the_served_model(client, model_card_path) -> None:
    card = json.loads(model_card_path.read_text())
    assert metric(client, "imdb_model_loaded") == 1
    assert (
        metric(
            client, "imdb_model_info", model_id=card["model_id"], sha256=card["artifact"]["sha256"]
        )
        == 1
    )
    assert metric(client, "imdb_model_test_metric", metric="rmse") == pytest.approx(
        card["metrics"]["rmse"]
    )


def test_drift_is_low_for_training_like_inputs_and_high_for_shifted_ones(model_card_path) -> None:
    app = create_app(ServiceConfig(model_card=model_card_path, drift_window=300))
    client = app.test_client()
    spec = json.loads(model_card_path.read_text())["feature_spec"]
    rng = np.random.default_rng(3)
    # Inputs drawn like the synthetic training data vs. all from one recent year.
    like_training = [
        {"year": int(y), "num_votes": int(v) + 50, "genres": [str(rng.choice(spec["genres"]))]}
        for y, v in zip(rng.integers(1930, 2020, 300), rng.lognormal(7, 1.5, 300), strict=True)
    ]
    post(client, "/predict/batch", {"movies": like_training})
    client.get("/metrics")  # a scrape publishes the window's PSI
    calm = metric(client, "imdb_input_psi", feature="year")
    shifted = [{**movie, "year": 2019} for movie in like_training]
    post(client, "/predict/batch", {"movies": shifted})
    drifted = metric(client, "imdb_input_psi", feature="year")
    assert calm < 0.1 < 0.25 < drifted
    assert metric(client, "imdb_drift_window_movies") == 300
    assert metric(client, "imdb_input_psi", feature="log_votes") < 0.1  # unchanged input


# --- OpenAPI --------------------------------------------------------------------------------


def test_openapi_documents_every_route_and_the_model_specific_schema(client, app) -> None:
    document = client.get("/openapi.json").get_json()
    assert document["openapi"].startswith("3.")
    routes = {r.rule for r in app.url_map.iter_rules() if r.endpoint != "static"}
    assert routes <= set(document["paths"])
    movie = document["components"]["schemas"]["Movie"]
    assert set(movie["required"]) == {"year", "num_votes"}
    assert movie["properties"]["genres"]["items"]["enum"] == list(IMDB_GENRES)
    assert "directors" in movie["properties"]
    assert client.get("/docs").status_code == 200


def test_the_docs_form_refuses_a_movie_field_it_has_no_input_for() -> None:
    with pytest.raises(ValueError, match="no input for 'cast' of type 'object'"):
        form_field("cast", {"type": "object"}, required=False)


def test_openapi_document_is_valid_openapi_3(client) -> None:
    from openapi_spec_validator import validate

    validate(client.get("/openapi.json").get_json())


# --- start-up -------------------------------------------------------------------------------


def test_debug_mode_stays_off_whatever_the_environment_says(
    monkeypatch: pytest.MonkeyPatch, model_card_path: Path
) -> None:
    monkeypatch.setenv("FLASK_DEBUG", "1")  # Flask would start in debug mode from this alone
    app = create_app(ServiceConfig(model_card=model_card_path, model_poll_seconds=0))
    assert app.debug is False


def test_refuses_to_start_on_a_tampered_artifact(tmp_path: Path, model_card_path: Path) -> None:
    shutil.copytree(model_card_path.parent, tmp_path / "model")
    artifact = tmp_path / "model" / "model.skops"
    artifact.write_bytes(artifact.read_bytes() + b"\0")
    with pytest.raises(ArtifactError, match="does not match model card"):
        create_app(ServiceConfig(model_card=tmp_path / "model" / "model.json"))


def test_wsgi_entry_point_exits_with_one_line_when_the_model_is_missing(tmp_path: Path) -> None:
    result = subprocess.run(
        [sys.executable, "-c", "import service.wsgi"],
        env={"IMDB_MODEL_CARD": str(tmp_path / "model.json"), "PATH": "/usr/bin:/bin"},
        capture_output=True,
        text=True,
        check=False,
    )
    assert result.returncode == 3
    assert result.stderr.strip().count("\n") == 0
    assert "error: cannot start the service" in result.stderr and "model card not found" in (
        result.stderr
    )


def test_the_service_never_imports_the_training_stack(model_card_path: Path) -> None:
    code = (
        "import sys; from service.app import create_app; from service.config import ServiceConfig;"
        f"create_app(ServiceConfig(model_card=__import__('pathlib').Path({str(model_card_path)!r})));"
        "print(sorted(m for m in ('mlflow', 'dvc', 'stages') if m in sys.modules))"
    )
    result = subprocess.run(
        [sys.executable, "-c", code], capture_output=True, text=True, check=True
    )
    assert result.stdout.strip() == "[]"
