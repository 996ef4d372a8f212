"""A GitHub Actions job replayed on this machine, step by step, as the runner would run it.

`run` steps run under `bash -eo pipefail` (the runner's shell) in the checkout, with the
workflow's, job's and step's `env`, `${{ … }}` expressions resolved from what the replay knows
(secrets, github.*, inputs, steps.*.outputs, needs.*.outputs) and GITHUB_OUTPUT, GITHUB_ENV,
GITHUB_PATH honoured between steps. A `uses` step runs only when the test gives a stand-in for
its action (checkout and setup-python have nothing to do in a prepared checkout; artifacts are
a local folder; an image build stands in for the registry push). An expression or an action the
replay does not know fails the replay: nothing is skipped silently. The job stops at the first
failing step, as on GitHub.
"""

from __future__ import annotations

import os
import re
import shutil
import subprocess
from collections.abc import Callable, Mapping
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

EXPRESSION = re.compile(r"\$\{\{\s*(.+?)\s*\}\}")
ActionStandIn = Callable[[dict[str, Any], "JobRun"], dict[str, str]]
NOTHING_TO_DO = ("actions/checkout", "actions/setup-python")


@dataclass
class JobRun:
    """One job's replay: its state between steps, and what happened."""

    name: str
    checkout: Path
    env: dict[str, str]
    context: dict[str, str]
    artifacts: Path
    outputs: dict[str, dict[str, str]] = field(default_factory=dict)  # step id -> outputs
    ran: list[str] = field(default_factory=list)  # step names, in order
    failed: str | None = None  # the step that failed
    log: str = ""

    def resolve(self, text: str) -> str:
        def value(match: re.Match[str]) -> str:
            expression = match.group(1)
            step = re.fullmatch(r"steps\.([\w-]+)\.outputs\.([\w-]+)", expression)
            if step:
                return self.outputs.get(step.group(1), {}).get(step.group(2), "")
            if expression in self.context:
                return self.context[expression]
            raise KeyError(f"{self.name}: the replay cannot resolve ${{{{ {expression} }}}}")

        return EXPRESSION.sub(value, text)


def step_name(step: dict[str, Any]) -> str:
    return step.get("name") or step.get("uses") or step["run"].splitlines()[0]


def run_job(
    workflow: dict[str, Any],
    job: str,
    checkout: Path,
    env: Mapping[str, str],
    context: Mapping[str, str],
    artifacts: Path,
    stand_ins: Mapping[str, ActionStandIn] | None = None,
) -> JobRun:
    """Replay `job` of `workflow` in `checkout`; `env` is the machine's environment, `context`
    the values of expressions (`secrets.X`, `github.sha`, `needs.build.outputs.image`, …)."""
    spec = workflow["jobs"][job]
    replay = JobRun(job, checkout, dict(env), dict(context), artifacts)
    runner = checkout.parent / f".runner-{job}"
    shutil.rmtree(runner, ignore_errors=True)
    runner.mkdir()
    files = {name: runner / name.lower() for name in ("GITHUB_OUTPUT", "GITHUB_ENV", "GITHUB_PATH")}
    for level in (workflow.get("env", {}), spec.get("env", {})):
        replay.env |= {key: replay.resolve(str(value)) for key, value in level.items()}
    replay.env |= {"RUNNER_TEMP": str(runner), "CI": "true"}
    for step in spec["steps"]:
        name = step_name(step)
        replay.ran.append(name)
        if "uses" in step:
            action = step["uses"].split("@")[0]
            if action in NOTHING_TO_DO:
                continue
            stand_in = (stand_ins or {}).get(action)
            if stand_in is None:
                raise KeyError(f"{job}: the replay has no stand-in for {step['uses']}")
            resolved = {
                **step,
                "with": {k: replay.resolve(str(v)) for k, v in step.get("with", {}).items()},
            }
            replay.outputs[step.get("id", name)] = stand_in(resolved, replay)
            continue
        for path in files.values():
            path.write_text("")
        step_env = {key: replay.resolve(str(value)) for key, value in step.get("env", {}).items()}
        result = subprocess.run(
            ["bash", "--noprofile", "--norc", "-eo", "pipefail", "-c", replay.resolve(step["run"])],
            cwd=checkout,
            env=replay.env | step_env | {name: str(path) for name, path in files.items()},
            capture_output=True,
            text=True,
            timeout=900,
            check=False,
        )
        replay.log += f"--- {name} (exit {result.returncode})\n{result.stdout}{result.stderr}"
        if result.returncode != 0:
            replay.failed = name
            return replay
        replay.outputs[step.get("id", name)] = key_values(files["GITHUB_OUTPUT"])
        replay.env |= key_values(files["GITHUB_ENV"])
        for folder in files["GITHUB_PATH"].read_text().split():
            replay.env["PATH"] = f"{folder}{os.pathsep}{replay.env['PATH']}"
    return replay


def key_values(path: Path) -> dict[str, str]:
    """NAME=value lines, as steps write to GITHUB_OUTPUT and GITHUB_ENV."""
    return dict(line.split("=", 1) for line in path.read_text().splitlines() if "=" in line)


def job_outputs(workflow: dict[str, Any], job: str, replay: JobRun) -> dict[str, str]:
    """The job's declared outputs, resolved from its steps' outputs."""
    return {
        name: replay.resolve(str(value))
        for name, value in workflow["jobs"][job].get("outputs", {}).items()
    }


def upload_artifact(step: dict[str, Any], replay: JobRun) -> dict[str, str]:
    target = replay.artifacts / step["with"]["name"]
    target.mkdir(parents=True, exist_ok=True)
    shutil.copy2(replay.checkout / step["with"]["path"], target)
    return {}


def download_artifact(step: dict[str, Any], replay: JobRun) -> dict[str, str]:
    shutil.copytree(replay.artifacts / step["with"]["name"], replay.checkout, dirs_exist_ok=True)
    return {}


ARTIFACTS = {
    "actions/upload-artifact": upload_artifact,
    "actions/download-artifact": download_artifact,
}
