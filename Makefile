# Quickstart (see README):  make repro   then   make test
SHELL := /bin/bash
PYTHON ?= python3.11
VENV := .venv
BIN := $(abspath $(VENV))/bin
# DVC stage commands call `python`: make it the project's interpreter.
export PATH := $(BIN):$(PATH)

.PHONY: install sample repro test lint compare mlflow-ui serve bench-pipeline bench-service \
	bench-full-scale bench-reliability bench-capacity

$(VENV)/.installed: setup.cfg pyproject.toml
	$(PYTHON) -m venv $(VENV)
	$(BIN)/pip install --quiet --upgrade pip
	$(BIN)/pip install --quiet -e '.[pipeline,service,dev]'
	touch $@

install: $(VENV)/.installed

# Rebuild the embedded offline sample (it fails unless the bytes match data.dvc's pin),
# then store it in the DVC cache so that `dvc status` is clean on a fresh clone too.
sample: install
	$(BIN)/python -m stages.sample
	$(BIN)/dvc commit --force --quiet data.dvc

repro: sample
	$(BIN)/dvc repro

# The suite runs real Prometheus, Alertmanager, wrk and ab: install them if missing.
test: sample
	.ci/system-packages
	$(BIN)/python -m pytest

lint: install
	$(BIN)/ruff format --check .
	$(BIN)/ruff check .

# Markdown tables of metrics and params against BASE; fails on an RMSE regression.
BASE ?= main
compare: install
	$(BIN)/python -m stages.compare --base $(BASE)

mlflow-ui: install
	$(BIN)/mlflow ui --backend-store-uri $${MLFLOW_TRACKING_URI:-sqlite:///mlflow.db} --port 5000

# The inference service on :8000 (needs models/ from `make repro`); see README for settings.
serve: install
	$(BIN)/gunicorn -c service/gunicorn_conf.py service.wsgi:app

bench-pipeline: install
	$(BIN)/python bench/pipeline.py

bench-service: install
	$(BIN)/python bench/service.py

# The full-size dump (11.9M titles, generated under /tmp/imdb-dumps): ~9 min, ~5 GB of disk.
bench-full-scale: install
	$(BIN)/python bench/full_scale.py

bench-reliability: install
	$(BIN)/python bench/reliability.py

# Per-core throughput, p99 per utilization and replicas per load (docs/capacity.md): ~8 min.
bench-capacity: install
	$(BIN)/python bench/capacity.py
