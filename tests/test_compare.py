"""Review across branches: DVC diffs between commits and the RMSE-regression gate."""

from __future__ import annotations

import json
import os
import subprocess
from pathlib import Path

import pytest

from harness.loopback import VENV_BIN

pytestmark = pytest.mark.slow


def run(repo: Path, *command: str, check: bool = True) -> subprocess.CompletedProcess[str]:
    env = {**os.environ, "PATH": f"{VENV_BIN}{os.pathsep}{os.environ['PATH']}"}
    return subprocess.run(command, cwd=repo, env=env, capture_output=True, text=True, check=check)


def commit_branch(repo: Path, branch: str, rmse_change: float | None) -> None:
    """A branch whose metrics.json moves RMSE by `rmse_change` (None: no metrics at all)."""
    run(repo, "git", "checkout", "-q", "-B", branch, "main")
    metrics_file = repo / "metrics" / "metrics.json"
    if rmse_change is None:
        metrics_file.unlink()
    else:
        metrics = json.loads(metrics_file.read_text())
        metrics["rmse"] = round(metrics["rmse"] + rmse_change, 6)
        metrics_file.write_text(json.dumps(metrics, indent=2))
    run(repo, "git", "commit", "-qam", f"{branch}: rmse {rmse_change}")


def compare(repo: Path, base: str) -> subprocess.CompletedProcess[str]:
    return run(repo, "python", "-m", "tools.compare", "--base", base, check=False)


def test_small_changes_pass_and_print_markdown_tables(repo_copy: Path) -> None:
    commit_branch(repo_copy, "tweak", +0.001)
    result = compare(repo_copy, "main")
    assert result.returncode == 0, result.stderr
    assert "| metrics/metrics.json" in result.stdout and "| rmse" in result.stdout
    assert "## Params: main -> workspace" in result.stdout
    assert "PASS: test RMSE" in result.stdout


def test_an_rmse_regression_beyond_the_threshold_fails(repo_copy: Path) -> None:
    commit_branch(repo_copy, "worse", +0.1)
    result = compare(repo_copy, "main")
    assert result.returncode == 1
    assert "FAIL: test RMSE" in result.stdout


def test_an_improvement_passes(repo_copy: Path) -> None:
    commit_branch(repo_copy, "better", -0.1)
    assert compare(repo_copy, "main").returncode == 0


def test_base_metrics_that_dvc_cannot_load_fail_loudly(repo_copy: Path) -> None:
    commit_branch(repo_copy, "no-metrics", None)
    run(repo_copy, "git", "checkout", "-q", "main")
    result = compare(repo_copy, "no-metrics")
    assert result.returncode == 2
    assert "error:" in result.stderr and "failed to load" in result.stderr
    assert "no-metrics" in result.stderr


def test_unknown_base_revision_fails_loudly(repo_copy: Path) -> None:
    result = compare(repo_copy, "no-such-branch")
    assert result.returncode == 2 and "no-such-branch" in result.stderr


def test_params_and_plots_diff_work_between_commits(repo_copy: Path, tmp_path: Path) -> None:
    run(repo_copy, "git", "checkout", "-q", "-b", "tuned")
    params = repo_copy / "params.yaml"
    params.write_text(params.read_text().replace("max_leaf_nodes: 31", "max_leaf_nodes: 63"))
    plot = repo_copy / "metrics" / "plots" / "importance.csv"
    plot.write_text(plot.read_text().replace("\nyear,", "\nyear_renamed,"))
    run(repo_copy, "git", "commit", "-qam", "tune")

    params_diff = run(repo_copy, "dvc", "params", "diff", "main", "--md").stdout
    assert "train.hist_gradient_boosting.max_leaf_nodes" in params_diff
    assert "31" in params_diff and "63" in params_diff

    out = tmp_path / "plots"
    run(repo_copy, "dvc", "plots", "diff", "main", "-o", str(out))
    html = (out / "index.html").read_text()
    assert "year_renamed" in html and '"rev": "main"' in html.replace("'", '"')
