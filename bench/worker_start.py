"""Worker start time: a Gunicorn worker forked from a master that compiled the tree walk, or not.

    python -m bench.worker_start [--rounds 5]

A worker's start is: load model.json, verify the artifact (sha256, trusted types), flatten the
trees (and check them against scikit-learn), then answer its first prediction. Gunicorn forks
workers from its master; when the master has run `imdb_rating.trees.compile_walk()`
(service/gunicorn_conf.py does, in `on_starting`), the numba machine code comes with the fork.
This times both kinds of worker, forking this process as Gunicorn forks its master (the same
modules imported first in both cases), and prints medians.
"""

from __future__ import annotations

import argparse
import os
import statistics
import time
from pathlib import Path

from workspace.layout import MODEL_CARD

MOVIE = {"year": 1999, "num_votes": 25000, "genres": ["Drama"], "title": "The Matrix"}


def worker_start_seconds(card: Path) -> float:
    """In a forked child: the time from fork to a first prediction, reported through a pipe."""
    read_end, write_end = os.pipe()
    child = os.fork()
    if child == 0:  # the worker
        started = time.perf_counter()
        from imdb_rating.predictor import Predictor

        predictor = Predictor(card)
        predictor.predict(predictor.columns([{**dict.fromkeys(predictor.input_fields), **MOVIE}]))
        os.write(write_end, str(time.perf_counter() - started).encode())
        os._exit(0)
    os.close(write_end)
    seconds = float(os.read(read_end, 64))
    os.waitpid(child, 0)
    return seconds


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--rounds", type=int, default=5)
    args = parser.parse_args()
    # Like Gunicorn's master after reading its config: the modules are imported, in both cases.
    from imdb_rating.predictor import Predictor  # noqa: F401
    from imdb_rating.trees import compile_walk

    cold = [worker_start_seconds(MODEL_CARD) for _ in range(args.rounds)]
    started = time.perf_counter()
    compile_walk()
    compiled = time.perf_counter() - started
    warm = [worker_start_seconds(MODEL_CARD) for _ in range(args.rounds)]
    print("| master | worker start, median (s) | rounds (s) |\n|---|---:|---|")
    for name, times in (("did not compile the walk", cold), ("compiled it first", warm)):
        rounds = ", ".join(f"{t:.3f}" for t in times)
        print(f"| {name} | {statistics.median(times):.3f} | {rounds} |")
    print(f"\nthe master's one compile: {compiled:.2f} s")


if __name__ == "__main__":
    main()
