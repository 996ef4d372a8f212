"""Service bars, measured side by side in one run with wrk on 127.0.0.1.

    python bench/service.py [--rounds 3] [--seconds 10] [--workers 2] [--skip-mlflow]

Starts, with the same Gunicorn configuration and worker count: the service, a bare Flask JSON
echo (the reference), and MLflow's own scoring server (`mlflow models serve --env-manager
local`) on the registered version the service serves. Rounds alternate between servers; the
table reports medians of requests/s and of wrk's latency percentiles.
"""

from __future__ import annotations

import argparse
import json
import os
import signal
import statistics
import subprocess
import sys
import tempfile
from contextlib import contextmanager
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent.parent))

from bench.harness import REPO_ROOT, VENV_BIN, GunicornService, free_port, wait_for_http, wrk

MOVIE = {
    "year": 1999,
    "num_votes": 25000,
    "runtime_minutes": 136,
    "genres": ["Action", "Drama"],
    "title": "The Matrix",
}


def median_of(runs: list[dict]) -> dict:
    return {k: statistics.median(r[k] for r in runs) for k in ("rps", "p50_ms", "p99_ms")} | {
        "non_2xx": sum(r["non_2xx"] for r in runs)
    }


def feature_row(movie: dict) -> list[float]:
    from imdb_rating.features import build_matrix
    from service.predictor import Predictor

    predictor = Predictor(REPO_ROOT / "models" / "model.json")
    columns = {name: [value] for name, value in movie.items()}
    return [None if v != v else v for v in build_matrix(columns, predictor.spec)[0].tolist()]


@contextmanager
def mlflow_scoring_server(card: dict, workers: int):
    """`mlflow models serve --env-manager local` on the version the service serves."""
    port = free_port()
    env = {
        **os.environ,
        "MLFLOW_TRACKING_URI": f"sqlite:///{REPO_ROOT / 'mlflow.db'}",
        "PATH": f"{VENV_BIN}{os.pathsep}{os.environ['PATH']}",  # it execs uvicorn
    }
    model_uri = f"models:/{card['mlflow']['registered_model']}/{card['mlflow']['version']}"
    command = [str(VENV_BIN / "mlflow"), "models", "serve", "-m", model_uri]
    command += ["--env-manager", "local", "-h", "127.0.0.1", "-p", str(port), "-w", str(workers)]
    with tempfile.TemporaryFile() as log:
        process = subprocess.Popen(
            command, env=env, stdout=log, stderr=subprocess.STDOUT, start_new_session=True
        )
        try:
            wait_for_http(f"http://127.0.0.1:{port}/ping", process=process)
            yield f"http://127.0.0.1:{port}/invocations"
        except RuntimeError:
            log.seek(0)
            sys.stderr.write(log.read().decode(errors="replace")[-3000:])
            raise
        finally:
            os.killpg(process.pid, signal.SIGTERM)
            process.wait(timeout=30)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--rounds", type=int, default=3)
    parser.add_argument("--seconds", type=int, default=10)
    parser.add_argument("--workers", type=int, default=2)
    parser.add_argument("--connections", type=int, default=16)
    parser.add_argument("--skip-mlflow", action="store_true")
    args = parser.parse_args()
    card_path = REPO_ROOT / "models" / "model.json"
    card = json.loads(card_path.read_text())
    tmp = Path(tempfile.mkdtemp(prefix="bench-service-"))
    quiet = {"IMDB_LOG_LEVEL": "warning"}
    service = GunicornService(tmp / "service", card_path, args.workers, env=quiet)
    echo = GunicornService(
        tmp / "echo", workers=args.workers, app="bench.echo_app:app", ready_path="/echo"
    )
    targets = {"echo": (echo.url + "/echo", MOVIE), "service": (service.url + "/predict", MOVIE)}
    runs: dict[str, list[dict]] = {name: [] for name in ("echo", "service", "batch", "mlflow")}
    try:
        service.start()
        echo.start()
        for _ in range(args.rounds):
            for name, (url, body) in targets.items():
                runs[name].append(wrk(url, body, args.connections, args.seconds))
            batch = {"movies": [MOVIE] * 1000}
            runs["batch"].append(wrk(service.url + "/predict/batch", batch, 1, args.seconds))
    finally:
        service.stop()
        echo.stop()
    if not args.skip_mlflow:
        with mlflow_scoring_server(card, args.workers) as url:
            body = {"inputs": [feature_row(MOVIE)]}
            for _ in range(args.rounds):
                runs["mlflow"].append(wrk(url, body, args.connections, args.seconds))
    report(args, runs)


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
    print(f"\nservice / echo throughput: {ratio:.2f} (bar >= 0.50)")
    print(
        f"service p99 at {args.connections} connections: {medians['service']['p99_ms']:.2f} ms "
        "(bar <= 10)"
    )
    print(f"batch of 1000 p50: {medians['batch']['p50_ms']:.1f} ms (bar <= 50)")
    if "mlflow" in medians:
        speedup = medians["service"]["rps"] / medians["mlflow"]["rps"]
        print(f"service / mlflow models serve throughput: {speedup:.1f}x (bar >= 5)")


if __name__ == "__main__":
    main()
