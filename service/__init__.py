"""Inference service: a Flask app (create_app) hosted by Gunicorn (service/gunicorn_conf.py)."""

__version__ = "0.1.0"
