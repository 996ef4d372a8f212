"""Pipeline bars: wall time of `dvc repro` on a fresh clone, and quality across seeds.

    python -m bench.pipeline [--seeds 1 2 3 42] [--official ../shared/imdb/official-sample]
        [--set featurize.linear_score=false] [--skip-embedded]

Clones HEAD into a temporary folder (what a user gets), builds the embedded sample, times a
cold `dvc repro`, then runs `dvc exp run` per seed on the default sample and on the official
sample, each next to the original recipe refit on the same split. Prints Markdown tables.
"""

from __future__ import annotations

import argparse
import json
import resource
import statistics
import subprocess
import tempfile
from pathlib import Path

from harness.loopback import timed_run
from workspace.layout import REPO_ROOT


def metrics(repo: Path) -> dict:
    validation = json.loads((repo / "metrics" / "validation.json").read_text())
    return json.loads((repo / "metrics" / "metrics.json").read_text()) | {
        "cv_rmse": validation["cv_rmse"]
    }


def quality_rows(
    repo: Path, source: str | None, seeds: list[int], overrides: list[str]
) -> list[dict]:
    rows = []
    for seed in seeds:
        run = [*overrides, "-S", f"featurize.seed={seed}", "-S", f"train.seed={seed}"]
        if source:
            run += ["-S", f"download.source={source}"]
        timed_run(["dvc", "exp", "run", *run], repo)
        rows.append({"seed": seed, **metrics(repo)})
    return rows


def print_quality(title: str, rows: list[dict]) -> None:
    print(f"\n### {title}\n")
    print(
        "| seed | n_test | CV RMSE (train) | RMSE | R² | MAE | coverage (80%) | recipe RMSE "
        "| recipe R² |"
    )
    print("|---:|---:|---:|---:|---:|---:|---:|---:|---:|")
    for r in rows:
        b = r["baseline"]
        print(
            f"| {r['seed']} | {r['n_test']} | {r['cv_rmse']:.4f} | {r['rmse']:.4f} "
            f"| {r['r2']:.4f} | {r['mae']:.4f} | {r['interval_coverage']:.3f} | {b['rmse']:.4f} "
            f"| {b['r2']:.4f} |"
        )
    med = {k: statistics.median(r[k] for r in rows) for k in ("cv_rmse", "rmse", "r2", "mae")}
    base = {k: statistics.median(r["baseline"][k] for r in rows) for k in ("rmse", "r2")}
    print(
        f"| **median** | | {med['cv_rmse']:.4f} | **{med['rmse']:.4f}** | **{med['r2']:.4f}** "
        f"| {med['mae']:.4f} | | {base['rmse']:.4f} | {base['r2']:.4f} |"
    )
    worst_rmse, worst_r2 = max(r["rmse"] for r in rows), min(r["r2"] for r in rows)
    print(f"\nworst seed: RMSE {worst_rmse:.4f}, R² {worst_r2:.4f}")
    print("\nTemporal holdout (newest movies; the split does not depend on the seed):\n")
    print("| seed | cutoff year | n_test | RMSE | R² | recipe RMSE | recipe R² |")
    print("|---:|---:|---:|---:|---:|---:|---:|")
    for r in rows:
        t = r["temporal"]
        print(
            f"| {r['seed']} | {t['cutoff_year']} | {t['n_test']} | {t['rmse']:.4f} "
            f"| {t['r2']:.4f} | {t['baseline']['rmse']:.4f} | {t['baseline']['r2']:.4f} |"
        )


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--seeds", type=int, nargs="+", default=[1, 2, 3, 42])
    parser.add_argument("--official", default=str(REPO_ROOT.parent / "shared/imdb/official-sample"))
    parser.add_argument(
        "--set",
        action="append",
        default=[],
        metavar="KEY=VALUE",
        help="a params.yaml override for every run (dvc exp run -S)",
    )
    parser.add_argument("--skip-embedded", action="store_true")
    args = parser.parse_args()
    overrides = [item for pair in args.set for item in ("-S", pair)]
    with tempfile.TemporaryDirectory() as tmp:
        clone = Path(tmp) / "clone"
        subprocess.run(["git", "clone", "-q", str(REPO_ROOT), str(clone)], check=True)
        sample_seconds = timed_run(["python", "-m", "tools.sample"], clone)
        repro_seconds = timed_run(["dvc", "repro"], clone)
        peak_mib = resource.getrusage(resource.RUSAGE_CHILDREN).ru_maxrss / 1024
        print("### Cold `dvc repro` on the embedded sample (fresh clone)\n")
        print("| step | wall (s) |\n|---|---:|")
        print(f"| build data/sample | {sample_seconds:.1f} |\n| dvc repro | {repro_seconds:.1f} |")
        print(f"\npeak RSS of any stage process: {peak_mib:.0f} MiB")
        if not args.skip_embedded:
            rows = quality_rows(clone, None, args.seeds, overrides)
            print_quality("Embedded sample (ggplot2movies, no crew)", rows)
        if Path(args.official, "title.basics.tsv.gz").is_file():
            rows = quality_rows(clone, args.official, args.seeds, overrides)
            print_quality("Official sample (../shared/imdb/official-sample)", rows)
        else:
            print(f"\nofficial sample not found at {args.official}: skipped")


if __name__ == "__main__":
    main()
