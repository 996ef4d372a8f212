"""XGBoost, LightGBM and CatBoost: read from each library's own dump into the walk, served
without the library, answering what the library itself predicts."""

from __future__ import annotations

from pathlib import Path

import numpy as np
import pytest
import skops.io as sio

from imdb_rating.artifact import LIBRARY_TYPES, TRUSTED_TYPES, dump_model, load_verified_model
from imdb_rating.features import build_matrix
from imdb_rating.predictor import RATING_RANGE, Predictor
from imdb_rating.trees import TreeEnsemble, UnsupportedModelError, flatten
from service.app import create_app
from service.config import ServiceConfig
from service.schemas import movie_schema
from stages.families import LIBRARY_FAMILIES, make_model, servable
from stages.featurize import FeaturizeParams, featurize
from stages.train import TrainParams, fit, save_model
from tests.conftest import synthetic_movies
from tests.test_golden_responses import generated_movies
from workspace.params import load_params

SMALL = {
    "xgboost": {"n_estimators": 80, "max_depth": 5, "learning_rate": 0.1},
    "lightgbm": {"n_estimators": 80, "num_leaves": 15},
    "catboost": {"iterations": 80, "depth": 5},
}


@pytest.fixture(scope="module")
def data() -> tuple[np.ndarray, np.ndarray]:
    rng = np.random.default_rng(0)
    x = rng.normal(size=(2000, 6))
    y = x[:, 0] * 2 + np.sin(x[:, 1]) + rng.normal(size=2000) * 0.3
    x[rng.random(x.shape) < 0.08] = np.nan  # missing values take learned directions
    x[:, 5] = np.round(x[:, 5])  # ties and zeros: thresholds between integers
    return x, y


@pytest.mark.parametrize("family", LIBRARY_FAMILIES)
def test_the_walk_of_a_library_dump_predicts_what_the_library_does(family: str, data) -> None:
    x, y = data
    model = make_model(family, SMALL[family], seed=0).fit(x, y)
    ensemble = servable(model)
    assert isinstance(ensemble, TreeEnsemble) and ensemble.family == family
    # Through the artifact's bytes, as the service loads it: no library object inside.
    payload = dump_model(ensemble)
    assert sio.get_untrusted_types(data=payload) == list(LIBRARY_TYPES)
    flat = flatten(sio.loads(payload, trusted=list(TRUSTED_TYPES)))
    fresh = np.random.default_rng(1).normal(size=(500, 6))
    fresh[::7, 2] = np.nan
    fresh[:, 5] = np.round(fresh[:, 5])
    for rows in (x, fresh, fresh[:1], ensemble.probe_rows):
        np.testing.assert_allclose(flat.predict(rows), model.predict(rows), rtol=0, atol=1e-9)


@pytest.mark.parametrize("family", LIBRARY_FAMILIES)
def test_the_same_fit_gives_the_same_artifact_bytes(family: str, data) -> None:
    x, y = data
    artifacts = [
        dump_model(servable(make_model(family, SMALL[family], seed=3).fit(x, y))) for _ in range(2)
    ]
    assert artifacts[0] == artifacts[1]


def test_an_artifact_whose_walk_disagrees_with_its_recorded_library_answers_is_refused(
    data,
) -> None:
    x, y = data
    ensemble = servable(make_model("lightgbm", SMALL["lightgbm"], seed=0).fit(x, y))
    ensemble.probe_predictions[0] += 0.01
    with pytest.raises(UnsupportedModelError, match="disagrees"):
        flatten(ensemble)


def test_what_the_walk_does_not_implement_is_refused_at_training(data) -> None:
    x, y = data
    counts = np.column_stack([np.arange(len(x)) % 4, np.nan_to_num(x[:, 0])])
    categorical = make_model("lightgbm", {"n_estimators": 5}, seed=0)
    with pytest.raises(UnsupportedModelError, match="categorical"):
        servable(categorical.fit(counts, y + 2 * (counts[:, 0] == 2), categorical_feature=[0]))
    absolute = make_model("xgboost", {"n_estimators": 5, "objective": "reg:absoluteerror"}, 0)
    with pytest.raises(UnsupportedModelError, match="objective"):
        servable(absolute.fit(np.nan_to_num(x), y))


@pytest.fixture(scope="module")
def features():
    return featurize(synthetic_movies(), FeaturizeParams(**load_params("featurize")))


@pytest.mark.parametrize("family", LIBRARY_FAMILIES)
def test_the_service_answers_what_the_library_predicts_through_the_artifact(
    family: str, features, tmp_path: Path
) -> None:
    train, test, spec = features
    defaults = load_params("train")
    params = TrainParams(**defaults | {"model": family, family: SMALL[family]})
    model, intervals, metrics = fit(train, test, spec.feature_names, params)
    card = save_model(tmp_path, params, model, metrics, intervals, spec, "f" * 64)
    assert card.model_type == family and card.artifact.trusted_types == list(LIBRARY_TYPES)
    loaded, _ = load_verified_model(tmp_path / "model.json")
    rows = test[spec.feature_names].to_numpy()
    np.testing.assert_allclose(flatten(loaded).predict(rows), model.predict(rows), atol=1e-9)

    predictor = Predictor(tmp_path / "model.json")
    schema = movie_schema(predictor.movie_fields)()
    movies = [movie for movie in generated_movies(300) if not schema.validate(movie)]
    matrix = build_matrix(predictor.columns([schema.load(movie) for movie in movies]), spec)
    expected = np.clip(model.predict(matrix).astype(np.float64), *RATING_RANGE).round(3)
    client = create_app(ServiceConfig(model_card=tmp_path / "model.json")).test_client()
    answer = client.post("/predict/batch", json={"movies": movies})
    assert answer.status_code == 200
    ratings = [result["rating"] for result in answer.get_json()["predictions"]]
    np.testing.assert_allclose(ratings, expected, rtol=0, atol=1e-9)
    assert answer.get_json()["model_id"] == card.model_id
