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
from collections.abc import Iterator, Mapping, Sequence
from contextlib import contextmanager
from pathlib import Path
from typing import Any

import numpy as np

from imdb_rating.drift import categorical_bins, numeric_bin, psi

HEADER_SLOTS = 1  # one int64 before the ring: how many movies were ever written
NUMERIC_INPUTS = {
    "year": lambda movie: float(movie["year"]),
    "runtime_minutes": lambda movie: movie["runtime_minutes"],
    "log_votes": lambda movie: float(np.log1p(movie["num_votes"])),
    "title_length": lambda movie: float(len(movie["title"] or "")),
}


class DriftWindow:
    def __init__(self, reference: Mapping[str, Any], size: int, path: Path | None) -> None:
        self.reference = reference
        self.size = size
        self._numeric = [name for name in NUMERIC_INPUTS if name in reference]
        self._genres = reference["genres"]["categories"]
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

    def _row(self, movie: Mapping[str, Any]) -> list[int]:
        row = [
            numeric_bin(NUMERIC_INPUTS[name](movie), self.reference[name]["edges"])
            for name in self._numeric
        ]
        mask = 0
        for index in categorical_bins(movie["genres"], self._genre_index):
            mask |= 1 << index
        return [*row, mask]

    def observe(self, movies: Sequence[Mapping[str, Any]]) -> None:
        rows = [self._row(movie) for movie in movies[-self.size :]]
        with self._thread_lock, self._locked(exclusive=True):
            start = int(self._header[0])
            for offset, row in enumerate(rows):
                self._ring[(start + offset) % self.size] = row
            self._header[0] = start + len(rows)

    def snapshot(self) -> tuple[int, dict[str, float]]:
        """(movies in the window, PSI per input)."""
        with self._thread_lock, self._locked(exclusive=False):
            filled = min(int(self._header[0]), self.size)
            window = self._ring[:filled].copy()
        values = {}
        for column, name in enumerate(self._numeric):
            counts = np.bincount(
                window[:, column], minlength=len(self.reference[name]["fractions"])
            )
            values[name] = psi(self.reference[name]["fractions"], counts)
        masks = window[:, -1]
        genre_counts = [int(np.count_nonzero(masks & (1 << i))) for i in range(len(self._genres))]
        values["genres"] = psi(self.reference["genres"]["fractions"], genre_counts)
        return filled, values
