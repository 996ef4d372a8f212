"""WSGI entry point for Gunicorn: `gunicorn -c service/gunicorn_conf.py service.wsgi:app`."""

from __future__ import annotations

import sys

from imdb_rating.card import ArtifactError
from service.app import create_app
from service.config import ConfigError

try:
    app = create_app()
except (ArtifactError, ConfigError) as error:
    print(f"error: cannot start the service: {error}", file=sys.stderr)
    # Gunicorn's WORKER_BOOT_ERROR: the master stops instead of restarting workers forever.
    sys.exit(3)
