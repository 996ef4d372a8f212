"""Live accuracy of the served models, once IMDb has published the ratings of what they scored.

    python -m tools.accuracy_report LOG_DIR_OR_FILE... --ratings SOURCE [--model models/model.json]
        [--out DIR] [--max-rmse X] [--max-rmse-increase X] [--min-coverage X] [--min-rows N]

Joins the service's prediction log (IMDB_PREDICTION_LOG_DIR, imdb_rating/prediction_records.py) on
tconst with a later title.ratings from SOURCE: a folder in the official layout or an http(s)
base URL, fetched and parsed by the download and clean stages' own code. Per model_id it
reports the joined rows, live RMSE, MAE and bias (mean of predicted - actual), the share of
actual ratings inside the logged intervals against their nominal coverage, by day of logging,
and, for a model whose card is given (--model, repeatable), the input PSI against its
training data and its test metrics.
Writes report.json and a self-contained report.html (inline SVG) to --out.

Checks, for each model with at least --min-rows joined rows (default 100: fewer says more about
noise than about the model):
  rmse           live RMSE <= --max-rmse (off unless given: a good RMSE depends on the data)
  rmse_increase  live RMSE <= the card's test RMSE + --max-rmse-increase (default 0.25 rating
                 points; needs the model's card)
  coverage       coverage >= --min-coverage (default: the nominal coverage - 0.05)
  rows_joined    fails when no model has --min-rows joined rows (no tconst sent, wrong source)
Exit code: 0 when every check passes, 3 when one fails (one line per failed check), 1 on an
unreadable input.
"""

from __future__ import annotations

import argparse
import html
import logging
import math
import shutil
import sys
import tempfile
from collections.abc import Sequence
from pathlib import Path
from typing import Any

import numpy as np
import pandas as pd

from imdb_data.official import RATINGS, read_ratings, to_number
from imdb_rating.card import ArtifactError, ModelCard, read_model_card
from imdb_rating.drift import MONITORED_FIELDS, psi_by_input
from imdb_rating.prediction_records import log_files, read_records
from stages.download import (
    DownloadParams,
    MissingFileError,
    copy_from_folder,
    fetch_from_url,
    is_url,
    verify_gzip,
)
from tools.svg import svg_plot
from workspace.commands import CommandError
from workspace.files import write_json
from workspace.params import load_params

FAILED = 3
MIN_ROWS = 100
MAX_RMSE_INCREASE = 0.25
COVERAGE_TOLERANCE = 0.05
MAX_PLOTTED_POINTS = 4000  # keeps the page light; the statistics use every row
LOGGED_COLUMNS = ("time", "model_id", "tconst", "predicted", "low", "high", "coverage")


def log_paths(arguments: Sequence[str]) -> list[Path]:
    """Log files named directly, or found (with their rotated backups) in folders."""
    paths: list[Path] = []
    for argument in map(Path, arguments):
        if argument.is_dir():
            paths += log_files(argument)
        elif argument.is_file():
            paths.append(argument)
        else:
            raise CommandError(f"{argument}: no such prediction log file or folder")
    return paths


def fetch_ratings(source: str) -> pd.Series:
    """averageRating by tconst from title.ratings at `source`, as the download stage gets it."""
    # Retries and timeouts as the pipeline fetches; params.yaml of this checkout, wherever run.
    settings = load_params("download")
    settings |= {"source": source, "files": [RATINGS]}
    params = DownloadParams(**settings)
    staging = Path(tempfile.mkdtemp(prefix="accuracy-ratings-"))
    try:
        if is_url(source):
            fetch_from_url(source, RATINGS, staging, {}, staging, params)
        else:
            copy_from_folder(Path(source), RATINGS, staging)
        verify_gzip(staging / RATINGS)
        ratings = read_ratings(staging / RATINGS)
    except MissingFileError as missing:
        raise CommandError(f"{missing}: not found") from None
    finally:
        shutil.rmtree(staging, ignore_errors=True)
    return to_number(ratings["averageRating"]).dropna()


def logged_predictions(paths: Sequence[Path]) -> pd.DataFrame:
    """One row per logged prediction, read in one pass: what the report uses of each record
    (the drift inputs of the movie, not all of it), so a full log fits in memory."""
    columns: dict[str, list[Any]] = {name: [] for name in LOGGED_COLUMNS + MONITORED_FIELDS}
    for record in read_records(paths):
        movie = record["movie"]
        for name in MONITORED_FIELDS:
            columns[name].append(movie[name])
        columns["time"].append(record["time"])
        columns["model_id"].append(record["model_id"])
        columns["tconst"].append(movie.get("tconst"))
        columns["predicted"].append(record["rating"])
        for name in ("low", "high", "coverage"):
            columns[name].append(record[name])
    frame = pd.DataFrame(columns)
    frame["day"] = frame["time"].str[:10]
    return frame


def accuracy(rows: pd.DataFrame) -> dict[str, float]:
    error = rows["predicted"] - rows["actual"]
    inside = rows["actual"].between(rows["low"], rows["high"])
    return {
        "rows": len(rows),
        "rmse": float(np.sqrt(np.mean(error**2))),
        "mae": float(np.mean(np.abs(error))),
        "bias": float(np.mean(error)),
        "interval_coverage": float(inside.mean()),
    }


def model_report(model_id: str, logged: pd.DataFrame, card: ModelCard | None) -> dict[str, Any]:
    """Live accuracy of one model, by day too; input drift and test metrics from its card."""
    joined = logged[logged["actual"].notna()]
    report: dict[str, Any] = {
        "model_id": model_id,
        "rows_logged": len(logged),
        "rows_with_tconst": int(logged["tconst"].notna().sum()),
        "rows_joined": len(joined),
        "nominal_coverage": float(logged["coverage"].iloc[0]),
        "first_logged": logged["time"].min(),
        "last_logged": logged["time"].max(),
        "live": accuracy(joined) if len(joined) else None,
        "by_day": [{"day": day, **accuracy(rows)} for day, rows in joined.groupby("day")],
        "test": None,
        "input_psi": None,
    }
    if card is not None:
        metrics = card.metrics
        report["test"] = {
            "rmse": metrics.rmse,
            "mae": metrics.mae,
            "interval_coverage": metrics.interval_coverage,
        }
        columns = {name: logged[name].tolist() for name in MONITORED_FIELDS}
        report["input_psi"] = psi_by_input(card.feature_spec.drift_reference, columns)
    return report


def failed_checks(models: list[dict[str, Any]], args: argparse.Namespace) -> list[str]:
    """One line per failed check; empty when accuracy is within the thresholds."""
    failures = []
    checked = [m for m in models if m["rows_joined"] >= args.min_rows]
    if not checked:
        joined = ", ".join(f"{m['model_id'][:12]}: {m['rows_joined']}" for m in models) or "none"
        failures.append(
            f"rows_joined: no model has --min-rows {args.min_rows} predictions joined with "
            f"a published rating ({joined})"
        )
    for model in checked:
        name, live = model["model_id"][:12], model["live"]
        if args.max_rmse is not None and live["rmse"] > args.max_rmse:
            failures.append(
                f"rmse: model {name} live RMSE {live['rmse']:.3f} > --max-rmse {args.max_rmse}"
            )
        if model["test"] is not None:
            increase = live["rmse"] - model["test"]["rmse"]
            if increase > args.max_rmse_increase:
                failures.append(
                    f"rmse_increase: model {name} live RMSE {live['rmse']:.3f} is "
                    f"{increase:+.3f} over its test RMSE {model['test']['rmse']:.3f} "
                    f"(--max-rmse-increase {args.max_rmse_increase})"
                )
        minimum = args.min_coverage
        if minimum is None:
            minimum = model["nominal_coverage"] - COVERAGE_TOLERANCE
        if live["interval_coverage"] < minimum:
            failures.append(
                f"coverage: model {name} intervals hold {live['interval_coverage']:.1%} of "
                f"actual ratings < {minimum:.1%} (nominal {model['nominal_coverage']:.0%})"
            )
    return failures


def plots(joined: pd.DataFrame, models: list[dict[str, Any]]) -> list[str]:
    """Predicted vs actual; RMSE and interval coverage by day of logging."""
    if joined.empty:
        return []
    sample = joined.sample(min(len(joined), MAX_PLOTTED_POINTS), random_state=0)
    scatter = {
        model_id[:12]: list(zip(rows["predicted"], rows["actual"], strict=True))
        for model_id, rows in sample.groupby("model_id")
    }
    ratings_axis = [(v, str(v)) for v in range(1, 11)]
    figures = [
        svg_plot(
            "Actual rating against predicted rating",
            scatter,
            (1, 10),
            (1, 10),
            ratings_axis,
            range(1, 11),
            lines=False,
            guides=[((1, 1), (10, 10), "actual = predicted")],
        )
    ]
    days = sorted(joined["day"].unique())
    position = {day: i for i, day in enumerate(days)}
    every = max(1, len(days) // 8)
    x_ticks = [(i, day[5:]) for i, day in enumerate(days) if i % every == 0]
    x_range = (-0.5, len(days) - 0.5)
    for metric, title, reference in (
        ("rmse", "RMSE by day of logging (dashed: test RMSE)", "test"),
        ("interval_coverage", "Interval coverage by day (dashed: nominal)", "nominal"),
    ):
        series = {
            m["model_id"][:12]: [(position[d["day"]], d[metric]) for d in m["by_day"]]
            for m in models
            if m["by_day"]
        }
        guides = []
        for m in models:
            level = (
                m["nominal_coverage"] if reference == "nominal" else (m["test"] or {}).get("rmse")
            )
            if level is not None:
                guides.append(((x_range[0], level), (x_range[1], level), f"{m['model_id'][:12]}"))
        values = [v for points in series.values() for _, v in points] + [g[0][1] for g in guides]
        top = max(values) * 1.1 if metric == "rmse" else 1.0
        bottom = 0.0 if metric == "rmse" else min(0.5, math.floor(min(values) * 10) / 10)
        y_ticks = np.round(np.linspace(bottom, top, 6), 2)
        figures.append(
            svg_plot(
                title, series, x_range, (bottom, top), x_ticks, y_ticks, lines=True, guides=guides
            )
        )
    return figures


def _cell(value: Any) -> str:
    if isinstance(value, float):
        return f"{value:.3f}"
    return html.escape("—" if value is None else str(value))


def render_html(report: dict[str, Any], figures: list[str]) -> str:
    header = ["model", "logged", "joined", "RMSE", "test RMSE", "MAE", "bias", "coverage"]
    header.append("nominal")
    rows = []
    for m in report["models"]:
        live = m["live"] or {}
        cells = [
            m["model_id"][:12],
            m["rows_logged"],
            m["rows_joined"],
            live.get("rmse"),
            (m["test"] or {}).get("rmse"),
            live.get("mae"),
            live.get("bias"),
            live.get("interval_coverage"),
            m["nominal_coverage"],
        ]
        rows.append("<tr>" + "".join(f"<td>{_cell(c)}</td>" for c in cells) + "</tr>")
    drift = [
        f"<tr><td>{_cell(m['model_id'][:12])}</td>"
        + "".join(f"<td>{name}: {value:.3f}</td>" for name, value in m["input_psi"].items())
        + "</tr>"
        for m in report["models"]
        if m["input_psi"]
    ]
    verdict = "PASS" if not report["failures"] else "FAIL"
    failures = "".join(f"<li>{html.escape(f)}</li>" for f in report["failures"])
    return f"""<!doctype html>
<html lang="en"><head><meta charset="utf-8"><title>Accuracy report</title>
<style>body{{font-family:sans-serif;margin:2em;max-width:1200px}}
table{{border-collapse:collapse}}td,th{{border:1px solid #ccc;padding:4px 8px;text-align:right}}
.fail{{color:#b00}}.pass{{color:#070}}svg{{margin:8px}}</style></head><body>
<h1>Accuracy with delayed labels: <span class="{verdict.lower()}">{verdict}</span></h1>
<p>Ratings from {html.escape(report["ratings_source"])}, {report["rows_logged"]} predictions
logged, {report["rows_joined"]} joined with a published rating.</p>
<ul class="fail">{failures}</ul>
<table><tr>{"".join(f"<th>{h}</th>" for h in header)}</tr>{"".join(rows)}</table>
<h2>Input drift (PSI against the training data: above 0.1 a shift, above 0.25 a large one)</h2>
<table>{"".join(drift) or "<tr><td>no model card given (--model)</td></tr>"}</table>
<h2>Plots</h2>
{"".join(figures)}
</body></html>
"""


def parse_args(argv: Sequence[str] | None) -> argparse.Namespace:
    parser = argparse.ArgumentParser(
        prog="python -m tools.accuracy_report", description=__doc__.splitlines()[0]
    )
    parser.add_argument("logs", nargs="+", help="prediction log folders or files")
    parser.add_argument("--ratings", required=True, help="title.ratings source: folder or URL")
    parser.add_argument("--model", type=Path, action="append", default=[], help="a model.json")
    parser.add_argument("--out", type=Path, default=Path("accuracy-report"))
    parser.add_argument("--max-rmse", type=float)
    parser.add_argument("--max-rmse-increase", type=float, default=MAX_RMSE_INCREASE)
    parser.add_argument("--min-coverage", type=float)
    parser.add_argument("--min-rows", type=int, default=MIN_ROWS)
    return parser.parse_args(argv)


def build_report(args: argparse.Namespace) -> tuple[dict[str, Any], list[str]]:
    logged = logged_predictions(log_paths(args.logs))
    cards = {}
    for path in args.model:
        try:
            card = read_model_card(path)
        except ArtifactError as error:
            raise CommandError(str(error)) from None
        cards[card.model_id] = card
    logged["actual"] = logged["tconst"].map(fetch_ratings(args.ratings))
    models = [
        model_report(model_id, rows, cards.get(model_id))
        for model_id, rows in logged.groupby("model_id", sort=False)
    ]
    report = {
        "ratings_source": args.ratings,
        "rows_logged": len(logged),
        "rows_joined": int(logged["actual"].notna().sum()),
        "thresholds": {
            "max_rmse": args.max_rmse,
            "max_rmse_increase": args.max_rmse_increase,
            "min_coverage": args.min_coverage,
            "min_rows": args.min_rows,
        },
        "models": models,
    }
    report["failures"] = failed_checks(models, args)
    return report, plots(logged[logged["actual"].notna()], models)


def main(argv: Sequence[str] | None = None) -> int:
    args = parse_args(argv)
    logging.basicConfig(level=logging.WARNING, format="%(levelname)s %(message)s")
    try:
        report, figures = build_report(args)
    except (CommandError, OSError, ValueError) as error:
        print(f"error: {error}", file=sys.stderr)
        return 1
    args.out.mkdir(parents=True, exist_ok=True)
    write_json(args.out / "report.json", report)
    (args.out / "report.html").write_text(render_html(report, figures), encoding="utf-8")
    for model in report["models"]:
        live = model["live"]
        summary = "no published ratings yet"
        if live is not None:
            summary = f"RMSE {live['rmse']:.3f}, coverage {live['interval_coverage']:.1%}"
        print(f"model {model['model_id'][:12]}: {model['rows_joined']} joined, {summary}")
    for failure in report["failures"]:
        print(f"FAIL {failure}")
    print(f"report: {args.out / 'report.html'}")
    return FAILED if report["failures"] else 0


if __name__ == "__main__":
    sys.exit(main())
