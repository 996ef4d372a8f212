"""The record of every move of `champion`: what (promote or rollback), from which version to
which (with both model_ids: a version number is local to one tracking store), when, why and by
whom, and for a release the image that serves the new champion and the one it replaced (by
digest) with the image's SBOM as the record's artifact. Kept beside the registry, in the same
tracking store, as one run per move in the experiment RELEASES_EXPERIMENT (so a backup of the
store keeps both, and `mlflow ui` shows it).

A move is planned (checked, nothing changed), then applied: the alias moves and the record is
appended. Between the two, a tool swaps the served model (registry/served.py), so the alias
never names a model that failed to install. `make promote` moves `champion` only to the model
main pins; `make rollback` moves it back to the version the current champion replaced, as the
record of its promotion says.
"""

from __future__ import annotations

import getpass
import os
from collections.abc import Sequence
from dataclasses import asdict, dataclass, fields
from datetime import UTC, datetime
from pathlib import Path

from imdb_rating.card import ArtifactError, read_model_card
from registry.versions import CHAMPION, tracking, tracking_uri, version_by_alias
from workspace.commands import CommandError

RELEASES_EXPERIMENT = "imdb-rating-releases"
PROMOTE, ROLLBACK = "promote", "rollback"


@dataclass(frozen=True)
class Release:
    action: str  # PROMOTE or ROLLBACK
    model: str  # the registered model's name
    from_version: str  # "" when no version held the alias before
    from_model_id: str
    to_version: str
    to_model_id: str
    why: str
    actor: str
    image: str = ""  # the image serving to_model_id, by digest ("" outside a release)
    from_image: str = ""  # the image that served from_model_id, as its record says
    at: str = ""  # UTC, ISO 8601: the record's run start, filled when read back

    def describe(self) -> str:
        before = (
            f"version {self.from_version} (model {self.from_model_id})"
            if self.from_version
            else "no version"
        )
        image = f", image {self.image}" if self.image else ""
        return (
            f"{self.action} {self.model} {CHAMPION}: {before} -> version {self.to_version}"
            f" (model {self.to_model_id}{image}), by {self.actor}: {self.why}"
        )


def actor() -> str:
    """Who moves the alias: the CI's actor, else the local user."""
    return os.environ.get("GITHUB_ACTOR") or getpass.getuser()


def record(release: Release, attachments: Sequence[Path] = ()) -> str:
    """Append `release` (a finished run tagged with its fields, `attachments` as its
    artifacts); returns the run id."""
    mlflow, client = tracking()
    experiment = mlflow.set_experiment(RELEASES_EXPERIMENT)
    tags = {name: value for name, value in asdict(release).items() if name != "at"}
    run = client.create_run(experiment.experiment_id, tags=tags, run_name=release.action)
    for path in attachments:
        client.log_artifact(run.info.run_id, str(path))
    client.set_terminated(run.info.run_id)
    return run.info.run_id


def history(name: str) -> list[Release]:
    """The moves of `name`'s champion, newest first."""
    _, client = tracking()
    experiment = client.get_experiment_by_name(RELEASES_EXPERIMENT)
    if experiment is None:
        return []
    runs = client.search_runs(
        [experiment.experiment_id],
        filter_string=f"tags.model = '{name}'",
        order_by=["attributes.start_time DESC"],
        max_results=10_000,
    )
    names = [field.name for field in fields(Release) if field.name != "at"]
    return [
        Release(
            **{field: run.data.tags.get(field, "") for field in names},
            at=datetime.fromtimestamp(run.info.start_time / 1000, UTC).isoformat(
                timespec="seconds"
            ),
        )
        for run in runs
    ]


def image_of(name: str, model_id: str) -> str:
    """The image the newest record names for `model_id` ("" when none does)."""
    for release in history(name):
        if release.to_model_id == model_id and release.image:
            return release.image
    return ""


def promotion_of(name: str, version: str) -> Release | None:
    """The newest promotion that made `version` the champion (None: it never was promoted)."""
    for release in history(name):
        if release.action == PROMOTE and release.to_version == version:
            return release
    return None


def champion_version(name: str) -> tuple[str, str] | None:
    """The version `champion` names and its model_id (None: no champion yet)."""
    _, client = tracking()
    version = version_by_alias(client, name, CHAMPION)
    if version is None:
        return None
    return str(version.version), version.tags.get("model_id", "")


def plan_promotion(
    name: str,
    card_path: Path,
    version: str | None = None,
    why: str = "make promote",
    image: str = "",
) -> Release | None:
    """The move of `champion` to the version whose model_id is the one `card_path` pins
    (`version`, or the newest with that id), served by `image` when a release deploys one;
    None when it already is the champion.

    Raises CommandError (one line) for a version of another model, or when none has the id.
    """
    try:
        pinned = read_model_card(card_path).model_id
    except ArtifactError as error:
        raise CommandError(str(error)) from None
    _, client = tracking()
    if version is None:
        found = client.search_model_versions(f"name = '{name}' and tag.model_id = '{pinned}'")
        if not found:
            raise CommandError(
                f"no version of {name} at {tracking_uri()} has model_id {pinned}"
                " (the train stage registers it: run `dvc repro` with this tracking URI)"
            )
        version = str(max(int(found_version.version) for found_version in found))
    identity = client.get_model_version(name, version).tags.get("model_id")
    if identity != pinned:
        raise CommandError(
            f"refusing to promote {name} version {version}: its model_id {identity} is not"
            f" the pinned {pinned} ({card_path})"
        )
    current = champion_version(name)
    if current is not None and current[0] == version:
        return None
    before, before_id = current or ("", "")
    from_image = image_of(name, before_id) if before_id else ""
    return Release(
        PROMOTE, name, before, before_id, version, pinned, why, actor(), image, from_image
    )


def plan_rollback(name: str, why: str) -> Release:
    """The move of `champion` back to the version the current champion replaced, and to the
    image that served it (as the record of the promotion says)."""
    current = champion_version(name)
    if current is None:
        raise CommandError(f"{name} has no {CHAMPION} at {tracking_uri()}: nothing to roll back")
    version, model_id = current
    promotion = promotion_of(name, version)
    if promotion is None or not promotion.from_version:
        raise CommandError(
            f"{name} version {version} replaced no recorded {CHAMPION}: nothing to roll back to"
        )
    _, client = tracking()
    identity = client.get_model_version(name, promotion.from_version).tags.get("model_id")
    if identity != promotion.from_model_id:
        raise CommandError(
            f"{name} version {promotion.from_version} now has model_id {identity}, the record"
            f" says {promotion.from_model_id}: refusing to roll back to it"
        )
    return Release(
        ROLLBACK, name, version, model_id, promotion.from_version, promotion.from_model_id, why,
        actor(), promotion.from_image, promotion.image,
    )  # fmt: skip


def apply(release: Release, attachments: Sequence[Path] = ()) -> str:
    """Move the alias as planned and append the record; returns the record's run id."""
    _, client = tracking()
    client.set_registered_model_alias(release.model, CHAMPION, release.to_version)
    return record(release, attachments)
