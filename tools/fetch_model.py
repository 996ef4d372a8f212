"""Fetch a registered model into a served folder: the registry's `challenger`, or any version.

    python -m tools.fetch_model challenger --served DIR            # the alias, as challenger
    python -m tools.fetch_model 7 --served DIR --as champion        # version 7, as champion

Downloads the version's model.json and model.skops, verifies them as the service will (sha256,
trusted types, the card's model_id against the registry's tag), installs them under
DIR/models/<model_id> and points DIR/<role> at them in one rename. A service started with
DIR's settings (registry/served.py: IMDB_MODEL_CARD, IMDB_CHALLENGER_CARD,
IMDB_TRAFFIC_POLICY) swaps it in at run time; set the policy in DIR/traffic.json.
"""

from __future__ import annotations

import argparse
from pathlib import Path

from registry.served import ROLES, card_path, serve_version
from registry.versions import registered_model, tracking
from workspace.commands import CommandError, run_command


def resolve(name: str, version_or_alias: str) -> str:
    """A version number, as given or as the alias names it."""
    if version_or_alias.isdigit():
        return version_or_alias
    from mlflow.exceptions import MlflowException

    _, client = tracking()
    try:
        return str(client.get_model_version_by_alias(name, version_or_alias).version)
    except MlflowException:
        raise CommandError(f"{name} has no alias {version_or_alias!r}") from None


def main(argv: list[str] | None = None) -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("model", help="a version number or an alias (challenger, champion)")
    parser.add_argument("--served", type=Path, required=True, help="the served folder")
    parser.add_argument("--as", dest="role", choices=ROLES, default="challenger")
    args = parser.parse_args(argv)
    name = registered_model()
    version = resolve(name, args.model)
    model_id = serve_version(name, version, args.served, args.role)
    card = card_path(args.served, args.role)
    print(f"{name} version {version} (model {model_id}) is {args.role}: {card}")


if __name__ == "__main__":
    run_command(main)
