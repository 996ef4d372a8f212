"""The models the service holds: the champion, an optional challenger, and the traffic policy
between them, loaded and swapped as one `Serving`.

A rollout writes the new artifact, then the new model.json (the commit point, as the train
stage does). Each worker's watcher notices a change of the champion's card, the challenger's
card (IMDB_CHALLENGER_CARD: appearing, changing or removed) or the policy file
(IMDB_TRAFFIC_POLICY), loads and verifies what changed in the background and swaps it in with
one reference assignment: requests in flight finish on what they started with, none fails. A
card whose artifact is missing, corrupt or does not match, or an unreadable policy, is refused
with one log line and a metric; what was served keeps serving.

The challenger can never hurt a request (`ChallengerGuard`): one that raises is taken out of
traffic in the worker at once, one whose scoring exceeds the latency budget per movie three
times in a row too; the champion answers in its place. In shadow mode it scores off the request
path altogether (`ShadowScorer`).
"""

from __future__ import annotations

import logging
import threading
import time
from collections.abc import Callable, Mapping, Sequence
from dataclasses import dataclass, field, replace
from pathlib import Path
from typing import Any

from flask import Flask

from imdb_rating.artifact import READABLE_CARD_PAGE
from imdb_rating.predictor import Predictions, Predictor
from service.config import ServiceConfig
from service.drift_window import DriftWindow
from service.fast_validation import BatchLoader, FastLoader
from service.openapi import build_openapi
from service.prediction_log import PredictionLog
from service.schemas import batch_schema, movie_schema
from service.telemetry import Telemetry
from service.traffic import PolicyError, TrafficPolicy

log = logging.getLogger("service.model_holder")

# Consecutive scorings over the latency budget that take a challenger out of traffic.
STRIKES = 3
# Shadow scoring: movies queued per worker at most, and how often the queue is scored.
SHADOW_QUEUE_MOVIES = 10_000
SHADOW_FLUSH_SECONDS = 0.05


@dataclass(frozen=True)
class ServedModel:
    """One model and what is built from it: request loaders (its movie contract), the drift
    window against its training data, and the OpenAPI document of its schemas."""

    predictor: Predictor
    movie: FastLoader
    batch: BatchLoader
    drift: DriftWindow
    openapi: dict[str, Any]
    card_page: bytes | None  # the model card's HTML page, when the pipeline wrote this model's

    def score(self, movies: Sequence[Mapping[str, Any]]) -> tuple[dict[str, list], Predictions]:
        """The movies' columns for this model, and its predictions."""
        columns = self.predictor.columns(movies)
        return columns, self.predictor.predict(columns)


def load_served_model(app: Flask, config: ServiceConfig, card_path: Path) -> ServedModel:
    # Resolved once: a served folder's link may be re-pointed meanwhile (registry/served.py),
    # and the card and its artifact must come from the same folder.
    card_path = card_path.resolve()
    predictor = Predictor(card_path)
    movie = movie_schema(predictor.movie_fields)
    batch = batch_schema(movie, config.max_batch)
    drift_file = None
    if config.multiprocess_dir is not None:
        # Shared by the workers serving this artifact; a new artifact starts a new window.
        sha = predictor.card.artifact.sha256[:16]
        drift_file = config.multiprocess_dir / f"drift-{sha}.bin"
    return ServedModel(
        predictor=predictor,
        movie=FastLoader(movie()),
        batch=BatchLoader(batch()),
        drift=DriftWindow(predictor.spec.drift_reference, config.drift_window, drift_file),
        openapi=build_openapi(app, movie, batch),
        card_page=model_card_page(card_path.parent / READABLE_CARD_PAGE, predictor.model_id),
    )


def model_card_page(path: Path, model_id: str) -> bytes | None:
    """The card stage's HTML page next to model.json, if it describes this very model."""
    try:
        page = path.read_bytes()
    except FileNotFoundError:
        return None
    return page if f'<meta name="model-id" content="{model_id}">'.encode() in page else None


class ChallengerGuard:
    """Whether the challenger is in traffic in this worker: out at its first error, or after
    STRIKES consecutive scorings slower than `budget` seconds per movie (one log line and
    `imdb_challenger_ejections_total{reason}` say why). A new challenger card or a new policy
    starts a new guard."""

    def __init__(self, model_id: str, budget: float, telemetry: Telemetry) -> None:
        self.model_id = model_id
        self.budget = budget
        self._telemetry = telemetry
        self._lock = threading.Lock()
        self._slow = 0
        self.in_traffic = True
        self.reason: str | None = None
        telemetry.show_challenger(model_id, in_traffic=True)

    def failed(self, error: BaseException) -> None:
        self._eject("error", f"{type(error).__name__}: {error}")

    def timed(self, seconds: float, movies: int) -> None:
        per_movie = seconds / max(movies, 1)
        with self._lock:
            self._slow = self._slow + 1 if per_movie > self.budget else 0
            slow = self._slow >= STRIKES
        if slow:
            self._eject(
                "slow",
                f"{STRIKES} scorings in a row over the budget of {self.budget * 1000:g} ms a"
                f" movie (the last: {per_movie * 1000:.1f} ms a movie)",
            )

    def _eject(self, reason: str, detail: str) -> None:
        with self._lock:
            if not self.in_traffic:
                return
            self.in_traffic = False
            self.reason = f"{reason}: {detail}"
        log.error("challenger %s out of traffic (%s): %s", self.model_id, reason, detail)
        self._telemetry.challenger_ejected(self.model_id, reason)


@dataclass
class _ShadowEntry:
    endpoint: str
    movies: Sequence[Mapping[str, Any]]
    champion: Predictions


class ShadowScorer:
    """The challenger's scoring in shadow mode, off the request path: requests queue their
    movies and the champion's answers (a list append); a thread scores what is queued every
    SHADOW_FLUSH_SECONDS as one batch, records the challenger's metrics and drift, and logs both
    models' predictions. A challenger that raises or is slow is ejected by its guard; what it
    would have scored is logged with the champion's predictions alone."""

    def __init__(
        self,
        champion: ServedModel,
        challenger: ServedModel,
        guard: ChallengerGuard,
        telemetry: Telemetry,
        prediction_log: PredictionLog | None,
    ) -> None:
        self.champion = champion
        self.challenger = challenger
        self.guard = guard
        self._telemetry = telemetry
        self._prediction_log = prediction_log
        self._queue: list[_ShadowEntry] = []
        self._queued = 0
        self._lock = threading.Lock()
        self._stop = threading.Event()
        self._thread = threading.Thread(target=self._run, name="shadow-scorer", daemon=True)
        self._thread.start()

    def submit(
        self, endpoint: str, movies: Sequence[Mapping[str, Any]], champion: Predictions
    ) -> bool:
        """Queue movies for the challenger; False (nothing queued) when it is out of traffic,
        the queue is full or the scorer stopped: the caller logs them itself."""
        with self._lock:
            if (
                not self.guard.in_traffic
                or self._stop.is_set()
                or self._queued + len(movies) > SHADOW_QUEUE_MOVIES
            ):
                return False
            self._queue.append(_ShadowEntry(endpoint, movies, champion))
            self._queued += len(movies)
            return True

    def close(self) -> None:
        """Score what is queued and stop (a worker's exit, or a new challenger; idempotent)."""
        self._stop.set()
        self._thread.join()

    def _run(self) -> None:
        while not self._stop.wait(SHADOW_FLUSH_SECONDS):
            self._flush()
        self._flush()

    def _flush(self) -> None:
        with self._lock:
            entries, self._queue, self._queued = self._queue, [], 0
        if not entries:
            return
        movies = [movie for entry in entries for movie in entry.movies]
        shadow = None
        if self.guard.in_traffic:
            started = time.perf_counter()
            try:
                columns, shadow = self.challenger.score(movies)
            except Exception as error:  # any failure of the challenger: out, never a request's
                self.guard.failed(error)
            else:
                seconds = time.perf_counter() - started
                self.guard.timed(seconds, len(movies))
                self.challenger.drift.observe(columns)
                self._telemetry.record_predictions(
                    "shadow", self.challenger.predictor.model_id, shadow.ratings, seconds
                )
        if self._prediction_log is None:
            return
        start = 0
        for entry in entries:
            end = start + len(entry.movies)
            part = None if shadow is None else shadow.slice(start, end)
            champion = self.champion.predictor
            self._prediction_log.submit(
                entry.endpoint,
                champion.model_id,
                champion.coverage,
                entry.movies,
                entry.champion,
                shadow=None if part is None else (self.challenger.predictor.model_id, part),
            )
            start = end


@dataclass(frozen=True)
class Serving:
    """What the service answers with: the champion, the challenger and its guard (or none),
    the policy, and in shadow mode the scorer of the challenger."""

    champion: ServedModel
    policy: TrafficPolicy
    challenger: ServedModel | None = None
    guard: ChallengerGuard | None = None
    shadow: ShadowScorer | None = None

    @property
    def mode(self) -> str:
        """The policy in force: `off` without a challenger in traffic."""
        if self.challenger is None or self.guard is None or not self.guard.in_traffic:
            return "off"
        return self.policy.mode

    def describe(self) -> dict[str, Any]:
        """The traffic part of GET /model."""
        return {
            **self.policy.to_dict(),
            "in_force": self.mode,
            "challenger_out_of_traffic": None if self.guard is None else self.guard.reason,
        }


def _signature(path: Path | None) -> tuple[int, int, int] | None:
    try:
        stat = path.stat() if path is not None else None
    except FileNotFoundError:
        return None
    return None if stat is None else (stat.st_ino, stat.st_size, stat.st_mtime_ns)


@dataclass
class _Watched:
    """A file the holder watches: its last signature, and what to do when it changes."""

    path: Path | None
    reload: Callable[[], None]
    signature: tuple[int, int, int] | None = field(default=None)


class ModelHolder:
    """The current Serving; `refresh` swaps in what changed on disk (champion card, challenger
    card, policy)."""

    def __init__(
        self,
        app: Flask,
        config: ServiceConfig,
        telemetry: Telemetry,
        prediction_log: PredictionLog | None,
    ) -> None:
        self._app = app
        self._config = config
        self._telemetry = telemetry
        self._prediction_log = prediction_log
        self._lock = threading.Lock()  # one reload at a time (the watcher, a test's refresh)
        champion = load_served_model(app, config, config.model_card)  # raises: no service
        self.serving = Serving(champion, self._read_policy(TrafficPolicy()))
        telemetry.show_model(champion.predictor)
        self._watched = [
            _Watched(config.model_card, self._reload_champion),
            _Watched(config.challenger_card, self._reload_challenger),
            _Watched(config.traffic_policy, self._reload_policy),
        ]
        for watched in self._watched:
            watched.signature = _signature(watched.path)
        if config.challenger_card is not None and self._watched[1].signature is not None:
            self._reload_challenger()

    # --- watching ------------------------------------------------------------------------------

    def refresh(self) -> bool:
        """Reload what changed on disk since last seen; True if what is served changed. A
        refused file is not retried until it changes again."""
        changed = False
        with self._lock:
            for watched in self._watched:
                if watched.path is None:
                    continue
                signature = _signature(watched.path)
                if signature != watched.signature:
                    watched.signature = signature
                    before = self.serving
                    watched.reload()
                    changed |= self.serving is not before
        return changed

    def watch(self, every_seconds: float) -> None:
        """Poll the watched files in a daemon thread (one stat() call each per period)."""

        def loop() -> None:
            while True:
                time.sleep(every_seconds)
                self.refresh()

        threading.Thread(target=loop, name="model-watcher", daemon=True).start()

    def close(self) -> None:
        """Stop the shadow scorer after it has scored what is queued (a worker's exit)."""
        if self.serving.shadow is not None:
            self.serving.shadow.close()

    # --- reloading -----------------------------------------------------------------------------

    def _reload_champion(self) -> None:
        current = self.serving
        try:
            candidate = load_served_model(self._app, self._config, self._config.model_card)
        except Exception as error:  # whatever breaks a candidate, the old model stays
            self._refused("model rollout", f"model {current.champion.predictor.model_id}", error)
            return
        previous = current.champion.predictor
        self._telemetry.show_model(candidate.predictor, previous=previous)
        self._telemetry.reloads.labels("swapped").inc()
        log.info("now serving model %s (was %s)", candidate.predictor.model_id, previous.model_id)
        serving = replace(current, champion=candidate)
        challenger = current.challenger
        if challenger is not None and challenger.predictor.model_id == candidate.predictor.model_id:
            # The challenger was promoted: it answers now, and nothing shadows it.
            log.info("challenger %s is now the champion: out", challenger.predictor.model_id)
            self._telemetry.hide_challenger(challenger.predictor.model_id)
            serving = replace(serving, challenger=None, guard=None)
        self._swap(serving)

    def _reload_challenger(self) -> None:
        current = self.serving
        path = self._config.challenger_card
        if path is None or not path.exists():
            if current.challenger is not None:
                log.info("challenger %s removed", current.challenger.predictor.model_id)
                self._telemetry.hide_challenger(current.challenger.predictor.model_id)
            self._swap(replace(current, challenger=None, guard=None))
            return
        kept = current.challenger.predictor.model_id if current.challenger else "none"
        try:
            challenger = load_served_model(self._app, self._config, path)
            if challenger.predictor.model_id == current.champion.predictor.model_id:
                raise ValueError(f"model {challenger.predictor.model_id} is the champion itself")
        except Exception as error:
            self._refused("challenger", f"champion with challenger {kept}", error)
            return
        if current.challenger is not None:
            self._telemetry.hide_challenger(current.challenger.predictor.model_id)
        log.info(
            "challenger %s loaded (policy %s)", challenger.predictor.model_id, current.policy.mode
        )
        self._telemetry.reloads.labels("swapped").inc()
        self._swap(replace(current, challenger=challenger, guard=None))

    def _reload_policy(self) -> None:
        policy = self._read_policy(self.serving.policy)
        if policy != self.serving.policy:
            log.info("traffic policy now %s", policy.to_dict())
            self._swap(replace(self.serving, policy=policy, guard=None))

    def _read_policy(self, fallback: TrafficPolicy) -> TrafficPolicy:
        try:
            return TrafficPolicy.read(self._config.traffic_policy)
        except PolicyError as error:
            log.error("traffic policy refused, keeping %s: %s", fallback.to_dict(), error)
            self._telemetry.reloads.labels("refused").inc()
            return fallback

    def _refused(self, what: str, kept: str, error: BaseException) -> None:
        log.error("%s refused, still serving %s: %s", what, kept, error)
        self._telemetry.reloads.labels("refused").inc()

    def _swap(self, serving: Serving) -> None:
        """Serve `serving`, with a fresh guard (and shadow scorer) for its challenger."""
        old_shadow = self.serving.shadow
        guard, shadow = serving.guard, None
        if serving.challenger is not None and guard is None:
            guard = ChallengerGuard(
                serving.challenger.predictor.model_id,
                self._config.challenger_budget_seconds,
                self._telemetry,
            )
        if serving.challenger is not None and serving.policy.mode == "shadow":
            shadow = ShadowScorer(
                serving.champion, serving.challenger, guard, self._telemetry, self._prediction_log
            )
        self.serving = replace(serving, guard=guard, shadow=shadow)
        if old_shadow is not None:
            old_shadow.close()  # after the swap: new requests already queue to the new one
