"""Search hyper-parameters and feature options as DVC experiments, tracked in MLflow: `make tune`.

    python -m tools.tune [--jobs N] [--apply] [-S section.key=v1,v2 ...]

1. Queues one DVC experiment per point of the grid (params.yaml `tune.grid`, or the `-S` given
   here, as `dvc exp run -S` takes them), each running the pipeline up to `validate`. The grid
   may be a list of grids, each its own combinations: one per model family, with its own
   parameters, searches across families.
2. Runs the queue (`dvc queue start -j N`) and waits for it.
3. Ranks the points by their selection RMSE on the train split (metrics/validation.json: the
   mean of the cross-validated and the temporal fold's RMSE): the test split is read once, by
   train and evaluate, for the chosen point (stages/validate.py says why). The experiments'
   other metrics files are their baseline's, not theirs: ignore them.
4. Logs each point as an MLflow child run (its params, its validation metrics, the experiment's
   name) under one parent run for the search, in the experiment `imdb-rating-tuning`.
5. Prints the ranking; with `--apply`, `dvc exp apply`s the best point into the workspace, after
   which `make repro` trains and evaluates it.
"""

from __future__ import annotations

import argparse
import itertools
import json
import logging
import re
import subprocess
import time
from collections.abc import Iterator
from dataclasses import dataclass
from typing import Any

from registry.versions import tracking
from workspace.commands import CommandError, run_command
from workspace.layout import REPO_ROOT
from workspace.params import load_params

log = logging.getLogger("tools.tune")

EXPERIMENT = "imdb-rating-tuning"
VALIDATION = "metrics/validation.json"
QUEUED = re.compile(r"Queued experiment '([\w-]+)'")
QUEUE_TIMEOUT_SECONDS = 3 * 3600


RANKED_BY = "selection_rmse"
Grid = dict[str, list[Any]]


@dataclass(frozen=True)
class Trial:
    name: str
    params: dict[str, Any]  # its grid's keys only
    validation: dict[str, float]


def dvc(*args: str) -> subprocess.CompletedProcess[str]:
    result = subprocess.run(
        ["dvc", *args], cwd=REPO_ROOT, capture_output=True, text=True, check=False
    )
    if result.returncode != 0:
        detail = (result.stderr or result.stdout).strip().splitlines()[-1:]
        raise CommandError(f"dvc {' '.join(args)} failed: {' '.join(detail)}")
    return result


def grid_points(grid: Grid | list[Grid]) -> Iterator[dict[str, Any]]:
    """Every combination of a grid's values; of each grid in turn for a list of grids."""
    for one in [grid] if isinstance(grid, dict) else grid:
        keys = sorted(one)
        for values in itertools.product(*(one[key] for key in keys)):
            yield dict(zip(keys, values, strict=True))


def queue(grid: Grid | list[Grid]) -> dict[str, list[str]]:
    """One queued experiment per point (up to `validate`): each one's name and grid keys."""
    queued_keys = {}
    for point in grid_points(grid):
        overrides = [arg for key, value in point.items() for arg in ("-S", f"{key}={value}")]
        queued = dvc("exp", "run", "--queue", *overrides, "validate")
        for name in QUEUED.findall(queued.stdout + queued.stderr):
            queued_keys[name] = list(point)
    return queued_keys


def wait_for(names: list[str], jobs: int) -> None:
    dvc("queue", "start", "-j", str(jobs))
    deadline = time.monotonic() + QUEUE_TIMEOUT_SECONDS
    while True:
        status = {
            line.split()[1]: line.split()[-1]
            for line in dvc("queue", "status").stdout.splitlines()
            if len(line.split()) >= 3 and line.split()[1] in names
        }
        if all(status.get(name) not in ("Queued", "Running") for name in names):
            break
        if time.monotonic() > deadline:
            raise CommandError(f"the queue did not finish in {QUEUE_TIMEOUT_SECONDS} s: {status}")
        time.sleep(5)
    failed = sorted(name for name in names if status.get(name) != "Success")
    if failed:
        raise CommandError(f"experiments failed: {', '.join(failed)} (`dvc queue logs NAME`)")


def lookup(params: dict[str, Any], key: str) -> Any:
    for part in key.split("."):
        params = params[part]
    return params


def trials(queued_keys: dict[str, list[str]]) -> list[Trial]:
    """The experiments' grid params and validation metrics, from `dvc exp show --json`."""
    found = {}
    for baseline in json.loads(dvc("exp", "show", "--json").stdout):
        for experiment in baseline.get("experiments") or []:
            for rev in experiment["revs"]:
                if rev.get("name") in queued_keys:
                    data = rev["data"]
                    params = data["params"]["params.yaml"]["data"]
                    found[rev["name"]] = Trial(
                        rev["name"],
                        {key: lookup(params, key) for key in queued_keys[rev["name"]]},
                        data["metrics"][VALIDATION]["data"],
                    )
    missing = sorted(set(queued_keys) - set(found))
    if missing:
        raise CommandError(f"`dvc exp show` lists no results for {', '.join(missing)}")
    return sorted(found.values(), key=lambda trial: trial.validation[RANKED_BY])


def log_to_mlflow(ranked: list[Trial], grid: Grid | list[Grid]) -> str:
    """One parent run for the search, one child run per trial; the parent's id."""
    mlflow, _ = tracking()
    mlflow.set_experiment(EXPERIMENT)
    keys = sorted({key for trial in ranked for key in trial.params})
    with mlflow.start_run(run_name=f"search over {', '.join(keys)}") as parent:
        mlflow.log_dict(grid, "grid.json")
        for trial in ranked:
            with mlflow.start_run(run_name=trial.name, nested=True):
                mlflow.log_params(trial.params)
                mlflow.log_metrics(trial.validation)
                mlflow.set_tag("dvc_experiment", trial.name)
        best = ranked[0]
        mlflow.log_metric(f"best_{RANKED_BY}", best.validation[RANKED_BY])
        mlflow.set_tags(
            {"best_dvc_experiment": best.name} | {f"best.{k}": v for k, v in best.params.items()}
        )
        return parent.info.run_id


RANKING_COLUMNS = (RANKED_BY, "cv_rmse", "temporal_rmse", "cv_rmse_std", "cv_r2")


def ranking(ranked: list[Trial]) -> str:
    """A Markdown table, best first; a parameter outside a trial's grid is blank."""
    keys = list(dict.fromkeys(key for trial in ranked for key in trial.params))
    lines = ["| experiment | " + " | ".join([*keys, *RANKING_COLUMNS]) + " |"]
    lines.append("|---|" + "---:|" * (len(keys) + len(RANKING_COLUMNS)))
    for trial in ranked:
        values = [str(trial.params.get(key, "")) for key in keys]
        values += [f"{trial.validation[column]:.4f}" for column in RANKING_COLUMNS]
        lines.append(f"| {trial.name} | " + " | ".join(values) + " |")
    return "\n".join(lines)


def parse_overrides(overrides: list[str]) -> Grid:
    """`-S train.x=1,2` as DVC takes it, into {"train.x": ["1", "2"]}."""
    grid = {}
    for override in overrides:
        key, _, values = override.partition("=")
        if not values:
            raise CommandError(f"-S {override}: expected section.key=value[,value...]")
        grid[key] = values.split(",")
    return grid


def main(argv: list[str] | None = None) -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("-S", "--set-param", action="append", default=[], dest="overrides")
    parser.add_argument("--jobs", type=int, help="experiments run at once (default: params)")
    parser.add_argument("--apply", action="store_true", help="dvc exp apply the best point")
    args = parser.parse_args(argv)
    settings = load_params("tune")
    grid = parse_overrides(args.overrides) if args.overrides else settings["grid"]
    queued_keys = queue(grid)
    log.info("queued %d experiments: %s", len(queued_keys), ", ".join(queued_keys))
    wait_for(list(queued_keys), args.jobs or settings["jobs"])
    ranked = trials(queued_keys)
    parent = log_to_mlflow(ranked, grid)
    print(ranking(ranked))
    print(f"\nMLflow: experiment {EXPERIMENT}, parent run {parent}")
    if args.apply:
        dvc("exp", "apply", ranked[0].name)
        print(f"applied {ranked[0].name}: `make repro` trains and evaluates it (test split)")


if __name__ == "__main__":
    run_command(main)
