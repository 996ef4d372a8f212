"""Service bars, measured side by side in one run with wrk on 127.0.0.1.

    python -m bench.serving [--rounds 3] [--seconds 10] [--workers 2] [--skip-mlflow]

Starts, with the same Gunicorn configuration and worker count: the service (traffic policy
`off`), the service with a challenger in `shadow` mode and in `split` mode (a fifth of the
movies), a bare Flask JSON echo (the reference), and MLflow's own scoring server (`mlflow models
serve --env-manager local`) on the registered version the service serves. The challenger is the
served model's twin (harness/model_variants.py): another model_id, the same cost, so the shadow
figure is the price of scoring every movie twice. Rounds alternate between servers; the table
reports medians of requests/s and of wrk's latency percentiles.

Batches of 1,000: the same movie 1,000 times (`batch`, the bar's), and 1,000 different real
movies drawn from the pipeline's cleaned data (`batch-distinct`: every title, vote count and
genre set differs, so no per-word memo or warm tree path is shared across the batch).
"""

from __future__ import annotations

import argparse
import statistics
import sys
import tempfile
from pathlib import Path

import numpy as np
from numba import njit

from harness.loopback import GunicornService, mlflow_scoring_server, wrk
from harness.model_variants import twin
from imdb_rating.card import ModelCard, read_model_card
from imdb_rating.trees import LEAF, MISSING_LEFT, FlatEnsemble, flatten
from service.traffic import TrafficPolicy
from workspace.layout import FEATURES_DIR, MODEL_CARD, MOVIES_FILE, REPO_ROOT

MOVIE = {
    "year": 1999,
    "num_votes": 25000,
    "runtime_minutes": 136,
    "genres": ["Action", "Drama"],
    "title": "The Matrix",
}


def distinct_movies(card: ModelCard, count: int = 1000) -> list[dict]:
    """`count` movies of `make repro`'s cleaned data (seeded draw), as /predict takes them."""
    import pandas as pd

    movies = pd.read_parquet(MOVIES_FILE)
    known = set(card.feature_spec.genres)
    drawn = movies.sample(count, random_state=0)
    return [
        {
            "year": int(row.year),
            "num_votes": int(row.num_votes),
            "runtime_minutes": None if np.isnan(row.runtime_minutes) else int(row.runtime_minutes),
            "genres": [genre for genre in row.genres if genre in known],
            "title": row.title,
            "original_title": row.original_title,
            "is_adult": bool(row.is_adult),
        }
        for row in drawn.itertuples()
    ]


def challenger_settings(folder: Path, mode: str, challenger: Path) -> dict[str, str]:
    """The service's settings for `challenger` under the traffic policy `mode`."""
    policy = TrafficPolicy(mode, challenger_share=0.2 if mode == "split" else 0.0)
    policy.write(folder / f"{mode}.json")
    return {
        "IMDB_CHALLENGER_CARD": str(challenger),
        "IMDB_TRAFFIC_POLICY": str(folder / f"{mode}.json"),
    }


def median_of(runs: list[dict]) -> dict:
    return {k: statistics.median(r[k] for r in runs) for k in ("rps", "p50_ms", "p99_ms")} | {
        "non_2xx": sum(r["non_2xx"] for r in runs)
    }


def nodes_per_movie(flat: FlatEnsemble, movies: np.ndarray) -> float:
    """Nodes the walk reads per movie over these feature rows (compared as the walk compares)."""
    rows = np.asarray(movies, dtype=flat.input_dtype).astype(np.float64)
    return _nodes_visited(rows, flat.nodes, flat.roots) / len(rows)


@njit
def _nodes_visited(x, nodes, roots):
    # The walk's own path (imdb_rating/trees.py), counting each node it reads.
    visited = 0
    for root in roots:
        for i in range(x.shape[0]):
            node = root
            visited += 1
            while not nodes[node].flags & LEAF:
                v = x[i, nodes[node].feature]
                left = nodes[node].flags & MISSING_LEFT if v != v else v <= nodes[node].value
                node = node + 1 if left else nodes[node].right
                visited += 1
    return visited


def nodes_walked(card_path: Path, test_split: Path) -> tuple[int, float]:
    """The served model's serving cost: trees, and nodes the walk reads per movie, averaged over
    the test split's movies (featurize's test.parquet; any family: the flattened model)."""
    import pandas as pd

    from imdb_rating.artifact import load_verified_model

    model, card = load_verified_model(card_path)
    flat = flatten(model)
    test = pd.read_parquet(test_split, columns=card.feature_spec.feature_names)
    return len(flat.roots), nodes_per_movie(flat, test.to_numpy())


def registered_version(card: ModelCard, tracking_uri: str) -> str:
    """The registry version holding the served model (tagged with its model_id)."""
    import mlflow

    client = mlflow.MlflowClient(tracking_uri)
    query = f"name = '{card.name}' and tag.model_id = '{card.model_id}'"
    versions = client.search_model_versions(query)
    if not versions:
        sys.exit(f"no registered version has model_id {card.model_id}: run `dvc repro`")
    return str(max(int(v.version) for v in versions))


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--rounds", type=int, default=3)
    parser.add_argument("--seconds", type=int, default=10)
    parser.add_argument("--workers", type=int, default=2)
    parser.add_argument("--connections", type=int, default=16)
    parser.add_argument("--skip-mlflow", action="store_true")
    args = parser.parse_args()
    card_path = MODEL_CARD
    card = read_model_card(card_path)
    tmp = Path(tempfile.mkdtemp(prefix="bench-service-"))
    quiet = {"IMDB_LOG_LEVEL": "warning"}
    service = GunicornService(tmp / "service", card_path, args.workers, env=quiet)
    challenger = twin(card_path, tmp / "challenger")
    two_models = {}
    for mode in ("shadow", "split"):
        settings = quiet | challenger_settings(tmp, mode, challenger)
        two_models[mode] = GunicornService(tmp / mode, card_path, args.workers, env=settings)
    echo = GunicornService(
        tmp / "echo", workers=args.workers, app="bench.echo_app:app", ready_path="/echo"
    )
    servers = [service, *two_models.values(), echo]
    targets = {"echo": (echo.url + "/echo", MOVIE), "service": (service.url + "/predict", MOVIE)}
    targets |= {mode: (server.url + "/predict", MOVIE) for mode, server in two_models.items()}
    batches = {
        "batch": {"movies": [MOVIE] * 1000},
        "batch-distinct": {"movies": distinct_movies(card)},
    }
    names = (*targets, *batches, "mlflow")
    runs: dict[str, list[dict]] = {name: [] for name in names}
    try:
        for server in servers:
            server.start()
        for _ in range(args.rounds):
            for name, (url, body) in targets.items():
                runs[name].append(wrk(url, body, args.connections, args.seconds))
            for name, batch in batches.items():
                runs[name].append(wrk(service.url + "/predict/batch", batch, 1, args.seconds))
    finally:
        for server in servers:
            server.stop()
    if not args.skip_mlflow:
        tracking_uri = f"sqlite:///{REPO_ROOT / 'mlflow.db'}"
        model_uri = f"models:/{card.name}/{registered_version(card, tracking_uri)}"
        with mlflow_scoring_server(model_uri, tracking_uri, args.workers) as url:
            body = {"dataframe_records": [MOVIE]}
            for _ in range(args.rounds):
                result = wrk(url + "/invocations", body, args.connections, args.seconds)
                runs["mlflow"].append(result)
    report(args, runs)
    trees, walked = nodes_walked(card_path, FEATURES_DIR / "test.parquet")
    print(f"served model {card.model_id}: {trees} trees, {walked:.0f} nodes walked per movie")


def report(args, runs: dict[str, list[dict]]) -> None:
    medians = {name: median_of(r) for name, r in runs.items() if r}
    print(
        f"{args.rounds} rounds x {args.seconds}s, {args.workers} workers, wrk -t2 "
        f"-c{args.connections} (batch: -c1), medians\n"
    )
    print("| target | req/s | p50 ms | p99 ms | non-2xx |\n|---|---:|---:|---:|---:|")
    for name, m in medians.items():
        print(
            f"| {name} | {m['rps']:.0f} | {m['p50_ms']:.2f} | {m['p99_ms']:.2f} | "
            f"{m['non_2xx']:.0f} |"
        )
    ratio = medians["service"]["rps"] / medians["echo"]["rps"]
    print(f"\nservice / echo throughput: {ratio:.2f} (bar >= 0.60)")
    p99_ratio = medians["service"]["p99_ms"] / medians["echo"]["p99_ms"]
    print(f"service / echo p99 at {args.connections} connections: {p99_ratio:.2f} (bar <= 1.6)")
    shadow = medians["shadow"]["rps"] / medians["service"]["rps"]
    print(f"shadow / off throughput: {shadow:.2f} (bar >= 0.85)")
    split = medians["split"]["rps"] / medians["service"]["rps"]
    print(f"split (a fifth to the challenger) / off throughput: {split:.2f}")
    print(f"batch of 1000 p50: {medians['batch']['p50_ms']:.1f} ms (bar <= 30)")
    print(f"batch of 1000 different movies p50: {medians['batch-distinct']['p50_ms']:.1f} ms")
    if "mlflow" in medians:
        speedup = medians["service"]["rps"] / medians["mlflow"]["rps"]
        print(f"service / mlflow models serve throughput: {speedup:.1f}x (bar >= 5)")


if __name__ == "__main__":
    main()
