"""Before an image is built: the model in models/ is the reviewed one and the registry's champion.

    python -m tools.check_release

CI's image job runs this after `dvc pull models/` (no retraining): the artifact must verify
against its card (sha256, trusted types, model_id of the card's content), and the registry's
`champion` must carry the same model_id. Anything else exits 1 with one line, and no image is
built from it.
"""

from __future__ import annotations

from imdb_rating.artifact import load_verified_model
from imdb_rating.card import ArtifactError
from registry.versions import champion_model_id, registered_model, tracking_uri
from workspace.commands import CommandError, run_command
from workspace.layout import MODEL_CARD


def check_release(name: str) -> str:
    try:
        _, card = load_verified_model(MODEL_CARD)
    except ArtifactError as error:
        raise CommandError(str(error)) from None
    champion = champion_model_id(name)
    if champion != card.model_id:
        raise CommandError(
            f"models/ holds model {card.model_id}, but {name}@champion at {tracking_uri()}"
            f" is {champion or 'not set'}: promote the reviewed model first (`make promote`)"
        )
    return f"models/ holds {name}@champion, model {card.model_id}: ready to build"


def main() -> None:
    print(check_release(registered_model()))


if __name__ == "__main__":
    run_command(main)
