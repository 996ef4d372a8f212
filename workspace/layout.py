"""Where the repository's files are: the one definition of its root and of the pipeline's
inputs and outputs (as dvc.yaml lists them). Standard library only: the service reads its
default model card from here."""

from __future__ import annotations

from pathlib import Path

REPO_ROOT = Path(__file__).resolve().parent.parent
PARAMS_FILE = REPO_ROOT / "params.yaml"
SAMPLE_DIR = REPO_ROOT / "data" / "sample"
RAW_DIR = REPO_ROOT / "data" / "raw"
MOVIES_FILE = REPO_ROOT / "data" / "clean" / "movies.parquet"
SPARSE_MOVIES_FILE = REPO_ROOT / "data" / "clean" / "sparse_movies.parquet"
FEATURES_DIR = REPO_ROOT / "data" / "features"
MODELS_DIR = REPO_ROOT / "models"
MODEL_CARD = MODELS_DIR / "model.json"
METRICS_DIR = REPO_ROOT / "metrics"
PLOTS_DIR = METRICS_DIR / "plots"
# Real IMDb rows beside the checkout, for tests and benchmarks only (never committed; absent
# from a user's clone: code that needs them says so).
OFFICIAL_SAMPLE = REPO_ROOT.parent / "shared" / "imdb" / "official-sample"
