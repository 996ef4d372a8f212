# syntax=docker/dockerfile:1
# The inference service: the pinned model, the service code and its runtime dependencies only
# (no MLflow, no DVC). Build after `dvc repro` (or `dvc pull`) so models/ holds the artifact.

FROM python:3.11-slim AS deps
ENV PIP_NO_CACHE_DIR=1 PIP_DISABLE_PIP_VERSION_CHECK=1
COPY requirements/service.txt /tmp/service.txt
RUN python -m venv /opt/venv && /opt/venv/bin/pip install --no-cache-dir --require-hashes -r /tmp/service.txt

FROM python:3.11-slim
RUN groupadd --system --gid 10001 app && useradd --system --uid 10001 --gid app --no-create-home app
COPY --from=deps /opt/venv /opt/venv
WORKDIR /app
COPY imdb_rating/ imdb_rating/
COPY service/ service/
# The repository's layout (the default model card's path); the rest of workspace/ is the
# pipeline's.
COPY workspace/__init__.py workspace/layout.py workspace/
COPY models/model.skops models/model.json models/model_card.html models/
ENV PATH=/opt/venv/bin:$PATH \
    PYTHONDONTWRITEBYTECODE=1 \
    PYTHONUNBUFFERED=1 \
    IMDB_MODEL_CARD=/app/models/model.json \
    GUNICORN_BIND=0.0.0.0:8000 \
    PROMETHEUS_MULTIPROC_DIR=/tmp/prometheus-metrics
USER 10001:10001
EXPOSE 8000
HEALTHCHECK --interval=15s --timeout=3s --start-period=40s --retries=3 \
    CMD ["python", "-c", "import urllib.request; urllib.request.urlopen('http://127.0.0.1:8000/ready', timeout=2)"]
CMD ["gunicorn", "-c", "service/gunicorn_conf.py", "service.wsgi:app"]
