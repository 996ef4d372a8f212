"""Pipeline bars: wall time of `dvc repro` on a fresh clone, and quality across seeds.

    python -m bench.pipeline [--seeds 1 2 3 42] [--official ../shared/imdb/official-sample]
        [--set featurize.linear_score=false] [--skip-embedded]
        [--families hist_gradient_boosting xgboost lightgbm catboost]

Clones HEAD into a temporary folder (what a user gets), builds the embedded sample, times a
cold `dvc repro`, then runs `dvc exp run` per seed on the default sample and on the official
sample, each next to the original recipe refit on the same split. Prints Markdown tables.
With --families, the same runs for each model family, and per source a table of each family's
{CV RMSE, temporal fold RMSE, test R², temporal holdout R², fit seconds, nodes walked per
movie}, medians over the seeds.
"""

from __future__ import annotations

import argparse
import json
import resource
import statistics
import subprocess
import tempfile
import time
from pathlib import Path

from bench.sources import add_official_option, quality_sources
from harness.loopback import timed_run
from stages.families import FAMILIES
from workspace.layout import REPO_ROOT


def metrics(repo: Path) -> dict:
    validation = json.loads((repo / "metrics" / "validation.json").read_text())
    return json.loads((repo / "metrics" / "metrics.json").read_text()) | {
        "cv_rmse": validation["cv_rmse"],
        "temporal_rmse": validation["temporal_rmse"],
    }


def serving_and_fit_cost(repo: Path) -> dict:
    """Nodes the walk reads per test movie, and one fit of the configured model on the train
    split, timed in this process (the repo's params as `dvc exp run` left them)."""
    import pandas as pd
    import yaml

    from bench.serving import nodes_walked
    from stages.train import TrainParams, fit_model

    _, walked = nodes_walked(repo / "models" / "model.json", repo / "data/features/test.parquet")
    train = pd.read_parquet(repo / "data" / "features" / "train.parquet")
    names = json.loads((repo / "data" / "features" / "spec.json").read_text())["feature_names"]
    params = TrainParams(**yaml.safe_load((repo / "params.yaml").read_text())["train"])
    started = time.perf_counter()
    fit_model(params, train[names].to_numpy(), train["rating"].to_numpy())
    return {"nodes_walked": walked, "fit_seconds": time.perf_counter() - started}


def quality_rows(
    repo: Path, source: Path | None, seeds: list[int], overrides: list[str], costs: bool = False
) -> list[dict]:
    rows = []
    for seed in seeds:
        run = [*overrides, "-S", f"featurize.seed={seed}", "-S", f"train.seed={seed}"]
        if source:
            run += ["-S", f"download.source={source}"]
        timed_run(["dvc", "exp", "run", *run], repo)
        rows.append({"seed": seed, **metrics(repo)} | (serving_and_fit_cost(repo) if costs else {}))
    return rows


def print_families(title: str, by_family: dict[str, list[dict]]) -> None:
    print(
        f"\n### {title}: model families, medians over {len(next(iter(by_family.values())))} seeds\n"
    )
    print(
        "| family | CV RMSE | temporal fold RMSE | test R² | temporal holdout R² | worst test R² "
        "| fit (s) | nodes walked per movie |"
    )
    print("|---|---:|---:|---:|---:|---:|---:|---:|")
    for family, rows in by_family.items():
        med = {
            key: statistics.median(r[key] for r in rows)
            for key in ("cv_rmse", "temporal_rmse", "r2", "fit_seconds", "nodes_walked")
        }
        temporal = statistics.median(r["temporal"]["r2"] for r in rows)
        print(
            f"| {family} | {med['cv_rmse']:.4f} | {med['temporal_rmse']:.4f} | {med['r2']:.4f} "
            f"| {temporal:.4f} | {min(r['r2'] for r in rows):.4f} | {med['fit_seconds']:.1f} "
            f"| {med['nodes_walked']:.0f} |"
        )


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
    add_official_option(parser)
    parser.add_argument(
        "--set",
        action="append",
        default=[],
        metavar="KEY=VALUE",
        help="a params.yaml override for every run (dvc exp run -S)",
    )
    parser.add_argument("--skip-embedded", action="store_true")
    parser.add_argument("--families", nargs="+", choices=FAMILIES, help="compare these families")
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
        print()
        for title, source in quality_sources(args.official, not args.skip_embedded).items():
            if not args.families:
                print_quality(title, quality_rows(clone, source, args.seeds, overrides))
                continue
            by_family = {
                family: quality_rows(
                    clone, source, args.seeds, [*overrides, "-S", f"train.model={family}"], True
                )
                for family in args.families
            }
            print_families(title, by_family)


if __name__ == "__main__":
    main()
