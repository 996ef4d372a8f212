"""Per-core throughput, latency under load and replicas per load: docs/capacity.md's figures.

    python -m bench.capacity [--rounds 3] [--seconds 5] [--parts load drift]

Load figures are measured side by side with the bare Flask echo (bench/echo_app.py) under the
same Gunicorn config, rounds alternating between the two, medians reported.

1. Closed loop (wrk, back-to-back requests) at several connection counts: one worker pinned to
   CPU 0 with wrk pinned to CPU 1 (one core's throughput, the load generator off that core),
   then two workers with wrk sharing both CPUs. Server CPU per request comes from /proc, and
   the CPU the machine's other tenants used meanwhile is reported next to it.
2. Open loop (Poisson arrivals at fixed rates, one new connection per request as Gunicorn's
   sync workers close them): one worker pinned to CPU 0, the generator on CPU 1. This is how a
   pod behind a Service sees traffic; latency is counted from the moment a request was due,
   so a late generator shows as latency instead of hiding it.
3. Model: a simulated first-come-first-served queue with 1 or 2 workers (Gunicorn's sync
   workers share one listen queue) under Poisson arrivals, with two service-time
   distributions: the wall times of sequential requests on the pinned worker (pessimistic on
   a contended machine) and an exponential with the worker's CPU per request (a pod with its
   own CPUs). Out come p99 per utilization, requests/s per pod at a p99 target and the pods
   for a load.
4. Drift noise (no server): the PSI a pod's drift window reports when nothing drifted, i.e.
   when its movies are a sample of the training distribution itself, for several window sizes
   and for the largest of many pods. Pure sampling noise, computed with the service's own PSI
   against the served model's reference histograms.
"""

from __future__ import annotations

import argparse
import asyncio
import errno
import heapq
import json
import math
import os
import random
import resource
import socket
import statistics
import sys
import tempfile
import time
from collections.abc import Callable, Iterator
from contextlib import ExitStack, contextmanager
from functools import partial
from pathlib import Path

import numpy as np

from bench.serving import MOVIE
from harness.loopback import GunicornService, wrk
from imdb_rating.card import read_model_card
from imdb_rating.drift import DriftReference, psi
from workspace.layout import MODEL_CARD

CLOCK_TICKS = os.sysconf("SC_CLK_TCK")
SERVER_CPU, GENERATOR_CPU = 0, 1


def gunicorn_pids(service: GunicornService) -> list[int]:
    """The master and its workers."""
    master = service.process.pid
    children = Path(f"/proc/{master}/task/{master}/children").read_text().split()
    return [master, *map(int, children)]


def cpu_seconds(pids: list[int]) -> float:
    """User + system CPU time these processes have used."""
    total = 0
    for pid in pids:
        fields = Path(f"/proc/{pid}/stat").read_text().rsplit(")", 1)[1].split()
        total += int(fields[11]) + int(fields[12])  # utime, stime
    return total / CLOCK_TICKS


@contextmanager
def pinned(services: list[GunicornService]) -> Iterator[None]:
    """The servers on CPU 0, this process (and the load it starts) on CPU 1."""
    everything = os.sched_getaffinity(0)
    for service in services:
        for pid in gunicorn_pids(service):
            os.sched_setaffinity(pid, {SERVER_CPU})
    os.sched_setaffinity(0, {GENERATOR_CPU})
    try:
        yield
    finally:
        os.sched_setaffinity(0, everything)
        for service in services:
            for pid in gunicorn_pids(service):
                os.sched_setaffinity(pid, everything)


def machine_busy_seconds() -> float:
    """CPU time all CPUs of the machine spent busy (anyone's processes, kernel included)."""
    user, nice, system, _idle, _iowait, irq, softirq, steal = map(
        int, Path("/proc/stat").read_text().split("\n", 1)[0].split()[1:9]
    )
    return (user + nice + system + irq + softirq + steal) / CLOCK_TICKS


def own_cpu_seconds() -> float:
    """This process's CPU time plus its finished children's (wrk): the load generator."""
    own, children = (
        resource.getrusage(resource.RUSAGE_SELF),
        resource.getrusage(resource.RUSAGE_CHILDREN),
    )
    return own.ru_utime + own.ru_stime + children.ru_utime + children.ru_stime


def measured(service: GunicornService, load: Callable[[], dict]) -> dict:
    """Run `load` against `service`: its figures, the server's CPU per request, and the CPU
    (in cores) the server, the load generator and everything else on the machine used."""
    pids = gunicorn_pids(service)
    server, generator, machine = cpu_seconds(pids), own_cpu_seconds(), machine_busy_seconds()
    started = time.perf_counter()
    result = load()
    wall = time.perf_counter() - started
    server = cpu_seconds(pids) - server
    generator = own_cpu_seconds() - generator
    machine = machine_busy_seconds() - machine
    return result | {
        "cpu_us_per_request": 1e6 * server / max(result["requests"], 1),
        "server_cores": server / wall,
        "generator_cores": generator / wall,
        "other_cores": max(0.0, machine - server - generator) / wall,
    }


# --- open loop ---------------------------------------------------------------------------------


def http_post(host: str, port: int, path: str, body: dict) -> bytes:
    payload = json.dumps(body).encode()
    head = (
        f"POST {path} HTTP/1.1\r\nHost: {host}:{port}\r\nContent-Type: application/json\r\n"
        f"Content-Length: {len(payload)}\r\nConnection: close\r\n\r\n"
    )
    return head.encode() + payload


async def one_request(
    address: tuple[str, int], request: bytes, due: float
) -> tuple[float, float, int]:
    """(seconds from due to sent, seconds from due to answered, status)."""
    loop = asyncio.get_running_loop()
    started = time.perf_counter()
    with socket.socket() as connection:
        connection.setblocking(False)
        # On loopback the handshake completes within connect(): the request goes out at once,
        # as a real client's does, instead of after an event-loop turn during which a sync
        # worker would sit on the accepted, still empty connection.
        if (error := connection.connect_ex(address)) not in (0, errno.EINPROGRESS):
            raise OSError(error, os.strerror(error))
        await loop.sock_sendall(connection, request)
        response = b""
        while chunk := await loop.sock_recv(connection, 65536):  # until the worker closes
            response += chunk
    return started - due, time.perf_counter() - due, int(response[9:12])


def poisson_load(url: str, path: str, rate: float, seconds: float, seed: int) -> dict:
    return asyncio.run(poisson_arrivals(url, path, rate, seconds, seed))


async def poisson_arrivals(url: str, path: str, rate: float, seconds: float, seed: int) -> dict:
    host, port = url.removeprefix("http://").split(":")
    address = (host, int(port))
    request = http_post(host, int(port), path, MOVIE)
    arrivals = random.Random(seed)
    start = due = time.perf_counter()
    pending = []
    while (due := due + arrivals.expovariate(rate)) < start + seconds:
        await asyncio.sleep(max(0.0, due - time.perf_counter()))
        pending.append(asyncio.create_task(one_request(address, request, due)))
    results = await asyncio.gather(*pending)
    lags, latencies = sorted(r[0] for r in results), sorted(r[1] for r in results)
    return {
        "requests": len(results),
        "non_2xx": sum(not 200 <= r[2] < 300 for r in results),
        "rps": len(results) / seconds,
        "p50_ms": 1000 * latencies[len(latencies) // 2],
        "p99_ms": 1000 * latencies[int(len(latencies) * 0.99)],
        "late_p99_ms": 1000 * lags[int(len(lags) * 0.99)],
    }


# --- queueing model ---------------------------------------------------------------------------


def service_times(url: str, path: str, count: int) -> np.ndarray:
    """Seconds each of `count` sequential requests took, client to client: at least the time
    one request holds a worker (connection, parsing, scoring, answer), plus the client's
    turnaround and the wake-ups between client and worker."""

    async def sequential() -> list[tuple[float, float, int]]:
        host, port = url.removeprefix("http://").split(":")
        request = http_post(host, int(port), path, MOVIE)
        return [
            await one_request((host, int(port)), request, time.perf_counter()) for _ in range(count)
        ]

    results = asyncio.run(sequential())
    assert all(200 <= status < 300 for _, _, status in results)
    return np.array([seconds for _, seconds, _ in results])


def simulated_latency(
    service: np.ndarray, workers: int, utilization: float, requests: int = 200_000
) -> tuple[float, float]:
    """p50 and p99 (ms) of a first-come-first-served queue with `workers` servers under
    Poisson arrivals at `utilization`, each request taking a service time drawn from `service`."""
    rng = np.random.default_rng(0)
    rate = utilization * workers / service.mean()
    arrivals = np.cumsum(rng.exponential(1 / rate, requests))
    durations = rng.choice(service, requests)
    free_at = [0.0] * workers  # a heap: when each worker is next free
    latency = np.empty(requests)
    for index, (arrival, duration) in enumerate(zip(arrivals, durations, strict=True)):
        start = max(arrival, heapq.heappop(free_at))
        heapq.heappush(free_at, start + duration)
        latency[index] = start + duration - arrival
    p50, p99 = np.percentile(latency, [50, 99]) * 1000
    return float(p50), float(p99)


def capacity_plan(name: str, service: np.ndarray, args) -> None:
    """Utilization → p99 for 1 and 2 workers with these service times, then requests/s per
    2-worker pod at each p99 target and the pods for each load, also with one zone's worth
    of spare pods."""
    print(
        f"\n{name}: mean {1000 * service.mean():.3f} ms, p50 {1000 * np.median(service):.3f}, "
        f"p99 {1000 * np.quantile(service, 0.99):.3f} (n={len(service)})\n"
    )
    grid = [round(0.05 * step, 2) for step in range(2, 20)]
    table = {(u, w): simulated_latency(service, w, u) for u in grid for w in (1, 2)}
    print("| utilization | 1 worker p50 / p99 ms | 2 workers (a pod) p50 / p99 ms |")
    print("|---:|---:|---:|")
    for u in grid[::2]:
        (a50, a99), (b50, b99) = table[(u, 1)], table[(u, 2)]
        print(f"| {u:.0%} | {a50:.2f} / {a99:.2f} | {b50:.2f} / {b99:.2f} |")
    print("\n| p99 target | pod utilization | req/s per pod | "
          + " | ".join(f"pods for {load:,} req/s (+1 zone of {args.zones})"
                       for load in args.loads)
          + " |")  # fmt: skip
    print("|---:|---:|---:|" + "---:|" * len(args.loads))
    for target in args.targets_ms:
        usable = [u for u in grid if table[(u, 2)][1] <= target]
        if not usable:
            print(f"| {target:g} ms | none | 0 |" + " — |" * len(args.loads))
            continue
        per_pod = max(usable) * 2 / service.mean()
        pods = [math.ceil(load / per_pod) for load in args.loads]
        spare = [math.ceil(n * args.zones / (args.zones - 1)) for n in pods]
        print(
            f"| {target:g} ms | {max(usable):.0%} | {per_pod:.0f} | "
            + " | ".join(f"{n} ({m})" for n, m in zip(pods, spare, strict=True))
            + " |"
        )


# --- drift noise ------------------------------------------------------------------------------


def drift_noise(
    reference: DriftReference, windows: list[int], pods: list[int], trials: int, seed: int = 0
) -> dict[tuple[str, int], dict[str, float]]:
    """PSI per input of windows of n movies drawn from the reference distribution itself:
    the median and 99th percentile for one pod, and the 99th percentile of the largest value
    among `pods` pods. Genres count labels (a movie may have several): n labels per window,
    fewer than the window really holds, so the genre figures err on the noisy side."""
    rng = np.random.default_rng(seed)
    table = {}
    histograms = {name: ref.fractions for name, ref in reference.numeric.items()}
    for feature, shares in histograms | {"genres": reference.genres.fractions}.items():
        fractions = np.asarray(shares, dtype=np.float64)
        for n in windows:
            counts = rng.multinomial(n, fractions / fractions.sum(), size=(trials, max(pods)))
            values = np.array([[psi(fractions, row) for row in trial] for trial in counts])
            table[(feature, n)] = {
                "p50": float(np.median(values[:, 0])),
                "p99": float(np.quantile(values[:, 0], 0.99)),
            } | {
                f"max of {count} p99": float(np.quantile(values[:, :count].max(axis=1), 0.99))
                for count in pods
            }
    return table


def print_drift(table: dict[tuple[str, int], dict[str, float]]) -> None:
    columns = next(iter(table.values()))
    print("| input | window (movies) | " + " | ".join(f"PSI {c}" for c in columns) + " |")
    print("|---|---:|" + "---:|" * len(columns))
    for (feature, n), m in table.items():
        print(f"| {feature} | {n} | " + " | ".join(f"{v:.4f}" for v in m.values()) + " |")


# --- runs and report ---------------------------------------------------------------------------


def medians(runs: list[dict]) -> dict:
    return {key: statistics.median(run[key] for run in runs) for key in runs[0]}


def start_pair(
    workdir: Path, workers: int, stack: ExitStack
) -> tuple[GunicornService, GunicornService]:
    """The service and the echo with `workers` workers each, stopped when `stack` closes."""
    quiet = {"IMDB_LOG_LEVEL": "warning"}
    card = MODEL_CARD
    service = GunicornService(workdir / f"service-{workers}", card, workers, env=quiet)
    echo = GunicornService(
        workdir / f"echo-{workers}", workers=workers, app="bench.echo_app:app", ready_path="/echo"
    )
    for server in (service, echo):
        stack.callback(server.stop)
        server.start()
    return service, echo


def closed_loop(
    pair: tuple[GunicornService, GunicornService], connections: list[int], args
) -> dict[tuple[str, int], dict]:
    runs: dict[tuple[str, int], list[dict]] = {}
    for _ in range(args.rounds):
        for count in connections:
            for name, server, path in (
                ("service", pair[0], "/predict"),
                ("echo", pair[1], "/echo"),
            ):
                load = partial(wrk, server.url + path, MOVIE, count, args.seconds)
                runs.setdefault((name, count), []).append(measured(server, load))
    return {key: medians(value) for key, value in runs.items()}


def open_loop(
    pair: tuple[GunicornService, GunicornService], rates: list[float], args
) -> dict[tuple[str, float], dict]:
    runs: dict[tuple[str, float], list[dict]] = {}
    for round_index in range(args.rounds):
        for rate in rates:
            for name, server, path in (
                ("service", pair[0], "/predict"),
                ("echo", pair[1], "/echo"),
            ):
                load = partial(poisson_load, server.url, path, rate, args.seconds, round_index)
                runs.setdefault((name, rate), []).append(measured(server, load))
    return {key: medians(value) for key, value in runs.items()}


def print_table(table: dict[tuple[str, float], dict], columns: dict[str, Callable]) -> None:
    print("| server | " + " | ".join(columns) + " |")
    print("|---|" + "---:|" * len(columns))
    for (name, load), m in sorted(table.items()):
        print(f"| {name} | " + " | ".join(cell(load, m) for cell in columns.values()) + " |")


CPU_COLUMNS = {
    "CPU µs/req": lambda _, m: f"{m['cpu_us_per_request']:.0f}",
    "server / generator / other CPU (cores)": lambda _, m: (
        f"{m['server_cores']:.2f} / {m['generator_cores']:.2f} / {m['other_cores']:.2f}"
    ),
    "non-2xx": lambda _, m: f"{m['non_2xx']:.0f}",
}


def print_closed(title: str, table: dict[tuple[str, float], dict], workers: int) -> None:
    print(f"\n{title}\n")
    print_table(
        table,
        {
            "conns": lambda count, _: f"{count}",
            "req/s": lambda _, m: f"{m['rps']:.0f}",
            "req/s per worker": lambda _, m: f"{m['rps'] / workers:.0f}",
            "p50 ms": lambda _, m: f"{m['p50_ms']:.2f}",
            "p99 ms": lambda _, m: f"{m['p99_ms']:.2f}",
        }
        | CPU_COLUMNS,
    )


def print_open(table: dict[tuple[str, float], dict], peak: float) -> None:
    print_table(
        table,
        {
            "offered req/s": lambda rate, _: f"{rate:.0f}",
            "share of peak": lambda rate, _: f"{rate / peak:.0%}",
            "served req/s": lambda _, m: f"{m['rps']:.0f}",
            "p50 ms": lambda _, m: f"{m['p50_ms']:.2f}",
            "p99 ms": lambda _, m: f"{m['p99_ms']:.2f}",
            "sent late p99 ms": lambda _, m: f"{m['late_p99_ms']:.2f}",
        }
        | CPU_COLUMNS,
    )


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--rounds", type=int, default=3)
    parser.add_argument("--seconds", type=int, default=5)
    parser.add_argument("--shares", type=float, nargs="+", default=[0.3, 0.5, 0.7, 0.85])
    parser.add_argument("--parts", nargs="+", choices=["load", "drift"], default=["load", "drift"])
    parser.add_argument("--samples", type=int, default=3000, help="sequential service times")
    parser.add_argument("--targets-ms", type=float, nargs="+", default=[10, 25, 50])
    parser.add_argument("--loads", type=int, nargs="+", default=[1_000, 10_000, 100_000])
    parser.add_argument("--zones", type=int, default=3)
    args = parser.parse_args()
    if "load" in args.parts:
        load_part(args)
    if "drift" in args.parts:
        card = read_model_card(MODEL_CARD)
        windows = [250, 1000, 2000, 8000]
        table = drift_noise(card.feature_spec.drift_reference, windows, [10, 100], 200)
        print("\nDrift noise: PSI of undrifted windows (200 trials per cell)\n")
        print_drift(table)


def load_part(args: argparse.Namespace) -> None:
    if len(os.sched_getaffinity(0)) < 2:
        sys.exit("needs two CPUs: one for the server, one for the load generator")
    workdir = Path(tempfile.mkdtemp(prefix="bench-capacity-"))
    print(f"{args.rounds} rounds x {args.seconds}s per point, medians; load average "
          f"{os.getloadavg()[0]:.1f} at start")  # fmt: skip

    with ExitStack() as servers:
        single, double = start_pair(workdir, 1, servers), start_pair(workdir, 2, servers)
        with pinned(list(single)):
            one_worker = closed_loop(single, [1, 2, 4, 8], args)
            peak = max(m["rps"] for (name, _), m in one_worker.items() if name == "service")
            rates = [round(share * peak) for share in args.shares]
            poisson = open_loop(single, rates, args)
            service = service_times(single[0].url, "/predict", args.samples)
        two_workers = closed_loop(double, [2, 4, 8, 16], args)

    print_closed("Closed loop, 1 worker on CPU 0, wrk on CPU 1:", one_worker, 1)
    print_closed("Closed loop, 2 workers, wrk sharing both CPUs:", two_workers, 2)
    print(f"\nOpen loop (Poisson), 1 worker on CPU 0, generator on CPU 1; peak {peak:.0f} req/s:\n")
    print_open(poisson, peak)
    cpu_seconds_per_request = 1e-6 * statistics.median(
        m["cpu_us_per_request"] for (name, _), m in one_worker.items() if name == "service"
    )
    exponential = np.random.default_rng(0).exponential(cpu_seconds_per_request, 100_000)
    print("\nQueueing model (simulated FCFS queue, Poisson arrivals, 200,000 requests):")
    capacity_plan("Measured wall time of sequential requests", service, args)
    capacity_plan("Exponential, mean = the worker's CPU per request", exponential, args)
    print(f"\nload average {os.getloadavg()[0]:.1f} at the end")


if __name__ == "__main__":
    main()
