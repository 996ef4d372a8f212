"""tools.tune: a search as DVC experiments, ranked on the train split, tracked in MLflow."""

from __future__ import annotations

import os
import subprocess
import sys
from pathlib import Path

import pytest
import yaml

from harness.loopback import VENV_BIN
from tools.tune import grid_points, parse_overrides
from workspace.commands import CommandError


def test_the_grid_is_every_combination() -> None:
    points = list(grid_points({"b.y": [1, 2], "a.x": ["p", "q", "r"]}))
    assert len(points) == 6 and points[0] == {"a.x": "p", "b.y": 1}


def test_a_list_of_grids_searches_each_family_with_its_own_parameters() -> None:
    grids = [
        {"train.model": ["xgboost"], "train.xgboost.max_depth": [4, 6]},
        {"train.model": ["catboost"], "train.catboost.depth": [6]},
    ]
    assert list(grid_points(grids)) == [
        {"train.model": "xgboost", "train.xgboost.max_depth": 4},
        {"train.model": "xgboost", "train.xgboost.max_depth": 6},
        {"train.model": "catboost", "train.catboost.depth": 6},
    ]


def test_overrides_are_read_as_dvc_takes_them() -> None:
    assert parse_overrides(["train.seed=1,2", "featurize.folds=5"]) == {
        "train.seed": ["1", "2"],
        "featurize.folds": ["5"],
    }
    with pytest.raises(CommandError, match=r"expected section\.key=value"):
        parse_overrides(["train.seed"])


SEARCH = ("-S", "train.model=hist_gradient_boosting,catboost")


@pytest.mark.slow
def test_a_search_across_two_families_ranks_logs_and_applies_the_best(repo_copy: Path) -> None:
    tracking = f"sqlite:///{repo_copy / 'search.db'}"
    env = {**os.environ, "PATH": f"{VENV_BIN}{os.pathsep}{os.environ['PATH']}"}
    env |= {"MLFLOW_TRACKING_URI": tracking}
    # As `make tune` does: the workspace's pipeline first (`dvc exp apply` checks its outputs out).
    subprocess.run(["dvc", "repro", "-q"], cwd=repo_copy, env=env, check=True, timeout=1800)
    result = subprocess.run(
        [sys.executable, "-m", "tools.tune", "--jobs", "1", "--apply", *SEARCH],
        cwd=repo_copy,
        env=env,
        capture_output=True,
        text=True,
        timeout=1800,
        check=False,
    )
    assert result.returncode == 0, result.stdout + result.stderr[-3000:]

    header, *rows = [
        [cell.strip() for cell in line.split("|")[1:-1]]
        for line in result.stdout.splitlines()
        if line.startswith("| ")
    ]
    assert header[:3] == ["experiment", "train.model", "selection_rmse"]
    ranked = [(row[0], row[1], float(row[2])) for row in rows]
    assert len(ranked) == 2 and ranked[0][2] <= ranked[1][2]  # by selection RMSE
    assert {family for _, family, _ in ranked} == {"hist_gradient_boosting", "catboost"}
    params = yaml.safe_load((repo_copy / "params.yaml").read_text())
    assert params["train"]["model"] == ranked[0][1]  # applied

    import mlflow

    client = mlflow.MlflowClient(tracking)
    [experiment] = [e for e in client.search_experiments() if e.name == "imdb-rating-tuning"]
    runs = client.search_runs([experiment.experiment_id])
    [parent] = [run for run in runs if "mlflow.parentRunId" not in run.data.tags]
    children = [
        run for run in runs if run.data.tags.get("mlflow.parentRunId") == parent.info.run_id
    ]
    assert sorted(run.data.tags["dvc_experiment"] for run in children) == sorted(
        name for name, *_ in ranked
    )
    assert parent.data.tags["best_dvc_experiment"] == ranked[0][0]
