"""Challenger against champion on live traffic, once IMDb has published the ratings of what they
scored: `challenger better`, `challenger worse` or `not yet decided`.

    python -m tools.live_comparison LOG_DIR_OR_FILE... --ratings SOURCE
        [--champion MODEL_ID --challenger MODEL_ID] [--alpha 0.05] [--planned-rows 5000]
        [--out DIR]

Reads the two-model records of the service's prediction log (shadow mode: both models scored
each movie; split mode: one of them answered it) and joins them on tconst with a later
title.ratings from SOURCE (a folder in the official layout or an http(s) base URL, as the
download stage accepts). The pair compared is the newest in the log unless named; its design is
the one it was last served under (paired for shadow, split for split). A movie counts once, at
its first logged prediction: a movie requested a thousand times weighs as much as any other,
and the movies stay independent.

The decision is an anytime-valid rule (imdb_rating/sequential.py): it may run every day on
the growing log without inflating false decisions beyond --alpha. When undecided it says how
many more movies with a published rating it expects to need at the difference seen so far.
Writes comparison.json and a self-contained comparison.html to --out.

Exit code: 0 challenger better, 3 challenger worse, 4 not yet decided, 1 on an unreadable input
or a log without two-model records.
"""

from __future__ import annotations

import argparse
import html
import logging
import sys
from collections.abc import Sequence
from pathlib import Path
from typing import Any

import numpy as np
import pandas as pd

from imdb_rating import sequential
from imdb_rating.prediction_records import read_records
from tools.accuracy_report import fetch_ratings, log_paths
from tools.svg import svg_plot
from workspace.commands import CommandError
from workspace.files import write_json

EXIT_CODES = {sequential.BETTER: 0, sequential.WORSE: 3, sequential.UNDECIDED: 4}
PLOTTED_LOOKS = 120


def two_model_rows(paths: Sequence[Path]) -> pd.DataFrame:
    """One row per logged prediction made with two models in traffic, in log order."""
    columns: dict[str, list[Any]] = {
        name: []
        for name in (
            "tconst", "design", "champion", "challenger", "predicted", "challenger_predicted",
            "by_challenger", "share",
        )
    }  # fmt: skip
    for record in read_records(paths):
        shadow, split = record.get("shadow"), record.get("split")
        if shadow is not None:
            row = ("paired", record["model_id"], shadow["model_id"], shadow["rating"], False, 0.0)
        elif split is not None:
            by_challenger = split["answered_by"] == "challenger"
            row = ("split", split["champion"], split["challenger"], np.nan, by_challenger,
                   split["share"])  # fmt: skip
        else:
            continue
        design, champion, challenger, challenger_predicted, by_challenger, share = row
        columns["tconst"].append(record["movie"].get("tconst"))
        columns["design"].append(design)
        columns["champion"].append(champion)
        columns["challenger"].append(challenger)
        columns["predicted"].append(record["rating"])
        columns["challenger_predicted"].append(challenger_predicted)
        columns["by_challenger"].append(by_challenger)
        columns["share"].append(share)
    return pd.DataFrame(columns)


def compare_live(
    logged: pd.DataFrame,
    ratings: pd.Series,
    champion: str | None = None,
    challenger: str | None = None,
    alpha: float = sequential.ALPHA,
    planned_rows: int = sequential.PLANNED_ROWS,
) -> dict[str, Any]:
    """The comparison of one pair of models (the newest unless named) as a report."""
    if champion is not None or challenger is not None:
        wanted = (logged["champion"] == champion) & (logged["challenger"] == challenger)
        if not wanted.any():
            raise CommandError(
                f"the log has no records of champion {champion} with challenger {challenger}"
            )
    elif logged.empty:
        raise CommandError("the log has no record of two models in traffic (shadow or split)")
    else:
        champion, challenger = logged.iloc[-1][["champion", "challenger"]]
    pair = logged[(logged["champion"] == champion) & (logged["challenger"] == challenger)]
    design = pair.iloc[-1]["design"]
    rows = pair[pair["design"] == design]
    movies = rows[rows["tconst"].notna()].drop_duplicates("tconst")
    movies = movies.assign(actual=movies["tconst"].map(ratings)).dropna(subset=["actual"])
    report: dict[str, Any] = {
        "champion": champion,
        "challenger": challenger,
        "design": design,
        "records": len(rows),
        "records_other_design": len(pair) - len(rows),
        "movies": int(rows["tconst"].nunique()),
        "movies_rated": len(movies),
        "comparison": None,
        "running": None,
    }
    actual = movies["actual"].to_numpy(dtype=float)
    predicted = movies["predicted"].to_numpy(dtype=float)
    try:
        if design == "paired":
            challenger_predicted = movies["challenger_predicted"].to_numpy(dtype=float)
            result = sequential.compare_paired(
                actual, predicted, challenger_predicted, alpha, planned_rows
            )
        else:
            result = sequential.compare_split(
                actual,
                predicted,
                movies["by_challenger"].to_numpy(dtype=bool),
                movies["share"].to_numpy(dtype=float),
                alpha,
                planned_rows,
            )
    except ValueError as error:  # too few rated movies yet
        report["answer"] = sequential.UNDECIDED
        report["why"] = str(error)
        return report
    report["answer"] = result.answer
    report["comparison"] = result.to_dict()
    report["running"] = running_sequence(result)
    return report


def running_sequence(result: sequential.Comparison) -> list[dict[str, float]]:
    """The MSE difference and its confidence sequence at ~PLOTTED_LOOKS looks (log-spaced)."""
    means, lows, highs = result.running
    looks = np.unique(np.geomspace(1, result.rows, PLOTTED_LOOKS).astype(int)) - 1
    return [
        {"movies": int(i + 1), "estimate": float(means[i]), "low": float(lows[i]),
         "high": float(highs[i])}
        for i in looks
        if np.isfinite(lows[i])
    ]  # fmt: skip


def summary(report: dict[str, Any]) -> str:
    """One line: the pair, the answer and its figures."""
    head = (
        f"challenger {report['challenger']} against champion {report['champion']}"
        f" ({report['design']}, {report['movies_rated']} movies with a later rating)"
    )
    result = report["comparison"]
    if result is None:
        return f"{head}: {report['answer']} ({report['why']})"
    rmse = result["rmse_difference"]
    figures = (
        f"RMSE {result['challenger_rmse']:.3f} vs {result['champion_rmse']:.3f},"
        f" difference {rmse['estimate']:+.3f} [{rmse['low']:+.3f}, {rmse['high']:+.3f}]"
        f" at alpha {result['rule']['alpha']}"
    )
    line = f"{head}: {report['answer']}: {figures}"
    if report["answer"] == sequential.UNDECIDED:
        more = result["more_rows_needed"]
        line += (
            "; no difference seen yet"
            if more is None
            else f"; about {more} more movies with a rating expected to decide"
        )
    return line


def render_html(report: dict[str, Any]) -> str:
    result = report["comparison"] or {}
    cells = [
        ("champion", report["champion"]),
        ("challenger", report["challenger"]),
        ("design", report["design"]),
        ("movies with a later rating", report["movies_rated"]),
    ]
    if result:
        rmse = result["rmse_difference"]
        interval = f"[{rmse['low']:+.4f}, {rmse['high']:+.4f}]"
        cells += [
            ("champion RMSE", f"{result['champion_rmse']:.4f}"),
            ("challenger RMSE", f"{result['challenger_rmse']:.4f}"),
            ("RMSE difference", f"{rmse['estimate']:+.4f} {interval}"),
            ("more movies expected to decide", result["more_rows_needed"]),
            ("rule", f"{result['rule']['method']}, alpha {result['rule']['alpha']}"),
        ]
    table = "".join(
        f"<tr><th>{html.escape(name)}</th><td>{html.escape(str(value))}</td></tr>"
        for name, value in cells
    )
    figure = ""
    running = report["running"] or []
    if running:
        last = running[-1]["movies"]
        series = {
            name: [(point["movies"], point[name]) for point in running]
            for name in ("estimate", "low", "high")
        }
        values = [v for points in series.values() for _, v in points] + [0.0]
        bottom, top = min(values), max(values)
        pad = (top - bottom) * 0.05 or 0.1
        figure = svg_plot(
            "Challenger minus champion: mean squared error, with its confidence sequence",
            series,
            (0, last),
            (bottom - pad, top + pad),
            [(v, f"{v:,.0f}") for v in np.linspace(0, last, 5)],
            np.round(np.linspace(bottom - pad, top + pad, 6), 3),
            lines=True,
            guides=[((0, 0.0), (last, 0.0), "no difference")],
        )
    return f"""<!doctype html>
<html lang="en"><head><meta charset="utf-8"><title>Live comparison</title>
<style>body{{font-family:sans-serif;margin:2em;max-width:1000px}}
table{{border-collapse:collapse}}td,th{{border:1px solid #ccc;padding:4px 8px;text-align:left}}
</style></head><body>
<h1>Live comparison: {html.escape(report["answer"])}</h1>
<p>{html.escape(summary(report))}</p>
<table>{table}</table>
<p>Below zero the challenger is better. The decision is taken when the band excludes zero; the
band holds the true difference at every number of movies at once (with probability
1 - alpha), so looking every day is safe.</p>
{figure}
</body></html>
"""


def parse_args(argv: Sequence[str] | None) -> argparse.Namespace:
    parser = argparse.ArgumentParser(
        prog="python -m tools.live_comparison", description=__doc__.splitlines()[0]
    )
    parser.add_argument("logs", nargs="+", help="prediction log folders or files")
    parser.add_argument("--ratings", required=True, help="title.ratings source: folder or URL")
    parser.add_argument("--champion", help="the champion's model_id (with --challenger)")
    parser.add_argument("--challenger", help="the challenger's model_id (with --champion)")
    parser.add_argument("--alpha", type=float, default=sequential.ALPHA)
    parser.add_argument("--planned-rows", type=int, default=sequential.PLANNED_ROWS)
    parser.add_argument("--out", type=Path, default=Path("live-comparison"))
    args = parser.parse_args(argv)
    if (args.champion is None) != (args.challenger is None):
        parser.error("--champion and --challenger go together")
    return args


def main(argv: Sequence[str] | None = None) -> int:
    args = parse_args(argv)
    logging.basicConfig(level=logging.WARNING, format="%(levelname)s %(message)s")
    try:
        logged = two_model_rows(log_paths(args.logs))
        report = compare_live(
            logged,
            fetch_ratings(args.ratings),
            args.champion,
            args.challenger,
            args.alpha,
            args.planned_rows,
        )
    except (CommandError, OSError, ValueError) as error:
        print(f"error: {error}", file=sys.stderr)
        return 1
    report["ratings_source"] = args.ratings
    args.out.mkdir(parents=True, exist_ok=True)
    write_json(args.out / "comparison.json", report)
    (args.out / "comparison.html").write_text(render_html(report), encoding="utf-8")
    print(summary(report))
    print(f"report: {args.out / 'comparison.html'}")
    return EXIT_CODES[report["answer"]]


if __name__ == "__main__":
    sys.exit(main())
