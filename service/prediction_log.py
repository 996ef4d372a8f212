"""The prediction log's writer: what the service scored, as JSON lines (the format of
imdb_rating.prediction_records), for accuracy monitoring later.

Ratings are published weeks after a prediction, so the only way to measure live accuracy is
to keep what was scored and join it with a later title.ratings (tools/accuracy_report.py).

The request path only appends a reference to the request's movies and results to an in-memory
queue (bounded in movies; when full, the movies are dropped and counted in
`imdb_prediction_log_dropped_total`, never silently). A writer thread per worker turns them
into JSON lines every FLUSH_SECONDS.

All workers append to one file, `predictions.jsonl`, rotated like logging's
RotatingFileHandler (`.1` is the newest backup, `.N` the oldest). Each write and each rotation
happens under an exclusive flock on a separate lock file, and a writer reopens the file when
another worker has rotated it (the path no longer names its open inode). So the disk used is
at most (backups + 1) x max_bytes however many workers there are or ever were; one file per
worker pid would instead grow with every worker restart.
"""

from __future__ import annotations

import fcntl
import logging
import os
import threading
import time
from collections.abc import Callable, Iterator, Mapping, Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import IO, Any

import orjson

from imdb_rating.prediction_records import LOG_NAME, record, timestamp
from imdb_rating.predictor import Predictions

log = logging.getLogger("service.prediction_log")

LOCK_NAME = ".predictions.lock"
FLUSH_SECONDS = 0.25
# Movies waiting for the writer, per worker: 50 flushes' worth at 800 movies/s per worker, or
# ten full batches; ~10 MB of request dicts at most.
QUEUE_MOVIES = 10_000


@dataclass(frozen=True, slots=True)
class _Entry:
    """One request's scored movies by one model, as the request path hands them over (no
    copying: the arrays become lists in the writer thread)."""

    at: float
    endpoint: str
    model_id: str
    coverage: float
    movies: Sequence[Mapping[str, Any]]
    predictions: Predictions
    shadow: tuple[str, Predictions] | None  # the challenger's predictions, in shadow mode
    split: Mapping[str, Any] | None  # split mode: prediction_records.split_assignment

    def lines(self) -> Iterator[bytes]:
        at = timestamp(self.at)
        answers = self.predictions
        columns = [answers.ratings.tolist(), answers.lows.tolist(), answers.highs.tolist()]
        shadow_id, shadows = None, [[None] * len(self.movies)] * 3
        if self.shadow is not None:
            shadow_id, other = self.shadow
            shadows = [other.ratings.tolist(), other.lows.tolist(), other.highs.tolist()]
        for index, movie in enumerate(self.movies):
            entry = record(
                at,
                self.model_id,
                self.endpoint,
                movie,
                (columns[0][index], columns[1][index], columns[2][index]),
                self.coverage,
                shadow=None
                if shadow_id is None
                else (shadow_id, (shadows[0][index], shadows[1][index], shadows[2][index])),
                split=self.split,
            )
            yield orjson.dumps(entry, option=orjson.OPT_APPEND_NEWLINE)


class PredictionLog:
    def __init__(
        self,
        directory: Path,
        max_bytes: int,
        backups: int,
        on_drop: Callable[[int], None],
        capacity: int = QUEUE_MOVIES,
    ) -> None:
        directory.mkdir(parents=True, exist_ok=True)
        self.path = directory / LOG_NAME
        self.max_bytes = max_bytes
        self.backups = backups
        self.capacity = capacity
        self._on_drop = on_drop
        self._lock_file = (directory / LOCK_NAME).open("a")  # held open: flock needs a descriptor
        self._stream: IO[bytes] | None = None  # the current log file, between flushes
        self._queue: list[_Entry] = []
        self._queued = 0  # movies in _queue
        self._queue_lock = threading.Lock()
        self._failing = False  # the last write failed (logged once until one succeeds)
        self._stop = threading.Event()
        self._thread = threading.Thread(target=self._run, name="prediction-log", daemon=True)
        self._thread.start()

    def submit(
        self,
        endpoint: str,
        model_id: str,
        coverage: float,
        movies: Sequence[Mapping[str, Any]],
        predictions: Predictions,
        shadow: tuple[str, Predictions] | None = None,
        split: Mapping[str, Any] | None = None,
    ) -> None:
        """Queue movies, as validated (the model's inputs and the optional tconst), and the
        ratings and intervals the model `model_id` answered them with (and in shadow mode the
        challenger's id and predictions; in split mode the assignment); drop and count them if
        the queue is full or closed. Nothing is copied: nothing changes them after the request."""
        entry = _Entry(
            time.time(), endpoint, model_id, coverage, movies, predictions, shadow, split
        )
        with self._queue_lock:
            if self._queued + len(movies) <= self.capacity and not self._stop.is_set():
                self._queue.append(entry)
                self._queued += len(movies)
                return
        self._on_drop(len(movies))

    def close(self) -> None:
        """Write what is queued and stop the writer (a worker's exit; idempotent)."""
        self._stop.set()
        self._thread.join()
        self._close_stream()

    def _run(self) -> None:
        while not self._stop.wait(FLUSH_SECONDS):
            self._flush()
        self._flush()

    def _flush(self) -> None:
        with self._queue_lock:
            entries, self._queue, self._queued = self._queue, [], 0
        if not entries:
            return
        try:
            self._write(entries)
        except Exception:  # a full disk, a removed folder: count the loss, keep serving
            movies = sum(len(entry.movies) for entry in entries)
            if not self._failing:  # one error per outage, not one every flush
                log.exception("prediction log: %d movies not written", movies)
            self._failing = True
            self._on_drop(movies)
            self._close_stream()
            return
        if self._failing:
            log.info("prediction log: writing again")
            self._failing = False

    def _close_stream(self) -> None:
        if self._stream is not None:
            self._stream.close()
            self._stream = None

    def _write(self, entries: list[_Entry]) -> None:
        data = [line for entry in entries for line in entry.lines()]
        fcntl.flock(self._lock_file, fcntl.LOCK_EX)
        try:
            stream = self._open()
            size = os.fstat(stream.fileno()).st_size  # other workers append too
            if size and os.pread(stream.fileno(), 1, size - 1) != b"\n":
                stream.write(b"\n")  # a worker was killed mid-line: only that line is lost
                size += 1
            chunk: list[bytes] = []
            for line in data:
                if size and size + len(line) > self.max_bytes:
                    stream.write(b"".join(chunk))
                    chunk = []
                    stream = self._rotate()
                    size = 0
                chunk.append(line)
                size += len(line)
            stream.write(b"".join(chunk))
            stream.flush()
        finally:
            fcntl.flock(self._lock_file, fcntl.LOCK_UN)

    def _open(self) -> IO[bytes]:
        """The current file, reopened if another worker rotated it (caller holds the flock)."""
        if self._stream is not None:
            try:
                same = self.path.stat().st_ino == os.fstat(self._stream.fileno()).st_ino
            except FileNotFoundError:
                same = False
            if same:
                return self._stream
            self._close_stream()
        self._stream = self.path.open("a+b")  # appends; readable for the last-byte check
        return self._stream

    def _rotate(self) -> IO[bytes]:
        """predictions.jsonl -> .1 -> .2 ... the oldest beyond `backups` is overwritten."""
        self._close_stream()
        for index in range(self.backups - 1, 0, -1):
            older = self.path.with_name(f"{LOG_NAME}.{index}")
            if older.exists():
                older.replace(self.path.with_name(f"{LOG_NAME}.{index + 1}"))
        self.path.replace(self.path.with_name(f"{LOG_NAME}.1"))
        return self._open()
