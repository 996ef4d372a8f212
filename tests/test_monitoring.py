"""The monitoring configs, proven against the real programs.

promtool and amtool check the Prometheus and Alertmanager configs, run the alert rules' unit
tests and the routing tree; the dashboard is checked for structure. The slow tests start real
Alertmanager and Prometheus on loopback ports with test copies of the configs, next to the
real service under Gunicorn: every dashboard query must return data, and stopping the service
must page through Alertmanager until the restart resolves it.
"""

from __future__ import annotations

import copy
import json
import math
import re
import shutil
import subprocess
import threading
import time
import urllib.parse
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from pathlib import Path
from typing import Any

import pytest
import yaml

from harness.loopback import GunicornService, free_port, http_json, http_request
from harness.processes import wait_for_http
from tests.conftest import synthetic_movies, train_serving_artifact
from workspace.layout import REPO_ROOT

MONITORING = REPO_ROOT / "monitoring"
PROMETHEUS_CONFIG = MONITORING / "prometheus" / "prometheus.yml"
RULE_FILES = sorted((MONITORING / "prometheus" / "rules").glob("*.yml"))
RULE_TEST_FILES = sorted((MONITORING / "prometheus" / "tests").glob("*.yml"))
ALERTMANAGER_CONFIG = MONITORING / "alertmanager" / "alertmanager.yml"
GRAFANA = MONITORING / "grafana"
DASHBOARD = GRAFANA / "dashboards" / "imdb-rating.json"
RUNBOOK = REPO_ROOT / "docs" / "monitoring.md"

SEVERITY_RECEIVERS = {"critical": "pager", "warning": "chat", "info": "null"}
INSTALL_HINT = "apt-get install prometheus prometheus-alertmanager"
MOVIE = {"year": 1999, "num_votes": 25_000, "genres": ["Drama"], "title": "The Matrix"}


def require(*names: str) -> str:
    """The first of these programs on PATH; else the test fails saying what to install."""
    for name in names:
        path = shutil.which(name)
        if path:
            return path
    pytest.fail(f"{' or '.join(names)} not installed ({INSTALL_HINT}; `make test` does it)")


def run(argv: list[str]) -> subprocess.CompletedProcess:
    return subprocess.run(argv, capture_output=True, text=True, timeout=120, check=False)


def load_yaml(path: Path) -> Any:
    return yaml.safe_load(path.read_text())


def rules(kind: str) -> list[dict]:
    """Every rule of `kind` ("alert" or "record") in the rule files."""
    return [
        rule
        for path in RULE_FILES
        for group in load_yaml(path)["groups"]
        for rule in group["rules"]
        if kind in rule
    ]


def dashboard_panels() -> list[dict]:
    return [p for p in json.loads(DASHBOARD.read_text())["panels"] if p["type"] != "row"]


def wait_until(condition: Callable[[], Any], seconds: float, what: str | Callable[[], str]) -> Any:
    """Poll `condition` until it returns something truthy; fail after `seconds`, saying
    `what` was awaited (a callable: described at the time of failure)."""
    deadline = time.monotonic() + seconds
    while True:
        result = condition()
        if result:
            return result
        if time.monotonic() > deadline:
            pytest.fail(
                f"timed out after {seconds} s waiting for {what() if callable(what) else what}"
            )
        time.sleep(0.25)


# ---- Prometheus: config, rules, rule unit tests


def test_promtool_accepts_the_config_and_its_rule_files() -> None:
    promtool = require("promtool")
    result = run([promtool, "check", "config", str(PROMETHEUS_CONFIG)])
    assert result.returncode == 0, result.stdout + result.stderr
    assert f"SUCCESS: {len(RULE_FILES)} rule files found" in result.stdout


def test_promtool_accepts_the_rules() -> None:
    promtool = require("promtool")
    result = run([promtool, "check", "rules", *map(str, RULE_FILES)])
    assert result.returncode == 0, result.stdout + result.stderr


def test_prometheus_scrapes_the_compose_services_and_sends_to_alertmanager() -> None:
    config = load_yaml(PROMETHEUS_CONFIG)
    targets = {
        job["job_name"]: [t for static in job["static_configs"] for t in static["targets"]]
        for job in config["scrape_configs"]
    }
    assert targets == {
        "imdb-api": ["api:8000"],
        "prometheus": ["prometheus:9090"],
        "alertmanager": ["alertmanager:9093"],
        "mlflow": ["mlflow:5000"],
    }
    alertmanagers = config["alerting"]["alertmanagers"]
    assert [t for am in alertmanagers for s in am["static_configs"] for t in s["targets"]] == [
        "alertmanager:9093"
    ]
    loaded = {p for pattern in config["rule_files"] for p in PROMETHEUS_CONFIG.parent.glob(pattern)}
    assert loaded == set(RULE_FILES)


def test_rule_unit_tests_pass() -> None:
    promtool = require("promtool")
    result = run([promtool, "test", "rules", *map(str, RULE_TEST_FILES)])
    assert result.returncode == 0, result.stdout + result.stderr
    assert result.stdout.count("SUCCESS") == len(RULE_TEST_FILES)


def test_alerts_cover_the_golden_signals_and_the_model_with_labels_and_runbooks() -> None:
    alerts = rules("alert")
    names = [rule["alert"] for rule in alerts]
    assert len(names) >= 16
    assert len(set(names)) == len(names)
    headings = {
        re.sub(r"[^a-z0-9 -]", "", line.lstrip("#").strip().lower()).replace(" ", "-")
        for line in RUNBOOK.read_text().splitlines()
        if line.startswith("#")
    }
    for rule in alerts:
        assert rule["labels"]["severity"] in SEVERITY_RECEIVERS, rule["alert"]
        annotations = rule["annotations"]
        assert annotations["summary"] and annotations["description"], rule["alert"]
        page, _, anchor = annotations["runbook"].partition("#")
        assert page == "docs/monitoring.md", rule["alert"]
        assert anchor in headings, f"{rule['alert']}: no section #{anchor} in {RUNBOOK}"
    watched = " ".join(rule["expr"] for rule in alerts + rules("record"))
    for metric in (
        "up",
        "flask_http_request_duration_seconds_count",  # traffic and errors
        "flask_http_request_duration_seconds_bucket",  # latency
        "imdb_http_requests_in_flight",  # saturation
        "imdb_model_loaded",
        "imdb_model_inference_seconds_bucket",
        "imdb_model_loaded_timestamp_seconds",
        "imdb_predicted_rating_sum",
        "imdb_input_psi",
        "imdb_drift_window_movies",
        "prometheus_rule_evaluation_failures_total",
    ):
        assert re.search(rf"\b{metric}\b", watched), metric


def test_every_rule_has_unit_tests_that_fire_and_that_do_not() -> None:
    cases = [case for path in RULE_TEST_FILES for case in load_yaml(path)["tests"]]
    alert_checks = [check for case in cases for check in case.get("alert_rule_test", [])]
    expressions = " ".join(
        check["expr"] for case in cases for check in case.get("promql_expr_test", [])
    )
    names = {rule["alert"] for rule in rules("alert")}
    fired = {check["alertname"] for check in alert_checks if check.get("exp_alerts")}
    silent = {check["alertname"] for check in alert_checks if not check.get("exp_alerts")}
    assert names - fired == set(), "alerts no test makes fire"
    assert names - silent == set(), "alerts no test keeps silent"
    assert fired | silent <= names, "tests of alerts that do not exist"
    for rule in rules("record"):
        assert re.search(rf"\b{re.escape(rule['record'])}\b", expressions), rule["record"]


# ---- Alertmanager: config, routes, templates, secrets


def test_amtool_accepts_the_alertmanager_config() -> None:
    amtool = require("amtool")
    result = run([amtool, "check-config", str(ALERTMANAGER_CONFIG)])
    assert result.returncode == 0, result.stdout + result.stderr


def route_test(*labels: str, receiver: str) -> subprocess.CompletedProcess:
    amtool = require("amtool")
    return run(
        [
            amtool,
            "config",
            "routes",
            "test",
            f"--config.file={ALERTMANAGER_CONFIG}",
            f"--verify.receivers={receiver}",
            *labels,
        ]
    )


@pytest.mark.parametrize(
    ("labels", "receiver"),
    [
        (["severity=critical"], "pager"),
        (["severity=warning"], "chat"),
        (["severity=info"], "null"),
        ([], "chat"),  # no severity: a person still sees it
        (["severity=unknown"], "chat"),
    ],
    ids=["critical", "warning", "info", "no-severity", "unknown-severity"],
)
def test_each_severity_reaches_its_receiver(labels: list[str], receiver: str) -> None:
    result = route_test("alertname=Anything", *labels, receiver=receiver)
    assert result.returncode == 0, result.stdout + result.stderr
    for other in {"pager", "chat", "null"} - {receiver}:
        assert route_test("alertname=Anything", *labels, receiver=other).returncode != 0


@pytest.mark.parametrize("alert", rules("alert"), ids=lambda rule: rule["alert"])
def test_every_alert_reaches_the_receiver_of_its_severity(alert: dict) -> None:
    labels = {"alertname": alert["alert"], "job": "imdb-api", **alert["labels"]}
    receiver = SEVERITY_RECEIVERS[alert["labels"]["severity"]]
    result = route_test(*(f"{k}={v}" for k, v in labels.items()), receiver=receiver)
    assert result.returncode == 0, result.stdout + result.stderr


def receiver_configs(config: dict) -> Iterator[tuple[str, str, dict]]:
    """(receiver, integration, settings) for every integration of every receiver."""
    for receiver in config["receivers"]:
        for key, integrations in receiver.items():
            if key.endswith("_configs"):
                for settings in integrations:
                    yield receiver["name"], key, settings


def test_receiver_secrets_come_from_mounted_files() -> None:
    config = load_yaml(ALERTMANAGER_CONFIG)
    integrations = list(receiver_configs(config))
    assert {(name, kind) for name, kind, _ in integrations} == {
        ("pager", "pagerduty_configs"),
        ("chat", "slack_configs"),
    }
    inline_secrets = {"api_url", "url", "routing_key", "service_key", "auth_password", "token"}
    for name, _, settings in integrations:
        assert inline_secrets.isdisjoint(settings), f"{name} has a secret inline"
        files = [value for key, value in settings.items() if key.endswith("_file")]
        assert files, f"{name} reads no secret file"
        assert all(path.startswith("/run/secrets/") for path in files), files
    assert not any(key.endswith(("_url", "_key", "password")) for key in config.get("global", {}))


def test_notification_templates_render(tmp_path: Path) -> None:
    amtool = require("amtool")
    no_definitions = tmp_path / "none.tmpl"
    no_definitions.write_text("")
    texts = []
    for _, _, settings in receiver_configs(load_yaml(ALERTMANAGER_CONFIG)):
        for value in settings.values():
            candidates = value.values() if isinstance(value, dict) else [value]
            texts += [text for text in candidates if isinstance(text, str) and "{{" in text]
    assert len(texts) >= 4
    for text in texts:
        result = run(
            [
                amtool,
                "template",
                "render",
                f"--template.glob={no_definitions}",
                "--template.text",
                text,
            ]
        )
        assert result.returncode == 0, f"{text!r}: {result.stderr}"


# ---- Grafana: provisioning and dashboard


def provisioned_datasource_uids() -> dict[str, str]:
    folder = GRAFANA / "provisioning" / "datasources"
    return {
        source["uid"]: source["type"]
        for path in folder.glob("*.yml")
        for source in load_yaml(path)["datasources"]
    }


def test_grafana_provisions_prometheus_with_a_fixed_uid() -> None:
    sources = [
        source
        for path in (GRAFANA / "provisioning" / "datasources").glob("*.yml")
        for source in load_yaml(path)["datasources"]
    ]
    prometheus = [s for s in sources if s["type"] == "prometheus"]
    assert len(prometheus) == 1
    assert prometheus[0]["uid"] == "prometheus"
    assert prometheus[0]["url"] == "http://prometheus:9090"
    assert prometheus[0]["isDefault"] is True


def test_grafana_loads_dashboards_from_the_mounted_folder() -> None:
    providers = [
        provider
        for path in (GRAFANA / "provisioning" / "dashboards").glob("*.yml")
        for provider in load_yaml(path)["providers"]
    ]
    assert [(p["type"], p["options"]["path"]) for p in providers] == [
        ("file", "/etc/grafana/dashboards")
    ]


def test_grafana_files_hold_no_password() -> None:
    for path in GRAFANA.rglob("*"):
        if path.is_file():
            assert "password" not in path.read_text().lower(), path


def test_dashboard_panels_query_prometheus_through_the_provisioned_uid() -> None:
    dashboard = json.loads(DASHBOARD.read_text())
    uids = provisioned_datasource_uids()
    panels = dashboard_panels()
    assert dashboard["uid"] and dashboard["title"]
    assert len(panels) >= 10
    ids = [p["id"] for p in dashboard["panels"]]
    assert len(set(ids)) == len(ids)
    for panel in panels:
        assert panel["title"] and set(panel["gridPos"]) == {"h", "w", "x", "y"}, panel["title"]
        assert panel["gridPos"]["x"] + panel["gridPos"]["w"] <= 24, panel["title"]
        assert uids.get(panel["datasource"]["uid"]) == "prometheus", panel["title"]
        assert panel["targets"], f"{panel['title']} has no query"
        for target in panel["targets"]:
            assert target["datasource"]["uid"] == panel["datasource"]["uid"], panel["title"]
            assert target["expr"].strip(), panel["title"]
    queries = " ".join(t["expr"] for p in panels for t in p["targets"])
    for metric in (
        "flask_http_request_duration_seconds_count",  # request rate
        "job:imdb_http_requests_5xx:ratio_rate5m",  # error ratio
        "flask_http_request_duration_seconds_bucket",  # p50/p95/p99 latency
        "imdb_predictions_total",
        "imdb_model_inference_seconds_bucket",
        "imdb_predicted_rating_bucket",
        "imdb_input_psi",
        "imdb_model_info",
        "imdb_model_loaded_timestamp_seconds",
        "imdb_batch_size_bucket",
        "imdb_ignored_genres_total",
        "ALERTS",
    ):
        assert re.search(rf"\b{re.escape(metric)}\b", queries), metric


def test_the_dashboard_filters_by_instance_and_model() -> None:
    """Template variables `instance` and `model_id` (multi-value, "All" by default); every
    query of the service's raw series honours `instance`, those labelled by model `model_id`
    (recording rules are the whole service's)."""
    dashboard = json.loads(DASHBOARD.read_text())
    variables = {v["name"]: v for v in dashboard["templating"]["list"]}
    assert set(variables) == {"instance", "model_id"}
    for variable in variables.values():
        assert variable["includeAll"] and variable["multi"] and variable["allValue"] == ".*"
        assert variable["datasource"]["uid"] == "prometheus"
    for panel in dashboard_panels():
        for target in panel["targets"]:
            for name, labels in re.findall(r'([\w:]+)\{(job="imdb-api"[^}]*)\}', target["expr"]):
                if name.startswith("job:"):  # a recording rule: the whole service
                    continue
                assert 'instance=~"$instance"' in labels, (panel["title"], name)
                if name in ("imdb_predictions_total", "imdb_model_info"):
                    assert 'model_id=~"$model_id"' in labels, (panel["title"], name)


# ---- the real programs, on loopback


class Recorder(ThreadingHTTPServer):
    """A loopback HTTP server keeping every JSON body POSTed to it: the receivers' far end."""

    def __init__(self) -> None:
        super().__init__(("127.0.0.1", 0), RecordingHandler)
        self.lock = threading.Lock()
        self.received: list[tuple[str, dict]] = []

    @property
    def url(self) -> str:
        return f"http://127.0.0.1:{self.server_address[1]}"

    def bodies(self, path: str) -> list[dict]:
        with self.lock:
            return [body for received_path, body in self.received if received_path == path]


class RecordingHandler(BaseHTTPRequestHandler):
    def do_POST(self) -> None:
        body = json.loads(self.rfile.read(int(self.headers["Content-Length"])))
        with self.server.lock:
            self.server.received.append((self.path, body))
        self.send_response(202)  # what PagerDuty answers; Slack and webhooks take any 2xx
        self.send_header("Content-Type", "text/plain")
        self.end_headers()
        self.wfile.write(b"ok")

    def log_message(self, *args) -> None:  # keep pytest's output to the failures
        pass


@pytest.fixture
def recorder() -> Iterator[Recorder]:
    server = Recorder()
    thread = threading.Thread(target=server.serve_forever, daemon=True)
    thread.start()
    try:
        yield server
    finally:
        server.shutdown()
        server.server_close()
        thread.join(timeout=5)


@contextmanager
def running(argv: list[str], log: Path, ready_url: str, seconds: float = 30) -> Iterator[None]:
    """Run a server until the block ends; it must answer `ready_url` within `seconds`."""
    with log.open("wb") as output:
        process = subprocess.Popen(argv, stdout=output, stderr=subprocess.STDOUT)
    try:
        try:
            wait_for_http(ready_url, seconds, process=process)
        except (RuntimeError, TimeoutError) as error:
            pytest.fail(f"{argv[0]}: {error}:\n{log.read_text()}")
        yield
    finally:
        process.terminate()
        try:
            process.wait(timeout=10)
        except subprocess.TimeoutExpired:
            process.kill()
            process.wait()


@contextmanager
def alertmanager(config: dict, workdir: Path) -> Iterator[str]:
    """Real Alertmanager with `config` on a free loopback port; yields its URL."""
    binary = require("prometheus-alertmanager", "alertmanager")
    workdir.mkdir(parents=True, exist_ok=True)
    config_path = workdir / "alertmanager.yml"
    config_path.write_text(yaml.safe_dump(config))
    url = f"http://127.0.0.1:{free_port()}"
    argv = [
        binary,
        f"--config.file={config_path}",
        f"--storage.path={workdir / 'data'}",
        f"--web.listen-address={url.removeprefix('http://')}",
        "--cluster.listen-address=",  # no gossip port: a single instance
    ]
    with running(argv, workdir / "alertmanager.log", url + "/-/ready"):
        yield url


def fast_routes(config: dict) -> dict:
    """A copy of the Alertmanager config that groups and notifies within a second."""
    config = copy.deepcopy(config)
    routes = [config["route"]]
    while routes:
        route = routes.pop()
        route.update(group_wait="1s", group_interval="1s", repeat_interval="1h")
        routes += route.get("routes", [])
    return config


def posted_alert(alertname: str, severity: str, **labels: str) -> dict:
    return {
        "labels": {"alertname": alertname, "severity": severity, **labels},
        "annotations": {
            "summary": f"{alertname} summary",
            "description": f"{alertname} description",
            "runbook": f"docs/monitoring.md#{alertname.lower()}",
        },
    }


@pytest.mark.slow
def test_alertmanager_routes_inhibits_and_delivers_with_secrets_from_files(
    recorder: Recorder, tmp_path: Path
) -> None:
    """The production receivers (PagerDuty, Slack) and inhibition rules, in real Alertmanager:
    only the secret files' paths and PagerDuty's endpoint point at the loopback recorder."""
    secrets = {
        "alertmanager_pagerduty_routing_key": "test-routing-key",
        "alertmanager_slack_webhook_url": recorder.url + "/slack",
    }
    config = fast_routes(load_yaml(ALERTMANAGER_CONFIG))
    for _, kind, settings in receiver_configs(config):
        for key, path in settings.items():
            if key.endswith("_file"):
                secret = tmp_path / Path(path).name
                secret.write_text(secrets[secret.name])  # KeyError: a new secret to add here
                settings[key] = str(secret)
        if kind == "pagerduty_configs":
            settings["url"] = recorder.url + "/pagerduty"

    alerts = [
        posted_alert("ImdbApiDown", "critical", job="imdb-api", instance="api:8000"),
        # Both explained by the outage: inhibited.
        posted_alert(
            "ImdbApiLatencyP95High", "warning", job="imdb-api", endpoint="predict.predict"
        ),
        posted_alert(
            "ImdbInputDrift", "warning", job="imdb-api", instance="api:8000", feature="year"
        ),
        # Unrelated to it: delivered to the chat.
        posted_alert("MlflowDown", "warning", job="mlflow", instance="mlflow:5000"),
        # Info: shown in Alertmanager, delivered nowhere.
        posted_alert("ImdbInputDriftModerate", "info", job="imdb-api", instance="api:9000"),
    ]
    with alertmanager(config, tmp_path / "am") as url:
        http_json(url + "/api/v2/alerts", alerts)
        pages = wait_until(lambda: recorder.bodies("/pagerduty"), 20, "the PagerDuty event")
        chats = wait_until(lambda: recorder.bodies("/slack"), 20, "the Slack message")
        time.sleep(2)  # two group intervals: anything wrongly delivered has arrived by now
        states = {
            alert["labels"]["alertname"]: alert["status"]
            for alert in http_json(url + "/api/v2/alerts")
        }

    assert len(recorder.bodies("/pagerduty")) == 1 and len(recorder.bodies("/slack")) == 1
    assert pages[0]["routing_key"] == "test-routing-key"
    assert pages[0]["event_action"] == "trigger"
    assert pages[0]["payload"]["summary"] == "ImdbApiDown summary"
    message = json.dumps(chats[0])
    assert "MlflowDown summary" in message and "docs/monitoring.md#mlflowdown" in message
    assert chats[0]["channel"] == "#imdb-rating-alerts"
    assert states["ImdbApiDown"]["state"] == "active"
    assert states["MlflowDown"]["state"] == "active"
    assert states["ImdbInputDriftModerate"]["state"] == "active"
    for inhibited in ("ImdbApiLatencyP95High", "ImdbInputDrift"):
        assert states[inhibited]["state"] == "suppressed", inhibited
        assert states[inhibited]["inhibitedBy"], inhibited


# ---- end to end: the service, Prometheus, Alertmanager, the dashboard's queries

# Grafana's interval variables, as Grafana would fill them in for a 1 s scrape interval, and
# the dashboard's own at "All".
GRAFANA_VARIABLES = {
    "$__rate_interval": "10s",
    "$__interval": "1s",
    "$__range": "1m",
    "$instance": ".*",
    "$model_id": ".*",
}


def panel_queries() -> list[tuple[str, str, bool]]:
    """(panel title, PromQL with Grafana's variables filled in, instant?) of every panel."""
    queries = []
    for panel in dashboard_panels():
        for target in panel["targets"]:
            expr = target["expr"]
            for variable, value in GRAFANA_VARIABLES.items():
                expr = expr.replace(variable, value)
            assert "$" not in expr, f"{panel['title']}: unknown variable in {expr}"
            queries.append((panel["title"], expr, bool(target.get("instant"))))
    return queries


def template_variable_values(prometheus: str) -> dict[str, list[str]]:
    """Each dashboard variable's values, as Grafana's `label_values(selector, label)` gets
    them: Prometheus' label values of the series the selector matches."""
    values = {}
    for variable in json.loads(DASHBOARD.read_text())["templating"]["list"]:
        selector, label = re.fullmatch(
            r"label_values\((.+), (\w+)\)", variable["definition"]
        ).groups()
        query = urllib.parse.urlencode({"match[]": selector})
        values[variable["name"]] = http_json(f"{prometheus}/api/v1/label/{label}/values?{query}")[
            "data"
        ]
    return values


def query_values(prometheus: str, expr: str, instant: bool) -> list[float]:
    """Every value Prometheus returns for `expr`: now, or over the last 20 s like a graph."""
    now = time.time()
    if instant:
        params = {"query": expr, "time": now}
        path = "/api/v1/query"
    else:
        params = {"query": expr, "start": now - 20, "end": now, "step": 1}
        path = "/api/v1/query_range"
    body = http_json(f"{prometheus}{path}?{urllib.parse.urlencode(params)}")
    assert body["status"] == "success", body
    if instant:
        return [float(series["value"][1]) for series in body["data"]["result"]]
    return [float(v) for series in body["data"]["result"] for _, v in series["values"]]


def empty_panels(prometheus: str, queries: list[tuple[str, str, bool]]) -> list[str]:
    """The queries that return no finite value."""
    return [
        f"{title}: {expr}"
        for title, expr, instant in queries
        if not any(math.isfinite(v) for v in query_values(prometheus, expr, instant))
    ]


class Traffic:
    """Clients of the service in a background thread: single and batch predictions, and
    invalid movies (422), until stopped. Any other answer is kept as a failure."""

    def __init__(self, url: str) -> None:
        self.url = url
        self.stopped = threading.Event()
        self.failures: list[str] = []
        self.thread = threading.Thread(target=self._run, daemon=True)

    def _run(self) -> None:
        calls = [
            ("/predict", MOVIE, 200),
            ("/predict/batch", {"movies": [MOVIE] * 5}, 200),
            ("/predict", {**MOVIE, "genres": ["Western"]}, 200),  # a genre it never learned
            ("/predict", {**MOVIE, "year": "nineteen ninety-nine"}, 422),
        ]
        while not self.stopped.is_set():
            for path, payload, expected in calls:
                try:
                    status, _ = http_request("POST", self.url + path, json.dumps(payload).encode(),
                                             {"Content-Type": "application/json"})  # fmt: skip
                except OSError as error:
                    status = repr(error)
                if status != expected:
                    self.failures.append(f"{path}: {status}, expected {expected}")
            self.stopped.wait(0.05)

    def __enter__(self) -> Traffic:
        self.thread.start()
        return self

    def __exit__(self, *exc_info) -> None:
        self.stopped.set()
        self.thread.join(timeout=15)


def prometheus_test_config(
    workdir: Path, service: GunicornService, prometheus_port: int, alertmanager_url: str
) -> Path:
    """The real prometheus.yml and rules with loopback targets, 1 s intervals and a 2 s `for`
    on ImdbApiDown. MLflow is left out: its server takes half a minute to start."""
    config = load_yaml(PROMETHEUS_CONFIG)
    config["global"].update(scrape_interval="1s", scrape_timeout="1s", evaluation_interval="1s")
    loopback = {
        "imdb-api": service.url.removeprefix("http://"),
        "prometheus": f"127.0.0.1:{prometheus_port}",
        "alertmanager": alertmanager_url.removeprefix("http://"),
    }
    jobs = [job for job in config["scrape_configs"] if job["job_name"] in loopback]
    for job in jobs:
        job["static_configs"] = [{"targets": [loopback[job["job_name"]]]}]
    config["scrape_configs"] = jobs
    config["alerting"]["alertmanagers"] = [
        {"static_configs": [{"targets": [loopback["alertmanager"]]}]}
    ]

    rules_dir = workdir / "rules"
    rules_dir.mkdir(parents=True)
    for path in RULE_FILES:
        groups = load_yaml(path)
        for group in groups["groups"]:
            for rule in group["rules"]:
                if rule.get("alert") == "ImdbApiDown":
                    rule["for"] = "2s"
        (rules_dir / path.name).write_text(yaml.safe_dump(groups))
    config["rule_files"] = [str(rules_dir / "*.yml")]
    config_path = workdir / "prometheus.yml"
    config_path.write_text(yaml.safe_dump(config))
    return config_path


def webhook_receivers(config: dict, recorder: Recorder) -> dict:
    """Every notifying receiver of the Alertmanager config becomes a webhook to the recorder
    at /<receiver name>; the routes and inhibition rules stay as they are."""
    config = fast_routes(config)
    for receiver in config["receivers"]:
        if any(key.endswith("_configs") for key in receiver):
            name = receiver["name"]
            receiver.clear()
            receiver.update(
                name=name,
                webhook_configs=[{"url": f"{recorder.url}/{name}", "send_resolved": True}],
            )
    return config


def api_down_notifications(recorder: Recorder, status: str) -> list[dict]:
    """ImdbApiDown alerts with `status` ("firing", "resolved") the pager receiver got."""
    return [
        alert
        for body in recorder.bodies("/pager")
        for alert in body["alerts"]
        if alert["labels"]["alertname"] == "ImdbApiDown" and alert["status"] == status
    ]


@pytest.fixture
def gunicorn_service(
    model_card_path: Path, tmp_path: Path, tmp_path_factory: pytest.TempPathFactory
) -> Iterator[GunicornService]:
    """The service with a challenger in shadow mode, so that the panels comparing the two
    models have data too."""
    challenger = train_serving_artifact(
        tmp_path_factory.mktemp("challenger"), synthetic_movies(seed=9)
    )
    policy = tmp_path / "traffic.json"
    policy.write_text('{"mode": "shadow"}')
    env = {"IMDB_CHALLENGER_CARD": str(challenger), "IMDB_TRAFFIC_POLICY": str(policy)}
    service = GunicornService(tmp_path / "service", model_card_path, env=env).start()
    yield service
    service.stop()


@pytest.mark.slow
def test_stack_end_to_end(
    gunicorn_service: GunicornService, recorder: Recorder, tmp_path: Path
) -> None:
    """Live traffic fills every panel (a challenger in shadow mode: the comparison row too);
    stopping the service pages, restarting it resolves."""
    prometheus_binary = require("prometheus")
    queries = panel_queries()
    alert_panels = [q for q in queries if "ALERTS" in q[1]]
    other_panels = [q for q in queries if "ALERTS" not in q[1]]
    am_config = webhook_receivers(load_yaml(ALERTMANAGER_CONFIG), recorder)

    with alertmanager(am_config, tmp_path / "am") as alertmanager_url:
        port = free_port()
        prometheus = f"http://127.0.0.1:{port}"
        config = prometheus_test_config(tmp_path / "prom", gunicorn_service, port, alertmanager_url)
        argv = [
            prometheus_binary,
            f"--config.file={config}",
            f"--storage.tsdb.path={tmp_path / 'prom' / 'data'}",
            f"--web.listen-address=127.0.0.1:{port}",
        ]
        with running(argv, tmp_path / "prometheus.log", prometheus + "/-/ready"):
            with Traffic(gunicorn_service.url) as traffic:

                def service_target_up() -> bool:
                    targets = http_json(prometheus + "/api/v1/targets")["data"]["activeTargets"]
                    return any(
                        t["labels"]["job"] == "imdb-api" and t["health"] == "up" for t in targets
                    )

                wait_until(service_target_up, 20, "the service's target to be up")
                without_data: list[str] = []

                def every_panel_has_data() -> bool:
                    without_data[:] = empty_panels(prometheus, other_panels)
                    return not without_data

                wait_until(
                    every_panel_has_data, 30, lambda: f"data in every panel; none in {without_data}"
                )
                for name, values in template_variable_values(prometheus).items():
                    assert values, f"the dashboard's variable ${name} has no value"
            assert traffic.failures == []

            rule_health = [
                (rule["name"], rule["health"], rule.get("lastError"))
                for group in http_json(prometheus + "/api/v1/rules")["data"]["groups"]
                for rule in group["rules"]
            ]
            assert all(health == "ok" for _, health, _ in rule_health), rule_health

            gunicorn_service.stop()
            fired = wait_until(
                lambda: api_down_notifications(recorder, "firing"), 30, "ImdbApiDown at the pager"
            )
            assert fired[0]["labels"]["severity"] == "critical"
            assert fired[0]["labels"]["instance"] == gunicorn_service.url.removeprefix("http://")
            assert empty_panels(prometheus, alert_panels) == []
            firing = query_values(
                prometheus, 'ALERTS{alertname="ImdbApiDown",alertstate="firing"}', True
            )
            assert firing == [1.0]

            gunicorn_service.start()
            wait_until(
                lambda: api_down_notifications(recorder, "resolved"), 30, "ImdbApiDown resolved"
            )
