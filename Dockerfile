# syntax=docker/dockerfile:1
# The inference service: the pinned model, the service code and its runtime dependencies only
# (no MLflow, no DVC). Build after `dvc repro` (or `dvc pull`) so models/ holds the artifact.

# The base, pinned by digest (the multi-platform index of python:3.11-slim): a rebuild starts
# from the same bytes; a dependency bot moves the pin. Tests build from a local stand-in.
ARG PYTHON_IMAGE=python:3.11-slim@sha256:9c900dea9e8fb7e16277c179b555cc72d29a352dbc33cff48ad5a0412fd5bfc7

FROM ${PYTHON_IMAGE} AS deps
ENV PIP_NO_CACHE_DIR=1 PIP_DISABLE_PIP_VERSION_CHECK=1
COPY requirements/service.txt /tmp/service.txt
RUN python -m venv /opt/venv && /opt/venv/bin/pip install --no-cache-dir --require-hashes --no-deps -r /tmp/service.txt \
    && /opt/venv/bin/pip check

FROM ${PYTHON_IMAGE}
# The repository and commit the image was built from (release.yml passes them); no build time:
# the same sources give the same image.
ARG REVISION=unknown
ARG SOURCE=unknown
LABEL org.opencontainers.image.title="imdb-rating-api" \
      org.opencontainers.image.description="Predicts a movie's IMDb rating from its metadata: Flask under Gunicorn, the pinned and verified model" \
      org.opencontainers.image.source="${SOURCE}" \
      org.opencontainers.image.licenses="MIT" \
      org.opencontainers.image.revision="${REVISION}"
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
