"""Put the champion back: `make rollback WHY="..." [SERVED=dir]`.

    python -m tools.rollback --why TEXT [--served DIR]
    python -m tools.rollback --why TEXT --plan          # what it would do, as JSON; no change

`champion` moves back to the version the current champion replaced (the record of its
promotion says which, registry/releases.py), and the move is recorded with `--why`. With
`--served DIR` the service there swaps back to that model first (a hot swap: no restart, no
failed request), and the rolled-back model leaves traffic (no challenger, policy off). The
guard (tools.guard) calls the same function, and so does the rollback workflow: it reads the
plan (`--plan`: the version, model_id and image to go back to), rolls the cluster back to that
image, and only then moves the alias with this command.
"""

from __future__ import annotations

import argparse
import json
from dataclasses import asdict
from pathlib import Path

from registry.releases import Release, apply, plan_rollback
from registry.served import policy_path, remove, serve_version
from registry.versions import registered_model
from service.traffic import TrafficPolicy
from workspace.commands import run_command


def roll_back(name: str, why: str, served: Path | None) -> Release:
    release = plan_rollback(name, why)
    if served is not None:
        serve_version(name, release.to_version, served, "champion")
        TrafficPolicy().write(policy_path(served))
        remove(served, "challenger")
    apply(release)
    return release


def main(argv: list[str] | None = None) -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--why", required=True, help="recorded with the move")
    parser.add_argument("--served", type=Path, help="a served folder to swap back")
    parser.add_argument("--plan", action="store_true", help="print the move as JSON, make none")
    args = parser.parse_args(argv)
    if args.plan:
        print(json.dumps(asdict(plan_rollback(registered_model(), args.why)), indent=2))
        return
    print(roll_back(registered_model(), args.why, args.served).describe())


if __name__ == "__main__":
    run_command(main)
