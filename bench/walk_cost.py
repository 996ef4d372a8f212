"""Serving cost per family: each family (params.yaml's hyper-parameters) fit on the workspace's
train split, made servable as the train stage does, and its walk timed on the test split's
movies — one movie at a time (what `/predict` pays) and 1,000 distinct movies in one call —
beside the library's own `predict` on the same rows. Needs `make repro`'s data/features.

    python -m bench.walk_cost [--repeats 2000]
"""

from __future__ import annotations

import argparse
import json
import statistics
import time

import numpy as np
import pandas as pd
from threadpoolctl import threadpool_limits

from bench.serving import nodes_per_movie
from imdb_rating.trees import flatten
from stages.families import FAMILIES, servable
from stages.train import TrainParams, fit_model
from workspace.layout import FEATURES_DIR
from workspace.params import load_params


def median_seconds(predict, rows: np.ndarray, repeats: int) -> float:
    times = []
    for _ in range(repeats):
        started = time.perf_counter()
        predict(rows)
        times.append(time.perf_counter() - started)
    return statistics.median(times)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--repeats", type=int, default=2000, help="one-movie calls (median)")
    args = parser.parse_args()
    names = json.loads((FEATURES_DIR / "spec.json").read_text())["feature_names"]
    train = pd.read_parquet(FEATURES_DIR / "train.parquet")
    test = pd.read_parquet(FEATURES_DIR / "test.parquet", columns=names).to_numpy()
    batch = test[:1000]
    print(
        "| family | trees | nodes read per movie | walk, one movie (µs) "
        "| walk, 1,000 distinct (ms) | library predict, one movie (µs) |"
    )
    print("|---|---:|---:|---:|---:|---:|")
    for family in [f for f in FAMILIES if f != "random_forest"]:
        params = TrainParams(**load_params("train") | {"model": family})
        model = fit_model(params, train[names].to_numpy(), train["rating"].to_numpy())
        flat = flatten(servable(model))
        visited = nodes_per_movie(flat, test)
        one = test[:1]
        flat.predict(one)  # compiled before timing
        walk_one = median_seconds(flat.predict, one, args.repeats)
        walk_batch = median_seconds(flat.predict, batch, 50)
        with threadpool_limits(1):
            library_one = median_seconds(model.predict, one, args.repeats // 10)
        print(
            f"| {family} | {len(flat.roots)} | {visited:.0f} | {walk_one * 1e6:.1f} "
            f"| {walk_batch * 1e3:.2f} | {library_one * 1e6:.0f} |"
        )


if __name__ == "__main__":
    main()
