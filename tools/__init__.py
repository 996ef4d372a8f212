"""Commands engineers run around the pipeline (not DVC stages): `python -m tools.<name>`."""
