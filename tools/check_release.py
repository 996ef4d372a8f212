"""Before an image is built: the model in models/ is the reviewed one, registered, and the
release will be able to make it the champion.

    python -m tools.check_release

The release workflow runs this after `dvc pull models/` (no retraining): the artifact must verify
against its card (sha256, trusted types, model_id of the card's content), and a registry
version must carry the card's model_id — the version `make promote` moves `champion` to once
the image is rolled out in production (tools.promote; never before). Anything else exits 1 with
one line, and no image is built from it.
"""

from __future__ import annotations

from imdb_rating.artifact import load_verified_model
from imdb_rating.card import ArtifactError
from registry.releases import plan_promotion
from registry.versions import registered_model
from workspace.commands import CommandError, run_command
from workspace.layout import MODEL_CARD


def check_release(name: str) -> str:
    try:
        _, card = load_verified_model(MODEL_CARD)
    except ArtifactError as error:
        raise CommandError(str(error)) from None
    promotion = plan_promotion(name, MODEL_CARD)  # raises when no version has the model_id
    if promotion is None:
        return f"models/ holds {name}@champion, model {card.model_id}: ready to build"
    return (
        f"models/ holds model {card.model_id}, {name} version {promotion.to_version}"
        f" (champion after the rollout; now {promotion.from_version or 'none'}): ready to build"
    )


def main() -> None:
    print(check_release(registered_model()))


if __name__ == "__main__":
    run_command(main)
