"""Fetch a registered model into a served folder: the registry's `challenger`, or any version.

    python -m tools.fetch_model challenger --served DIR            # the alias, as challenger
    python -m tools.fetch_model 7 --served DIR --as champion        # version 7, as champion
    python -m tools.fetch_model --environment --served DIR          # the service's settings

Downloads the version's model.json and model.skops, verifies them as the service will (sha256,
trusted types, the card's model_id against the registry's tag), installs them under
DIR/models/<model_id> and points DIR/<role> at them in one rename. A service started with
DIR's settings (registry/served.py: IMDB_MODEL_CARD, IMDB_CHALLENGER_CARD,
IMDB_TRAFFIC_POLICY) swaps it in at run time; set the policy in DIR/traffic.json.
"""

from __future__ import annotations

import argparse
from pathlib import Path

from registry.served import ROLES, card_path, serve_version, service_environment
from registry.versions import registered_model, tracking, version_by_alias
from workspace.commands import CommandError, run_command


def resolve(name: str, version_or_alias: str) -> str:
    """A version number, as given or as the alias names it."""
    if version_or_alias.isdigit():
        return version_or_alias
    _, client = tracking()
    version = version_by_alias(client, name, version_or_alias)
    if version is None:
        raise CommandError(f"{name} has no alias {version_or_alias!r}")
    return str(version.version)


def main(argv: list[str] | None = None) -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("model", nargs="?", help="a version number or an alias (challenger)")
    parser.add_argument("--served", type=Path, required=True, help="the served folder")
    parser.add_argument("--as", dest="role", choices=ROLES, default="challenger")
    parser.add_argument(
        "--environment", action="store_true", help="print the service's settings for --served"
    )
    args = parser.parse_args(argv)
    if args.environment:
        for key, value in service_environment(args.served.resolve()).items():
            print(f"{key}={value}")
        return
    if args.model is None:
        parser.error("name a version or an alias, or ask for --environment")
    name = registered_model()
    version = resolve(name, args.model)
    model_id = serve_version(name, version, args.served, args.role)
    card = card_path(args.served, args.role)
    print(f"{name} version {version} (model {model_id}) is {args.role}: {card}")


if __name__ == "__main__":
    run_command(main)
