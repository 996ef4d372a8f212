"""Gunicorn configuration: `gunicorn -c service/gunicorn_conf.py service.wsgi:app`.

Environment: GUNICORN_BIND (default 0.0.0.0:8000), WEB_CONCURRENCY (workers, default: one
per whole CPU of the container's CPU limit, else per usable CPU: service/cpu_limit.py),
GUNICORN_THREADS (per worker, default 1), GUNICORN_TIMEOUT (seconds, default 30),
PROMETHEUS_MULTIPROC_DIR (shared metrics; default a folder under the temp dir).

Multiprocess metrics need PROMETHEUS_MULTIPROC_DIR set before prometheus_client is imported
(the workers import it with the app), emptied when the master starts, and each dead worker's
live gauges dropped (child_exit), as in prometheus_flask_exporter's gunicorn-internal example.
"""

from __future__ import annotations

import os
import shutil
import tempfile
import time
from pathlib import Path

from service.cpu_limit import CGROUP_ROOT, workers_for_cpu_limit

os.environ.setdefault(
    "PROMETHEUS_MULTIPROC_DIR", str(Path(tempfile.gettempdir()) / "imdb-rating-metrics")
)
# One thread per worker for NumPy/OpenMP: workers are the unit of parallelism.
os.environ.setdefault("OMP_NUM_THREADS", "1")

bind = os.environ.get("GUNICORN_BIND", "0.0.0.0:8000")
if "WEB_CONCURRENCY" in os.environ:
    workers = int(os.environ["WEB_CONCURRENCY"])
else:
    workers = workers_for_cpu_limit(CGROUP_ROOT, len(os.sched_getaffinity(0)))
threads = int(os.environ.get("GUNICORN_THREADS", "1"))
# sync workers block in accept(), so the kernel spreads connections over them; with
# GUNICORN_THREADS > 1 Gunicorn switches to its gthread worker.
worker_class = "sync"
timeout = int(os.environ.get("GUNICORN_TIMEOUT", "30"))
graceful_timeout = 30
keepalive = 5
accesslog = os.environ.get("GUNICORN_ACCESS_LOG")  # off unless set ("-" for stdout)
errorlog = "-"
loglevel = os.environ.get("IMDB_LOG_LEVEL", "info").lower()
# Limit headers as the JSON body is limited (IMDB_MAX_BODY_BYTES in the app).
limit_request_line = 4094
limit_request_fields = 50
# No gunicornc control socket (unused): its default home, $HOME/.gunicorn, is read-only in the
# image (an ERROR at every start) and one path shared by every instance of a user on a host.
control_socket_disable = True


def on_starting(server) -> None:
    """Start with an empty metrics folder (stale files would add old workers' counts), and
    compile the tree walk once here: the workers forked from this process inherit it instead
    of each compiling it at start (bench/worker_start.py: 0.93 -> 0.48 s per worker)."""
    folder = Path(os.environ["PROMETHEUS_MULTIPROC_DIR"])
    shutil.rmtree(folder, ignore_errors=True)
    folder.mkdir(parents=True, exist_ok=True)
    from imdb_rating.trees import compile_walk

    compile_walk()


def post_fork(server, worker) -> None:
    worker.forked_at = time.monotonic()


def child_exit(server, worker) -> None:
    from prometheus_flask_exporter.multiprocess import GunicornInternalPrometheusMetrics

    GunicornInternalPrometheusMetrics.mark_process_dead_on_child_exit(worker.pid)


def worker_exit(server, worker) -> None:
    """Score the shadow queue and write the worker's queued predictions before it exits (a
    graceful stop or restart)."""
    extensions = getattr(getattr(worker, "wsgi", None), "extensions", {})  # none: no app
    holder = extensions.get("model")
    if holder is not None:
        holder.close()
    prediction_log = extensions.get("prediction_log")
    if prediction_log is not None:
        prediction_log.close()


def post_worker_init(worker) -> None:
    """Exempt the loaded app (model, feature tables: long-lived) from garbage collection:
    otherwise every full collection re-scans them, a pause in some requests' latency. Then
    log how long the worker took to start (model verified and flattened, app built)."""
    import gc

    gc.collect()
    gc.freeze()
    started = time.monotonic() - worker.forked_at
    worker.log.info("worker %s ready in %.2f s", worker.pid, started)
