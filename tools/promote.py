"""Move the registry's `champion` alias to the model main pins: `make promote [VERSION=n]`.

    python -m tools.promote [--version N]

The pinned model is models/model.json as dvc.lock records it (after `dvc repro` or `dvc pull`
on main). `champion` moves to the registered version with that model's model_id — the newest
one, or `--version` — and to nothing else: any other version, or a workspace model that is
not the pinned one, is refused with one line and exit status 1. CI runs this on main after a
merge, so the alias always names what main deploys.
"""

from __future__ import annotations

import argparse
import hashlib
from pathlib import Path

import yaml

from registry.versions import promote, registered_model
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


def main(argv: list[str] | None = None) -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--version", help="the registry version to promote (default: newest)")
    args = parser.parse_args(argv)
    check_pinned(REPO_ROOT)
    print(promote(registered_model(), REPO_ROOT / CARD, args.version))


if __name__ == "__main__":
    run_command(main)
