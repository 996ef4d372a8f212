# The MLflow tracking server of the compose stack, at the project's MLflow version, with the
# Prometheus exporter its --expose-prometheus flag needs, psycopg (a PostgreSQL backend store)
# and boto3 (artifacts on S3), installed with hashes from requirements/mlflow.txt (`make lock`).
# --allowed-hosts admits the compose service name, so Prometheus (Host: mlflow:5000) and the
# api's clients are not refused.
# The stores come from the environment (read by `mlflow server` itself). The defaults make the
# image start alone: sqlite and artifacts under /mlflow. The team's stack (compose.yaml) sets
# MLFLOW_BACKEND_STORE_URI=postgresql+psycopg://… and MLFLOW_ARTIFACTS_DESTINATION=s3://….
# The base pinned by digest, as the service's image (Dockerfile); tests build from a stand-in.
ARG PYTHON_IMAGE=python:3.11-slim@sha256:9c900dea9e8fb7e16277c179b555cc72d29a352dbc33cff48ad5a0412fd5bfc7
FROM ${PYTHON_IMAGE}
ARG REVISION=unknown
ARG SOURCE=unknown
LABEL org.opencontainers.image.title="imdb-rating-mlflow" \
      org.opencontainers.image.description="The MLflow tracking server of the imdb-rating stack" \
      org.opencontainers.image.source="${SOURCE}" \
      org.opencontainers.image.licenses="MIT" \
      org.opencontainers.image.revision="${REVISION}"
ENV PIP_NO_CACHE_DIR=1 PIP_DISABLE_PIP_VERSION_CHECK=1 \
    MLFLOW_BACKEND_STORE_URI=sqlite:////mlflow/mlflow.db \
    MLFLOW_ARTIFACTS_DESTINATION=/mlflow/artifacts
COPY requirements/mlflow.txt /tmp/mlflow.txt
RUN pip install --no-cache-dir --require-hashes --no-deps -r /tmp/mlflow.txt \
    && pip check \
    && groupadd --system --gid 10002 mlflow \
    && useradd --system --uid 10002 --gid mlflow --create-home mlflow \
    && mkdir /mlflow && chown mlflow:mlflow /mlflow
USER 10002:10002
WORKDIR /mlflow
EXPOSE 5000
HEALTHCHECK --interval=15s --timeout=3s --start-period=60s --retries=3 \
    CMD ["python", "-c", "import urllib.request; urllib.request.urlopen('http://127.0.0.1:5000/health', timeout=2)"]
CMD ["mlflow", "server", "--host", "0.0.0.0", "--port", "5000", "--serve-artifacts", \
     "--expose-prometheus", "/tmp/mlflow-metrics", "--workers", "2", \
     "--allowed-hosts", "mlflow,mlflow:5000,localhost,localhost:5000,127.0.0.1,127.0.0.1:5000"]
