"""Pipeline bars: wall time of `dvc repro` on a fresh clone, and quality across seeds.

    python bench/pipeline.py [--seeds 1 2 3 42] [--official ../shared/imdb/official-sample]

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
import sys
import tempfile
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent.parent))

from harness.loopback import REPO_ROOT, timed_run


def metrics(repo: Path) -> dict:
    return json.loads((repo / "metrics" / "metrics.json").read_text())


def quality_rows(repo: Path, source: str | None, seeds: list[int]) -> list[dict]:
    rows = []
    for seed in seeds:
        overrides = ["-S", f"featurize.seed={seed}", "-S", f"train.seed={seed}"]
        if source:
            overrides += ["-S", f"download.source={source}"]
        timed_run(["dvc", "exp", "run", *overrides], repo)
        rows.append({"seed": seed, **metrics(repo)})
    return rows


def print_quality(title: str, rows: list[dict]) -> None:
    print(f"\n### {title}\n")
    print("| seed | n_test | RMSE | R² | MAE | coverage (80%) | recipe RMSE | recipe R² |")
    print("|---:|---:|---:|---:|---:|---:|---:|---:|")
    for r in rows:
        b = r["baseline"]
        print(
            f"| {r['seed']} | {r['n_test']} | {r['rmse']:.4f} | {r['r2']:.4f} | {r['mae']:.4f} "
            f"| {r['interval_coverage']:.3f} | {b['rmse']:.4f} | {b['r2']:.4f} |"
        )
    med = {k: statistics.median(r[k] for r in rows) for k in ("rmse", "r2", "mae")}
    base = {k: statistics.median(r["baseline"][k] for r in rows) for k in ("rmse", "r2")}
    print(
        f"| **median** | | **{med['rmse']:.4f}** | **{med['r2']:.4f}** | {med['mae']:.4f} | "
        f"| {base['rmse']:.4f} | {base['r2']:.4f} |"
    )
    worst_rmse, worst_r2 = max(r["rmse"] for r in rows), min(r["r2"] for r in rows)
    print(f"\nworst seed: RMSE {worst_rmse:.4f}, R² {worst_r2:.4f}")


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--seeds", type=int, nargs="+", default=[1, 2, 3, 42])
    parser.add_argument("--official", default=str(REPO_ROOT.parent / "shared/imdb/official-sample"))
    args = parser.parse_args()
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
        print_quality(
            "Embedded sample (ggplot2movies, no crew)", quality_rows(clone, None, args.seeds)
        )
        if Path(args.official, "title.basics.tsv.gz").is_file():
            rows = quality_rows(clone, args.official, args.seeds)
            print_quality("Official sample (../shared/imdb/official-sample)", rows)
        else:
            print(f"\nofficial sample not found at {args.official}: skipped")


if __name__ == "__main__":
    main()
