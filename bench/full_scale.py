"""The pipeline at the size of the full IMDb dump: per-stage time and memory, a scaling curve,
and the clean stage's reading against the plain pandas approach.

    python -m bench.full_scale [--scales 0.125 0.25 0.5 1.0] [--dumps /tmp/imdb-dumps]
                               [--skip-plain] [--repeats 3]

For each scale: generate (or reuse) a synthetic dump in the official layout with
bench/make_dump.py, clone HEAD into a temporary folder, point download.source at the dump and
run `dvc repro` with every stage's command wrapped in `/usr/bin/time -v` (wall, CPU, peak RSS
per stage). Then, at the largest scale, read the dump both ways side by side: the clean stage
(stages.clean.clean) and `pandas.read_csv` of the whole files, as the original system did,
alternating, `--repeats` times each; the tables give medians.
Prints Markdown tables.
"""

from __future__ import annotations

import argparse
import json
import re
import statistics
import subprocess
import sys
import tempfile
from pathlib import Path

import yaml

from harness.loopback import timed_run
from workspace.layout import REPO_ROOT

STAGES = ("download", "clean", "featurize", "train", "evaluate")


def time_report(path: Path) -> dict[str, float]:
    """wall seconds, CPU seconds and peak RSS (MiB) from a `/usr/bin/time -v` report."""
    text = path.read_text()

    def field(label: str) -> str:
        return re.search(rf"{re.escape(label)}: (.+)", text).group(1).strip()

    wall = 0.0
    for part in field("Elapsed (wall clock) time (h:mm:ss or m:ss)").split(":"):
        wall = wall * 60 + float(part)
    cpu = float(field("User time (seconds)")) + float(field("System time (seconds)"))
    return {
        "wall": wall,
        "cpu": cpu,
        "rss_mib": int(field("Maximum resident set size (kbytes)")) / 1024,
    }


def dump_for(scale: float, dumps: Path) -> Path:
    folder = dumps / f"scale-{scale}"
    if not (folder / "title.crew.tsv.gz").is_file():
        timed_run(
            [sys.executable, "-m", "bench.make_dump", str(folder), "--scale", str(scale)], REPO_ROOT
        )
    return folder


def repro_at(scale: float, dump: Path, workdir: Path) -> dict:
    clone = workdir / f"clone-{scale}"
    subprocess.run(["git", "clone", "-q", str(REPO_ROOT), str(clone)], check=True)
    # data/sample is the download stage's dependency, even when the source is elsewhere.
    timed_run([sys.executable, "-m", "tools.sample"], clone)
    params = yaml.safe_load((clone / "params.yaml").read_text())
    params["download"]["source"] = str(dump)
    (clone / "params.yaml").write_text(yaml.safe_dump(params, sort_keys=False))
    pipeline = yaml.safe_load((clone / "dvc.yaml").read_text())
    reports = workdir / f"time-{scale}"
    reports.mkdir()
    for stage in STAGES:
        command = pipeline["stages"][stage]["cmd"]
        pipeline["stages"][stage]["cmd"] = f"/usr/bin/time -v -o {reports / stage} {command}"
    (clone / "dvc.yaml").write_text(yaml.safe_dump(pipeline, sort_keys=False))
    wall = timed_run(["dvc", "repro"], clone)
    stages = {stage: time_report(reports / stage) for stage in STAGES}
    metrics = json.loads((clone / "metrics" / "metrics.json").read_text())
    return {"scale": scale, "wall": wall, "stages": stages, "metrics": metrics}


def side_by_side(dump: Path, workdir: Path, repeats: int) -> dict[str, dict[str, float]]:
    """Both readers, alternating, `repeats` times each: the median of each figure."""
    readers = {"clean stage": "clean", "pandas.read_csv, whole files": "pandas"}
    runs: dict[str, list[dict[str, float]]] = {name: [] for name in readers}
    for attempt in range(repeats):
        for index, (name, reader) in enumerate(readers.items()):
            report = workdir / f"read-{attempt}-{index}"
            command = [sys.executable, "-m", "bench.dump_readers", reader, str(dump)]
            timed_run(["/usr/bin/time", "-v", "-o", str(report), *command], REPO_ROOT)
            runs[name].append(time_report(report))
    return {
        name: {key: statistics.median(r[key] for r in reports) for key in reports[0]}
        for name, reports in runs.items()
    }


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--scales", type=float, nargs="+", default=[0.125, 0.25, 0.5, 1.0])
    parser.add_argument("--dumps", type=Path, default=Path(tempfile.gettempdir()) / "imdb-dumps")
    parser.add_argument("--skip-plain", action="store_true")
    parser.add_argument("--repeats", type=int, default=3, help="runs of each reader (median)")
    args = parser.parse_args()
    with tempfile.TemporaryDirectory() as tmp:
        workdir = Path(tmp)
        results = [repro_at(s, dump_for(s, args.dumps), workdir) for s in args.scales]
        print("### `dvc repro` per scale (wall s / CPU s / peak RSS MiB per stage)\n")
        print("| scale | total wall s | " + " | ".join(STAGES) + " |")
        print("|---:|---:|" + "---|" * len(STAGES))
        for r in results:
            cells = [
                f"{r['stages'][s]['wall']:.0f} / {r['stages'][s]['cpu']:.0f} / "
                f"{r['stages'][s]['rss_mib']:.0f}"
                for s in STAGES
            ]
            print(f"| {r['scale']} | {r['wall']:.0f} | " + " | ".join(cells) + " |")
        largest = results[-1]
        peak = max(s["rss_mib"] for s in largest["stages"].values())
        print(
            f"\nscale {largest['scale']}: {largest['wall']:.0f} s wall (bar <= 360), "
            f"largest stage peak RSS {peak:.0f} MiB (bar <= 4096)"
        )
        for r in results:
            m = r["metrics"]
            print(
                f"scale {r['scale']}: n_train {m['n_train']}, n_test {m['n_test']}, "
                f"RMSE {m['rmse']:.4f}, R² {m['r2']:.4f} (original recipe "
                f"{m['baseline']['rmse']:.4f}, {m['baseline']['r2']:.4f})"
            )
        if not args.skip_plain:
            figures = side_by_side(dump_for(args.scales[-1], args.dumps), workdir, args.repeats)
            print("\n### Reading the dump: clean stage vs pandas.read_csv of whole files")
            print(f"(median of {args.repeats} alternating runs each)\n")
            print("| reader | wall s | CPU s | peak RSS MiB |\n|---|---:|---:|---:|")
            for name, f in figures.items():
                print(f"| {name} | {f['wall']:.1f} | {f['cpu']:.1f} | {f['rss_mib']:.0f} |")
            ours, plain = figures.values()
            print(
                f"\nplain / clean stage: time x{plain['wall'] / ours['wall']:.1f}, "
                f"peak memory x{plain['rss_mib'] / ours['rss_mib']:.1f}"
            )


if __name__ == "__main__":
    main()
