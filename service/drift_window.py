"""Input drift: PSI of the last N movies seen by any worker against the training reference.

Every Gunicorn worker writes the binned inputs of the movies it scores into one ring buffer in
a memory-mapped file (under PROMETHEUS_MULTIPROC_DIR, guarded by flock), so the window and
its PSI are the service's, not one worker's. Without a directory the ring lives in anonymous
memory (a single process: tests, `flask run`).
"""

from __future__ import annotations

import fcntl
import mmap
import os
import threading
import time
from collections.abc import Iterator, Mapping, Sequence
from contextlib import contextmanager
from pathlib import Path
from typing import Any

import numpy as np

from imdb_rating.drift import (
    MONITORED_FIELDS,
    DriftReference,
    categorical_bins,
    monitored_inputs,
    numeric_bins,
    psi,
)

HEADER_SLOTS = 1  # one int64 before the ring: how many movies were ever written
# Movies are binned and written in groups (binning one movie costs as much as 30): a worker
# holds at most this many, or this long, before they reach the shared window.
FLUSH_MOVIES = 32
FLUSH_SECONDS = 0.5


class DriftWindow:
    def __init__(self, reference: DriftReference, size: int, path: Path | None) -> None:
        self.reference = reference
        self.size = size
        self._numeric = list(reference.numeric)
        self._genres = reference.genres.categories
        self._genre_index = {name: i for i, name in enumerate(self._genres)}
        self._columns = len(self._numeric) + 1  # + a bit mask of the movie's genres
        length = (HEADER_SLOTS + size * self._columns) * 8
        if path is None:
            self._file = None
            self._buffer = mmap.mmap(-1, length)
        else:
            path.parent.mkdir(parents=True, exist_ok=True)
            fd = os.open(path, os.O_RDWR | os.O_CREAT, 0o600)
            self._file = os.fdopen(fd, "r+b")
            with self._locked(exclusive=True):
                if os.fstat(fd).st_size < length:  # the first worker sizes it
                    os.ftruncate(fd, length)
            self._buffer = mmap.mmap(fd, length)
        self._thread_lock = threading.Lock()
        self._pending: dict[str, list[Any]] = {name: [] for name in MONITORED_FIELDS}
        self._flushed_at = time.monotonic()
        self._header = np.frombuffer(self._buffer, dtype=np.int64, count=HEADER_SLOTS)
        self._ring = np.frombuffer(self._buffer, dtype=np.int64, offset=HEADER_SLOTS * 8).reshape(
            size, self._columns
        )

    @contextmanager
    def _locked(self, exclusive: bool) -> Iterator[None]:
        if self._file is None:
            yield
            return
        fcntl.flock(self._file, fcntl.LOCK_EX if exclusive else fcntl.LOCK_SH)
        try:
            yield
        finally:
            fcntl.flock(self._file, fcntl.LOCK_UN)

    def _rows(self, columns: Mapping[str, Sequence[Any]]) -> np.ndarray:
        inputs = monitored_inputs(columns)
        rows = np.empty((len(columns["year"]), self._columns), dtype=np.int64)
        for column, name in enumerate(self._numeric):
            rows[:, column] = numeric_bins(inputs[name], self.reference.numeric[name].edges)
        for row, genres in enumerate(columns["genres"]):
            mask = 0
            for index in categorical_bins(genres, self._genre_index):
                mask |= 1 << index
            rows[row, -1] = mask
        return rows

    def observe(self, columns: Mapping[str, Sequence[Any]]) -> None:
        """Add movies, given as `build_matrix` columns, to the window."""
        with self._thread_lock:
            for name, values in self._pending.items():
                values.extend(columns[name])
            due = time.monotonic() - self._flushed_at >= FLUSH_SECONDS
            if due or len(self._pending["year"]) >= FLUSH_MOVIES:
                self._flush()

    def _flush(self) -> None:
        """Write pending movies to the shared ring (caller holds the thread lock)."""
        self._flushed_at = time.monotonic()
        if not self._pending["year"]:
            return
        rows = self._rows(self._pending)[-self.size :]
        self._pending = {name: [] for name in MONITORED_FIELDS}
        with self._locked(exclusive=True):
            start = int(self._header[0])
            self._ring[(start + np.arange(len(rows))) % self.size] = rows
            self._header[0] = start + len(rows)

    def snapshot(self) -> tuple[int, dict[str, float]]:
        """(movies in the window, PSI per input), after writing this worker's pending movies."""
        with self._thread_lock:
            self._flush()
        with self._thread_lock, self._locked(exclusive=False):
            filled = min(int(self._header[0]), self.size)
            window = self._ring[:filled].copy()
        values = {}
        for column, name in enumerate(self._numeric):
            fractions = self.reference.numeric[name].fractions
            values[name] = psi(fractions, np.bincount(window[:, column], minlength=len(fractions)))
        masks = window[:, -1]
        genre_counts = [int(np.count_nonzero(masks & (1 << i))) for i in range(len(self._genres))]
        values["genres"] = psi(self.reference.genres.fractions, genre_counts)
        return filled, values
