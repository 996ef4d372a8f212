"""Prometheus metrics: HTTP metrics from prometheus-flask-exporter, plus the model's own.

Under Gunicorn (PROMETHEUS_MULTIPROC_DIR set before prometheus_client is imported, see
gunicorn_conf.py) every worker writes its samples to shared files and any worker's /metrics
aggregates all of them. Gauges say how: `livesum` adds live workers, `livemax` takes the
largest, `livemostrecent` the last value any live worker set (the drift window is shared, so
the latest PSI is the service's).
"""

from __future__ import annotations

import collections
import os
import time
from collections.abc import Sequence

import numpy as np
from flask import Flask, g, request
from prometheus_client import CollectorRegistry, Counter, Gauge, Histogram
from prometheus_flask_exporter import PrometheusMetrics
from prometheus_flask_exporter.multiprocess import GunicornInternalPrometheusMetrics

from imdb_rating.predictor import Predictor
from service.drift_window import DriftWindow

LATENCY_BUCKETS = (0.001, 0.0025, 0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1.0, 2.5)
INFERENCE_BUCKETS = (0.0001, 0.00025, 0.0005, 0.001, 0.0025, 0.005, 0.01, 0.025, 0.05, 0.1)
INFERENCE_BUCKETS += (0.25, 0.5, 1.0)  # batches of 1,000
RATING_BUCKETS = tuple(x / 2 for x in range(3, 21))  # 1.5, 2.0, ... 10.0
BATCH_BUCKETS = (1, 2, 5, 10, 20, 50, 100, 200, 500, 1000, 2000, 5000)


def observe_many(histogram: Histogram, values: np.ndarray) -> None:
    """`histogram.observe(v)` for every value, with one increment per bucket instead of one
    per value (a batch of 1,000 ratings: 2,000 shared-memory writes otherwise). It updates the
    same per-bucket values `observe` does; a test holds the two to identical expositions."""
    if len(values) == 1:  # the public API is cheaper for one value
        histogram.observe(float(values[0]))
        return
    bounds = histogram._upper_bounds
    counts = np.bincount(np.searchsorted(bounds, values, side="left"), minlength=len(bounds))
    for bucket, count in zip(histogram._buckets, counts, strict=True):
        if count:
            bucket.inc(int(count))
    histogram._sum.inc(float(np.sum(values)))


class Telemetry:
    def __init__(self, app: Flask, drift_window: int) -> None:
        # A registry per app: tests build many apps in one process. Under Gunicorn the
        # exporter reads the shared files instead.
        registry = CollectorRegistry()
        exporter = (
            GunicornInternalPrometheusMetrics
            if os.environ.get("PROMETHEUS_MULTIPROC_DIR")
            else PrometheusMetrics
        )
        self.exporter = exporter(
            app, registry=registry, group_by="endpoint", buckets=LATENCY_BUCKETS, path="/metrics"
        )
        self.predictions = Counter(
            "imdb_predictions_total",
            "Movies scored, by model id and endpoint",
            ["model_id", "endpoint"],
            registry=registry,
        )
        self.inference_seconds = Histogram(
            "imdb_model_inference_seconds",
            "Time to encode and score one request's movies (a shadow batch's), by model",
            ["endpoint", "model_id"],
            buckets=INFERENCE_BUCKETS,
            registry=registry,
        )
        self.predicted_rating = Histogram(
            "imdb_predicted_rating",
            "Predicted ratings, by model",
            ["model_id"],
            buckets=RATING_BUCKETS,
            registry=registry,
        )
        self.batch_size = Histogram(
            "imdb_batch_size", "Movies per batch request", buckets=BATCH_BUCKETS, registry=registry
        )
        self.in_flight = Gauge(
            "imdb_http_requests_in_flight",
            "Requests being handled (scrapes of /metrics not counted)",
            multiprocess_mode="livesum",
            registry=registry,
        )
        # Saturation is in-flight requests over slots: each worker adds its threads.
        Gauge(
            "imdb_worker_slots",
            "Requests the workers can handle at once (workers x threads)",
            multiprocess_mode="livesum",
            registry=registry,
        ).set(int(os.environ.get("GUNICORN_THREADS", "1")))
        self.input_psi = Gauge(
            "imdb_input_psi",
            "Population stability index of recent inputs against a model's training"
            " distribution, by model",
            ["feature", "model_id"],
            multiprocess_mode="livemostrecent",
            registry=registry,
        )
        self.drift_window_movies = Gauge(
            "imdb_drift_window_movies",
            "Movies in a model's drift window",
            ["model_id"],
            multiprocess_mode="livemostrecent",
            registry=registry,
        )
        Gauge(
            "imdb_drift_window_size",
            "Movies the drift window holds when full",
            multiprocess_mode="livemax",
            registry=registry,
        ).set(drift_window)
        self.ignored_genres = Counter(
            "imdb_ignored_genres_total",
            "Movies scored with an IMDb genre the served model never learned (ignored: input"
            " drift), by genre",
            ["genre"],
            registry=registry,
        )
        self.prediction_log_dropped = Counter(
            "imdb_prediction_log_dropped_total",
            "Scored movies the prediction log could not keep (queue full, or a write failed)",
            registry=registry,
        )
        self.model_errors = Counter(
            "imdb_model_errors_total",
            "Scorings that raised, by model (a champion's answers 500, a challenger's is ejected)",
            ["model_id"],
            registry=registry,
        )
        self.challenger_in_traffic = Gauge(
            "imdb_challenger_in_traffic",
            "1 while the challenger is in traffic in every worker, 0 once one ejected it",
            ["model_id"],
            multiprocess_mode="livemin",
            registry=registry,
        )
        self.challenger_ejections = Counter(
            "imdb_challenger_ejections_total",
            "Challengers taken out of traffic by a worker: it raised (error) or was too slow",
            ["model_id", "reason"],
            registry=registry,
        )
        self.reloads = Counter(
            "imdb_model_reloads_total",
            "Model rollouts seen by a worker: swapped in, or refused (old model kept)",
            ["outcome"],
            registry=registry,
        )
        for outcome in ("swapped", "refused"):  # series exist (at 0) before the first rollout
            self.reloads.labels(outcome)
        self.model_info = Gauge(
            "imdb_model_info",
            "The served model (1; a model no longer served drops to 0)",
            ["name", "model_id", "model_type", "sha256"],
            multiprocess_mode="livemax",
            registry=registry,
        )
        self.model_loaded = Gauge(
            "imdb_model_loaded",
            "1 when the worker has a verified model loaded",
            multiprocess_mode="livemax",
            registry=registry,
        )
        # The model's training time is MLflow's, not the artifact's (its bytes are reproducible).
        self.model_loaded_at = Gauge(
            "imdb_model_loaded_timestamp_seconds",
            "When the worker loaded the served model (a rollout or a restart)",
            multiprocess_mode="livemax",
            registry=registry,
        )
        self.model_test_metric = Gauge(
            "imdb_model_test_metric",
            "The served model's test-split metrics from training",
            ["metric"],
            multiprocess_mode="livemax",
            registry=registry,
        )
        app.before_request(self._request_started)
        app.teardown_request(self._request_finished)

    @staticmethod
    def _info_labels(predictor: Predictor) -> tuple[str, ...]:
        card = predictor.card
        return card.name, predictor.model_id, card.model_type, card.artifact.sha256

    def show_model(self, predictor: Predictor, previous: Predictor | None = None) -> None:
        if previous is not None:
            # Shared metric files keep every label set ever written: zero it, not remove it.
            self.model_info.labels(*self._info_labels(previous)).set(0)
        self.model_info.labels(*self._info_labels(predictor)).set(1)
        self.model_loaded.set(1)
        self.model_loaded_at.set(time.time())
        for name, value in predictor.card.metrics.scores().items():
            self.model_test_metric.labels(name).set(value)

    def _request_started(self) -> None:
        if request.path != "/metrics":
            self.in_flight.inc()
            g.in_flight = True

    def _request_finished(self, _error: BaseException | None) -> None:
        if g.pop("in_flight", False):
            self.in_flight.dec()

    def publish_drift(self, drift: DriftWindow, model_id: str) -> None:
        """PSI of a model's drift window, computed for a scrape of /metrics (and only then)."""
        filled, values = drift.snapshot()
        self.drift_window_movies.labels(model_id).set(filled)
        for feature, value in values.items():
            self.input_psi.labels(feature, model_id).set(value)

    def record_ignored_genres(self, ignored: Sequence[Sequence[str]]) -> None:
        """Per genre, the movies whose genre the model ignored (labels: IMDb's 28 genres)."""
        counts = collections.Counter(genre for genres in ignored for genre in genres)
        for genre, count in counts.items():
            self.ignored_genres.labels(genre).inc(count)

    def record_predictions(
        self, endpoint: str, model_id: str, ratings: np.ndarray, seconds: float
    ) -> None:
        """Movies scored by a model: count, time to encode and score them, ratings."""
        self.predictions.labels(model_id, endpoint).inc(len(ratings))
        self.inference_seconds.labels(endpoint, model_id).observe(seconds)
        observe_many(self.predicted_rating.labels(model_id), ratings)

    def show_challenger(self, model_id: str, in_traffic: bool) -> None:
        self.challenger_in_traffic.labels(model_id).set(int(in_traffic))
        for reason in ("error", "slow"):  # series exist (at 0) before the first ejection
            self.challenger_ejections.labels(model_id, reason)
        self.model_errors.labels(model_id)

    def hide_challenger(self, model_id: str) -> None:
        """A challenger no longer loaded: shared metric files keep its series; zero it."""
        self.challenger_in_traffic.labels(model_id).set(0)

    def challenger_ejected(self, model_id: str, reason: str) -> None:
        self.challenger_ejections.labels(model_id, reason).inc()
        self.challenger_in_traffic.labels(model_id).set(0)
        if reason == "error":
            self.model_errors.labels(model_id).inc()
