"""Reliability drills against a real service: each starts its load, fault or hostile input
on 127.0.0.1, bounded in requests and duration, and says what was tried, whether it held and
what was measured. `python -m bench.reliability` runs them at full size (a Markdown row each);
tests/test_reliability.py at test size."""

from __future__ import annotations

import dataclasses
import http.client
import json
import os
import re
import shutil
import signal
import subprocess
import tempfile
import threading
import time
from collections import Counter
from collections.abc import Callable
from dataclasses import dataclass, field
from pathlib import Path

from harness.loopback import GunicornService, http_request, scrape_metrics, wrk
from imdb_rating.card import read_model_card

MOVIE = {"year": 1999, "num_votes": 25_000, "runtime_minutes": 136, "genres": ["Drama"]}


@dataclass
class Drill:
    name: str
    tried: str
    held: bool
    figures: str
    details: dict = field(default_factory=dict)

    def row(self) -> str:
        verdict = "held" if self.held else "**FAILED**"
        return f"| {self.name} | {self.tried} | {verdict} | {self.figures} |"


def ab(url: str, requests: int, connections: int, body=MOVIE) -> dict:
    """An exact number of requests (ApacheBench), for the load drill."""
    with tempfile.NamedTemporaryFile("w", suffix=".json", delete=False) as handle:
        json.dump(body, handle)
    try:
        output = subprocess.run(
            ["ab", "-q", "-n", str(requests), "-c", str(connections), "-p", handle.name,
             "-T", "application/json", url],
            capture_output=True, text=True, check=True,
        ).stdout  # fmt: skip
    finally:
        Path(handle.name).unlink()
    non_2xx = re.search(r"Non-2xx responses:\s+(\d+)", output)
    return {
        "requests": int(re.search(r"Complete requests:\s+(\d+)", output).group(1)),
        "failed": int(re.search(r"Failed requests:\s+(\d+)", output).group(1)),
        "non_2xx": int(non_2xx.group(1)) if non_2xx else 0,
        "rps": float(re.search(r"Requests per second:\s+([\d.]+)", output).group(1)),
        "p50_ms": float(re.search(r"\s50%\s+(\d+)", output).group(1)),
        "p99_ms": float(re.search(r"\s99%\s+(\d+)", output).group(1)),
    }


def counters(url: str) -> dict[str, float]:
    """Every counter-like sample of /metrics (they must never go backwards)."""
    return {
        name: value
        for name, value in scrape_metrics(url).items()
        if re.match(r"[a-z_]+(_total|_count|_sum|_bucket)\{?", name)
    }


def in_background(work: Callable[[], dict]) -> tuple[threading.Thread, dict]:
    result: dict = {}
    thread = threading.Thread(target=lambda: result.update(work()))
    thread.start()
    return thread, result


# --- drills ----------------------------------------------------------------------------------


def load(service: GunicornService, requests: int, connections: int) -> Drill:
    result = ab(service.url + "/predict", requests, connections)
    held = result["requests"] == requests and result["failed"] == result["non_2xx"] == 0
    return Drill(
        "load",
        f"{requests:,} `POST /predict` at {connections} connections (ab)",
        held,
        f"{result['requests']:,} completed, {result['non_2xx']} non-2xx, {result['failed']} "
        f"failed (connect, receive, length, exceptions), {result['rps']:.0f} req/s, p50 "
        f"{result['p50_ms']:.0f} ms, p99 {result['p99_ms']:.0f} ms",
        result,
    )


def worker_crash(service: GunicornService, seconds: int = 12) -> Drill:
    before_pids = service.worker_pids()
    thread, result = in_background(lambda: wrk(service.url + "/predict", MOVIE, 16, seconds))
    time.sleep(seconds / 3)
    before = counters(service.url)
    victim = min(before_pids)
    os.kill(victim, signal.SIGKILL)
    thread.join()
    deadline = time.monotonic() + 30
    while len(service.worker_pids()) < service.workers and time.monotonic() < deadline:
        time.sleep(0.2)
    after = counters(service.url)
    replaced = len(service.worker_pids()) == service.workers and victim not in service.worker_pids()
    backwards = [k for k, v in before.items() if after.get(k, 0.0) < v]
    failed = result["non_2xx"] + result["socket_errors"]
    # A sync worker holds one request at a time: at most that one may fail.
    held = failed <= 1 and replaced and not backwards and result["requests"] > 0
    return Drill(
        "worker crash",
        "SIGKILL one of 2 workers during load (wrk -c16)",
        held,
        f"{result['requests']:,} requests, {failed} failed; replacement worker: "
        f"{'yes' if replaced else 'no'}; counters gone backwards: {len(backwards)} of "
        f"{len(before)}",
        {"load": result, "backwards": backwards},
    )


def rollout(service: GunicornService, deployed: Path, next_card: Path, seconds: int = 12) -> Drill:
    version_before = json.loads(http_request("GET", service.url + "/model")[1])["model_id"]
    new_version = json.loads(next_card.read_text())["model_id"]
    thread, result = in_background(lambda: wrk(service.url + "/predict", MOVIE, 16, seconds))
    time.sleep(seconds / 4)
    # As the train stage writes them: artifact, then the card (the commit point).
    shutil.copy2(next_card.parent / "model.skops", deployed / ".model.skops.new")
    (deployed / ".model.skops.new").replace(deployed / "model.skops")
    shutil.copy2(next_card, deployed / ".model.json.new")
    (deployed / ".model.json.new").replace(deployed / "model.json")
    thread.join()
    versions = Counter(
        json.loads(http_request("GET", service.url + "/model")[1])["model_id"] for _ in range(10)
    )
    swapped = versions == Counter({new_version: 10})
    failed = result["non_2xx"] + result["socket_errors"]

    # Then a broken rollout: a new card whose artifact does not match.
    card = read_model_card(next_card)
    # A consistent card (its id is its content's), whose artifact does not match it.
    broken = card.replace(artifact=dataclasses.replace(card.artifact, sha256="0" * 64))
    (deployed / ".model.json.new").write_text(json.dumps(broken.to_dict()))
    (deployed / ".model.json.new").replace(deployed / "model.json")
    time.sleep(3 * float(service.env.get("IMDB_MODEL_POLL_SECONDS", "1")))
    still = {
        json.loads(http_request("GET", service.url + "/model")[1])["model_id"] for _ in range(10)
    }
    refused = counters(service.url).get('imdb_model_reloads_total{outcome="refused"}', 0)
    held = failed == 0 and swapped and still == {new_version} and refused >= service.workers
    return Drill(
        "model rollout",
        f"new artifact + card swapped in under load ({version_before} → {new_version}), "
        "then a card whose artifact does not match",
        held,
        f"{result['requests']:,} requests, {failed} failed; /model after: {dict(versions)}; "
        f"mismatched card refused by {refused:.0f} of {service.workers} workers, still serving "
        f"{sorted(still)}",
        {"load": result},
    )


def accept_queue_length(port: int) -> int:
    """Connections the kernel holds for the loopback listener on `port`, not yet accepted by any
    worker (for a listening socket, /proc/net/tcp's rx_queue is its accept queue)."""
    for line in Path("/proc/net/tcp").read_text().splitlines()[1:]:
        _, local, _, state, queues, *_ = line.split()
        if state == "0A" and int(local.rsplit(":", 1)[1], 16) == port:  # 0A: LISTEN
            return int(queues.split(":")[1], 16)
    raise RuntimeError(f"no listener on port {port}")


def graceful_shutdown(service: GunicornService, clients: int = 8) -> Drill:
    batch = json.dumps({"movies": [MOVIE] * 1000}).encode()
    outcomes: list[tuple[float, float, str]] = []
    stop = threading.Event()

    def client() -> None:
        while not stop.is_set():
            started = time.monotonic()
            try:
                status, body = http_request(
                    "POST", service.url + "/predict/batch", batch,
                    {"Content-Type": "application/json"},
                )  # fmt: skip
                outcome = (
                    f"{status}" if status != 200 or json.loads(body)["count"] == 1000 else "bad"
                )
            except (ConnectionError, http.client.HTTPException, OSError) as error:
                outcome = type(error).__name__
            outcomes.append((started, time.monotonic(), outcome))

    threads = [threading.Thread(target=client) for _ in range(clients)]
    for thread in threads:
        thread.start()
    time.sleep(2)
    queued_before = accept_queue_length(service.port)
    signalled = time.monotonic()
    os.kill(service.process.pid, signal.SIGTERM)
    # Read again at once: a client may have connected between the first reading and the signal.
    queued = max(queued_before, accept_queue_length(service.port))
    service.process.wait(timeout=60)
    exited = time.monotonic()
    stop.set()
    for thread in threads:
        thread.join()
    outstanding = Counter(o for s, e, o in outcomes if s < signalled < e)
    after = Counter(o for s, _, o in outcomes if s >= signalled)
    broken = sum(n for o, n in (outstanding + after).items() if o == "bad" or o[0] in "45")
    broken += outstanding["IncompleteRead"] + outstanding["RemoteDisconnected"]
    # A sync worker serves one request at a time: the other outstanding requests wait in the
    # listen backlog, never accepted, and the kernel resets them when the socket closes (a
    # client or balancer retries them; nothing was half-answered). Accepted ones must complete
    # (a worker may accept one more before the master's SIGTERM reaches it).
    reset = outstanding["ConnectionResetError"] + outstanding["BrokenPipeError"]
    held = (
        outstanding["200"] > 0
        and outstanding.total() == outstanding["200"] + reset
        and reset <= queued
        and broken == 0
        and service.process.returncode == 0
    )
    return Drill(
        "graceful shutdown",
        f"SIGTERM to the master while {clients} clients post batches of 1,000",
        held,
        f"outstanding at SIGTERM: {outstanding.total()}: {outstanding['200']} accepted by the "
        f"{service.workers} workers completed (200, 1,000 predictions each), {reset} "
        f"reset of the {queued} the kernel's accept queue held (never accepted); sent after "
        f"SIGTERM: {dict(after)}; truncated, dropped or error responses: {broken}; "
        f"exit code {service.process.returncode} after {exited - signalled:.1f} s",
    )


HOSTILE_CASES = [
    # (case, method, path, content type, body, expected status)
    ("10 MB body", "POST", "/predict", "application/json",
     b'{"title": "' + b"x" * 10_000_000 + b'", "year": 1999, "num_votes": 1}', 413),
    ("JSON nested 100,000 deep", "POST", "/predict", "application/json",
     b"[" * 100_000 + b"]" * 100_000, 400),
    ("NaN literal", "POST", "/predict", "application/json",
     b'{"year": 1999, "num_votes": NaN}', 400),
    ("Infinity literal", "POST", "/predict", "application/json",
     b'{"year": 1999, "num_votes": Infinity}', 400),
    ("number overflowing a double", "POST", "/predict", "application/json",
     b'{"year": 1e400, "num_votes": 1}', 400),
    ("invalid UTF-8", "POST", "/predict", "application/json",
     b'{"year": 1999, "num_votes": 1, "title": "\xff\xfe"}', 400),
    ("empty body", "POST", "/predict", "application/json", b"", 400),
    ("text/plain", "POST", "/predict", "text/plain", b'{"year": 1999, "num_votes": 1}', 415),
    ("form-encoded", "POST", "/predict", "application/x-www-form-urlencoded", b"year=1999", 415),
    ("no content type", "POST", "/predict", None, b'{"year": 1999, "num_votes": 1}', 415),
    ("integer beyond 64 bits", "POST", "/predict", "application/json",
     b'{"year": 1999, "num_votes": ' + b"9" * 30 + b"}", 422),
    ("integer beyond a double (400 digits)", "POST", "/predict", "application/json",
     b'{"year": 1999, "num_votes": ' + b"9" * 400 + b"}", 400),
    ("batch one over the limit", "POST", "/predict/batch", "application/json",
     json.dumps({"movies": [{"year": 1999, "num_votes": 1}] * 1001}).encode(), 422),
    ("empty batch", "POST", "/predict/batch", "application/json", b'{"movies": []}', 422),
    ("no IMDb genre", "POST", "/predict", "application/json",
     b'{"year": 1999, "num_votes": 1, "genres": ["Nope"]}', 422),
    ("unknown path", "GET", "/admin", None, None, 404),
    ("wrong method", "DELETE", "/predict", None, None, 405),
]  # fmt: skip


def hostile_inputs(service: GunicornService) -> Drill:
    outcomes = []
    for case, method, path, content_type, body, expected in HOSTILE_CASES:
        headers = {"Content-Type": content_type} if content_type else {}
        status, answer = http_request(method, service.url + path, body, headers)
        is_json_error = json.loads(answer).get("status") == status
        outcomes.append((case, status, expected, status == expected and is_json_error))
    alive = http_request("GET", service.url + "/ready")[0] == 200
    held = all(ok for *_, ok in outcomes) and alive
    wrong = [f"{case}: {status} (expected {expected})" for case, status, expected, ok in outcomes
             if not ok]  # fmt: skip
    return Drill(
        "hostile input",
        f"{len(HOSTILE_CASES)} hand-written cases (10 MB body, 100k-deep JSON, NaN/Infinity, "
        "invalid UTF-8, wrong content types, batch over the limit, …)",
        held,
        f"{sum(ok for *_, ok in outcomes)} of {len(outcomes)} answered the expected JSON 4xx"
        + (f"; wrong: {wrong}" if wrong else "")
        + f"; service ready afterwards: {alive}",
    )
