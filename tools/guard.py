"""The automatic guard of the last promotion: roll back when the new champion is worse on live
traffic than the champion it replaced.

    python -m tools.guard LOG_DIR_OR_FILE... --ratings SOURCE [--served DIR] [--dry-run]
        [--out DIR]

The last promotion is the newest `promote` in the record (registry/releases.py). While its
version still holds `champion`, the decision of tools.live_comparison runs on the prediction
log, with the new champion answering and the replaced one as its challenger (in shadow mode
after `make promote --served`); when it says the replaced model is better, the guard rolls back
as `make rollback` does, recording the decision's figures as the reason. Safe to run daily: the
decision is anytime-valid.

Exit code: 0 when the champion stays (not worse, or not yet decided, or nothing to guard), 3
when it was rolled back (or would be, with --dry-run: the scheduled workflow decides so, then
runs the rollback workflow, which moves the cluster's image and `champion` together, with the
reason from OUT/rollback-why.txt), 1 on an error.
"""

from __future__ import annotations

import argparse
import logging
import sys
from collections.abc import Sequence
from pathlib import Path

from imdb_rating import sequential
from registry.releases import PROMOTE, champion_version, history
from registry.versions import registered_model
from tools.accuracy_report import fetch_ratings, log_paths
from tools.live_comparison import compare_live, render_html, summary, two_model_rows
from tools.rollback import roll_back
from workspace.commands import CommandError
from workspace.files import write_json

ROLLED_BACK = 3
WHY_FILE = "rollback-why.txt"


def guard(args: argparse.Namespace) -> int:
    name = registered_model()
    promotion = next((r for r in history(name) if r.action == PROMOTE), None)
    if promotion is None or not promotion.from_version:
        print(f"nothing to guard: {name} has no recorded promotion over a previous champion")
        return 0
    current = champion_version(name)
    if current is None or current[0] != promotion.to_version:
        now = "none" if current is None else f"version {current[0]}"
        print(
            f"nothing to guard: the last promotion made version {promotion.to_version}"
            f" champion; champion is now {now}"
        )
        return 0
    report = compare_live(
        two_model_rows(log_paths(args.logs)),
        fetch_ratings(args.ratings),
        champion=promotion.to_model_id,
        challenger=promotion.from_model_id,
        alpha=args.alpha,
    )
    report["ratings_source"] = args.ratings
    args.out.mkdir(parents=True, exist_ok=True)
    write_json(args.out / "comparison.json", report)
    (args.out / "comparison.html").write_text(render_html(report), encoding="utf-8")
    print(summary(report))
    if report["answer"] != sequential.BETTER:  # the replaced champion is not better
        print(f"champion version {promotion.to_version} stays ({report['answer']})")
        return 0
    why = f"guard: the replaced champion is better on live traffic: {summary(report)}"
    (args.out / WHY_FILE).write_text(why + "\n", encoding="utf-8")  # for the rollback workflow
    if args.dry_run:
        print(f"would roll back: {why}")
        return ROLLED_BACK
    print(roll_back(name, why, args.served).describe())
    return ROLLED_BACK


def main(argv: Sequence[str] | None = None) -> int:
    parser = argparse.ArgumentParser(
        prog="python -m tools.guard", description=__doc__.splitlines()[0]
    )
    parser.add_argument("logs", nargs="+", help="prediction log folders or files")
    parser.add_argument("--ratings", required=True, help="title.ratings source: folder or URL")
    parser.add_argument("--served", type=Path, help="a served folder to swap back on rollback")
    parser.add_argument("--alpha", type=float, default=sequential.ALPHA)
    parser.add_argument("--dry-run", action="store_true", help="decide, do not roll back")
    parser.add_argument("--out", type=Path, default=Path("guard-report"))
    args = parser.parse_args(argv)
    logging.basicConfig(level=logging.WARNING, format="%(levelname)s %(message)s")
    try:
        return guard(args)
    except (CommandError, OSError, ValueError) as error:
        print(f"error: {error}", file=sys.stderr)
        return 1


if __name__ == "__main__":
    sys.exit(main())
