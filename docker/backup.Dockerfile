# The backups of the team stack (tools/backup.py): pg_dump of MLflow's database, the bucket's
# objects, a Prometheus TSDB snapshot and the prediction logs, with a manifest of sha256. Built
# on the PostgreSQL image compose runs, so pg_dump and pg_restore are the server's own major
# version (an older pg_dump refuses a newer server); Debian's python3 runs the tool.
ARG POSTGRES_IMAGE=postgres:16.4
FROM ${POSTGRES_IMAGE}
ARG REVISION=unknown
ARG SOURCE=unknown
LABEL org.opencontainers.image.title="imdb-rating-backup" \
      org.opencontainers.image.description="Backups and restores of the imdb-rating stack's stores" \
      org.opencontainers.image.source="${SOURCE}" \
      org.opencontainers.image.licenses="MIT" \
      org.opencontainers.image.revision="${REVISION}"
ENV PIP_NO_CACHE_DIR=1 PIP_DISABLE_PIP_VERSION_CHECK=1
# Debian's python3 of the base's release, unpinned (the Python packages are hashed):
# hadolint ignore=DL3008
RUN apt-get update \
    && apt-get install -y --no-install-recommends python3 python3-venv \
    && rm -rf /var/lib/apt/lists/*
COPY requirements/backup.txt /tmp/backup.txt
RUN python3 -m venv /opt/venv && /opt/venv/bin/pip install --no-cache-dir --require-hashes --no-deps -r /tmp/backup.txt \
    && /opt/venv/bin/pip check \
    && mkdir /backups && chown 65534:65534 /backups
WORKDIR /app
COPY tools/__init__.py tools/backup.py tools/
COPY workspace/__init__.py workspace/commands.py workspace/files.py workspace/
ENV PATH=/opt/venv/bin:$PATH PYTHONDONTWRITEBYTECODE=1 PYTHONUNBUFFERED=1
# Prometheus' own user: its snapshots are its files (the backup removes each after copying).
USER 65534:65534
ENTRYPOINT ["python", "-m", "tools.backup"]
CMD ["--help"]
