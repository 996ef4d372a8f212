"""Prediction log overhead: the service with the log off and on, side by side, with wrk.

    python -m bench.prediction_log_cost [--rounds 3] [--seconds 5] [--workers 2] [--connections 16]

Starts the service twice with the same Gunicorn configuration and model, one with
IMDB_PREDICTION_LOG_DIR set; rounds alternate between them (single movies, then batches of
100), so both see the same machine load. Reports median requests/s, p50/p99, the on/off
throughput ratio (bar: >= 0.90) and what the log wrote and dropped.
"""

from __future__ import annotations

import argparse
import statistics
import tempfile
from pathlib import Path

from bench.serving import MOVIE
from harness.loopback import GunicornService, scrape_metrics, wrk
from imdb_rating.prediction_records import log_files
from workspace.layout import MODEL_CARD

BAR = 0.90
BATCH = {"movies": [MOVIE] * 100}


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--rounds", type=int, default=3)
    parser.add_argument("--seconds", type=int, default=5)
    parser.add_argument("--workers", type=int, default=2)
    parser.add_argument("--connections", type=int, default=16)
    args = parser.parse_args()
    card = MODEL_CARD
    tmp = Path(tempfile.mkdtemp(prefix="bench-prediction-log-"))
    log_dir = tmp / "predictions"
    quiet = {"IMDB_LOG_LEVEL": "warning"}
    services = {
        "off": GunicornService(tmp / "off", card, args.workers, env=quiet),
        "on": GunicornService(
            tmp / "on", card, args.workers, env=quiet | {"IMDB_PREDICTION_LOG_DIR": str(log_dir)}
        ),
    }
    runs: dict[tuple[str, str], list[dict]] = {}
    try:
        for service in services.values():
            service.start()
        for _ in range(args.rounds):
            for name, service in services.items():
                for kind, path, body, connections in (
                    ("single", "/predict", MOVIE, args.connections),
                    ("batch100", "/predict/batch", BATCH, 2),
                ):
                    result = wrk(service.url + path, body, connections, args.seconds)
                    runs.setdefault((name, kind), []).append(result)
        dropped = scrape_metrics(services["on"].url).get("imdb_prediction_log_dropped_total", 0)
    finally:
        for service in services.values():
            service.stop()
    written = sum(path.stat().st_size for path in log_files(log_dir))
    print(
        f"{args.rounds} rounds x {args.seconds}s, {args.workers} workers, wrk -t2 "
        f"-c{args.connections} (batches of 100: -c2), medians\n"
    )
    print("| log | request | req/s | p50 ms | p99 ms | non-2xx |\n|---|---|---:|---:|---:|---:|")
    medians = {}
    for (name, kind), results in runs.items():
        m = {k: statistics.median(r[k] for r in results) for k in ("rps", "p50_ms", "p99_ms")}
        medians[name, kind] = m
        errors = sum(r["non_2xx"] + r["socket_errors"] for r in results)
        print(
            f"| {name} | {kind} | {m['rps']:.0f} | {m['p50_ms']:.2f} | {m['p99_ms']:.2f} | "
            f"{errors} |"
        )
    print()
    for kind in ("single", "batch100"):
        ratio = medians["on", kind]["rps"] / medians["off", kind]["rps"]
        verdict = "ok" if ratio >= BAR else "BELOW BAR"
        print(f"{kind}: log on / off throughput {ratio:.3f} (bar >= {BAR}) {verdict}")
    print(f"log written: {written / 1e6:.1f} MB; movies dropped: {dropped:.0f}")


if __name__ == "__main__":
    main()
