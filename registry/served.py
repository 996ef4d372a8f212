"""A served folder: the models a service on this host serves, each role a symlink.

    SERVED/
      champion -> models/<model_id>      IMDB_MODEL_CARD=SERVED/champion/model.json
      challenger -> models/<model_id>    IMDB_CHALLENGER_CARD=SERVED/challenger/model.json
      traffic.json                       IMDB_TRAFFIC_POLICY=SERVED/traffic.json
      models/<model_id>/                 model.json, model.skops (and model_card.html if logged)

A model folder is written whole and verified (sha256, trusted types, the card's model_id, and
the registry version's model_id tag) before a link points at it. A link is replaced by one
rename, so the service's watcher, which resolves the link before loading, reads either the old
model or the new one, never a mix; requests in flight are never failed by the swap.
"""

from __future__ import annotations

import os
import shutil
import tempfile
from pathlib import Path

from imdb_rating.artifact import READABLE_CARD_PAGE, load_verified_model
from imdb_rating.card import ArtifactError, ModelCard
from registry.versions import CARD_ARTIFACTS, download_version, tracking
from workspace.commands import CommandError
from workspace.layout import MODEL_CARD

ROLES = ("champion", "challenger")
CARD = MODEL_CARD.name  # the artifact's file is the one the card names
POLICY_FILE = "traffic.json"
MODELS = "models"


def card_path(served: Path, role: str) -> Path:
    return served / role / CARD


def policy_path(served: Path) -> Path:
    return served / POLICY_FILE


def service_environment(served: Path) -> dict[str, str]:
    """The service's settings for this folder."""
    return {
        "IMDB_MODEL_CARD": str(card_path(served, "champion")),
        "IMDB_CHALLENGER_CARD": str(card_path(served, "challenger")),
        "IMDB_TRAFFIC_POLICY": str(policy_path(served)),
    }


def verified_card(folder: Path) -> ModelCard:
    """The card of the model in `folder`, after verifying its artifact as the service will."""
    try:
        _, card = load_verified_model(folder / CARD)
    except (ArtifactError, FileNotFoundError) as error:
        raise CommandError(f"refusing {folder}: {error}") from None
    return card


def install_folder(source: Path, served: Path) -> str:
    """Copy a model folder (model.json and its artifact) under SERVED/models/<model_id>,
    verified; returns the model_id. An already installed model is verified and reused."""
    card = verified_card(source)
    model_id = card.model_id
    target = served / MODELS / model_id
    if target.is_dir():
        verified_card(target)
        return model_id
    (served / MODELS).mkdir(parents=True, exist_ok=True)
    staging = Path(tempfile.mkdtemp(prefix=f".{model_id}-", dir=served / MODELS))
    for name in (card.artifact.path, CARD, READABLE_CARD_PAGE):
        if (source / name).is_file():
            shutil.copy2(source / name, staging / name)
    if verified_card(staging).model_id != model_id:  # the copy is what was verified
        raise CommandError(f"refusing {source}: its copy differs")
    staging.rename(target)
    return model_id


def install_version(name: str, version: str, served: Path) -> str:
    """Download registry version `version` of `name` and install it (as install_folder); its
    card must carry the model_id the registry tagged the version with."""
    mlflow, client = tracking()
    registered = client.get_model_version(name, version)
    tagged = registered.tags.get("model_id")
    with tempfile.TemporaryDirectory(prefix="registry-version-") as scratch:
        source = download_version(mlflow, name, version, Path(scratch))
        # The card's page, when the train run logged one (the service shows it at /model/card).
        logged = client.list_artifacts(registered.run_id, CARD_ARTIFACTS)
        if any(Path(item.path).name == READABLE_CARD_PAGE for item in logged):
            page = client.download_artifacts(
                registered.run_id, f"{CARD_ARTIFACTS}/{READABLE_CARD_PAGE}", scratch
            )
            shutil.copy2(page, source / READABLE_CARD_PAGE)
        model_id = verified_card(source).model_id
        if model_id != tagged:
            raise CommandError(
                f"refusing {name} version {version}: its card's model_id {model_id} is not the"
                f" registry's tag {tagged}"
            )
        return install_folder(source, served)


def point(served: Path, role: str, model_id: str) -> None:
    """Point the role's link at an installed model, in one rename."""
    if role not in ROLES:
        raise CommandError(f"role {role!r}: use one of {', '.join(ROLES)}")
    link = served / role
    if link.exists() and not link.is_symlink():
        raise CommandError(f"{link} is not a link of a served folder: refusing to replace it")
    if not (served / MODELS / model_id / CARD).is_file():
        raise CommandError(f"model {model_id} is not installed in {served}")
    temporary = served / f".{role}.{os.getpid()}"
    temporary.unlink(missing_ok=True)
    temporary.symlink_to(Path(MODELS) / model_id)  # relative: the folder can move
    temporary.replace(link)


def remove(served: Path, role: str) -> None:
    link = served / role
    if link.is_symlink():
        link.unlink()


def serve_version(name: str, version: str, served: Path, role: str) -> str:
    """Install a registry version and point the role at it; returns its model_id."""
    model_id = install_version(name, version, served)
    point(served, role, model_id)
    return model_id
