"""Batch scoring at the size of the full dump: `python -m tools.score` against scikit-learn's
own `predict` on the same rows.

    python -m bench.batch_scoring [--dump DIR | --scale 1.0] [--dumps /tmp/imdb-dumps]
                          [--model models/model.json] [--repeats 2]

The dump is DIR, or bench/make_dump.py's at --scale (made once under --dumps, then reused).
Two processes, each under `/usr/bin/time -v` (wall time, peak RSS):
- score: `python -m tools.score DUMP -o out.parquet`, everything included (imports, model load,
  reading 11.9M title rows, checks, features, the flattened tree walk, writing the output);
- reference: the same rows read and checked by tools.score's own reader, features by
  `build_matrix` in chunks, then scikit-learn's `model.predict` over the whole matrix, writing
  no output. It times its phases.
Then, in this process, the model step alone on the reference's matrix: sklearn's `predict`
against the flattened walk (what tools.score runs), and a check that they agree.
The two alternate `--repeats` times (the machine's other load hits both alike); tables give
medians. Rows/s are rows scored per wall second. Bars: score rows/s >= reference rows/s, score
peak RSS <= 2 GiB. Prints Markdown.
"""

from __future__ import annotations

import argparse
import json
import statistics
import sys
import tempfile
import time
from collections.abc import Callable
from pathlib import Path

import numpy as np
import pandas as pd
import pyarrow.parquet as pq
from threadpoolctl import threadpool_limits

from bench.full_scale import dump_for, time_report
from harness.loopback import timed_run
from imdb_rating.artifact import load_verified_model
from imdb_rating.card import read_model_card
from imdb_rating.trees import flatten
from stages.families import SKLEARN_FAMILIES
from tools.score import PREDICT_ROWS
from workspace.layout import MODEL_CARD, REPO_ROOT

RSS_BAR_MIB = 2048


def one_thread(predict: Callable[[np.ndarray], np.ndarray], rows: np.ndarray) -> np.ndarray:
    with threadpool_limits(1):
        return predict(rows)


def model_step(card: Path, matrix: np.ndarray, repeats: int) -> dict[str, float]:
    """Median seconds of each way of predicting the same matrix, in this process."""
    model, _ = load_verified_model(card)
    flat = flatten(model)
    ways = {
        "sklearn `predict`, one call": lambda: model.predict(matrix),
        "sklearn `predict`, one call, 1 OpenMP thread": lambda: one_thread(model.predict, matrix),
        "flattened walk, one call": lambda: flat.predict(matrix),
        f"flattened walk in blocks of {PREDICT_ROWS:,} (as tools.score)": lambda: [
            flat.predict(matrix[start : start + PREDICT_ROWS])
            for start in range(0, len(matrix), PREDICT_ROWS)
        ],
    }
    seconds: dict[str, list[float]] = {name: [] for name in ways}
    for _ in range(repeats):
        for name, way in ways.items():
            clock = time.perf_counter()
            way()
            seconds[name].append(time.perf_counter() - clock)
    assert np.array_equal(flat.predict(matrix), model.predict(matrix)), "the walk is not sklearn's"
    return {name: statistics.median(values) for name, values in seconds.items()}


def run_timed(command: list[str], report: Path) -> dict[str, float]:
    timed_run(["/usr/bin/time", "-v", "-o", str(report), *command], REPO_ROOT)
    return time_report(report)


def median_report(reports: list[dict[str, float]]) -> dict[str, float]:
    return {key: statistics.median(report[key] for report in reports) for key in reports[0]}


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--dump", type=Path, help="a folder in the official layout")
    parser.add_argument("--scale", type=float, default=1.0, help="without --dump: make_dump's")
    parser.add_argument("--dumps", type=Path, default=Path(tempfile.gettempdir()) / "imdb-dumps")
    parser.add_argument("--model", type=Path, default=MODEL_CARD)
    parser.add_argument("--repeats", type=int, default=2, help="runs of each (median)")
    args = parser.parse_args()
    model_type = read_model_card(args.model).model_type
    if model_type not in SKLEARN_FAMILIES:
        # A boosting library's artifact holds its trees, not the library's model to call.
        raise SystemExit(
            f"the reference is scikit-learn's predict, and {args.model} is a {model_type} "
            "model: pin a scikit-learn one (dvc exp run -S train.model=hist_gradient_boosting)"
        )
    dump = args.dump or dump_for(args.scale, args.dumps)
    with tempfile.TemporaryDirectory() as tmp:
        work = Path(tmp)
        output = work / "out.parquet"
        score_run = [sys.executable, "-m", "tools.score", str(dump), "-o", str(output)]
        reference_run = [sys.executable, "-m", "bench.sklearn_scoring", str(dump), str(args.model)]
        reference_run.append(str(work))
        scores, references, phase_runs = [], [], []
        for _ in range(args.repeats):
            scores.append(run_timed([*score_run, "--model", str(args.model)], work / "time"))
            references.append(run_timed(reference_run, work / "time"))
            phase_runs.append(json.loads((work / "phases.json").read_text()))
        scored = pq.read_table(output, columns=["rating"]).column("rating").to_numpy()
        reasons = pd.read_csv(work / "out.errors.csv")["reason"].value_counts()
        sklearn = np.load(work / "sklearn.npy")
        matrix = np.load(work / "matrix.npy")
    score, reference = median_report(scores), median_report(references)
    phases = median_report(phase_runs)
    rows = len(matrix)
    assert rows == len(scored), f"score wrote {len(scored)} rows, the reference predicted {rows}"
    # sklearn's own numbers, clipped and rounded as the service does: what score should write.
    differing = int((np.minimum(np.maximum(sklearn, 1.0), 10.0).round(3) != scored).sum())
    step = model_step(args.model, matrix, args.repeats)
    score_rate, reference_rate = rows / score["wall"], rows / reference["wall"]
    print(f"### Batch scoring: {dump} ({rows:,} movies scored, {matrix.shape[1]} features)")
    print(f"\nMedians of {args.repeats} alternating runs each.\n")
    print("| run | wall s | CPU s | peak RSS MiB | rows scored/s |")
    print("|---|---:|---:|---:|---:|")
    print(
        f"| `python -m tools.score` (all included) | {score['wall']:.1f} | {score['cpu']:.1f} |"
        f" {score['rss_mib']:,.0f} | **{score_rate:,.0f}** |"
    )
    print(
        f"| reference: same reader + `build_matrix` + sklearn `predict` | {reference['wall']:.1f} |"
        f" {reference['cpu']:.1f} | {reference['rss_mib']:,.0f} | {reference_rate:,.0f} |"
    )
    top = ", ".join(f"{reason} {count:,}" for reason, count in reasons.head(3).items())
    print(f"\nRejected: {reasons.sum():,} rows; most common reasons: {top}")
    print("\nReference phases (s): " + ", ".join(f"{k} {v:.2f}" for k, v in phases.items()))
    print("\nThe model step alone, on the same matrix:\n")
    print("| predicting | s | rows/s |")
    print("|---|---:|---:|")
    for name, seconds in step.items():
        print(f"| {name} | {seconds:.2f} | {rows / seconds:,.0f} |")
    print(f"\nRatings differing from sklearn's own (clipped, 3 decimals): {differing}")
    print(
        f"\nscore / reference: rows/s x{score_rate / reference_rate:.2f},"
        f" peak RSS x{score['rss_mib'] / reference['rss_mib']:.2f}"
    )
    faster = score_rate >= reference_rate
    print(f"bar score rows/s >= reference rows/s: {'PASS' if faster else 'FAIL'}")
    rss_ok = score["rss_mib"] <= RSS_BAR_MIB
    print(f"bar score peak RSS <= {RSS_BAR_MIB} MiB: {'PASS' if rss_ok else 'FAIL'}")


if __name__ == "__main__":
    main()
