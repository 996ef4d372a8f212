"""Review a model change: metrics and params against a base revision, with an RMSE gate.

    python -m tools.compare --base main [--output report.md]

Prints (and optionally writes) Markdown tables from `dvc metrics diff` and `dvc params diff`,
then exits 1 when test RMSE regressed by more than `compare.max_rmse_regression`, and 2 when
DVC could not load the metrics of either side (it only warns about that itself).
Not a pipeline stage (hence in tools/): it reads git history, not pipeline outputs.
"""

from __future__ import annotations

import argparse
import json
import subprocess
import sys
from dataclasses import dataclass
from pathlib import Path

from workspace.commands import CommandError
from workspace.params import load_params

METRICS_FILE = "metrics/metrics.json"
# Headline files for the review; segments.json stays one `dvc metrics diff` away.
REPORTED = (METRICS_FILE, "metrics/data_quality.json")
GATED_METRIC = "rmse"
LOAD_FAILURE = "failed to load"


@dataclass(frozen=True)
class Comparison:
    base_rmse: float
    head_rmse: float
    threshold: float

    @property
    def regression(self) -> float:
        return self.head_rmse - self.base_rmse

    @property
    def passed(self) -> bool:
        return self.regression <= self.threshold

    def verdict(self) -> str:
        change = f"test RMSE {self.base_rmse:.4f} -> {self.head_rmse:.4f} ({self.regression:+.4f})"
        if self.passed:
            return f"PASS: {change}, within the allowed regression of {self.threshold}"
        return f"FAIL: {change} regresses by more than {self.threshold}"


def dvc(*args: str) -> subprocess.CompletedProcess[str]:
    result = subprocess.run(["dvc", *args], capture_output=True, text=True, check=False)
    if result.returncode != 0 or LOAD_FAILURE in result.stderr:
        detail = (result.stderr or result.stdout).strip().splitlines()
        raise CommandError(
            f"dvc {' '.join(args)} failed: {' | '.join(detail) or result.returncode}"
        )
    return result


def gated_values(diff: dict, base: str) -> tuple[float, float]:
    """Old and new RMSE from `dvc metrics diff --json --all`; both must be present."""
    entry = diff.get(METRICS_FILE, {}).get(GATED_METRIC, {})
    old, new = entry.get("old"), entry.get("new")
    if not isinstance(old, int | float) or not isinstance(new, int | float):
        raise CommandError(
            f"{METRICS_FILE}: '{GATED_METRIC}' missing at {base if old is None else 'workspace'}"
            " (DVC could not load it: was the pipeline run and its metrics committed there?)"
        )
    return float(old), float(new)


def compare(base: str, threshold: float) -> tuple[str, Comparison]:
    metrics_md = dvc(
        "metrics", "diff", base, "--md", "--all", "--precision", "4", "--targets", *REPORTED
    ).stdout
    params_md = dvc("params", "diff", base, "--md").stdout
    diff = json.loads(dvc("metrics", "diff", base, "--json", "--all").stdout or "{}")
    comparison = Comparison(*gated_values(diff, base), threshold=threshold)
    report = "\n".join(
        [
            f"## Model metrics: {base} -> workspace",
            metrics_md.strip() or "_no metric changed_",
            "",
            f"## Params: {base} -> workspace",
            params_md.strip() or "_no param changed_",
            "",
            f"**{comparison.verdict()}**",
            "",
        ]
    )
    return report, comparison


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--base", default="main", help="git revision to compare against")
    parser.add_argument("--output", type=Path, help="also write the Markdown report here")
    args = parser.parse_args(argv)
    try:
        threshold = float(load_params("compare")["max_rmse_regression"])
        report, comparison = compare(args.base, threshold)
    except CommandError as error:
        print(f"error: {error}", file=sys.stderr)
        return 2
    print(report)
    if args.output:
        args.output.write_text(report, encoding="utf-8")
    return 0 if comparison.passed else 1


if __name__ == "__main__":
    sys.exit(main())
