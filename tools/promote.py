"""Move the registry's `champion` alias to the model main pins: `make promote [VERSION=n]`.

    python -m tools.promote [--version N] [--why TEXT] [--served DIR]
        [--image REGISTRY/NAME@sha256:DIGEST --sbom SBOM.json]

The pinned model is models/model.json as dvc.lock records it (after `dvc repro` or `dvc pull`
on main). `champion` moves to the registered version with that model's model_id — the newest
one, or `--version` — and to nothing else: any other version, or a workspace model that is
not the pinned one, is refused with one line and exit status 1. CI runs this on main after a
merge, so the alias always names what main deploys. Each move is recorded (registry/releases.py).

With `--served DIR` (a served folder, registry/served.py) the service there swaps to the new
champion first, and the champion it replaces keeps scoring every movie in shadow mode: the
evidence `make guard` decides on.

The release workflow passes `--image`, the image it deployed and rolled out with this model, and
`--sbom`, that image's bill of materials: both are kept with the record, so that a rollback
knows which image served the model it goes back to.
"""

from __future__ import annotations

import argparse
import hashlib
from pathlib import Path

import yaml

from imdb_rating.card import read_model_card
from registry.releases import apply, plan_promotion
from registry.served import policy_path, serve_version
from registry.versions import registered_model
from service.traffic import TrafficPolicy
from workspace.commands import CommandError, run_command
from workspace.layout import MODEL_CARD, REPO_ROOT

CARD = MODEL_CARD.relative_to(REPO_ROOT)  # as dvc.lock names it


def pinned_md5(lock_file: Path, path: Path) -> str:
    """The md5 dvc.lock records for `path` as a stage output."""
    lock = yaml.safe_load(lock_file.read_text(encoding="utf-8"))
    for stage in lock.get("stages", {}).values():
        for out in stage.get("outs", []):
            if out["path"] == str(path):
                return out["md5"]
    raise CommandError(f"{lock_file} pins no {path}: run `dvc repro` and commit dvc.lock")


def check_pinned(repo: Path, card: Path = CARD) -> None:
    """The workspace's model card must be the one dvc.lock pins (not a local experiment)."""
    expected = pinned_md5(repo / "dvc.lock", card)
    try:
        actual = hashlib.md5((repo / card).read_bytes(), usedforsecurity=False).hexdigest()
    except FileNotFoundError:
        raise CommandError(f"{card} not found: `dvc pull` (or `dvc repro`) first") from None
    if actual != expected:
        raise CommandError(
            f"{card} is not the model dvc.lock pins (md5 {actual[:8]}…, pinned {expected[:8]}…):"
            " `dvc checkout` or `dvc pull` it first"
        )


def promote(
    name: str,
    card: Path,
    version: str | None,
    why: str,
    served: Path | None,
    image: str = "",
    sbom: Path | None = None,
) -> str:
    """Move `champion` to the model `card` pins (swapping `served` first); what happened."""
    release = plan_promotion(name, card, version, why, image)
    if release is None:
        return f"{name}: model {read_model_card(card).model_id} already is the champion"
    if served is not None:
        serve_version(name, release.to_version, served, "champion")
        if release.from_version:
            serve_version(name, release.from_version, served, "challenger")
            TrafficPolicy(mode="shadow").write(policy_path(served))
    apply(release, [sbom] if sbom else [])
    return release.describe()


def main(argv: list[str] | None = None) -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--version", help="the registry version to promote (default: newest)")
    parser.add_argument("--why", default="make promote", help="recorded with the move")
    parser.add_argument("--served", type=Path, help="a served folder to swap to the new model")
    parser.add_argument("--image", default="", help="the image a release deployed, by digest")
    parser.add_argument("--sbom", type=Path, help="that image's SBOM, kept with the record")
    args = parser.parse_args(argv)
    if args.sbom is not None and not args.image:
        parser.error("--sbom describes an image: give --image too")
    check_pinned(REPO_ROOT)
    name, card = registered_model(), REPO_ROOT / CARD
    print(promote(name, card, args.version, args.why, args.served, args.image, args.sbom))


if __name__ == "__main__":
    run_command(main)
