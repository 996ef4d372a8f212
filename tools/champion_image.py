"""The image that serves the registry's champion, as the release records say.

    python -m tools.champion_image

Prints the image (REGISTRY/NAME@sha256:DIGEST) of the newest release record for the model
`champion` names, or nothing when no release recorded one (a champion promoted by hand). The
release workflow gives it to staging, whose pod shadows the current champion beside the new
model (deploy/k8s/render-release IMAGE staging CHALLENGER_IMAGE).
"""

from __future__ import annotations

from registry.releases import champion_version, image_of
from registry.versions import registered_model
from workspace.commands import run_command


def main() -> None:
    name = registered_model()
    current = champion_version(name)
    print(image_of(name, current[1]) if current else "")


if __name__ == "__main__":
    run_command(main)
